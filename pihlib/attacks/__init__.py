"""Attacks on the scramblers: what an adversary recovers of a key, or of the images, when one key
scrambles a whole data set (as the paper's scheme does).

Two threat models, each a function:

- known plaintext (``known_plaintext``): the adversary holds a few plain images and the same images
  scrambled. Every method is, for a fixed key, a fixed map of units (``pihlib.methods``: output unit j
  is input unit ``src[j]`` XOR ``xor[j]``), so each output unit is matched to the input unit and XOR
  value that agree with it in every pair. Measured on real CIFAR-10 (see the function): one pair
  recovers an LE key, one or two an EtC key, two to five a PE key, 10 to 22 an ELE key;
- ciphertext only (``pe_ciphertext_only``, ``le_ciphertext_only``): the adversary holds only
  scrambled images, and uses what natural images share (neighbouring values are alike) to undo the
  key up to a few global ambiguities, which priors of natural photographs then settle: 100 CIFAR-10
  images give back a PE key exactly, and an LE key's high halves (4-bit versions of the images).

Everything is numpy on the CPU (the images may come from any device); the arrays are small (a key's
map, 3 x 3 moments per pixel, a 6B^2 x 6B^2 correlation matrix). For 32 x 32 images and B = 4 each
call takes well under a second.

References:
    S. Li, C. Li, G. Chen, N. G. Bourbakis, K.-T. Lo, "A general quantitative cryptanalysis of
    permutation-only multimedia ciphers against plaintext attacks", Signal Processing: Image
    Communication 23(3), 212-223, 2008, doi:10.1016/j.image.2008.01.003 (known-plaintext attacks on
    permutations: each element is located by the values it takes over a few known images);
    W. Sirichotedumrong, H. Kiya, "On the Security of Pixel-Based Image Encryption for
    Privacy-Preserving Deep Neural Networks", arXiv:1912.04746, 2019 (PE images scrambled with one
    key leak their content to ciphertext-only attacks); the scramblers' own sources are cited in
    ``pihlib.methods``.
"""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from ..errors import PihError
from ..images import as_uint8, check_batch
from ..keys import Key
from ..methods import CHANNEL_ORDERS, METHODS, check_geometry, get_method
from ..scramblers import IndexMap, index_map
from .learned import ITN, fr_attack, itn_attack, train_itn  # noqa: F401  (re-exported)

__all__ = ["LERecovery", "PERecovery", "RecoveredMap", "known_plaintext", "le_ciphertext_only",
           "pe_ciphertext_only", "pe_matrices"]

MID_GREY = 127.5  # the centre of the negative-positive transform v -> 255 - v
CHUNK = 1024  # images a pass of the ciphertext-only statistics reads at once (bounds the memory)


# ---------------------------------------------------------------------------------------------------
# Checks and small helpers
# ---------------------------------------------------------------------------------------------------


class _NoFit(Exception):
    """The pairs fit no key of the method (``known_plaintext`` says so in a ``PihError``)."""


def _check_images(x: torch.Tensor, what: str) -> np.ndarray:
    """uint8 N x 3 x H x W (N >= 1) as a numpy uint8 array (a view of a CPU tensor: not to be
    written to); ``PihError`` for anything else."""
    x, _ = check_batch(x, what)
    if x.dtype != torch.uint8:
        raise PihError(f"{what} must be uint8 (0..255), got dtype {x.dtype}")
    if len(x) == 0:
        raise PihError(f"{what} are an empty batch: give at least one image")
    return x.detach().cpu().numpy()


def _check_method(method: str, shape: tuple[int, int], block_size: int | None) -> int | None:
    """The block size ``method`` uses at ``shape`` (None for PE), checked."""
    if method not in METHODS:
        raise PihError(f"attacks take the methods {', '.join(METHODS)}, got {method!r}")
    m = get_method(method)
    block_size = block_size if m.blocks else None
    check_geometry(m, shape, block_size)
    return block_size


def _units(x: np.ndarray, nibbles: bool) -> np.ndarray:
    """N x 3 x H x W values -> N x L units: bytes, or 4-bit halves (high half first)."""
    flat = x.reshape(len(x), -1)
    if not nibbles:
        return flat
    out = np.empty((len(flat), 2 * flat.shape[1]), np.uint8)
    out[:, 0::2], out[:, 1::2] = flat >> 4, flat & 15
    return out


