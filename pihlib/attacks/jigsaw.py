"""Ciphertext-only jigsaw attacks on the block-moving scramblers (EtC, ELE) when one key scrambles a
whole data set.

A block-moving key puts every block of every image in the same place and gives it the same
transform, so the blocks of a scrambled data set are the pieces of one jigsaw puzzle seen through
many pictures at once: the dissimilarity of two pieces' touching edges, summed over all the images,
tells neighbours apart far better than one image can (Chuman, Kurihara and Kiya solve single
block-scrambled images with jigsaw solvers; many images sharing a key make the puzzle far easier).

- ``etc_ciphertext_only``: every EtC block's place and transform (one of the 8 symmetries of the
  square x 6 channel orders x inverted or not), up to one global transform of the whole image, which
  priors of natural photographs settle except a left-right mirror;
- ``ele_ciphertext_only``: every ELE block's high halves and their inversions (the block's own LE key,
  up to the order of its high halves), which give each block's mean level (exactly found from 100
  images); the blocks are then placed by how their mean levels correlate over the images (a partial
  success: most neighbours are kept together, few blocks land in their exact cell);
- ``ele_high_halves``: ELE undone at 4-bit depth: each block's high halves laid out in the block by
  their partial correlations, then the blocks placed and turned by ``etc_ciphertext_only``'s jigsaw
  (exact, up to a left-right mirror, from 1000 images).

Everything is numpy on the CPU (the images may come from any device). For 32 x 32 images, B = 4 and
1000 images each call takes about a second (``etc_ciphertext_only`` 0.5 s, ``ele_ciphertext_only`` 1 s;
``ele_high_halves`` 10 to 15 s).

References:
    T. Chuman, K. Kurihara, H. Kiya, "On the security of block scrambling-based EtC systems against
    jigsaw puzzle solver attacks", IEEE ICASSP 2017 (block-scrambled EtC images, with rotated,
    flipped, inverted and channel-shuffled blocks, are assembled by jigsaw solvers);
    A. C. Gallagher, "Jigsaw puzzles with pieces of unknown orientation", IEEE CVPR 2012 (pieces of
    unknown rotation, assembled by a constrained minimum spanning tree);
    D. Pomeranz, M. Shemesh, O. Ben-Shahar, "A fully automated greedy square jigsaw puzzle solver",
    IEEE CVPR 2011 (edge dissimilarities normalised by the second best; best buddies).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from ..errors import PihError
from ..keys import Key
from ..methods import CHANNEL_ORDERS
from ..scramblers import IndexMap, index_map
from .unitmaps import (
    CHUNK,
    MID_GREY,
    REACH,
    _apply_inverse,
    _byte_blocks,
    _check_images,
    _check_method,
    _nibble_blocks,
    _swap_search,
    _units,
)

__all__ = ["ELEHighHalves", "ELERecovery", "EtCRecovery", "ele_ciphertext_only", "ele_high_halves",
           "etc_ciphertext_only"]

MAX_BLOCKS = 256  # the most blocks an image may have (the costs grow as 384 n^2)
CANDIDATES = 24  # the best pieces (and transforms) kept for each piece and side before the assembly

# ---------------------------------------------------------------------------------------------------
# The transforms of a block: the group D4 (the square's symmetries) x S3 (channel orders) x Z2 (inversion)
# ---------------------------------------------------------------------------------------------------

_ROT = np.array([[0, -1], [1, 0]])  # np.rot90 on (row, column): (r, c) -> (-c, r) about the centre
_FLIP = np.array([[1, 0], [0, -1]])  # left-right
DIHEDRAL = np.array([np.linalg.matrix_power(_ROT, k) @ np.linalg.matrix_power(_FLIP, f)
                     for f in (0, 1) for k in range(4)])  # (8, 2, 2): k rotations after f flips
SIDES = np.array([(0, 1), (1, 0), (0, -1), (-1, 0)])  # right, down, left, up: (d_row, d_column)


def _check_blocks(grid: tuple[int, int]) -> None:
    if grid[0] * grid[1] > MAX_BLOCKS:
        raise PihError(f"the images have {grid[0]} x {grid[1]} blocks; the jigsaw attacks take at most "
                       f"{MAX_BLOCKS} (use a larger block size)")


def _index_of(table: np.ndarray, item: np.ndarray) -> int:
    return int(np.flatnonzero((table == item).reshape(len(table), -1).all(1))[0])


@dataclass(frozen=True)
class _Group:
    """The 96 transforms of a block, t = (dihedral d, channel order c, inversion v) as 16 d + 2 c + v.

    Applied to a block X (3 x B x B, values centred on mid-grey): output channel ch is input channel
    ``CHANNEL_ORDERS[c][ch]``, the pixel at centred coordinates u moves to ``DIHEDRAL[d] @ u``, and
    v = 1 negates every value (the negative-positive transform)."""

    b: int

    @cached_property
    def size(self) -> int:
        return len(DIHEDRAL) * len(CHANNEL_ORDERS) * 2

    def parts(self, t: np.ndarray | int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        t = np.asarray(t)
        return t // 12, (t // 2) % 6, t % 2

    @cached_property
    def compose(self) -> np.ndarray:
        """(96, 96): ``compose[g, h]`` is g after h."""
        d, c, v = self.parts(np.arange(self.size))
        dd = np.array([[_index_of(DIHEDRAL, DIHEDRAL[i] @ DIHEDRAL[j]) for j in range(8)] for i in range(8)])
        cc = np.array([[_index_of(CHANNEL_ORDERS, CHANNEL_ORDERS[j][CHANNEL_ORDERS[i]]) for j in range(6)]
                       for i in range(6)])
        return 12 * dd[d[:, None], d[None, :]] + 2 * cc[c[:, None], c[None, :]] + (v[:, None] ^ v[None, :])

    @cached_property
    def inverse(self) -> np.ndarray:
        return np.argmax(self.compose == 0, axis=1)

    @cached_property
    def gather(self) -> tuple[np.ndarray, np.ndarray]:
        """(96, 3B^2) source index within the block of each output value (channel, row, column order)
        and (96,) sign: transformed block = sign * block[gather]."""
        b = self.b
        ch, r, col = np.indices((3, b, b)).reshape(3, -1)
        u = np.stack([2 * r - (b - 1), 2 * col - (b - 1)])  # centred coordinates (doubled)
        idx = np.empty((self.size, 3 * b * b), np.int64)
        d, c, v = self.parts(np.arange(self.size))
        for t in range(self.size):
            src = np.linalg.inv(DIHEDRAL[d[t]]).round().astype(int) @ u  # output u came from M^-1 u
            sr, sc = (src[0] + b - 1) // 2, (src[1] + b - 1) // 2
            idx[t] = CHANNEL_ORDERS[c[t]][ch] * b * b + sr * b + sc
        return idx, np.where(v == 1, -1, 1)


def _globally(cell: np.ndarray, transform: np.ndarray, grid: tuple[int, int], h: int,
              group: _Group | None) -> tuple[np.ndarray, np.ndarray] | None:
    """The assembly (cells of a rows x columns grid, transforms) with the whole image transformed by
    ``h`` (its symmetry moves the cells too); None when that symmetry turns a non-square grid."""
    rows, cols = grid
    mat = DIHEDRAL[h // 12]
    if mat[0, 0] == 0 and rows != cols:
        return None
    r, c = np.divmod(cell, cols)
    u = mat @ np.stack([2 * r - (rows - 1), 2 * c - (cols - 1)])
    new_cols = cols if mat[0, 0] else rows
    new_rows = rows * cols // new_cols
    cell = ((u[0] + new_rows - 1) // 2) * new_cols + (u[1] + new_cols - 1) // 2
    return cell, (group.compose[h, transform] if group is not None else transform)


def _side_pixels(b: int, side: np.ndarray) -> np.ndarray:
    """(3B,) the values (channel, row, column order) on the side of a block facing ``side``, in
    (channel, position along the side) order."""
    ch, k = np.indices((3, b)).reshape(2, -1)
    dr, dc = side
    r = np.where(dr == 1, b - 1, 0) if dr else k
    c = np.where(dc == 1, b - 1, 0) if dc else k
    return ch * b * b + r * b + c


# ---------------------------------------------------------------------------------------------------
# Assembly: a constrained spanning tree over the pieces (Gallagher 2012), with transforms
# ---------------------------------------------------------------------------------------------------


def _assemble(cost: np.ndarray, group: _Group | None, grid: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Place n pieces in a rows x columns grid from their pairwise costs.

    ``cost[s, i, t, j]``: piece j in transform t put on side ``SIDES[s]`` of piece i (untransformed);
    without ``group`` there are no transforms (t has one value, 0). Candidate joins are taken in
    order of their cost over the second-best cost for that piece and side (Pomeranz et al. 2011); a
    join merges two clusters when their pieces do not collide and fit in the grid (either way round).
    Returns each piece's grid cell (row-major index) and transform, in one arbitrary global frame.
    """
    sides, n, m, _ = cost.shape
    rows, cols = grid
    flat = cost.reshape(sides, n, -1)
    k = min(CANDIDATES, flat.shape[2] - 1)
    best = np.argpartition(flat, k, axis=2)[:, :, : k + 1]
    best_cost = np.take_along_axis(flat, best, axis=2)
    order = np.argsort(best_cost, axis=2)
    best, best_cost = np.take_along_axis(best, order, 2), np.take_along_axis(best_cost, order, 2)
    ratio = best_cost[:, :, :k] / np.maximum(best_cost[:, :, 1:k + 1], 1e-12)
    ratio[:, :, 1:] = best_cost[:, :, 1:k] / np.maximum(best_cost[:, :, :1], 1e-12)
    s_idx, i_idx, r_idx = np.unravel_index(np.argsort(ratio, axis=None, kind="stable"), ratio.shape)
    pos = {i: {i: (np.zeros(2, int), 0)} for i in range(n)}  # cluster id -> piece -> (position, transform)
    cluster_of = np.arange(n)
    comp = group.compose if group is not None else np.zeros((1, 1), int)
    inv = group.inverse if group is not None else np.zeros(1, int)
    dihedral = (lambda t: DIHEDRAL[group.parts(t)[0]]) if group is not None else (lambda t: DIHEDRAL[0])
    clusters = n
    for s, i, r in zip(s_idx, i_idx, r_idx, strict=True):
        if clusters == 1:
            break
        u, j = divmod(int(best[s, i, r]), n)
        a, b_ = cluster_of[i], cluster_of[j]
        if a == b_:
            continue
        p_i, t_i = pos[a][i]
        target_t = comp[t_i, u]
        target_p = p_i + dihedral(t_i) @ SIDES[s]
        h = comp[target_t, inv[pos[b_][j][1]]]
        mh = dihedral(h)
        p_j = pos[b_][j][0]
        moved = {q: (mh @ (p - p_j) + target_p, comp[h, t]) for q, (p, t) in pos[b_].items()}
        taken = {tuple(p) for p, _ in pos[a].values()}
        if any(tuple(p) in taken for p, _ in moved.values()):
            continue
        everything = np.array([p for p, _ in [*pos[a].values(), *moved.values()]])
        extent = everything.max(0) - everything.min(0) + 1
        if not ((extent[0] <= rows and extent[1] <= cols) or (extent[0] <= cols and extent[1] <= rows)):
            continue
        pos[a].update(moved)
        for q in moved:
            cluster_of[q] = a
        del pos[b_]
        clusters -= 1
    main = max(pos, key=lambda c: len(pos[c]))
    placed = pos[main]
    p = np.array([placed[q][0] for q in placed])
    extent = p.max(0) - p.min(0) + 1
    if extent[0] > rows or extent[1] > cols:  # the cluster lies the other way round: turn it
        turn = 12 if group is not None else None  # one quarter turn (d = 1)
        placed = {q: (_ROT @ pp, t if turn is None else comp[turn, t]) for q, (pp, t) in placed.items()}
    p = np.array([placed[q][0] for q in placed])
    origin = p.min(0)
    cell = np.full(n, -1)
    transform = np.zeros(n, np.int64)
    grid_of = np.full(rows * cols, -1)
    for q, (pp, t) in placed.items():
        rr, cc = pp - origin
        cell[q], transform[q] = rr * cols + cc, t
        grid_of[rr * cols + cc] = q
    _fill(cost, group, grid, cell, transform, grid_of)
    return cell, transform


