"""A first layer set from the training set's statistics (issue #23): test accuracy on scrambled
CIFAR-10 when the server, who knows the method but not the key, undoes the scrambler with what the
scrambled training images themselves give away (``pihlib.attacks``), against the paper's adaptation
networks trained from scratch, at the CPU proxy of the gpu runs.

For PE, ``pe_ciphertext_only`` recovers every pixel's signed channel permutation from the scrambled
training images; for LE, ``le_ciphertext_only`` recovers each value's high 4-bit half and where it
sits. The server applies that fixed map to every scrambled image (training and test) and trains the
plain classifier on the result: a data-derived first layer, in airbench's spirit (its whitening is
computed from the data too). Beside each: the paper's adaptation network on the scrambled images,
and the plain images (the ceiling). One run each, key seed 0, the same recipe and epochs.

    python benchmarks/bench_derived_inverse.py [--data PATH] [--n-train 4000] [--n-test 1000] [--epochs 8]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch

import pihlib
from pihlib.attacks import le_ciphertext_only, pe_ciphertext_only
from pihlib.runtime import device_name
from pihlib.train import TrainConfig, train


def derived_inverse(method: str, scrambled_train: torch.Tensor):
    """The map the server sets from the scrambled training images alone: scrambled -> plain-like."""
    if method == "PE":
        return pe_ciphertext_only(scrambled_train).unscramble
    recovered = le_ciphertext_only(scrambled_train)
    return recovered.high_halves


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("PIH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--data", default=os.environ.get("PIH_CIFAR10_JPEG",
                                                     str(shared / "data" / "cifar10-jpeg-60k.tar.gz")))
    ap.add_argument("--methods", nargs="+", default=["PE", "LE"], choices=["PE", "LE"])
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()

    tr = pihlib.load_cifar10("train", args.data, count=args.n_train)
    te = pihlib.load_cifar10("test", args.data, count=args.n_test)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    print(f"{len(tr)} training images ({tr.source.kind}, {'lossless' if tr.source.lossless else 'LOSSY'}), "
          f"{len(te)} test images, airbench95's recipe, {args.epochs} epochs, on {device_name(device)}, "
          f"torch {torch.__version__}", flush=True)

    def run(label: str, method: str, x_train: torch.Tensor, x_test: torch.Tensor, key=None) -> float:
        r = train(TrainConfig(method, epochs=args.epochs, seed=0), x_train, tr.labels, x_test, te.labels,
                  key=key, device=device, progress=False)
        print(f"{label:48} {100 * r.test_accuracy:6.2f} %  ({r.train_time_s:.0f} s of training)", flush=True)
        return r.test_accuracy

    plain = run("plain images", "plain", tr.images, te.images)
    for method in args.methods:
        key = pihlib.keygen(method, seed=0)
        paper = run(f"{method}, the paper's adaptation network", method, tr.images, te.images, key=key)
        start = time.monotonic()
        inverse = derived_inverse(method, pihlib.scramble(tr.images, key))
        fitted = time.monotonic() - start
        derived = run(f"{method}, first layer from the training statistics", "plain",
                      inverse(pihlib.scramble(tr.images, key)), inverse(pihlib.scramble(te.images, key)))
        print(f"{method}: points lost to scrambling, paper's network {100 * (plain - paper):+.2f}, "
              f"data-derived first layer {100 * (plain - derived):+.2f} (set in {fitted:.1f} s)", flush=True)


if __name__ == "__main__":
    main()
