"""The numbers quoted in ``pihlib.attacks.jigsaw``'s docstrings, measured again on real CIFAR-10.

Sets of N consecutive training images (N = 1 ... 1000; up to 20 sets starting at 0, 100, 200, ...
for N <= 100, and sets starting at 0, 500, ... for N = 1000), each scrambled with a key of its own
(seed = set number), 32 x 32, B = 4 (64 blocks):

- EtC (``etc_ciphertext_only``): the fraction of blocks whose place and transform are right as
  recovered, up to a left-right mirror of the whole image (which no prior settles) and up to any one
  global transform (when a prior fails too); the fraction of plain neighbour pairs the assembly keeps
  together with the right relative place and transform (Gallagher's neighbour comparison); how many
  of 200 held-out test images come back bit-exactly (or mirrored); seconds a call;
- ELE (``ele_ciphertext_only``): per block, whether its high positions are exactly found, their signs
  up to the block's sign, the block's sign; the fraction of blocks placed right (up to the 8
  symmetries of the grid, and as recovered); the thumbnails' correlation with the true block means.

    python benchmarks/bench_jigsaw.py [--data PATH] [--sets 20] [--only EtC|ELE]
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
from pihlib.attacks import jigsaw
from pihlib.attacks.unitmaps import _byte_blocks, _nibble_blocks
from pihlib.scramblers import index_map

SHARED = Path(os.environ.get("PIH_SHARED", Path(__file__).resolve().parents[2] / "shared"))
DEFAULT_DATA = SHARED / "data" / "cifar10-lossless-3k.npz"


def image_sets(train: torch.Tensor, n: int, sets: int) -> list[torch.Tensor]:
    starts = range(0, 100 * sets, 100) if n <= 100 else range(0, len(train) - n + 1, 500)
    return [train[i:i + n] for i in starts if i + n <= len(train)][:sets]


def etc_truth(key: pihlib.Key) -> tuple[np.ndarray, np.ndarray]:
    """Each scrambled block's plain cell and the transform (jigsaw._Group code) that undoes the key."""
    b = key.block_size
    m, units, group = index_map(key), _byte_blocks(key.shape, b), jigsaw._Group(b)
    idx, sign = group.gather
    cell = key.arrays["block_order"]
    transform = np.array([next(t for t in range(group.size)
                               if np.array_equal(m.src[units[i][idx[t]]], units[cell[i]])
                               and (m.xor[units[i][0]] == 255) == (sign[t] < 0)) for i in range(len(cell))])
    return cell, transform