def _fill(cost: np.ndarray, group: _Group | None, grid: tuple[int, int], cell: np.ndarray,
          transform: np.ndarray, grid_of: np.ndarray) -> None:
    """Greedily put the pieces the assembly left out into the empty cells (in place): each time the
    piece, transform and empty cell with the least cost against the placed neighbours."""
    rows, cols = grid
    while (cell < 0).any():
        free = np.flatnonzero(cell < 0)
        best = (np.inf, -1, -1, 0)
        for g in np.flatnonzero(grid_of < 0):
            r, c = divmod(int(g), cols)
            total = np.zeros((len(free), cost.shape[2]))
            for s, (dr, dc) in enumerate(SIDES):
                rr, cc = r - dr, c - dc  # the neighbour that has this cell on its side s
                if 0 <= rr < rows and 0 <= cc < cols and grid_of[rr * cols + cc] >= 0:
                    q = grid_of[rr * cols + cc]
                    t_q = transform[q]
                    if group is None:
                        total += cost[s, q, 0, free][:, None]
                    else:  # cost in q's frame: q untransformed, the free piece in t_q^-1 t
                        d_q = DIHEDRAL[group.parts(t_q)[0]]
                        s_local = _index_of(SIDES, np.linalg.inv(d_q).round().astype(int) @ SIDES[s])
                        rel = group.compose[group.inverse[t_q]]  # t -> t_q^-1 t
                        total += cost[s_local, q][rel][:, free].T
            if not total.any():
                continue
            f, t = np.unravel_index(int(total.argmin()), total.shape)
            if total[f, t] < best[0]:
                best = (total[f, t], int(free[f]), int(g), int(t))
        if best[1] < 0:  # nothing placed next to any empty cell: put the rest in order
            for q, g in zip(free, np.flatnonzero(grid_of < 0), strict=False):
                cell[q], grid_of[g] = g, q
            return
        _, q, g, t = best
        cell[q], transform[q], grid_of[g] = g, t, q


