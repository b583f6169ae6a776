"""Scramble + unscramble throughput: the index-map engine against the per-image oracle loop.

Both run in this process on the same real CIFAR-10 images; the oracle (tests/oracle.py, a literal
step-by-step implementation) is timed on a subset and its rate extrapolated. Target: 50,000 images in
under 1 second per method and direction on 2 CPU cores.

    python benchmarks/bench_scramble.py [--data PATH] [--count 50000] [--reference-count 200]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

import pihlib

# the step-by-step scramblers live with the tests (tests/oracle.py): the checkout's root on the path
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests import oracle  # noqa: E402

# the project's shared folder: $PIH_SHARED, else beside the checkout (as the tests find it)
SHARED = Path(os.environ.get("PIH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DEFAULT_DATA = SHARED / "data" / "cifar10-jpeg-60k.tar.gz"
METHODS = [("PE", {}), ("EtC", {}), ("LE", {}), ("ELE", {}), ("PE-IIR", {"inverted": 1536})]
TARGET_S = 1.0


def best_of(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", default=os.environ.get("PIH_CIFAR10") or DEFAULT_DATA)
    ap.add_argument("--count", type=int, default=50_000)
    ap.add_argument("--reference-count", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    data = pihlib.load_cifar10("train", args.data)
    reps = -(-args.count // len(data))  # a smaller source is repeated to reach --count
    x = data.images.repeat(reps, 1, 1, 1)[: args.count].contiguous()
    sub = x[: args.reference_count].permute(0, 2, 3, 1).numpy()
    print(f"{args.count} real CIFAR-10 images from {data.source.kind} {data.source.path} "
          f"({len(data)} distinct); torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{platform.processor() or platform.machine()}")
    print(f"{'method':7} {'direction':10} {'engine s':>9} {'engine img/s':>13} {'reference img/s':>16} "
          f"{'ratio':>8}  under {TARGET_S:g} s")
    for method, options in METHODS:
        key = pihlib.keygen(method, seed=0, **options)
        y = pihlib.scramble(x, key)
        assert torch.equal(pihlib.unscramble(y, key), x)
        ref_y = np.stack([oracle.scramble_one(im, key) for im in sub])
        assert np.array_equal(ref_y, y[: len(sub)].permute(0, 2, 3, 1).numpy())
        for direction, engine, ref, src, ref_src in (
            ("scramble", pihlib.scramble, oracle.scramble_one, x, sub),
            ("unscramble", pihlib.unscramble, oracle.unscramble_one, y, ref_y),
        ):
            t = best_of(lambda: engine(src, key), args.repeats)  # noqa: B023
            t_ref = best_of(lambda: [ref(im, key) for im in ref_src], 1)  # noqa: B023
            rate, ref_rate = args.count / t, len(ref_src) / t_ref
            print(f"{method:7} {direction:10} {t:9.3f} {rate:13,.0f} {ref_rate:16,.0f} "
                  f"{rate / ref_rate:7,.0f}x  {'yes' if t < TARGET_S else 'NO'}")


if __name__ == "__main__":
    main()