def _byte_blocks(shape: tuple[int, int], b: int) -> np.ndarray:
    """n x 3B^2: the byte indices of each B x B block (row-major blocks), in (channel, row, column)
    order, as EtC lays a block out."""
    h, w = shape
    idx = np.arange(3 * h * w).reshape(3, h // b, b, w // b, b)
    return idx.transpose(1, 3, 0, 2, 4).reshape(-1, 3 * b * b)


def _nibble_blocks(shape: tuple[int, int], b: int) -> np.ndarray:
    """n x 6B^2: the 4-bit unit indices of each block in LE/ELE order: the high halves of the block's
    bytes in (row, column, channel) order, then their low halves."""
    h, w = shape
    idx = np.arange(3 * h * w).reshape(3, h // b, b, w // b, b)
    byte = idx.transpose(1, 3, 2, 4, 0).reshape(-1, 3 * b * b)
    return np.concatenate([2 * byte, 2 * byte + 1], axis=1)


def _apply_inverse(m: IndexMap, y: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """Undo the map ``m`` on images as ``pihlib.unscramble`` takes them."""
    u8, single, was_float = as_uint8(y, "scrambled images")
    if tuple(u8.shape[2:]) != shape:
        h, w = u8.shape[2:]
        raise PihError(f"images are {h}x{w} but the map was recovered for {shape[0]}x{shape[1]}")
    out = m.inverse().apply(u8.reshape(len(u8), -1)).view(u8.shape) if len(u8) else u8.clone()
    if was_float:
        out = out.to(y.dtype).div_(255)
    return out[0] if single else out


# ---------------------------------------------------------------------------------------------------
# Bipartite matching: which input slot each output slot came from, and which choices are forced
# ---------------------------------------------------------------------------------------------------


def _augment(r0: int, adj: list[np.ndarray], row_of: np.ndarray, col_of: np.ndarray) -> bool:
    """Extend the matching to the free row ``r0`` along an alternating path (breadth first)."""
    came: dict[int, int] = {}
    queue = deque([r0])
    while queue:
        r = queue.popleft()
        for c in map(int, adj[r]):
            if c in came:
                continue
            came[c] = r
            if row_of[c] < 0:
                while c >= 0:  # flip the path back to r0 (whose old column is -1)
                    r = came[c]
                    old = int(col_of[r])
                    col_of[r], row_of[c] = c, r
                    c = old
                return True
            queue.append(int(row_of[c]))
    return False


def _on_cycles(succ: list[list[int]]) -> np.ndarray:
    """Which nodes of a directed graph without self-loops lie on a cycle (a strongly connected
    component of more than one node): Tarjan's algorithm, iterative."""
    n = len(succ)
    index, low = np.full(n, -1), np.zeros(n, np.int64)
    on_stack, cyclic = np.zeros(n, bool), np.zeros(n, bool)
    stack: list[int] = []
    counter = 0
    for start in range(n):
        if index[start] >= 0:
            continue
        work = [(start, 0)]
        while work:
            v, i = work[-1]
            if i == 0:
                index[v] = low[v] = counter
                counter += 1
                stack.append(v)
                on_stack[v] = True
            if i < len(succ[v]):
                work[-1] = (v, i + 1)
                w = succ[v][i]
                if index[w] < 0:
                    work.append((w, 0))
                elif on_stack[w]:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[v])
            if low[v] == index[v]:
                component = []
                while True:
                    w = stack.pop()
                    on_stack[w] = False
                    component.append(w)
                    if w == v:
                        break
                cyclic[component] = len(component) > 1
    return cyclic


def _match(edges: np.ndarray, what: str) -> tuple[np.ndarray, np.ndarray]:
    """A perfect matching of the rows (output slots) to the columns (input slots) of ``edges`` (bool
    n x n: row r may have come from column c), and the rows it leaves open.

    Returns ``col`` (int64 (n,): the column matched to each row) and ``open`` (bool (n,): rows that
    another perfect matching gives another column, i.e. whose edge lies on an alternating cycle).
    ``_NoFit`` when there is no perfect matching: the images fit no key of the method.
    """
    n = len(edges)
    adj = [np.flatnonzero(row) for row in edges]
    if (bad := [r for r in range(n) if not len(adj[r])]):
        raise _NoFit(f"{what} {bad[0]} matches no input")
    row_of, col_of = np.full(n, -1, np.int64), np.full(n, -1, np.int64)
    for r in np.argsort([len(a) for a in adj], kind="stable"):  # the forced choices first
        free = adj[r][row_of[adj[r]] < 0]
        if len(free):
            col_of[r], row_of[free[0]] = free[0], r
    for r in np.flatnonzero(col_of < 0):
        if not _augment(int(r), adj, row_of, col_of):
            raise _NoFit(f"no one-to-one match of outputs to inputs exists ({what} {r} is left over)")
    succ = [[int(row_of[c]) for c in adj[r] if c != col_of[r]] for r in range(n)]
    return col_of, _on_cycles(succ)


def _classes(a: np.ndarray, b: np.ndarray, flip_value: int) -> tuple[np.ndarray, ...]:
    """Classes of the columns of ``a`` (S x Ma) and ``b`` (S x Mb) up to XOR ``flip_value``.

    Returns (ids_a, flip_a, ids_b, flip_b): two columns are equal up to XOR ``flip_value`` iff their ids
    are equal, and then they differ by it iff their flips differ (a column is flipped when its first
    value is in the upper half, so that v and v XOR ``flip_value`` fold to the same column).
    """
    cols = np.concatenate([a, b], axis=1).T
    flip = cols[:, 0] > flip_value // 2
    folded = np.where(flip[:, None], cols ^ flip_value, cols)
    _, ids = np.unique(folded, axis=0, return_inverse=True)
    ids = ids.ravel()
    m = a.shape[1]
    return ids[:m], flip[:m], ids[m:], flip[m:]


# ---------------------------------------------------------------------------------------------------
# Known plaintext
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class RecoveredMap:
    """A key's unit map recovered from known plain/scrambled pairs (``known_plaintext``).

    Output unit j of a scrambled image is input unit ``src[j]`` XOR ``xor[j]`` (the layout of
    ``pihlib.scramblers.IndexMap``). Where the pairs leave a unit open, one choice consistent with
    every pair is kept: the map then decrypts the known pairs exactly but may err on other images.

    Attributes:
        method: ``"PE"``, ``"EtC"``, ``"LE"`` or ``"ELE"``.
        shape: (H, W), the images' size.
        block_size: B for EtC, LE and ELE; None for PE.
        src: int64 (L,): L = 3*H*W bytes (PE, EtC) or 6*H*W 4-bit halves (LE, ELE), the order of a
            flattened 3 x H x W image (halves: high first); a permutation.
        xor: uint8 (L,): 0 or 255 (bytes), 0 or 15 (halves).
        ambiguous: bool (L,): units whose source or XOR another key consistent with all the pairs
            would choose differently.
        key: a ``Key`` of ``method`` whose map is this one, when no unit is ambiguous; else None. For
            PE, LE and ELE it equals the scrambling key (same fingerprint); for EtC it gives the same
            scramble but may differ in its codes (see ``known_plaintext``).
        pairs: how many plain/scrambled pairs it was recovered from.
    """

    method: str
    shape: tuple[int, int]
    block_size: int | None
    src: np.ndarray
    xor: np.ndarray
    ambiguous: np.ndarray
    key: Key | None
    pairs: int

    @property
    def exact(self) -> bool:
        """True when no unit is ambiguous: the pairs determine the whole map."""
        return not bool(self.ambiguous.any())

    @cached_property
    def index_map(self) -> IndexMap:
        """The recovered map as the scramblers' ``IndexMap`` (units are halves for LE and ELE)."""
        return IndexMap(self.src, self.xor, self.method in ("LE", "ELE"))

    def unscramble(self, y: torch.Tensor) -> torch.Tensor:
        """Undo the recovered map: bit-exact on every image scrambled with the key when ``exact``.

        Args:
            y: scrambled images, uint8 (or float 8-bit levels in [0, 1]) N x 3 x H x W or one
                image 3 x H x W, (H, W) = ``shape``, on any device.

        Returns:
            torch.Tensor: the decrypted images, the same shape, dtype and device as ``y``.

        Raises:
            PihError: ``y`` is not images as ``pihlib.unscramble`` takes them, or is of another size.
        """
        return _apply_inverse(self.index_map, y, self.shape)


def known_plaintext(plain: torch.Tensor, scrambled: torch.Tensor, method: str,
                    block_size: int | None = 4) -> RecoveredMap:
    """Recover a key's unit map from plain images and the same images scrambled with that key.

    Each output unit is matched to the input units and XOR values that agree with it in every pair
    (Li et al. 2008), within what the method allows, and the matches are made one to one:

    - PE: per pixel, the one of 48 signed channel permutations (6 orders x 8 inversion patterns) that
      fits every pair;
    - LE: one map of a block's 6B^2 halves for all blocks, so every block of every pair is a sample;
    - EtC: per output block, an input block and one of its transforms (8 symmetries of the square x
      6 channel orders x inverted or not) that fit every pair; blocks matched one to one;
    - ELE: blocks matched by their multisets of half values (up to XOR 15) over the pairs, then the
      halves within each matched block.

    A unit is ambiguous when another key consistent with every pair maps it differently (a second
    matching along an alternating cycle; for EtC and ELE, every unit of a block whose source block is
    open).

    Measured on real CIFAR-10 (``cifar10-lossless-3k.npz``), 32 x 32, B = 4: 20 sets of consecutive
    training images (starting at 0, 50, 100, ...), each with a key of its own; the pairs needed for an
    exact map, which then decrypts 200 held-out test images bit-exactly
    (``benchmarks/bench_attacks.py``):

    - LE: 1 pair for all 20 (64 blocks sample each of the 96 positions 64 times);
    - EtC: 1 pair for 17 sets, 2 for 3 (one pair leaves 0.6% of the units open on average: flat
      blocks, which fit several transforms);
    - PE: 2 to 5 pairs, 3 for most (2: 5 sets, 3: 12, 4: 2, 5: 1); one pair leaves 6% of the units
      open (grey pixels, whose equal channels fit several orders), two 0.4%;
    - ELE: 10 to 22 pairs (10 sets: 10, 11, 11, 12, 14, 15, 15, 17, 18, 22), the most of the four:
      every block has its own permutation of 96 halves, and the high halves of neighbouring values
      often agree over many images (open units: 65% with 2 pairs, 6% with 5, 0.4% with 10).

    The first training images need 3 (PE), 1 (EtC), 1 (LE) and 15 (ELE) pairs
    (``tests/test_attacks.py``). The relaxed ELE match ignores that an ELE (or LE) key ties its
    inversions to its permutation; where that rule rejects a map the pairs otherwise fit, the
    function says so.

    Key recovery: a PE, LE or ELE key is determined by its map (``RecoveredMap.key`` equals the
    scrambling key, fingerprint included). An EtC key is not: its 4 rotations x 3 flips give only the 8
    symmetries of a square (a left-right flip after rotation r is an up-down flip after rotation r + 2;
    for B = 1 all 12 codes do nothing), so the key returned uses rotations with flips 0 and 1 only and
    scrambles exactly like the original while its fingerprint differs when the original used flip 2.

    Args:
        plain: uint8 torch.Tensor P x 3 x H x W (P >= 1), the plain images, on any device.
        scrambled: uint8 torch.Tensor P x 3 x H x W, the same images scrambled with one key, in the
            same order.
        method: ``"PE"``, ``"EtC"``, ``"LE"`` or ``"ELE"`` (``pihlib.METHODS``), with the key's
            ordinary channel maps (a key made with ``channel_maps="authors-aliased"`` duplicates
            channels and gives no permutation to find).
        block_size: B, which must divide H and W, for EtC, LE and ELE; ignored by PE.

    Returns:
        RecoveredMap: ``src``/``xor`` (a permutation of the units, consistent with every pair),
        ``ambiguous`` (bool per unit), ``key`` (a ``Key`` when no unit is ambiguous) and
        ``unscramble``.

    Raises:
        PihError: ``plain`` or ``scrambled`` is not a uint8 tensor N x 3 x H x W with N >= 1; their
            shapes differ; ``method`` is not one of the four; ``block_size`` is not a positive
            integer dividing H and W (block methods); the pairs fit no key of the method (an output
            unit or block matches no input, or no one-to-one matching exists).

    References:
        S. Li, C. Li, G. Chen, N. G. Bourbakis, K.-T. Lo, "A general quantitative cryptanalysis of
        permutation-only multimedia ciphers against plaintext attacks", Signal Processing: Image
        Communication 23(3), 212-223, 2008 (a few known plaintexts locate every element of a
        permutation). The methods: ``pihlib.methods``.
    """
    x = _check_images(plain, "plain images")
    y = _check_images(scrambled, "scrambled images")
    if x.shape != y.shape:
        raise PihError(f"plain images {tuple(x.shape)} and scrambled images {tuple(y.shape)} must have "
                       "the same shape (one scrambled image for each plain one)")
    shape = (int(x.shape[2]), int(x.shape[3]))
    b = _check_method(method, shape, block_size)
    solve = {"PE": _kpa_pe, "EtC": _kpa_etc, "LE": _kpa_le, "ELE": _kpa_ele}[method]
    try:
        src, xor, ambiguous, arrays = solve(x, y, shape, b)
        key = None if ambiguous.any() else _key_of(method, shape, b, arrays, src, xor)
    except _NoFit as e:
        raise PihError(f"the images are not scrambled from the plain ones by one {method} key: {e}") from None
    return RecoveredMap(method, shape, b, src, xor.astype(np.uint8), ambiguous, key, len(x))


def _key_of(method: str, shape: tuple[int, int], b: int | None, arrays: dict[str, np.ndarray],
            src: np.ndarray, xor: np.ndarray) -> Key:
    """The key with ``arrays``, checked to give the map (src, xor). LE and ELE tie the inversions to
    the permutation, and EtC inverts half of the blocks: a map of units the pairs fit can still be
    no key's."""
    try:
        key = Key(method, shape, b, arrays)
    except PihError as e:
        raise _NoFit(f"the map they fit is no key's ({e})") from None
    m = index_map(key)
    if not (np.array_equal(m.src, src) and np.array_equal(m.xor, xor)):
        raise _NoFit(f"the inversions of the map they fit do not follow the {method} key's rule")
    return key


KpaResult = tuple[np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]  # src, xor, ambiguous, key


def _signed_permutations() -> tuple[np.ndarray, np.ndarray]:
    """The 48 signed channel permutations, code-major: orders (48, 3) (CHANNEL_ORDERS rows) and
    inversions (48, 3) bool; hypothesis k is channel code k // 8."""
    inversions = np.array(list(itertools.product([False, True], repeat=3)))
    return np.repeat(CHANNEL_ORDERS, 8, axis=0), np.tile(inversions, (6, 1))


def _kpa_pe(x: np.ndarray, y: np.ndarray, shape: tuple[int, int], b: None) -> KpaResult:
    h, w = shape
    # fits[c, q, v]: output channel c equals input channel q XOR (0, 255)[v] at every pair, per pixel
    fits = np.array([[[(y[:, c] == x[:, q] ^ v).all(0) for v in (0, 255)] for q in range(3)]
                     for c in range(3)])
    orders, inv = _signed_permutations()
    ok = np.ones((48, h, w), bool)
    for c in range(3):
        ok &= fits[c, orders[:, c], inv[:, c].astype(int)]
    if not ok.any(0).all():
        r, col = np.argwhere(~ok.any(0))[0]
        raise _NoFit(f"pixel ({r}, {col}) fits no channel order and inversion")
    choice = ok.argmax(0)  # the first consistent hypothesis of each pixel
    rows, cols = np.indices(shape)
    src_channel = orders[choice].transpose(2, 0, 1)  # 3 x H x W
    src = (src_channel * h * w + rows * w + cols).ravel().astype(np.int64)
    xor = np.where(inv[choice].transpose(2, 0, 1), 255, 0).ravel()
    # a unit is ambiguous when the consistent hypotheses give it different (source, inversion)
    code = orders * 2 + inv  # (48, 3)
    big = np.iinfo(np.int64).max
    lo = np.where(ok[:, None], code[:, :, None, None], big).min(0)
    hi = np.where(ok[:, None], code[:, :, None, None], -1).max(0)
    invert = np.zeros((3, h, w), bool)
    np.put_along_axis(invert, src_channel, inv[choice].transpose(2, 0, 1), axis=0)
    arrays = {"invert": invert, "channel_order": (choice // 8).astype(np.uint8)}
    return src, xor, (lo != hi).ravel(), arrays


def _kpa_le(x: np.ndarray, y: np.ndarray, shape: tuple[int, int], b: int) -> KpaResult:
    nib = _nibble_blocks(shape, b)
    m = nib.shape[1]
    xs = _units(x, True)[:, nib].reshape(-1, m)  # every block of every pair is a sample of the one map
    ys = _units(y, True)[:, nib].reshape(-1, m)
    id_y, flip_y, id_x, flip_x = _classes(ys, xs, 15)
    k, open_ = _match(id_y[:, None] == id_x[None, :], "block position")
    src = np.empty(nib.size, np.int64)
    xor = np.empty(nib.size, np.int64)
    ambiguous = np.empty(nib.size, bool)
    src[nib] = nib[:, k]
    xor[nib] = np.broadcast_to(15 * (flip_y != flip_x[k]), nib.shape)
    ambiguous[nib] = np.broadcast_to(open_, nib.shape)
    return src, xor, ambiguous, {"perm": k}


def _kpa_ele(x: np.ndarray, y: np.ndarray, shape: tuple[int, int], b: int) -> KpaResult:
    nib = _nibble_blocks(shape, b)
    n, m = nib.shape
    id_y, flip_y, id_x, flip_x = _classes(_units(y, True), _units(x, True), 15)
    # a block's signature: the sorted classes of its halves; an output block can only come from an
    # input block with the same signature
    sig = np.concatenate([np.sort(id_y[nib], axis=1), np.sort(id_x[nib], axis=1)])
    _, block_class = np.unique(sig, axis=0, return_inverse=True)
    block_class = block_class.ravel()
    order, block_open = _match(block_class[:n, None] == block_class[None, n:], "output block")
    src = np.empty(nib.size, np.int64)
    xor = np.empty(nib.size, np.int64)
    ambiguous = np.empty(nib.size, bool)
    perms = np.empty((n, m), np.int64)
    for i, j in enumerate(order):
        out, inp = nib[i], nib[j]
        k, open_ = _match(id_y[out][:, None] == id_x[inp][None, :], f"output block {i}, position")
        src[out], xor[out] = inp[k], 15 * (flip_y[out] != flip_x[inp[k]])
        ambiguous[out] = open_ | block_open[i]
        perms[j] = k
    return src, xor, ambiguous, {"block_perms": perms, "block_order": order}


def _etc_transforms(b: int) -> tuple[np.ndarray, np.ndarray]:
    """The distinct transforms of an EtC block (before inversion): (T, 3B^2) source index within the
    block of each output byte, and (T, 3) codes (rotation, flip, channel order); the first code of
    each distinct transform is kept, so flips are 0 or 1 (B = 1: rotation and flip 0)."""
    base = np.arange(3 * b * b).reshape(3, b, b)
    found: dict[bytes, tuple[np.ndarray, tuple[int, int, int]]] = {}
    for flip, rotation, channels in itertools.product(range(3), range(4), range(6)):
        t = np.rot90(base, rotation, axes=(1, 2))
        t = t[:, ::-1, :] if flip == 1 else t[:, :, ::-1] if flip == 2 else t
        t = t[CHANNEL_ORDERS[channels]].ravel()
        found.setdefault(t.tobytes(), (t, (rotation, flip, channels)))
    idx, codes = zip(*found.values(), strict=True)
    return np.array(idx), np.array(codes)


def _kpa_etc(x: np.ndarray, y: np.ndarray, shape: tuple[int, int], b: int) -> KpaResult:
    units = _byte_blocks(shape, b)
    n = len(units)
    xb = _units(x, False)[:, units].astype(np.uint8)  # P x n x 3B^2
    yb = _units(y, False)[:, units].astype(np.uint8)
    idx, codes = _etc_transforms(b)
    table: dict[bytes, list[tuple[int, int]]] = {}  # a transformed input block's values -> (block, t)
    for t, within in enumerate(idx):
        xt = np.ascontiguousarray(xb[:, :, within].transpose(1, 0, 2))
        for j in range(n):
            table.setdefault(xt[j].tobytes(), []).append((j, t))
    cands = [[(j, t, v) for v in (0, 255)
              for j, t in table.get(np.ascontiguousarray(yb[:, i] ^ v).tobytes(), [])] for i in range(n)]
    edges = np.zeros((n, n), bool)
    for i, found in enumerate(cands):
        edges[i, [j for j, _, _ in found]] = True
    order, block_open = _match(edges, "output block")
    src = np.empty(units.size, np.int64)
    xor = np.empty(units.size, np.int64)
    ambiguous = np.empty(units.size, bool)
    arrays = {"rotation": np.zeros(n, np.uint8), "invert": np.zeros(n, bool), "flip": np.zeros(n, np.uint8),
              "channel_order": np.zeros(n, np.uint8), "block_order": order}
    for i, j in enumerate(order):
        fits = [(t, v) for jj, t, v in cands[i] if jj == j]
        t, v = fits[0]
        src[units[i]], xor[units[i]] = units[j][idx[t]], v
        differs = np.zeros(units.shape[1], bool)
        for t2, v2 in fits[1:]:
            differs |= (idx[t2] != idx[t]) | (v2 != v)
        ambiguous[units[i]] = differs | block_open[i]
        arrays["rotation"][j], arrays["flip"][j], arrays["channel_order"][j] = codes[t]
        arrays["invert"][j] = v == 255
    return src, xor, ambiguous, arrays


# ---------------------------------------------------------------------------------------------------
# Ciphertext only: PE
# ---------------------------------------------------------------------------------------------------

NEIGHBOURS = ((0, 1), (1, 0), (0, -1), (-1, 0), (1, 1), (1, -1), (-1, 1), (-1, -1))  # (dy, dx)
MAX_SWEEPS = 50  # the refinement's limit; it settles in a few sweeps


def pe_matrices(key: Key) -> np.ndarray:
    """A PE key as one signed permutation matrix per pixel, the form ``pe_ciphertext_only`` recovers.

    With values centred on mid-grey (v - 127.5, which the negative-positive transform 255 - v
    negates), a pixel's scrambled channels are ``M @ plain`` for its matrix M: row c has one entry, -1
    where output channel c is an inverted input channel, +1 where it is not.

    Args:
        key: a PE ``Key`` (ordinary channel maps).

    Returns:
        np.ndarray: int8 H x W x 3 x 3, each a signed permutation matrix.

    Raises:
        PihError: ``key`` is not a PE ``Key``, or uses the authors' aliased channel maps (not
            permutations).
    """
    if not isinstance(key, Key) or key.method != "PE":
        got = f"a {key.method} Key" if isinstance(key, Key) else type(key).__name__
        raise PihError(f"pe_matrices() takes a PE Key, got {got}")
    if key.options.get("channel_maps") == "authors-aliased":
        raise PihError("a PE key with the authors' aliased channel maps duplicates channels: no signed "
                       "permutation describes it")
    h, w = key.shape
    m = index_map(key)
    src = m.src.reshape(3, h, w) // (h * w)  # the input channel of each output value
    sign = np.where(m.xor.reshape(3, h, w) == 255, -1, 1)
    out = np.zeros((h, w, 3, 3), np.int8)
    rows, cols = np.indices((h, w))
    for c in range(3):
        out[rows, cols, c, src[c]] = sign[c]
    return out


@dataclass(frozen=True, eq=False)
class PERecovery:
    """A PE key recovered from scrambled images alone (``pe_ciphertext_only``).

    Attributes:
        key: a PE ``Key``: ``pihlib.unscramble(y, key)`` (or ``unscramble``) turns an image scrambled
            with the true key into the plain image under one global signed channel permutation G, the
            same for every pixel and image, which is the identity where the priors of
            ``pe_ciphertext_only`` hold (then ``key`` equals the true key).
        matrices: int8 H x W x 3 x 3, each pixel's recovered signed permutation (``pe_matrices(key)``):
            the true matrix times G.
        confidence: float32 H x W: each pixel's best score over its neighbours minus the second best,
            over the best (0: a tie, 1: no rival).
        images: how many scrambled images it was recovered from.
    """

    key: Key
    matrices: np.ndarray
    confidence: np.ndarray
    images: int

    def unscramble(self, y: torch.Tensor) -> torch.Tensor:
        """Undo the recovered map: the plain images, up to the global map G (see the class).

        Args:
            y: images scrambled with the attacked key, uint8 (or float 8-bit levels in [0, 1])
                N x 3 x H x W or 3 x H x W, on any device.

        Returns:
            torch.Tensor: the reconstructed images, the same shape, dtype and device as ``y``.

        Raises:
            PihError: ``y`` is not images as ``pihlib.unscramble`` takes them, or of another size.
        """
        from ..scramblers import unscramble

        return unscramble(y, self.key)


def _centred(y: np.ndarray) -> Iterator[np.ndarray]:
    """The uint8 images ``y`` as float64 values centred on mid-grey, ``CHUNK`` images at a time."""
    for i in range(0, len(y), CHUNK):
        yield y[i:i + CHUNK].astype(np.float64) - MID_GREY


def _signed_matrices() -> np.ndarray:
    """The 48 signed channel permutations as matrices (48, 3, 3), in ``_signed_permutations`` order."""
    orders, inv = _signed_permutations()
    mats = np.zeros((48, 3, 3))
    mats[np.arange(48)[:, None], np.arange(3)[None, :], orders] = np.where(inv, -1.0, 1.0)
    return mats


def _shifted(a: np.ndarray, dy: int, dx: int) -> tuple[tuple[slice, slice], tuple[slice, slice]]:
    """Slices (of the last two axes) of the pixels a whose neighbour b = a + (dy, dx) is inside, and
    of those neighbours."""
    h, w = a.shape[-2:]
    here = (slice(max(0, -dy), h - max(0, dy)), slice(max(0, -dx), w - max(0, dx)))
    there = (slice(max(0, dy), h - max(0, -dy)), slice(max(0, dx), w - max(0, -dx)))
    return here, there


def pe_ciphertext_only(scrambled: torch.Tensor) -> PERecovery:
    """Recover a PE key from images it scrambled: every pixel's map up to one global signed channel
    permutation, which priors of natural photographs then settle.

    Neighbouring pixels of natural images have nearly equal channels. With values centred on
    mid-grey (z = v - 127.5, so that inversion negates z), pixel a's scrambled channels are
    ``M_a @ x_a`` for a signed permutation M_a (``pe_matrices``), hence ``z_a ~ M_a M_b^T z_b`` for
    a neighbour b. Over N images, the relative map of two neighbours is the one of the 48 signed
    permutations R that maximises ``sum_n z_a . R z_b`` (least squares between the neighbours). The
    maps are then:

    1. propagated from the centre pixel (M = identity) along a maximum spanning tree of the
       4-neighbour graph, each edge weighted by its margin (best minus second-best score);
    2. refined: each pixel takes the map that best fits all 8 neighbours' current maps, the four
       parity classes of pixels in turn, until none changes;
    3. normalised: what the ciphertext leaves open is one global signed permutation G. Priors of
       natural photographs settle it: their channels correlate positively (so the signs of G are
       equal), their mean level lies below mid-grey (CIFAR-10's: 120.7 of 255; so G does not
       invert), red and blue correlate least and blue is darker than red (so G keeps the channels in
       place).

    Measured on CIFAR-10 training images, 20 sets of consecutive images each (one key; the result
    depends on the images, not the key; ``benchmarks/bench_attacks.py``): every pixel's map is right
    up to G for every set of 10 or 100 images (and 3 sets of 1000); sets of 5 get 90% of the pixels
    on average (59% at worst: the propagation splits the image into regions). The priors settle G
    for 12 of 20 sets of 10 images, 17 of 20 of 30 and 20 of 20 of 100 (and 3 of 3 of 1000): from
    100 images the key itself comes back, fingerprint included, and decrypts held-out images
    bit-exactly. Where a prior fails, the reconstruction is the plain image with its channels
    permuted and/or inverted.

    Args:
        scrambled: uint8 torch.Tensor N x 3 x H x W (N >= 1; tens of images or more for a useful
            result), all scrambled with one PE key (ordinary channel maps), on any device.

    Returns:
        PERecovery: ``key`` (a PE ``Key``: the true key times the global map G, and the true key
        where the priors hold), ``matrices``, ``confidence`` per pixel and ``unscramble``.

    Raises:
        PihError: ``scrambled`` is not a uint8 tensor N x 3 x H x W with N >= 1.

    References:
        W. Sirichotedumrong, H. Kiya, "On the Security of Pixel-Based Image Encryption for
        Privacy-Preserving Deep Neural Networks", arXiv:1912.04746, 2019 (PE images that share a key
        are open to ciphertext-only attacks). The statistic and the propagation are this module's.
        PE: Sirichotedumrong, Kinoshita, Kiya, IEEE Access 7, 2019 (``pihlib.methods``).
    """
    y = _check_images(scrambled, "scrambled images")
    n, _, h, w = y.shape
    mats = _signed_matrices()
    moments = {}  # (dy, dx) -> (H, W, 3, 3) mean of z_a z_b^T, and where b is inside
    for dy, dx in NEIGHBOURS:
        here, there = _shifted(y, dy, dx)
        c = np.zeros((h, w, 3, 3))
        for z in _centred(y):
            c[here] += np.einsum("nchw,ndhw->hwcd", z[(..., *here)], z[(..., *there)]) / n
        inside = np.zeros((h, w), bool)
        inside[here] = True
        moments[dy, dx] = c, inside
    choice = _propagate(mats, moments, (h, w))
    choice, confidence = _refine(mats, moments, choice)
    m = mats[choice]  # H x W x 3 x 3
    m = m @ _global_normaliser(y, m)
    orders = np.abs(m).argmax(-1)  # output channel c reads input channel orders[..., c]
    code_of = np.zeros(27, np.uint8)  # an order (a, b, c) as 9a + 3b + c -> its channel code
    code_of[CHANNEL_ORDERS @ (9, 3, 1)] = np.arange(len(CHANNEL_ORDERS))
    code = code_of[orders @ (9, 3, 1)]
    invert = np.zeros((3, h, w), bool)
    signs = np.take_along_axis(m, orders[..., None], axis=-1)[..., 0]  # H x W x 3
    np.put_along_axis(invert, orders.transpose(2, 0, 1), signs.transpose(2, 0, 1) < 0, axis=0)
    key = Key("PE", (h, w), None, {"invert": invert, "channel_order": code})
    return PERecovery(key, m.astype(np.int8), confidence.astype(np.float32), n)


def _propagate(mats: np.ndarray, moments: dict, shape: tuple[int, int]) -> np.ndarray:
    """Each pixel's map (an index into ``mats``) relative to the centre pixel's, along a maximum
    spanning tree of the 4-neighbour graph weighted by the margin of each neighbour pair's best map."""
    h, w = shape
    best, margin = {}, {}
    for off in NEIGHBOURS[:4]:
        scores = np.einsum("kcd,hwcd->hwk", mats, moments[off][0])
        top = np.sort(scores, axis=-1)
        best[off], margin[off] = scores.argmax(-1), top[..., -1] - top[..., -2]
    index_of = {mats[k].tobytes(): k for k in range(len(mats))}
    choice = np.full(shape, -1)
    root = (h // 2, w // 2)
    choice[root] = index_of[np.eye(3).tobytes()]
    heap: list[tuple[float, int, int, int, int]] = []

    def push(y: int, x: int) -> None:
        for dy, dx in NEIGHBOURS[:4]:
            if moments[dy, dx][1][y, x] and choice[y + dy, x + dx] < 0:
                heapq.heappush(heap, (-margin[dy, dx][y, x], y, x, dy, dx))

    push(*root)
    while heap:
        _, y, x, dy, dx = heapq.heappop(heap)
        if choice[y + dy, x + dx] >= 0:
            continue
        relative = mats[best[dy, dx][y, x]]  # z_a ~ R z_b, R = M_a M_b^T, so M_b = R^T M_a
        choice[y + dy, x + dx] = index_of[(relative.T @ mats[choice[y, x]]).tobytes()]
        push(y + dy, x + dx)
    return choice


def _refine(mats: np.ndarray, moments: dict, choice: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Iterated conditional modes: each pixel takes the map that best fits its 8 neighbours' maps
    (score sum_b <M, C_ab M_b>), one parity class (y % 2, x % 2) at a time, until nothing changes.
    Returns the maps and each pixel's relative margin."""
    h, w = choice.shape
    choice = choice.copy()
    for _ in range(MAX_SWEEPS):
        changed = False
        for py, px in itertools.product(range(2), range(2)):
            scores = _neighbour_scores(mats, moments, choice)
            sel = (slice(py, None, 2), slice(px, None, 2))
            new = scores[sel].argmax(-1)
            changed |= bool((new != choice[sel]).any())
            choice[sel] = new
        if not changed:
            break
    top = np.sort(_neighbour_scores(mats, moments, choice), axis=-1)
    confidence = (top[..., -1] - top[..., -2]) / np.maximum(np.abs(top[..., -1]), 1e-12)
    return choice, confidence


def _neighbour_scores(mats: np.ndarray, moments: dict, choice: np.ndarray) -> np.ndarray:
    """H x W x 48: how well each signed permutation fits a pixel's neighbours' current maps."""
    h, w = choice.shape
    fit = np.zeros((h, w, 3, 3))
    for (dy, dx), (c, _) in moments.items():
        here, there = _shifted(choice, dy, dx)
        fit[here] += c[here] @ mats[choice[there]]
    return np.einsum("kcd,hwcd->hwk", mats, fit)


def _global_normaliser(y: np.ndarray, m: np.ndarray) -> np.ndarray:
    """The signed permutation F that settles the global map by the priors of natural photographs:
    the reconstructed channels (rows of (m F)^T z) correlate positively with one another; their mean
    lies below mid-grey; the pair that correlates least is red and blue (green lies between them);
    blue is darker than red."""
    total, outer, count = np.zeros(3), np.zeros((3, 3)), 0
    for z in _centred(y):
        x = np.einsum("hwcd,nchw->dnhw", m, z).reshape(3, -1)  # m^T z, one row per channel
        total += x.sum(1)
        outer += x @ x.T
        count += x.shape[1]
    mean = total / count
    cov = outer / count - np.outer(mean, mean)
    corr = cov / np.sqrt(np.outer(np.diag(cov), np.diag(cov)).clip(min=1e-12))
    patterns = np.array([(1, a, b) for a in (1, -1) for b in (1, -1)], float)
    agreement = [s[0] * s[1] * corr[0, 1] + s[0] * s[2] * corr[0, 2] + s[1] * s[2] * corr[1, 2]
                 for s in patterns]
    signs = patterns[int(np.argmax(agreement))]
    if (signs * mean).sum() > 0:  # the data set's mean level above mid-grey: take the negative
        signs = -signs
    means = signs * mean
    pairs = [(0, 1), (0, 2), (1, 2)]
    red, blue = pairs[int(np.argmin([abs(corr[i, j]) for i, j in pairs]))]
    if means[red] < means[blue]:
        red, blue = blue, red
    perm = np.zeros((3, 3))
    perm[[0, 1, 2], [red, 3 - red - blue, blue]] = 1  # rows: R, G, B of the reconstruction
    return np.diag(signs) @ perm.T


# ---------------------------------------------------------------------------------------------------
# Ciphertext only: LE
# ---------------------------------------------------------------------------------------------------

REACH = 1.5  # the template's correlation length, in pixels: exp(-distance / REACH)
CROSS_CHANNEL = 0.8  # the template's factor for two different channels
RESTARTS = 10  # local searches: one from the first guess, the rest with its channels shuffled per pixel


@dataclass(frozen=True, eq=False)
class LERecovery:
    """What ``le_ciphertext_only`` recovers of an LE key from scrambled images alone.

    Positions are those of an LE block's 6B^2 four-bit values as the scrambled image lays them out;
    slots are the block's 3B^2 bytes in (row, column, channel) order (``pihlib.methods``).

    Attributes:
        shape: (H, W), the images' size.
        block_size: B, the side of a block in pixels (it divides H and W).
        high: int64 (3B^2,), sorted: the scrambled positions that hold high halves of plain values.
        signs: int8 (3B^2,), for each of ``high``: +1 where the half is kept, -1 where it is inverted
            (15 - v). The choice between these signs and their negatives rests on a prior: the data
            set's mean level lies below mid-grey.
        layout: int64 (3B^2,), for each of ``high``, the slot (the byte of the block) whose high half
            it holds; the channel names rest on priors (see ``le_ciphertext_only``). None when the
            image has a single row or column of blocks (nothing to place them by).
        separation: float, the weakest high position's correlation strength over the strongest low
            position's (above 1: the two groups are apart; measured 1.0 to 2.5 with one CIFAR-10
            image, 4.2 to 7.0 with 100).
        images: how many scrambled images it was recovered from.
    """

    shape: tuple[int, int]
    block_size: int
    high: np.ndarray
    signs: np.ndarray
    layout: np.ndarray | None
    separation: float
    images: int

    def thumbnails(self, y: torch.Tensor) -> torch.Tensor:
        """Each block's mean level, from the sign-aligned high halves of scrambled images.

        A block's mean over its 3B^2 values is 16 times the mean of their high halves plus that of
        their low halves (about 7.5): ``127.5 + 16 * mean(signs * (v - 7.5))`` over ``high``.

        Args:
            y: images scrambled with the attacked key: uint8 torch.Tensor N x 3 x H x W,
                (H, W) = ``shape``, on any device.

        Returns:
            torch.Tensor: float32 N x H/B x W/B, grey levels (0..255 scale), on the CPU.

        Raises:
            PihError: ``y`` is not a uint8 tensor N x 3 x H x W of ``shape`` with N >= 1.
        """
        values = self._aligned(y)  # N x n x 3B^2
        level = MID_GREY + 16 * (values - 7.5).mean(-1)
        h, w = self.shape
        b = self.block_size
        return torch.from_numpy(level.reshape(len(values), h // b, w // b).astype(np.float32))

    def high_halves(self, y: torch.Tensor) -> torch.Tensor:
        """The plain images quantised to their high halves: every value's high half put back in its
        place (``layout``), sign-aligned, as 16 * half + 8 (the middle of the 16 levels it stands for).

        Args:
            y: images scrambled with the attacked key: uint8 torch.Tensor N x 3 x H x W,
                (H, W) = ``shape``, on any device.

        Returns:
            torch.Tensor: uint8 N x 3 x H x W on the CPU; where the recovery is right (measured: 20 of
            20 sets of 100 CIFAR-10 images), ``(x // 16) * 16 + 8`` of the plain images x.

        Raises:
            PihError: ``y`` is not a uint8 tensor N x 3 x H x W of ``shape`` with N >= 1; there is
                no ``layout`` (a single row or column of blocks).
        """
        if self.layout is None:
            raise PihError("no layout was recovered (the images have a single row or column of blocks)")
        values = self._aligned(y).astype(np.uint8)
        h, w = self.shape
        byte = _nibble_blocks(self.shape, self.block_size)[:, : 3 * self.block_size ** 2] // 2
        out = np.empty((len(values), 3 * h * w), np.uint8)
        out[:, byte[:, self.layout]] = values * 16 + 8
        return torch.from_numpy(out.reshape(len(values), 3, h, w))

    def _aligned(self, y: torch.Tensor) -> np.ndarray:
        """N x n x 3B^2: the high positions' values of each block of ``y``, inversions undone."""
        x = _check_images(y, "scrambled images")
        if tuple(x.shape[2:]) != self.shape:
            raise PihError(f"images are {x.shape[2]}x{x.shape[3]} but the key was recovered for "
                           f"{self.shape[0]}x{self.shape[1]}")
        values = _units(x, True)[:, _nibble_blocks(self.shape, self.block_size)][..., self.high]
        return np.where(self.signs < 0, 15 - values, values)


def le_ciphertext_only(scrambled: torch.Tensor, block_size: int = 4) -> LERecovery:
    """Recover, from scrambled images alone, which positions of an LE block hold high halves, their
    inversions and their places: each image's block means and its 4-bit version.

    LE applies one permutation (with inversions) to the 6B^2 four-bit values of every block.

    1. High halves: the high halves of a block's values are strongly correlated (neighbouring values
       are alike), the low halves hardly at all. Over all blocks of all images, each position's
       strength (the sum of its absolute correlations with the others) sets the 3B^2 high positions
       apart.
    2. Inversions: the signs of the leading eigenvector of the high positions' correlation matrix
       (an inverted half correlates negatively with the rest), up to one global sign, chosen by the
       prior that the data set's mean level lies below mid-grey (CIFAR-10's: 120.7 of 255). The
       sign-aligned mean of a block's high halves is then its mean level (``thumbnails``).
    3. Places: a slot in the block's last column correlates more with the block to its right than
       with the block to its left, one in the first column the reverse: sorting the positions by
       that asymmetry (the best correlation with the right block minus the best with the left) gives
       their columns, the same with the blocks below and above their rows, and so every pixel's
       three positions. A local search over swaps (a quadratic assignment) then fits the
       correlations within a block and with the right and lower blocks to a template of natural
       images, ``exp(-distance / 1.5 pixels)``, times 0.8 between different channels. The template
       does not name the channels; priors do: red and blue correlate least, and blue is darker than
       red (``high_halves``).

    Measured on CIFAR-10 training images, B = 4, 20 sets of consecutive images (one key: the result
    depends on the images only; ``benchmarks/bench_attacks.py``): steps 1 and 2 are right for every
    set of 1, 3, 10 or 100 images (and 3 sets of 1000), up to the global sign; the thumbnails then
    correlate with the true block means at a median r of 0.9998. The global sign is right for 14 of
    20 sets of 10 images, 17 of 30 and 20 of 100 (where it fails, thumbnails and 4-bit images come
    out negative); with 100 images the thumbnails lie 0.8 grey levels from the true block means on
    average. Step 3 puts every pixel's three positions in the right place for every set of 10 or
    more images; with the channel names, the whole layout is right for 13 of 20 sets of 10, 17 of 30
    and 20 of 100 (3 of 3 of 1000), and then ``high_halves`` gives ``(x // 16) * 16 + 8`` of the
    plain images x exactly. With B = 8 (192 high positions, a few seconds a call): 18 of 20 sets of
    100 images.

    Args:
        scrambled: uint8 torch.Tensor N x 3 x H x W (N >= 1; ten images or more), all scrambled with
            one LE key, on any device.
        block_size: B, the key's block size, a positive integer dividing H and W.

    Returns:
        LERecovery: ``high``, ``signs``, ``layout``, ``separation``, ``thumbnails`` and
        ``high_halves``.

    Raises:
        PihError: ``scrambled`` is not a uint8 tensor N x 3 x H x W with N >= 1; ``block_size`` is
            not a positive integer dividing H and W.

    References:
        M. Tanaka, "Learnable Image Encryption", IEEE ICCE-TW 2018 (LE: the 4-bit halves of a block
        shuffled by one key for all blocks). The statistics and the search are this module's.
    """
    x = _check_images(scrambled, "scrambled images")
    shape = (int(x.shape[2]), int(x.shape[3]))
    b = _check_method("LE", shape, block_size)
    nib, m = _nibble_blocks(shape, b), 3 * b * b
    mean, cov = _moments(x, nib)
    spread = np.sqrt(np.diag(cov))
    corr = cov / np.outer(spread, spread).clip(min=1e-12)
    np.fill_diagonal(corr, 0)
    strength = np.abs(corr).sum(1)
    ranked = np.argsort(-strength, kind="stable")
    high = np.sort(ranked[:m])
    separation = float(strength[ranked[m - 1]] / max(strength[ranked[m]], 1e-12))
    _, vectors = np.linalg.eigh(corr[np.ix_(high, high)])
    signs = np.where(vectors[:, -1] < 0, -1, 1).astype(np.int8)
    if ((mean[high] - 7.5) * signs).mean() > 0:  # the data set's mean above mid-grey: take the negative
        signs = -signs
    grid = (shape[0] // b, shape[1] // b)
    layout = None
    if min(grid) > 1:
        aligned_mean = (mean[high] - 7.5) * signs
        scale = spread[high].clip(min=1e-12)

        def standardised() -> Iterator[np.ndarray]:  # N x rows x columns of blocks x 3B^2
            for v in _le_values(x, nib):
                yield (((v[..., high] - 7.5) * signs - aligned_mean) / scale).reshape(len(v), *grid, m)

        layout = _le_layout(standardised, grid, b, aligned_mean)
    return LERecovery(shape, b, high, signs, layout, separation, len(x))


def _le_values(x: np.ndarray, nib: np.ndarray) -> Iterator[np.ndarray]:
    """The 4-bit values of every block of the images ``x``, ``CHUNK`` images at a time: float64
    chunk x n x 6B^2, in LE order."""
    for i in range(0, len(x), CHUNK):
        yield _units(x[i:i + CHUNK], True)[:, nib].astype(np.float64)


def _moments(x: np.ndarray, nib: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean (6B^2,) and covariance (6B^2 x 6B^2) of the 4-bit values over all blocks of all images."""
    total, outer, count = 0.0, 0.0, 0
    for v in _le_values(x, nib):
        flat = v.reshape(-1, v.shape[-1])
        total = total + flat.sum(0)
        outer = outer + flat.T @ flat
        count += len(flat)
    mean = total / count
    return mean, outer / count - np.outer(mean, mean)


def _le_layout(chunks: Callable[[], Iterator[np.ndarray]], grid: tuple[int, int], b: int,
               aligned_mean: np.ndarray) -> np.ndarray:
    """The slot of each high position (step 3 of ``le_ciphertext_only``). ``chunks()`` yields the
    standardised, sign-aligned high halves, N x rows x columns of blocks x 3B^2; ``aligned_mean``
    their means before standardising (for the channel names)."""
    m = 3 * b * b
    within, right, down = np.zeros((m, m)), np.zeros((m, m)), np.zeros((m, m))
    images = 0
    for z in chunks():
        within += z.reshape(-1, m).T @ z.reshape(-1, m)
        right += z[:, :, :-1].reshape(-1, m).T @ z[:, :, 1:].reshape(-1, m)
        down += z[:, :-1].reshape(-1, m).T @ z[:, 1:].reshape(-1, m)
        images += len(z)
    rows, cols = grid
    within /= images * rows * cols
    right /= images * rows * (cols - 1)
    down /= images * (rows - 1) * cols
    np.fill_diagonal(within, 0)
    slots = np.array(list(itertools.product(range(b), range(b), range(3))))  # (row, column, channel)

    def template(dy: int, dx: int) -> np.ndarray:
        r, c = slots[:, 0], slots[:, 1]
        dist = np.hypot(r[None, :] + dy - r[:, None], c[None, :] + dx - c[:, None])
        same = slots[:, None, 2] == slots[None, :, 2]
        return np.exp(-dist / REACH) * np.where(same, 1.0, CROSS_CHANNEL)

    inner = template(0, 0)
    np.fill_diagonal(inner, 0)
    relations = [(within, inner), (right, template(0, b)), (down, template(b, 0))]
    # first guess: rows and columns from the asymmetries, channels in any order
    across, updown = right.max(1) - right.max(0), down.max(1) - down.max(0)
    guess = np.empty(m, np.int64)
    by_row = np.argsort(updown, kind="stable").reshape(b, 3 * b)
    for row, members in enumerate(by_row):
        members = members[np.argsort(across[members], kind="stable")]
        guess[members] = row * 3 * b + np.arange(3 * b)  # 3 per column, channels in that order
    rng = np.random.default_rng(0)
    best, best_score = guess, -np.inf
    for attempt in range(RESTARTS):
        start = guess.copy()
        if attempt:
            for pixel in range(b * b):
                at = np.flatnonzero(start // 3 == pixel)
                start[at] = start[at][rng.permutation(3)]
        layout, score = _swap_search(relations, start)
        if score > best_score + 1e-9:
            best, best_score = layout, score
    return _name_channels(within, aligned_mean, best, slots)


def _swap_search(relations: list[tuple[np.ndarray, np.ndarray]], p: np.ndarray) -> tuple[np.ndarray, float]:
    """Best-improvement local search over swaps for the quadratic assignment that maximises
    ``sum_k sum_ij A_k[i, j] T_k[p[i], p[j]]``; the gain of every swap at once (E. Taillard, "Robust
    taboo search for the quadratic assignment problem", Parallel Computing 17, 1991, asymmetric
    case). Returns the local optimum and its score."""

    def score(p: np.ndarray) -> float:
        return float(sum((a * t[np.ix_(p, p)]).sum() for a, t in relations))

    current = score(p)
    while True:
        gain = np.zeros((len(p), len(p)))
        for a, t in relations:
            tp = t[np.ix_(p, p)]
            da, dt = np.diag(a), np.diag(tp)
            x, y = a.T @ tp, a @ tp.T
            gain += x - np.diag(x)[:, None] - np.diag(x)[None, :] + x.T
            gain -= (da[:, None] - a) * (tp - dt[:, None]) + (a.T - da[None, :]) * (dt[None, :] - tp.T)
            gain += y - np.diag(y)[:, None] - np.diag(y)[None, :] + y.T
            gain -= (da[:, None] - a.T) * (tp.T - dt[:, None]) + (a - da[None, :]) * (dt[None, :] - tp)
            gain += (da[:, None] - da[None, :]) * (dt[None, :] - dt[:, None]) + (a - a.T) * (tp.T - tp)
        np.fill_diagonal(gain, 0)
        i, j = np.unravel_index(int(gain.argmax()), gain.shape)
        if gain[i, j] <= 1e-9 * max(1.0, abs(current)):
            return p, current
        p = p.copy()
        p[i], p[j] = p[j], p[i]
        current += float(gain[i, j])


def _name_channels(corr: np.ndarray, mean: np.ndarray, layout: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """Rename the layout's channels by the priors of natural photographs: the two channels that
    correlate least (pixel by pixel, averaged over the pixels) are red and blue, blue is darker than
    red, green is the third. ``corr``: the high positions' correlations; ``mean``: their means."""
    channel, pixel = slots[layout, 2], layout // 3
    at = [np.flatnonzero(channel == c)[np.argsort(pixel[channel == c])] for c in range(3)]
    pairs = [(0, 1), (0, 2), (1, 2)]
    red, blue = pairs[int(np.argmin([corr[at[i], at[j]].mean() for i, j in pairs]))]
    if mean[at[red]].mean() < mean[at[blue]].mean():
        red, blue = blue, red
    name = np.empty(3, np.int64)
    name[[red, 3 - red - blue, blue]] = [0, 1, 2]
    return layout - channel + name[channel]