# ---------------------------------------------------------------------------------------------------
# EtC
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class EtCRecovery:
    """An EtC key's block places and block transforms recovered from scrambled images alone.

    Attributes:
        shape: (H, W), the images' size.
        block_size: B, the side of a block in pixels.
        cell: int64 (n,), n = (H/B)(W/B): for each block of a scrambled image (row-major), the
            row-major index of the block of the plain image it is.
        transform: int64 (n,), 0..95: for each scrambled block, the transform that turns it into
            that plain block: 16 d + 2 c + v with d the symmetry of the square (0..3: d
            counter-clockwise quarter turns; 4..7: a left-right flip, then d - 4 quarter turns), c the
            channel order (``pihlib.methods.CHANNEL_ORDERS``: output channel k is input channel
            ``CHANNEL_ORDERS[c][k]``), v = 1 the negative-positive transform.
        src: int64 (3HW,), xor: uint8 (3HW,): the recovered key as a unit map of bytes (the layout of
            ``pihlib.scramblers.IndexMap``: scrambled byte j is plain byte ``src[j]`` XOR ``xor[j]``).
        key: an EtC ``Key`` that scrambles as the recovered map, when the map inverts exactly half of
            the blocks as EtC keys do; else None.
        images: how many scrambled images it was recovered from.
    """

    shape: tuple[int, int]
    block_size: int
    cell: np.ndarray
    transform: np.ndarray
    src: np.ndarray
    xor: np.ndarray
    key: Key | None
    images: int

    @cached_property
    def index_map(self) -> IndexMap:
        """The recovered map as the scramblers' ``IndexMap`` (bytes)."""
        return IndexMap(self.src, self.xor, False)

    def unscramble(self, y: torch.Tensor) -> torch.Tensor:
        """Reassemble scrambled images: every block put back in its recovered place and transform.

        Args:
            y: images scrambled with the attacked key, uint8 (or float 8-bit levels in [0, 1])
                N x 3 x H x W or one image 3 x H x W, (H, W) = ``shape``, on any device.

        Returns:
            torch.Tensor: the reconstructed images, the same shape, dtype and device as ``y``.

        Raises:
            PihError: ``y`` is not images as ``pihlib.unscramble`` takes them, or is of another size.
        """
        return _apply_inverse(self.index_map, y, self.shape)

    def blocks_right(self, key: Key, up_to: str = "mirror") -> float:
        """The fraction of blocks whose place and transform are right (every byte of the block maps as
        ``key`` maps it), up to what the ciphertext and the priors leave open.

        Args:
            key: the EtC ``Key`` that scrambled the images (``shape`` and ``block_size`` alike).
            up_to: ``"none"`` (the recovery as it is), ``"mirror"`` (or mirrored left-right as a
                whole, which no prior settles), ``"global"`` (or under any one transform of the
                whole image, for when a prior fails): the best of these.

        Returns:
            float: in [0, 1].

        Raises:
            PihError: ``key`` is not an EtC ``Key`` of this shape and block size; ``up_to`` is not one
                of the three.
        """
        if not isinstance(key, Key) or key.method != "EtC" or key.shape != self.shape \
                or key.block_size != self.block_size:
            raise PihError(f"blocks_right() takes the EtC Key of {self.shape[0]}x{self.shape[1]} images "
                           f"with B = {self.block_size}")
        wholes = {"none": [0], "mirror": [0, 12 * 4], "global": range(96)}
        if up_to not in wholes:
            raise PihError(f"up_to must be none, mirror or global, got {up_to!r}")
        truth = index_map(key)
        b = self.block_size
        grid = (self.shape[0] // b, self.shape[1] // b)
        units = _byte_blocks(self.shape, b)
        group = _Group(b)
        best = 0.0
        for h in wholes[up_to]:
            moved = _globally(self.cell, self.transform, grid, h, group)
            if moved is None:
                continue
            src, xor = _etc_map(self.shape, b, *moved)
            same = (src == truth.src) & (xor == truth.xor)
            best = max(best, float(same[units].all(1).mean()))
        return best


def _etc_map(shape: tuple[int, int], b: int, cell: np.ndarray,
             transform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The scramble map (src, xor) of bytes that puts plain block ``cell[i]`` at scrambled block i so
    that ``transform[i]`` undoes it."""
    units = _byte_blocks(shape, b)
    idx, sign = _Group(b).gather
    src = np.empty(units.size, np.int64)
    xor = np.empty(units.size, np.uint8)
    for i, (g, t) in enumerate(zip(cell, transform, strict=True)):
        src[units[i][idx[t]]] = units[g]  # plain value k is scrambled value idx[t][k] (sign aside)
        xor[units[i]] = 255 if sign[t] < 0 else 0
    return src, xor


def _etc_gram(x: np.ndarray, units: np.ndarray) -> torch.Tensor:
    """(n 3B^2) x (n 3B^2): the sum over the images of products of centred block values."""
    m = units.size
    gram = torch.zeros(m, m, dtype=torch.float64)
    for i in range(0, len(x), CHUNK):
        z = torch.from_numpy(_units(x[i:i + CHUNK], False)[:, units.ravel()]).to(torch.float32) - MID_GREY
        gram += (z.T @ z).double()
    return gram


def _etc_costs(gram: torch.Tensor, n: int, group: _Group, images: int) -> np.ndarray:
    """cost[s, i, t, j]: the mean over the images of the squared differences of the touching values
    of block i (untransformed) and block j in transform t on i's side ``SIDES[s]``."""
    b = group.b
    m = 3 * b * b
    g = gram.reshape(n, m, n, m).numpy()
    diag = np.einsum("iaia->ia", g)
    idx, sign = group.gather
    cost = np.empty((len(SIDES), n, group.size, n), np.float32)
    for s, side in enumerate(SIDES):
        a = _side_pixels(b, side)
        facing = _side_pixels(b, -side)
        for t in range(group.size):
            bb = idx[t][facing]
            cross = g[:, a, :, bb].sum(0)  # (n, n): sum_k G[i, a_k, j, b_k]
            cost[s, :, t, :] = diag[:, a].sum(1)[:, None] + diag[:, bb].sum(1)[None, :] - 2 * sign[t] * cross
    cost /= images
    for s in range(len(SIDES)):
        cost[s, np.arange(n), :, np.arange(n)] = np.inf  # a block is not its own neighbour
    return cost


def etc_ciphertext_only(scrambled: torch.Tensor, block_size: int = 4) -> EtCRecovery:
    """Recover, from scrambled images alone, where an EtC key moved every block and how it transformed
    it: a jigsaw puzzle whose pieces are seen in every image at once.

    1. Edge costs: with values centred on mid-grey (the negative-positive transform negates them),
       for every pair of blocks (i, j), every side of i and every one of the 96 transforms of j
       (8 symmetries of the square x 6 channel orders x inverted or not), the squared differences of
       the touching pixels summed over all the images; all of them come from one Gram matrix of
       the blocks' values, so the cost of many images is one matrix product.
    2. Assembly (Gallagher 2012): candidate joins in order of their cost over the second-best one
       for that block and side (Pomeranz et al. 2011); a join merges two clusters of blocks, fixing
       their relative place and transform, unless they would overlap or outgrow the grid. Blocks a
       stalled assembly leaves out go greedily to the empty cells.
    3. What the ciphertext leaves open is one transform of the whole image; priors of natural
       photographs settle it (as ``pe_ciphertext_only`` does PE's): the mean level lies below
       mid-grey (inversion), red and blue correlate least and blue is darker than red (channels),
       the top half is brighter than the bottom half (which side is up). A left-right mirror of the
       whole image is left open (``EtCRecovery.blocks_right`` counts either).

    Measured on CIFAR-10 training images (32 x 32, B = 4: 64 blocks; 10 sets of N consecutive
    images, 3 of 1000, each with a key of its own; ``benchmarks/bench_jigsaw.py``), the fraction of
    blocks whose place and transform are right up to a left-right mirror (up to any one global
    transform), and of plain neighbour pairs kept together rightly:

    - N = 1: 0.00 (0.05), pairs 0.15; N = 3: 0.02 (0.10), 0.35; N = 5: 0.03 (0.20), 0.60;
    - N = 7: 0.35 (0.65), 0.86; N = 10: 0.50 (0.90), 0.98: every block in 5 of 10 sets;
    - N = 30: 0.90 (1.00), 1.00: every block in 9 of 10 sets (the priors fail on one);
    - N = 100 and 1000: 1.00 in every set; held-out test images then come back bit-exactly (or
      mirrored as a whole: half of the sets, as the mirror is a coin toss). ``key`` is then an EtC
      key with the same map as the true one (its codes may differ: a left-right flip after rotation
      r is an up-down flip after rotation r + 2).

    One call takes about 0.3 s (100 images) to 0.5 s (1000) on two CPU cores.

    Args:
        scrambled: uint8 torch.Tensor N x 3 x H x W (N >= 1; tens of images or more), all scrambled
            with one EtC key (ordinary channel maps), on any device.
        block_size: B, the key's block size, a positive integer dividing H and W.

    Returns:
        EtCRecovery: ``cell`` and ``transform`` per scrambled block, the map ``src``/``xor``,
        ``key`` (when the map is an EtC key's), ``unscramble`` and ``blocks_right``.

    Raises:
        PihError: ``scrambled`` is not a uint8 tensor N x 3 x H x W with N >= 1; ``block_size`` is not
            a positive integer dividing H and W.

    References:
        T. Chuman, K. Kurihara, H. Kiya, "On the security of block scrambling-based EtC systems
        against jigsaw puzzle solver attacks", IEEE ICASSP 2017; A. C. Gallagher, "Jigsaw puzzles
        with pieces of unknown orientation", IEEE CVPR 2012; D. Pomeranz, M. Shemesh, O. Ben-Shahar,
        "A fully automated greedy square jigsaw puzzle solver", IEEE CVPR 2011. EtC: Kurihara et al.
        2015 (``pihlib.methods``).
    """
    x = _check_images(scrambled, "scrambled images")
    shape = (int(x.shape[2]), int(x.shape[3]))
    b = _check_method("EtC", shape, block_size)
    grid = (shape[0] // b, shape[1] // b)
    _check_blocks(grid)
    units = _byte_blocks(shape, b)
    n = len(units)
    group = _Group(b)
    if n == 1:
        cell, transform = np.zeros(1, np.int64), np.zeros(1, np.int64)
    else:
        cost = _etc_costs(_etc_gram(x, units), n, group, len(x))
        cell, transform = _assemble(cost, group, grid)
    cell, transform = _etc_normalise(x, units, grid, group, cell, transform)
    src, xor = _etc_map(shape, b, cell, transform)
    return EtCRecovery(shape, b, cell, transform, src, xor, _etc_key(shape, b, cell, transform), len(x))


def _etc_normalise(x: np.ndarray, units: np.ndarray, grid: tuple[int, int], group: _Group, cell: np.ndarray,
                   transform: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Apply to the whole assembly the global transform that the priors choose (step 3)."""
    rows, cols = grid
    b = group.b
    idx, sign = group.gather
    # the reconstruction's channels, over all images and pixels, and its top and bottom halves
    total, outer, count = np.zeros(3), np.zeros((3, 3)), 0
    quarter = {}  # the mean level of each half of the image: (axis, half) -> sum
    for i in range(0, len(x), CHUNK):
        z = _units(x[i:i + CHUNK], False)[:, units].astype(np.float64) - MID_GREY  # N x n x 3B^2
        plain = np.empty_like(z)
        for q in range(len(cell)):
            plain[:, cell[q]] = sign[transform[q]] * z[:, q, idx[transform[q]]]
        img = plain.reshape(len(z), rows, cols, 3, b, b).transpose(0, 3, 1, 4, 2, 5)
        img = img.reshape(len(z), 3, rows * b, cols * b)
        flat = img.transpose(1, 0, 2, 3).reshape(3, -1)
        total += flat.sum(1)
        outer += flat @ flat.T
        count += flat.shape[1]
        h, w = rows * b, cols * b
        for key, part in {("r", 0): img[:, :, : h // 2], ("r", 1): img[:, :, h - h // 2:],
                          ("c", 0): img[:, :, :, : w // 2], ("c", 1): img[:, :, :, w - w // 2:]}.items():
            quarter[key] = quarter.get(key, 0.0) + float(part.sum())
    mean = total / count
    cov = outer / count - np.outer(mean, mean)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)).clip(min=1e-12))
    v = int(mean.sum() > 0)  # the mean level above mid-grey: invert
    pairs = [(0, 1), (0, 2), (1, 2)]
    red, blue = pairs[int(np.argmin([corr[i, j] for i, j in pairs]))]
    if (mean[red] < mean[blue]) != bool(v):  # (inverting swaps which is darker)
        red, blue = blue, red
    order = np.array([red, 3 - red - blue, blue])  # output channel k is current channel order[k]
    c = _index_of(CHANNEL_ORDERS, order)
    # which side is up: the brightest half (after the inversion) goes to the top
    sgn = -1 if v else 1
    halves = {"top": sgn * quarter["r", 0], "bottom": sgn * quarter["r", 1],
              "left": sgn * quarter["c", 0], "right": sgn * quarter["c", 1]}
    square = rows == cols
    # d: quarter turns counter-clockwise that bring that side to the top
    turns = {"top": 0, "right": 1, "bottom": 2, "left": 3}
    options = ["top", "bottom", "left", "right"] if square else ["top", "bottom"]
    up = max(options, key=lambda k: halves[k])
    d = turns[up]
    moved = _globally(cell, transform, grid, 12 * d + 2 * c + v, group)
    assert moved is not None  # (d turns a non-square grid only by half turns)
    return moved


def _etc_codes(b: int) -> np.ndarray:
    """(8, 2): for each symmetry d of ``_Group``, an EtC (rotation, flip) code that moves pixels alike."""
    group = _Group(b)
    idx, _ = group.gather
    base = np.arange(3 * b * b).reshape(3, b, b)
    codes = np.zeros((8, 2), np.int64)
    for d in range(8):
        want = idx[12 * d]  # transformed value k is value want[k]
        for rotation, flip in itertools.product(range(4), range(2)):
            t = np.rot90(base, rotation, axes=(1, 2))
            t = t[:, ::-1, :] if flip else t
            if np.array_equal(t.ravel(), want):
                codes[d] = rotation, flip
                break
    return codes


def _etc_key(shape: tuple[int, int], b: int, cell: np.ndarray, transform: np.ndarray) -> Key | None:
    """The EtC key whose map is the recovered one, when there is one (half the blocks inverted)."""
    group = _Group(b)
    d, c, v = group.parts(group.inverse[transform])  # the forward transform of each plain block
    n = len(cell)
    if int(v.sum()) != n // 2:
        return None
    codes = _etc_codes(b)
    rotation, flip = np.zeros(n, np.uint8), np.zeros(n, np.uint8)
    channel, invert = np.zeros(n, np.uint8), np.zeros(n, bool)
    rotation[cell], flip[cell] = codes[d, 0], codes[d, 1]
    channel[cell], invert[cell] = c, v.astype(bool)
    arrays = {"rotation": rotation, "invert": invert, "flip": flip, "channel_order": channel,
              "block_order": np.asarray(cell, np.int64)}
    try:
        key = Key("EtC", shape, b, arrays)
    except PihError:
        return None
    m = index_map(key)
    src, xor = _etc_map(shape, b, cell, transform)
    return key if np.array_equal(m.src, src) and np.array_equal(m.xor, xor) else None


# ---------------------------------------------------------------------------------------------------
# ELE
# ---------------------------------------------------------------------------------------------------

DIAGONAL = 0.3  # the placement template: 1 for the four neighbours of a block, this for the diagonal ones
GRID_RESTARTS = 30  # local searches of the placement: one from a spectral guess, the rest from shuffles


@dataclass(frozen=True, eq=False)
class ELERecovery:
    """What ``ele_ciphertext_only`` recovers of an ELE key from scrambled images alone.

    Positions are those of a block's 6B^2 four-bit values as the scrambled image lays them out (the
    high halves of the block's bytes in (row, column, channel) order, then the low halves;
    ``pihlib.methods``).

    Attributes:
        shape: (H, W), the images' size.
        block_size: B, the side of a block in pixels.
        high: int64 (n, 3B^2), each row sorted: for each scrambled block, the positions that hold high
            halves of plain values.
        signs: int8 (n, 3B^2): +1 where that half is kept, -1 where it is inverted (15 - v); each
            block's signs are set against its neighbours', and all of them by the prior that the
            data set's mean level lies below mid-grey.
        cell: int64 (n,): for each scrambled block, the row-major index of the plain block it is
            placed at (up to a left-right mirror of the whole image, which no prior settles).
        separation: float64 (n,): per block, the weakest high position's correlation strength over
            the strongest low position's (above 1: the two groups are apart).
        images: how many scrambled images it was recovered from.
    """

    shape: tuple[int, int]
    block_size: int
    high: np.ndarray
    signs: np.ndarray
    cell: np.ndarray
    separation: np.ndarray
    images: int

    def thumbnails(self, y: torch.Tensor) -> torch.Tensor:
        """Each plain block's mean level, from the sign-aligned high halves of its scrambled block,
        put in its recovered place: ``127.5 + 16 * mean(signs * (v - 7.5))`` over ``high``.

        Args:
            y: images scrambled with the attacked key: uint8 torch.Tensor N x 3 x H x W,
                (H, W) = ``shape``, on any device.

        Returns:
            torch.Tensor: float32 N x H/B x W/B, grey levels (0..255 scale), on the CPU.

        Raises:
            PihError: ``y`` is not a uint8 tensor N x 3 x H x W of ``shape`` with N >= 1.
        """
        x = _check_images(y, "scrambled images")
        if tuple(x.shape[2:]) != self.shape:
            raise PihError(f"images are {x.shape[2]}x{x.shape[3]} but the key was recovered for "
                           f"{self.shape[0]}x{self.shape[1]}")
        levels = _ele_levels(x, _nibble_blocks(self.shape, self.block_size), self.high, self.signs)
        b = self.block_size
        out = np.empty_like(levels)
        out[:, self.cell] = levels
        return torch.from_numpy(out.reshape(len(x), self.shape[0] // b, self.shape[1] // b))

    def blocks_right(self, key: Key, up_to: str = "mirror") -> float:
        """The fraction of blocks put in the right place (whatever their halves), up to what the
        ciphertext and the priors leave open.

        Args:
            key: the ELE ``Key`` that scrambled the images (``shape`` and ``block_size`` alike).
            up_to: ``"none"`` (the places as recovered), ``"mirror"`` (or mirrored left-right as a
                whole), ``"global"`` (or under any of the grid's symmetries): the best of these.

        Returns:
            float: in [0, 1].

        Raises:
            PihError: ``key`` is not an ELE ``Key`` of this shape and block size; ``up_to`` is not one
                of the three.
        """
        self._check_key(key)
        wholes = {"none": [0], "mirror": [0, 12 * 4], "global": range(0, 96, 12)}
        if up_to not in wholes:
            raise PihError(f"up_to must be none, mirror or global, got {up_to!r}")
        b = self.block_size
        grid = (self.shape[0] // b, self.shape[1] // b)
        best = 0.0
        for h in wholes[up_to]:
            moved = _globally(self.cell, np.zeros(len(self.cell), np.int64), grid, h, None)
            if moved is not None:
                best = max(best, float((moved[0] == key.arrays["block_order"]).mean()))
        return best

    def halves_right(self, key: Key) -> float:
        """The fraction of blocks whose high positions and their signs are all right.

        Args:
            key: the ELE ``Key`` that scrambled the images (``shape`` and ``block_size`` alike).

        Returns:
            float: in [0, 1].

        Raises:
            PihError: ``key`` is not an ELE ``Key`` of this shape and block size.
        """
        self._check_key(key)
        m = index_map(key)
        nib = _nibble_blocks(self.shape, self.block_size)
        right = 0
        for i, at in enumerate(nib):
            high = np.flatnonzero(m.src[at] % 2 == 0)
            signs = np.where(m.xor[at][high] == 15, -1, 1)
            right += np.array_equal(high, self.high[i]) and np.array_equal(signs, self.signs[i])
        return right / len(nib)

    def _check_key(self, key: Key) -> None:
        if not isinstance(key, Key) or key.method != "ELE" or key.shape != self.shape \
                or key.block_size != self.block_size:
            raise PihError(f"this check takes the ELE Key of {self.shape[0]}x{self.shape[1]} images "
                           f"with B = {self.block_size}")


def _ele_levels(x: np.ndarray, nib: np.ndarray, high: np.ndarray, signs: np.ndarray) -> np.ndarray:
    """float32 N x n: each scrambled block's mean level from its sign-aligned high halves."""
    out = np.empty((len(x), len(nib)), np.float32)
    rows = np.arange(len(nib))[:, None]
    for i in range(0, len(x), CHUNK):
        v = _units(x[i:i + CHUNK], True)[:, nib][:, rows, high].astype(np.float32)  # chunk x n x 3B^2
        out[i:i + CHUNK] = MID_GREY + 16 * ((v - 7.5) * signs).mean(-1)
    return out


def ele_ciphertext_only(scrambled: torch.Tensor, block_size: int = 4) -> ELERecovery:
    """Recover, from scrambled images alone, each ELE block's high halves and their inversions (its own
    LE key, up to the order of the high halves), and where the key moved every block.

    ELE gives every block a key of its own and moves the blocks, so ``le_ciphertext_only``'s
    statistics over all blocks are gone; what is left is the statistics of each block position over
    the images (one key scrambles them all):

    1. High halves, per block: the high halves of a block's values correlate strongly over the
       images, the low halves hardly at all; each position's strength (its summed absolute
       correlations) sets the 3B^2 high ones apart.
    2. Inversions, per block: the signs of the leading eigenvector of the high positions'
       correlations, up to the block's sign. The sign-aligned mean of the high halves is then the
       block's mean level, up to that sign.
    3. Block signs: the mean levels of neighbouring blocks correlate strongly over the images; the
       signs are propagated along a maximum spanning tree of the absolute correlations, and settled as
       a whole by the prior that the data set's mean level lies below mid-grey.
    4. Places: the blocks, one value per image each, are put on the grid by a local search over swaps
       (a quadratic assignment, as ``le_ciphertext_only``'s layout) that fits their correlations to a
       template ``exp(-distance in blocks)``, from a spectral guess and shuffles. The grid's
       symmetries are left open; priors settle which side is up (the top half is the brighter), not a
       left-right mirror.

    The order of a block's high halves (which pixel and channel each is) and its low halves are not
    recovered: the result is each block's mean level (``thumbnails``), placed.

    Measured on CIFAR-10 training images (32 x 32, B = 4: 64 blocks; 10 sets of N consecutive
    images, 3 of 1000, each with a key of its own; ``benchmarks/bench_jigsaw.py``):

    - high halves and signs (block sign included) exactly right for 8% of the blocks with N = 10,
      79% with N = 30, every block of every set with N = 100 and 1000; the block levels then
      correlate with the true block means at a median r of 0.9998 and lie 0.8 grey levels from them;
    - places: weak. The placement keeps 33% (N = 10), 54% (30), 60% (100) and 70% (1000) of the
      plain 4-neighbour pairs together, but puts only 2% to 6% of the blocks in their exact cell
      (up to the grid's symmetries): mean levels alone tell a block's neighbours (its two most
      correlated blocks are neighbours) but not on which side, and the greedy growth plus swaps
      does not find the whole grid. Edges (which would need each block's high halves ordered) are
      not used.

    One call takes about 1 s (100 or 1000 images) on two CPU cores.

    Args:
        scrambled: uint8 torch.Tensor N x 3 x H x W (N >= 1; a hundred images or more), all scrambled
            with one ELE key, on any device.
        block_size: B, the key's block size, a positive integer dividing H and W.

    Returns:
        ELERecovery: ``high``, ``signs``, ``cell``, ``separation``, ``thumbnails``, ``blocks_right``
        and ``halves_right``.

    Raises:
        PihError: ``scrambled`` is not a uint8 tensor N x 3 x H x W with N >= 1; ``block_size`` is not
            a positive integer dividing H and W; the images have more than 256 blocks.

    References:
        M. Madono, M. Tanaka, M. Onishi, T. Ogawa, "Block-wise Scrambled Image Recognition Using
        Adaptation Network", arXiv:2001.07761, 2020 (ELE); M. Tanaka, "Learnable Image Encryption",
        IEEE ICCE-TW 2018 (LE). The statistics and the placement are this module's (after
        ``le_ciphertext_only``); the attack follows Chuman, Kurihara, Kiya, ICASSP 2017 in treating the
        moved blocks as a jigsaw puzzle.
    """
    x = _check_images(scrambled, "scrambled images")
    shape = (int(x.shape[2]), int(x.shape[3]))
    b = _check_method("ELE", shape, block_size)
    grid = (shape[0] // b, shape[1] // b)
    _check_blocks(grid)
    nib = _nibble_blocks(shape, b)
    n, m = len(nib), 3 * b * b
    # 1-2: per block, moments of its 6B^2 values over the images
    total, outer = np.zeros((n, 2 * m)), np.zeros((n, 2 * m, 2 * m))
    for i in range(0, len(x), CHUNK):
        v = torch.from_numpy(_units(x[i:i + CHUNK], True)[:, nib]).double()  # chunk x n x 6B^2
        total += v.sum(0).numpy()
        outer += torch.einsum("kia,kib->iab", v, v).numpy()
    mean = total / len(x)
    cov = outer / len(x) - mean[:, :, None] * mean[:, None, :]
    spread = np.sqrt(np.einsum("iaa->ia", cov).clip(min=0))
    corr = cov / (spread[:, :, None] * spread[:, None, :]).clip(min=1e-12)
    corr[:, np.arange(2 * m), np.arange(2 * m)] = 0
    strength = np.abs(corr).sum(2)
    ranked = np.argsort(-strength, axis=1, kind="stable")
    high = np.sort(ranked[:, :m], axis=1)
    rows = np.arange(n)[:, None]
    weakest, strongest = strength[rows, ranked[:, m - 1:m]][:, 0], strength[rows, ranked[:, m:m + 1]][:, 0]
    separation = weakest / strongest.clip(min=1e-12)
    sub = corr[rows[:, :, None], high[:, :, None], high[:, None, :]]
    _, vectors = np.linalg.eigh(sub)
    signs = np.where(vectors[:, :, -1] < 0, -1, 1).astype(np.int8)
    signs *= np.where(signs.sum(1, keepdims=True) < 0, -1, 1).astype(np.int8)  # a definite start
    # 3: block signs from the correlations of the block levels
    levels = _ele_levels(x, nib, high, signs).astype(np.float64)
    centred = levels - levels.mean(0)
    level_cov = centred.T @ centred
    level_sd = np.sqrt(np.diag(level_cov)).clip(min=1e-12)  # (constant levels: no correlation)
    level_corr = level_cov / np.outer(level_sd, level_sd)
    np.fill_diagonal(level_corr, 0)
    flip = _tree_signs(level_corr)
    signs *= flip[:, None].astype(np.int8)
    levels = MID_GREY + (levels - MID_GREY) * flip
    if levels.mean() > MID_GREY:  # the data set's mean level above mid-grey: take the negative
        signs, levels = -signs, 2 * MID_GREY - levels
    # 4: places
    aligned = level_corr * np.outer(flip, flip)
    cell = _place(aligned, grid)
    cell = _place_up(levels, cell, grid)
    return ELERecovery(shape, b, high, signs, cell, separation, len(x))


def _tree_signs(corr: np.ndarray) -> np.ndarray:
    """+1/-1 per block: the signs that make the strongest correlations positive, propagated from block
    0 along a maximum spanning tree of ``|corr|`` (Prim's algorithm)."""
    n = len(corr)
    sign = np.zeros(n, np.int64)
    sign[0] = 1
    weight = np.abs(corr)
    best, parent = weight[0].copy(), np.zeros(n, np.int64)
    best[0] = -1
    for _ in range(n - 1):
        j = int(np.argmax(np.where(sign == 0, best, -np.inf)))
        sign[j] = sign[parent[j]] * (1 if corr[parent[j], j] >= 0 else -1)
        better = (weight[j] > best) & (sign == 0)
        best[better], parent[better] = weight[j][better], j
    return sign


def _place(similarity: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The grid cell of each block that best fits ``similarity`` (n x n, zero diagonal) to the template
    of the grid: local searches over swaps from a spectral guess and shuffles of it."""
    rows, cols = grid
    n = rows * cols
    r, c = np.divmod(np.arange(n), cols)
    dist = np.hypot(r[:, None] - r[None, :], c[:, None] - c[None, :])
    template = np.where(dist == 1, 1.0, np.where(np.isclose(dist, np.sqrt(2)), DIAGONAL, 0.0))
    # -log(1 - r): near neighbours' correlations (0.9 to 0.99) told apart from the next ones'
    sharp = -np.log1p(-similarity.clip(-0.999, 0.999))
    np.fill_diagonal(sharp, 0)
    relations = [(sharp, template)]
    guess = _grow(sharp, grid)
    rng = np.random.default_rng(0)
    best, best_score = guess, -np.inf
    for attempt in range(GRID_RESTARTS):
        start = guess.copy()
        if attempt:  # a few random swaps of the greedy placement
            for _ in range(n // 8):
                i, j = rng.choice(n, 2, replace=False)
                start[i], start[j] = start[j], start[i]
        cell, score = _swap_search(relations, start)
        if score > best_score + 1e-9:
            best, best_score = cell, score
    return np.asarray(best, np.int64)


def _grow(sharp: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """A greedy placement (after Pomeranz et al. 2011): from the block with the strongest
    neighbours, each time the unplaced block and free cell (next to placed ones, within a grid-sized
    box either way round) whose similarity to the placed neighbours (weights: 1 for the four
    neighbours, ``DIAGONAL`` for the diagonal ones) is largest. Returns each block's cell."""
    rows, cols = grid
    n = rows * cols
    size = 2 * max(rows, cols) + 1
    centre = size // 2
    where = np.full(n, -1)  # each block's cell on a size x size canvas
    top = np.sort(sharp, axis=1)[:, -4:].sum(1)
    where[int(np.argmax(top))] = centre * size + centre
    offsets = [(dr, dc, 1.0 if abs(dr) + abs(dc) == 1 else DIAGONAL)
               for dr in (-1, 0, 1) for dc in (-1, 0, 1) if (dr, dc) != (0, 0)]
    for _ in range(n - 1):
        placed = np.flatnonzero(where >= 0)
        pr, pc = np.divmod(where[placed], size)
        lo, hi = np.array([pr.min(), pc.min()]), np.array([pr.max(), pc.max()])
        taken = set(where[placed].tolist())
        cells = sorted({(r + dr) * size + c + dc for r, c in zip(pr, pc, strict=True)
                        for dr, dc in ((0, 1), (1, 0), (0, -1), (-1, 0))} - taken)
        ok = []
        for cell in cells:
            r, c = divmod(cell, size)
            ext = np.maximum(hi, (r, c)) - np.minimum(lo, (r, c)) + 1
            if (ext[0] <= rows and ext[1] <= cols) or (ext[0] <= cols and ext[1] <= rows):
                ok.append(cell)
        weight = np.zeros((len(placed), len(ok)))
        index = {int(w): k for k, w in enumerate(where[placed])}
        for m, cell in enumerate(ok):
            r, c = divmod(cell, size)
            for dr, dc, wt in offsets:
                k = index.get((r + dr) * size + c + dc)
                if k is not None:
                    weight[k, m] = wt
        free = np.flatnonzero(where < 0)
        score = sharp[np.ix_(free, placed)] @ weight  # free blocks x cells
        f, m = np.unravel_index(int(score.argmax()), score.shape)
        where[free[f]] = ok[m]
    r, c = np.divmod(where, size)
    r, c = r - r.min(), c - c.min()
    if r.max() + 1 > rows or c.max() + 1 > cols:  # the other way round
        r, c = c, r
    return r * cols + c


def _place_up(levels: np.ndarray, cell: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The placement turned (as a whole) so that its brightest half is at the top."""
    rows, cols = grid
    r, c = np.divmod(cell, cols)
    mean = levels.mean(0) - MID_GREY
    halves = {0: mean[r < rows / 2 - 0.25].sum() - mean[r > rows / 2 - 0.75].sum()}  # top minus bottom
    halves[2] = -halves[0]
    if rows == cols:
        halves[3] = mean[c < cols / 2 - 0.25].sum() - mean[c > cols / 2 - 0.75].sum()  # left is up
        halves[1] = -halves[3]
    d = max(halves, key=lambda k: halves[k])
    moved = _globally(cell, np.zeros(len(cell), np.int64), grid, 12 * d, None)
    assert moved is not None
    return moved[0]


# ---------------------------------------------------------------------------------------------------
# ELE at 4-bit depth: each block's high halves laid out, then the blocks as an EtC jigsaw
# ---------------------------------------------------------------------------------------------------

LAYOUT_RIDGE = 1e-3  # added to the correlations' diagonal before inverting them (constant positions)
PIXEL_RESTARTS = 400  # at most this many local searches of a block's pixel grid from random starts
NEAR_WEIGHT = 1.0  # the weight of the pixels' sharpened correlations against the distance template
PIXEL_AGREE = 3  # ... stopping once the best score has been reached this many times (and 20 tried)


@dataclass(frozen=True, eq=False)
class ELEHighHalves:
    """The plain images at 4-bit depth, recovered from ELE-scrambled images alone
    (``ele_high_halves``).

    Attributes:
        recovery: ``ele_ciphertext_only``'s result: each block's high positions and their signs.
        layout: int64 (n, 3B^2): for each scrambled block and each of its ``recovery.high``
            positions, the slot of the block it goes to (slots: the block's bytes in (row, column,
            channel) order), up to one symmetry of the square and one channel order per block,
            which ``etc`` settles.
        etc: ``etc_ciphertext_only``'s result on the laid-out blocks (``blocks``): every block's
            place and its remaining transform.
    """

    recovery: ELERecovery
    layout: np.ndarray
    etc: EtCRecovery

    def blocks(self, y: torch.Tensor) -> torch.Tensor:
        """Every scrambled block's sign-aligned high halves laid out in place (its low halves
        dropped): an EtC-like scramble of ``(x // 16) * 16 + 8`` of the plain images x.

        Args:
            y: images scrambled with the attacked key: uint8 torch.Tensor N x 3 x H x W,
                (H, W) = ``recovery.shape``, on any device.

        Returns:
            torch.Tensor: uint8 N x 3 x H x W on the CPU.

        Raises:
            PihError: ``y`` is not a uint8 tensor N x 3 x H x W of that shape with N >= 1.
        """
        return _ele_laid_out(self.recovery, self.layout, y)

    def unscramble(self, y: torch.Tensor) -> torch.Tensor:
        """Scrambled images -> the plain images at 4-bit depth: ``(x // 16) * 16 + 8`` where the
        recovery is right (or that mirrored left-right as a whole).

        Args:
            y: images scrambled with the attacked key: uint8 torch.Tensor N x 3 x H x W,
                (H, W) = ``recovery.shape``, on any device.

        Returns:
            torch.Tensor: uint8 N x 3 x H x W on the CPU.

        Raises:
            PihError: ``y`` is not a uint8 tensor N x 3 x H x W of that shape with N >= 1.
        """
        return self.etc.unscramble(self.blocks(y))

    def layouts_right(self, key: Key) -> float:
        """The fraction of blocks whose high halves, signs and ``layout`` are all right, up to a
        symmetry of the square and a channel order of the block (what ``etc`` settles).

        Args:
            key: the ELE ``Key`` that scrambled the images (shape and block size alike).

        Returns:
            float: in [0, 1].

        Raises:
            PihError: ``key`` is not an ELE ``Key`` of this shape and block size.
        """
        r = self.recovery
        r._check_key(key)
        b, (h, w) = r.block_size, r.shape
        m = index_map(key)
        nib = _nibble_blocks(r.shape, b)
        base = np.arange(3 * b * b).reshape(b, b, 3)
        moves = [np.argsort(np.rot90(base, k)[:, ::-1 if f else 1][:, :, list(p)].ravel())
                 for k in range(4) for f in range(2) for p in itertools.permutations(range(3))]
        right = 0
        for i, at in enumerate(nib):
            src = m.src[at][r.high[i]]
            byte = src // 2
            truth = ((byte % (h * w) // w % b) * b + byte % w % b) * 3 + byte // (h * w)
            signs = np.where(m.xor[at][r.high[i]] == 15, -1, 1)
            right += bool((src % 2 == 0).all() and np.array_equal(signs, r.signs[i])
                          and any(np.array_equal(move[self.layout[i]], truth) for move in moves))
        return right / len(nib)


def ele_high_halves(scrambled: torch.Tensor, block_size: int = 4) -> ELEHighHalves:
    """Recover from ELE-scrambled images alone the map back to the plain images at 4-bit depth:
    ``ele_ciphertext_only``'s high halves and signs, then where in its block each high half goes, then
    the blocks' places as ``etc_ciphertext_only``'s jigsaw.

    1. High halves and signs per block: ``ele_ciphertext_only``.
    2. Each block's layout from the partial correlations of its 3B^2 sign-aligned high halves over
       the images (the inverse of their correlation matrix): in natural images they are large only
       between the three channels of one pixel (measured about 0.42) and between the same channel of
       4-neighbours (0.36); the channels of 4-neighbours are negative (-0.13), the rest near 0.
       (a) Pixels: the B^2 disjoint triples of positions with the largest summed partial
       correlations, greedily (the 4-neighbour graph of one channel has no triangles, a pixel's
       three channels are one). (b) Channels: along a maximum spanning tree of the pixels, each
       pixel's three positions ordered as its neighbour's (the order that maximises their summed
       partial correlations). (c) Pixels on the B x B grid: a quadratic assignment of the pixels'
       summed same-channel partial correlations to the grid's 4-neighbour template, plus their
       sharpened correlations (``-log(1 - r)``, as ``_place``) to ``exp(-distance / 1.5)`` (which
       smooths the search), by local searches over swaps from random starts until the best score
       recurs. A block's layout is then right up to a symmetry of the square and an order of its
       channels (``ELEHighHalves.layouts_right``).
    3. Laid out so, every block is an EtC block of ``(x // 16) * 16 + 8`` (in place, turned or
       flipped, channels shuffled): ``etc_ciphertext_only`` on those images finds every block's
       place and transform, up to a left-right mirror of the whole image.

    Measured on real CIFAR-10 training images (``cifar10-lossless-3k.npz``, 32 x 32, B = 4, one ELE
    key per run; 500 held-out test images), the blocks whose high halves, signs and layout are right
    (``layouts_right``) and the bytes of ``unscramble`` equal to ``(x // 16) * 16 + 8`` (or to its
    left-right mirror as a whole):

    - 1000 images, keys of seeds 0 to 5: every block, and every byte of every test image (5 keys
      as is, 1 mirrored); also from 1000 JPEG-decoded training images (``cifar10-jpeg-60k``, seed 0);
    - 300 images, seeds 0 to 3: every block with 3 keys (every byte), 63 of 64 with one (99.6 %
      of the bytes);
    - 100 images, seeds 0 to 3: 57 of 64 blocks with each (99.0 % of the bytes).

    (Without the sharpened correlations in step 2c, the 4-neighbour template alone left one block
    of 64 wrong with 1000 images for one of four keys.) One call takes 10 to 15 s for 1000 images on
    a shared CPU core (step 2c dominates).

    Args:
        scrambled: uint8 torch.Tensor N x 3 x H x W (N >= 1; a thousand images for an exact map),
            all scrambled with one ELE key, on any device.
        block_size: B, the key's block size, a positive integer dividing H and W.

    Returns:
        ELEHighHalves: ``recovery``, ``layout``, ``etc``, ``blocks`` and ``unscramble``.

    Raises:
        PihError: as ``ele_ciphertext_only``.

    References:
        Madono et al., arXiv:2001.07761 (ELE); the partial correlations of a Gaussian Markov random
        field vanish between pixels that are not neighbours (image models); the steps are this
        module's.
    """
    recovery = ele_ciphertext_only(scrambled, block_size)
    x = _check_images(scrambled, "scrambled images")
    b = recovery.block_size
    nib = _nibble_blocks(recovery.shape, b)
    n, m = len(nib), 3 * b * b
    rows = np.arange(n)[:, None]
    total, outer = np.zeros((n, m)), np.zeros((n, m, m))
    for i in range(0, len(x), CHUNK):
        v = _units(x[i:i + CHUNK], True)[:, nib][:, rows, recovery.high].astype(np.float64)
        v = torch.from_numpy(np.where(recovery.signs < 0, 15 - v, v))
        total += v.sum(0).numpy()
        outer += torch.einsum("kia,kib->iab", v, v).numpy()
    mean = total / len(x)
    cov = outer / len(x) - mean[:, :, None] * mean[:, None, :]
    spread = np.sqrt(np.einsum("iaa->ia", cov).clip(min=1e-12))
    corr = cov / (spread[:, :, None] * spread[:, None, :])
    rng = np.random.default_rng(0)
    layout = np.stack([_block_layout(_partial(c), c, b, rng) for c in corr])
    etc = etc_ciphertext_only(_ele_laid_out(recovery, layout, scrambled), b)
    return ELEHighHalves(recovery, layout, etc)


def _ele_laid_out(r: ELERecovery, layout: np.ndarray, y: torch.Tensor) -> torch.Tensor:
    """``ELEHighHalves.blocks``: uint8 N x 3 x H x W, each block's high halves put in its slots."""
    x = _check_images(y, "scrambled images")
    if tuple(x.shape[2:]) != r.shape:
        raise PihError(f"images are {x.shape[2]}x{x.shape[3]} but the key was recovered for "
                       f"{r.shape[0]}x{r.shape[1]}")
    nib = _nibble_blocks(r.shape, r.block_size)
    m = 3 * r.block_size ** 2
    rows = np.arange(len(nib))[:, None]
    to = (nib[:, :m] // 2)[rows, layout].ravel()  # the byte each high position goes to
    out = np.empty((len(x), x[0].size), np.uint8)
    for i in range(0, len(x), CHUNK):
        v = _units(x[i:i + CHUNK], True)[:, nib][:, rows, r.high]  # chunk x n x 3B^2
        v = np.where(r.signs < 0, 15 - v, v).astype(np.uint8)
        out[i:i + CHUNK, to] = (v * 16 + 8).reshape(len(v), -1)
    return torch.from_numpy(out.reshape(x.shape))


def _partial(corr: np.ndarray) -> np.ndarray:
    """Partial correlations (zero diagonal) from a correlation matrix."""
    precision = np.linalg.inv(corr + LAYOUT_RIDGE * np.eye(len(corr)))
    d = np.sqrt(np.diag(precision))
    out = -precision / np.outer(d, d)
    np.fill_diagonal(out, 0)
    return out


def _block_layout(pc: np.ndarray, corr: np.ndarray, b: int, rng: np.random.Generator) -> np.ndarray:
    """Step 2 of ``ele_high_halves`` for one block: the slot of each of its 3B^2 high positions."""
    m, q = 3 * b * b, b * b
    # (a) pixels: disjoint triples, best summed partial correlations first
    combos = np.array(list(itertools.combinations(range(m), 3)))
    score = pc[combos[:, 0], combos[:, 1]] + pc[combos[:, 0], combos[:, 2]] + pc[combos[:, 1], combos[:, 2]]
    used = np.zeros(m, bool)
    pixels = []
    for k in np.argsort(-score, kind="stable"):
        if not used[combos[k]].any():
            pixels.append(combos[k])
            used[combos[k]] = True
            if len(pixels) == q:
                break
    trip = np.array(pixels)
    # (b) channels: each pixel's positions in its tree neighbour's order
    perms = np.array(list(itertools.permutations(range(3))))

    def fit(a: np.ndarray, c: np.ndarray) -> np.ndarray:  # per order: a's k against c[order[k]]
        return pc[np.ix_(a, c)][np.arange(3)[None], perms].sum(1)

    weight = np.array([[fit(trip[i], trip[j]).max() for j in range(q)] for i in range(q)])
    np.fill_diagonal(weight, -np.inf)
    done = np.zeros(q, bool)
    done[0] = True
    for _ in range(q - 1):
        i, j = np.unravel_index(int(np.argmax(np.where(done[:, None] & ~done[None], weight, -np.inf))),
                                weight.shape)
        trip[j] = trip[j][perms[int(np.argmax(fit(trip[i], trip[j])))]]
        done[j] = True
    # (c) pixels on the grid: a quadratic assignment to the 4-neighbour template
    same = sum(pc[np.ix_(trip[:, k], trip[:, k])] for k in range(3))
    r, c = np.divmod(np.arange(q), b)
    template = (np.abs(r[:, None] - r[None]) + np.abs(c[:, None] - c[None]) == 1).astype(np.float64)
    alike = sum(corr[np.ix_(trip[:, k], trip[:, k])] for k in range(3)) / 3
    near = -np.log1p(-alike.clip(-0.999, 0.999))  # as ``_place``: 0.9 told apart from 0.99
    np.fill_diagonal(near, 0)
    reach = np.exp(-np.hypot(r[:, None] - r[None], c[:, None] - c[None]) / REACH)
    np.fill_diagonal(reach, 0)
    relations = [(same, template), (NEAR_WEIGHT * near, reach)]
    best, best_score, hits = None, -np.inf, 0
    for attempt in range(PIXEL_RESTARTS):
        cell, s = _swap_search(relations, rng.permutation(q))
        if s > best_score + 1e-9:
            best, best_score, hits = cell, s, 1
        elif s > best_score - 1e-9:
            hits += 1
        if hits >= PIXEL_AGREE and attempt >= 20:
            break
    layout = np.empty(m, np.int64)
    layout[trip] = 3 * np.asarray(best)[:, None] + np.arange(3)
    return layout
