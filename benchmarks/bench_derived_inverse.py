"""A first layer set from the training set's statistics (issue #23): test accuracy on scrambled
CIFAR-10 when the server, who knows the method but not the key, undoes the scrambler with what the
scrambled training images themselves give away (``pihlib.derived``), against the paper's adaptation
networks trained from scratch, at the CPU proxy of the gpu runs.

``pihlib.derived.derive_first_layer`` sets a fixed map from the scrambled training images (PE: every
pixel's signed channel permutation; LE: each value's high 4-bit half and where it sits; EtC: every
block's place and transform; ELE: every block's high halves, where in the block each goes, and the
block's place and turn); the server applies it to every scrambled image (training and test) and
trains the plain classifier on the result: a data-derived first layer, in airbench's spirit (its
whitening is computed from the data too). Beside each: the paper's adaptation network on the scrambled
images, and the plain images (the ceiling). One run each, key seed 0, the same recipe and epochs.

``--which`` runs the paper's network, the derived layer or both for each method, so the runs of one
method can go in separate processes; ``--skip-plain --plain-accuracy P`` takes the plain images'
accuracy from an earlier run (printed as given, not measured) instead of training it again.

    python benchmarks/bench_derived_inverse.py [--data PATH] [--methods PE LE EtC ELE]
        [--which paper derived] [--skip-plain [--plain-accuracy 59.90]]
        [--n-train 4000] [--n-test 1000] [--epochs 8]
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch

import pihlib
from pihlib.derived import DERIVED_METHODS, derive_first_layer
from pihlib.methods import METHODS
from pihlib.runtime import device_name
from pihlib.train import TrainConfig, train


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = Path(os.environ.get("PIH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
    ap.add_argument("--data", default=os.environ.get("PIH_CIFAR10_JPEG",
                                                     str(shared / "data" / "cifar10-jpeg-60k.tar.gz")))
    ap.add_argument("--methods", nargs="+", default=list(METHODS), choices=list(METHODS),
                    help="the scramblers (a derived layer: those in pihlib.derived.DERIVED_METHODS)")
    ap.add_argument("--which", nargs="+", default=["paper", "derived"], choices=["paper", "derived"],
                    help="the paper's adaptation network, the derived first layer, or both")
    ap.add_argument("--skip-plain", action="store_true", help="do not train on the plain images")
    ap.add_argument("--plain-accuracy", type=float, default=None,
                    help="with --skip-plain: the plain images' accuracy (%%) measured earlier")
    ap.add_argument("--n-train", type=int, default=4000)
    ap.add_argument("--n-test", type=int, default=1000)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--device", default=None)
    args = ap.parse_args()
    if args.plain_accuracy is not None and not args.skip_plain:
        ap.error("--plain-accuracy goes with --skip-plain")
    if "derived" in args.which:
        missing = [m for m in args.methods if m not in DERIVED_METHODS]
        if missing:
            ap.error(f"no derived first layer for {', '.join(missing)} (pihlib.derived has "
                     f"{', '.join(DERIVED_METHODS)}); run them with --which paper")

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
        return 100 * r.test_accuracy

    if not args.skip_plain:
        plain = run("plain images", "plain", tr.images, te.images)
    else:
        plain = args.plain_accuracy
        if plain is not None:
            print(f"{'plain images (GIVEN, not measured here)':48} {plain:6.2f} %", flush=True)
    for method in args.methods:
        key = pihlib.keygen(method, seed=0)
        lost = []
        if "paper" in args.which:
            paper = run(f"{method}, the paper's adaptation network", method, tr.images, te.images, key=key)
            lost.append(("paper's network", paper))
        if "derived" in args.which:
            layer = derive_first_layer(method, pihlib.scramble(tr.images, key), key.block_size or 4)
            derived = run(f"{method}, first layer from the training statistics", "plain",
                          layer(pihlib.scramble(tr.images, key)), layer(pihlib.scramble(te.images, key)))
            lost.append((f"data-derived first layer (set from {layer.images} images in {layer.fit_s:.1f} s)",
                         derived))
        if plain is not None:
            print(f"{method}: points lost to scrambling, "
                  + ", ".join(f"{what} {plain - acc:+.2f}" for what, acc in lost), flush=True)


if __name__ == "__main__":
    main()
