"""Scoring K keys over M real CIFAR-10 images: pihlib's PIH score against the straightforward use of
the ``lpips`` package, in one process, on the same images, keys and weights.

Baseline: ``loss = lpips.LPIPS(net="alex")``; for each key, for each batch of 256 (the authors'
batch), ``loss(x, f(x))`` with images in [0, 1] (the authors' convention). pihlib: ``PIHScorer``,
which computes the plain images' features once. The scores must agree to 1e-5.
Target: at least 3x faster at K = 20, M = 2,000 on 2 CPU cores.

    python benchmarks/bench_rho.py [--data PATH] [--keys 20] [--images 2000] [--method LE] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import time
import warnings
from pathlib import Path

import torch

import pihlib
from pihlib.metrics import LPIPS
from pihlib.rho import PIHScorer

# the project's shared folder: $PIH_SHARED, else beside the checkout (as the tests find it)
SHARED = Path(os.environ.get("PIH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DEFAULT_DATA = SHARED / "data" / "cifar10-lossless-3k.npz"
TARGET = 3.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("PIH_CIFAR10") or DEFAULT_DATA)
    ap.add_argument("--keys", type=int, default=20)
    ap.add_argument("--images", type=int, default=2000)
    ap.add_argument("--method", default="LE")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import lpips

    data = pihlib.load_cifar10("train", args.data, count=args.images)
    x = data.images
    keys = [pihlib.keygen(args.method, seed=s) for s in range(args.keys)]
    ours = LPIPS("alex", convention="authors")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        baseline = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    baseline.net.load_state_dict(ours.model.net.state_dict())  # the same verified backbone

    with torch.no_grad():  # warm up both (one-off kernel set-up), outside the timings
        baseline(x[:256].float() / 255, pihlib.scramble(x[:256], keys[0]).float() / 255)
        PIHScorer(x[:600], convention="authors", progress=False, model=ours).score(keys[:1])

    def run_baseline() -> list[float]:
        scores = []
        with torch.no_grad():
            for key in keys:
                total = 0.0
                for i in range(0, len(x), 256):
                    plain = x[i:i + 256]
                    y = pihlib.scramble(plain, key)
                    total += baseline(plain.float() / 255, y.float() / 255).sum().item()
                scores.append(total / len(x))
        return scores

    def run_ours() -> torch.Tensor:
        return PIHScorer(x, convention="authors", progress=False, model=ours).score(keys)

    t_base, t_ours = float("inf"), float("inf")
    for _ in range(args.repeats):  # alternate, keep each one's best: the machine's noise hits both
        t = time.perf_counter()
        want = run_baseline()
        t_base = min(t_base, time.perf_counter() - t)
        t = time.perf_counter()
        got = run_ours()
        t_ours = min(t_ours, time.perf_counter() - t)

    err = (got - torch.tensor(want, dtype=torch.float64)).abs().max().item()
    print(f"{len(keys)} {args.method} keys x {len(x)} real CIFAR-10 images ({data.source.kind}), "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"best of {args.repeats} runs each, alternating")
    print(f"lpips package, per key and batch: {t_base:7.2f} s  ({len(keys) / t_base:6.2f} keys/s)")
    print(f"pihlib PIHScorer:                 {t_ours:7.2f} s  ({len(keys) / t_ours:6.2f} keys/s)")
    met = "yes" if t_base / t_ours >= TARGET else "NO"
    print(f"speed-up {t_base / t_ours:.2f}x (target {TARGET:g}x: {met}); "
          f"largest score difference {err:.1e} ({'ok' if err < 1e-5 else 'TOO LARGE'})")


if __name__ == "__main__":
    main()
