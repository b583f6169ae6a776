"""The numbers quoted in ``pihlib.attacks``' docstrings, measured again on real CIFAR-10.

- known plaintext: for each method, 20 sets of consecutive training images (starting at 0, 50, 100,
  ...), each with a key of its own (seed = set number); the fewest pairs that give an exact map,
  checked to decrypt 200 held-out test images bit-exactly;
- PE ciphertext only: sets of N images (N = 5 ... 1000; 20 sets starting at 0, 100, ..., 3 sets of
  1000); the fraction of pixels whose map is right up to one global map, how often the priors settle
  that map (the key comes back exactly);
- LE ciphertext only: the same sets; high positions and signs, the global sign, the layout, the
  thumbnails' correlation with the true block means.

    python benchmarks/bench_attacks.py [--data PATH] [--sets 20]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

import pihlib
from pihlib import attacks
from pihlib.scramblers import index_map

SHARED = Path(os.environ.get("PIH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DEFAULT_DATA = SHARED / "data" / "cifar10-lossless-3k.npz"
MAX_PAIRS = {"PE": 20, "EtC": 20, "LE": 20, "ELE": 40}


def pairs_needed(method: str, train: torch.Tensor, held_out: torch.Tensor, sets: int) -> list[int | None]:
    need: list[int | None] = []
    for s in range(sets):
        key = pihlib.keygen(method, seed=s)
        for p in range(1, MAX_PAIRS[method] + 1):
            x = train[50 * s:50 * s + p]
            got = attacks.known_plaintext(x, pihlib.scramble(x, key), method)
            if got.exact:
                assert torch.equal(got.unscramble(pihlib.scramble(held_out, key)), held_out)
                need.append(p)
                break
        else:
            need.append(None)
    return need


def image_sets(train: torch.Tensor, n: int, sets: int) -> list[torch.Tensor]:
    starts = range(0, 100 * sets, 100) if n <= 100 else range(0, len(train) - n + 1, 500)
    return [train[i:i + n] for i in starts if i + n <= len(train)][:sets]


def pe_row(train: torch.Tensor, n: int, sets: int) -> str:
    key = pihlib.keygen("PE", seed=3)
    truth = attacks.pe_matrices(key)
    fractions, exact = [], 0
    for x in image_sets(train, n, sets):
        got = attacks.pe_ciphertext_only(pihlib.scramble(x, key))
        g = np.einsum("hwji,hwjk->hwik", truth, got.matrices).reshape(-1, 9)
        fractions.append(np.unique(g, axis=0, return_counts=True)[1].max() / len(g))
        exact += got.key == key
    return (f"PE  N={n:5d} sets {len(fractions):2d}: pixels right up to G: mean {np.mean(fractions):.4f} "
            f"min {np.min(fractions):.4f}; key exact (priors settle G) {exact}/{len(fractions)}")


def le_row(train: torch.Tensor, n: int, sets: int) -> str:
    key = pihlib.keygen("LE", seed=5)
    m = index_map(key)
    first = attacks.unitmaps._nibble_blocks(key.shape, 4)[0]
    high = np.flatnonzero(m.src[first] % 2 == 0)
    signs = np.where(m.xor[first][high] == 15, -1, 1)
    slot_of = {int(v): i for i, v in enumerate(first[:48] // 2)}
    layout = [slot_of[int(u) // 2] for u in m.src[first][high]]
    counts = dict.fromkeys(("high", "sign", "polarity", "layout", "halves"), 0)
    medians, errors = [], []
    for x in image_sets(train, n, sets):
        y = pihlib.scramble(x, key)
        got = attacks.le_ciphertext_only(y)
        counts["high"] += np.array_equal(got.high, high)
        counts["sign"] += np.array_equal(got.high, high) and abs(int(got.signs @ signs)) == len(signs)
        counts["polarity"] += np.array_equal(got.high, high) and np.array_equal(got.signs, signs)
        counts["layout"] += got.layout is not None and got.layout.tolist() == layout
        counts["halves"] += got.layout is not None and torch.equal(got.high_halves(y), x // 16 * 16 + 8)
        thumbs = got.thumbnails(y).double().reshape(len(x), -1)
        means = x.double().reshape(len(x), 3, 8, 4, 8, 4).mean((1, 3, 5)).reshape(len(x), -1)
        r = [np.corrcoef(a, b)[0, 1] for a, b in zip(thumbs, means, strict=True) if b.std() > 0]
        medians.append(np.median(r))
        errors.append((thumbs - means).abs().mean().item())
    k = len(medians)
    return (f"LE  N={n:5d} sets {k:2d}: high {counts['high']}/{k}, signs up to global {counts['sign']}/{k}, "
            f"global sign {counts['polarity']}/{k}, layout {counts['layout']}/{k}, 4-bit images "
            f"{counts['halves']}/{k}; thumbnails: median r (worst set) {min(medians):+.4f}, "
            f"mean |error| {np.mean(errors):.2f} grey levels")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="CIFAR-10 npz (cifar10-lossless-3k.npz)")
    parser.add_argument("--sets", type=int, default=20, help="sets of images (and keys) per measurement")
    args = parser.parse_args()
    train = pihlib.load_cifar10("train", args.data).images
    held_out = pihlib.load_cifar10("test", args.data, count=200).images
    start = time.perf_counter()
    for method in pihlib.METHODS:
        sets = args.sets if method != "ELE" else max(1, args.sets // 2)
        need = pairs_needed(method, train, held_out, sets)
        print(f"known plaintext {method:3s}: pairs for an exact map, per set: {need}", flush=True)
    for n in (5, 10, 30, 100, 1000):
        print(pe_row(train, n, args.sets), flush=True)
    for n in (1, 3, 10, 30, 100, 1000):
        print(le_row(train, n, args.sets), flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