def neighbours_right(got: attacks.EtCRecovery, key: pihlib.Key) -> float:
    """The fraction of plain neighbour pairs (right and down) whose relative place and transform the
    recovery keeps."""
    group = jigsaw._Group(key.block_size)
    cols = key.shape[1] // key.block_size
    rows = key.shape[0] // key.block_size
    cell, transform = etc_truth(key)
    at = np.argsort(cell)  # the scrambled block of each plain cell
    h = group.compose[transform, group.inverse[got.transform]]  # true = h after recovered
    pos = np.stack(np.divmod(got.cell, cols), 1)
    right = total = 0
    for c in range(rows * cols):
        r0, c0 = divmod(c, cols)
        for dr, dc in ((0, 1), (1, 0)):
            if r0 + dr >= rows or c0 + dc >= cols:
                continue
            i, j = at[c], at[c + dr * cols + dc]
            total += 1
            moved = jigsaw.DIHEDRAL[h[i] // 12] @ (pos[j] - pos[i])
            right += h[i] == h[j] and tuple(moved) == (dr, dc)
    return right / total


def etc_row(train: torch.Tensor, held_out: torch.Tensor, n: int, sets: int) -> str:
    rows = {k: [] for k in ("none", "mirror", "global", "pairs", "held", "time")}
    for s, x in enumerate(image_sets(train, n, sets)):
        key = pihlib.keygen("EtC", seed=s)
        start = time.perf_counter()
        got = attacks.etc_ciphertext_only(pihlib.scramble(x, key))
        rows["time"].append(time.perf_counter() - start)
        for up_to in ("none", "mirror", "global"):
            rows[up_to].append(got.blocks_right(key, up_to))
        rows["pairs"].append(neighbours_right(got, key))
        back = got.unscramble(pihlib.scramble(held_out, key))
        same = [torch.equal(a, p) or torch.equal(a, p.flip(-1)) for a, p in zip(back, held_out, strict=True)]
        rows["held"].append(np.mean(same))
    k = len(rows["time"])
    full = sum(v == 1 for v in rows["mirror"])
    return (f"EtC N={n:5d} sets {k:2d}: blocks right as recovered {np.mean(rows['none']):.3f}, up to mirror "
            f"{np.mean(rows['mirror']):.3f} (all 64 in {full}/{k} sets, worst {min(rows['mirror']):.3f}), "
            f"up to any global {np.mean(rows['global']):.3f}; neighbour pairs {np.mean(rows['pairs']):.3f}; "
            f"held-out exact (or mirrored) {np.mean(rows['held']):.3f}; {np.mean(rows['time']):.2f} s")


def ele_pairs_kept(cell: np.ndarray, truth: np.ndarray, cols: int) -> float:
    """The fraction of plain neighbour pairs (4-neighbours) that the placement keeps next to each other."""
    def pairs(c: np.ndarray) -> set[tuple[int, int]]:
        r, k = np.divmod(c, cols)
        near = np.abs(r[:, None] - r[None, :]) + np.abs(k[:, None] - k[None, :]) == 1
        return {(int(i), int(j)) for i, j in zip(*np.nonzero(near), strict=True)}
    want = pairs(truth)
    return len(want & pairs(cell)) / len(want)


def ele_row(train: torch.Tensor, n: int, sets: int) -> str:
    rows = {k: [] for k in ("halves", "sep", "none", "mirror", "global", "pairs", "r", "err", "time")}
    for s, x in enumerate(image_sets(train, n, sets)):
        key = pihlib.keygen("ELE", seed=s)
        y = pihlib.scramble(x, key)
        start = time.perf_counter()
        got = attacks.ele_ciphertext_only(y)
        rows["time"].append(time.perf_counter() - start)
        rows["halves"].append(got.halves_right(key))
        rows["sep"].append(got.separation.min())
        for up_to in ("none", "mirror", "global"):
            rows[up_to].append(got.blocks_right(key, up_to))
        order = key.arrays["block_order"].copy()
        rows["pairs"].append(ele_pairs_kept(got.cell, order, 8))
        levels = jigsaw._ele_levels(y.numpy(), _nibble_blocks(key.shape, 4), got.high, got.signs)
        means = x.double().reshape(len(x), 3, 8, 4, 8, 4).mean((1, 3, 5)).reshape(len(x), -1)[:, order]
        r = [np.corrcoef(a, b)[0, 1] for a, b in zip(levels, means.numpy(), strict=True) if b.std() > 0]
        rows["r"].append(np.median(r))
        rows["err"].append(float(np.abs(levels - means.numpy()).mean()))
    k = len(rows["time"])
    return (f"ELE N={n:5d} sets {k:2d}: high halves and signs right {np.mean(rows['halves']):.3f} "
            f"(worst set {min(rows['halves']):.3f}; separation min {min(rows['sep']):.2f}); block levels vs "
            f"true means: median r {np.median(rows['r']):+.4f}, mean |error| {np.mean(rows['err']):.2f}; "
            f"places right {np.mean(rows['none']):.3f}, up to mirror {np.mean(rows['mirror']):.3f}, up to "
            f"the grid's symmetries {np.mean(rows['global']):.3f}; neighbour pairs kept "
            f"{np.mean(rows['pairs']):.3f}; {np.mean(rows['time']):.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="CIFAR-10 npz (cifar10-lossless-3k.npz)")
    parser.add_argument("--sets", type=int, default=20, help="sets of images (and keys) per measurement")
    parser.add_argument("--only", choices=("EtC", "ELE"), help="measure one method only")
    args = parser.parse_args()
    train = pihlib.load_cifar10("train", args.data).images
    held_out = pihlib.load_cifar10("test", args.data, count=200).images
    start = time.perf_counter()
    for n in () if args.only == "ELE" else (1, 3, 5, 7, 10, 30, 100, 1000):
        print(etc_row(train, held_out, n, args.sets), flush=True)
    for n in () if args.only == "EtC" else (10, 30, 100, 1000):
        print(ele_row(train, n, args.sets), flush=True)
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
