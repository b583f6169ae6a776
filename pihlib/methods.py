"""The scrambling methods, one registry entry each: what a key holds, how one is drawn and checked, what
it does to an image, and how many keys there are.

This module knows neither the ``Key`` class (``pihlib.keys`` builds it on this registry) nor tensors
(``pihlib.scramblers`` applies what a key compiles to), so both import it and it imports neither. A
``Method`` is a set of functions of the key's geometry (image shape H x W, block size B, None for PE
and PE-IIR) and options:

- ``arrays``: the arrays a key holds: name -> (shape, bound: every value is in 0..bound-1, the dtype
  the key holds them in);
- ``draw``: a random key's arrays; ``check``: the rules beyond shapes and bounds (a permutation, a
  number of inversions);
- ``build``: the key compiled to a unit map ``(src, xor, nibbles)``: output unit j is input unit
  ``src[j]`` XOR ``xor[j]``. A unit is a byte for PE and EtC (XOR 255 is the negative-positive
  transform 255 - v) and a 4-bit half of a byte for LE and ELE (XOR 15 is 15 - v), high half first;
- ``key_space``: log2 of the number of keys (nominal) and of the distinct scrambles they give
  (effective).

The methods, as the paper (Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve
Perceptual Information Hiding", IS&T Electronic Imaging) uses them:

- PE, pixel-based encryption: every value may be inverted (negative-positive) and every pixel's
  channels shuffled (Sirichotedumrong, Kinoshita, Kiya, "Pixel-Based Image Encryption Without Key
  Management for Privacy-Preserving Deep Neural Networks", IEEE Access 7, 2019);
- PE-IIR, the paper's metric study (Fig. 3): PE's inversion only, of exactly ``inverted`` values;
- EtC, block scrambling for encryption-then-compression: blocks moved, rotated, flipped, half of them
  inverted, each block's channels shuffled (Kurihara, Kikuchi, Imaizumi, Shiota, Kiya, "An
  Encryption-then-Compression System for JPEG/Motion JPEG Standard", IEICE Trans. Fundamentals, 2015;
  Chuman, Sirichotedumrong, Kiya, "Encryption-then-Compression Systems Using Grayscale-Based Image
  Encryption for JPEG Images", IEEE Trans. Information Forensics and Security, 2019, arXiv:1811.00236);
- LE, learnable image encryption: the 4-bit halves of every block's values permuted, and some
  inverted, by one key for all blocks (M. Tanaka, "Learnable Image Encryption", IEEE ICCE-TW 2018);
- ELE, extended LE: a key of its own for every block, and the blocks moved (Madono, Tanaka, Onishi,
  Ogawa, "Block-wise Scrambled Image Recognition Using Adaptation Network", AAAI 2020 workshop on
  Artificial Intelligence of Things, arXiv:2001.07761).

Layout conventions (this project's; the authors' code is not fully public):

- images are N x 3 x H x W, blocks are B x B pixels numbered row-major;
- LE/ELE: a block's 3*B*B bytes are read in (row, column, channel) order, and its 6*B*B four-bit values
  are the high halves of those bytes followed by the low halves; the inversion mask is ``key > 3*B*B``
  (47 of 96 positions for B = 4, as the authors' ``key > 48``);
- channel orders are numbered as in the authors' code: 0 (0,1,2), 1 (1,0,2), 2 (2,1,0), 3 (0,2,1),
  4 (2,0,1), 5 (1,2,0); output channel c takes input channel order[c];
- EtC, per block: rotation by code*90 degrees (counter-clockwise), negative-positive, flip (0 none,
  1 up-down, 2 left-right), channel order, then output block i is input block ``block_order[i]``
  (ELE the same for its block move).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

import numpy as np

from .errors import PihError

METHODS = ("PE", "EtC", "LE", "ELE")  # the paper's four scramblers
STUDY_METHOD = "PE-IIR"  # the metric study's variant of PE (Fig. 3): inverts a given number of values
ALL_METHODS = (*METHODS, STUDY_METHOD)
CHANNEL_ORDERS = np.array([(0, 1, 2), (1, 0, 2), (2, 1, 0), (0, 2, 1), (2, 0, 1), (1, 2, 0)])
CHANNEL_MAPS = ("permutation", "authors-aliased")
MAX_PIXELS = 4096 * 4096  # the largest image a key is made for (its arrays grow with the image)

Shape = tuple[int, int]
ArraySpec = tuple[tuple[int, ...], int, type]  # the array's shape, its values' bound, the key's dtype
UnitMap = tuple[np.ndarray, np.ndarray, bool]  # src (int64), xor (uint8), nibbles
Arrays = dict[str, np.ndarray]
Options = Mapping[str, Any]


def aliased_channel_map(order: tuple[int, int, int]) -> tuple[int, int, int]:
    """What the authors' in-place channel assignment really computed for a channel order.

    Their code assigned ``x[..., c] = x[..., order[c]]`` channel by channel on the same array, so a
    later channel reads an already overwritten one: 5 of the 6 orders duplicate a channel.
    """
    cur = [0, 1, 2]
    for c in range(3):
        cur[c] = cur[order[c]]
    return tuple(cur)


ALIASED_CHANNEL_ORDERS = np.array([aliased_channel_map(tuple(o)) for o in CHANNEL_ORDERS])


class KeyLike(Protocol):
    """What a method's ``check`` and ``build`` read of a key: ``pihlib.Key`` and ``KeyParts`` both."""

    @property
    def method(self) -> str: ...
    @property
    def shape(self) -> Shape: ...
    @property
    def block_size(self) -> int | None: ...
    @property
    def arrays(self) -> Mapping[str, np.ndarray]: ...
    @property
    def options(self) -> Mapping[str, Any]: ...


class KeyParts(NamedTuple):
    """A key's checked parts, its arrays in the method's dtypes (what ``check_key`` returns)."""

    method: str
    shape: Shape
    block_size: int | None
    arrays: dict[str, np.ndarray]
    options: dict[str, Any]


@dataclass(frozen=True)
class Method:
    """One scrambling method's entry in ``REGISTRY`` (see the module docstring for each function)."""

    name: str
    blocks: bool  # uses the block size
    arrays: Callable[[Shape, int | None], dict[str, ArraySpec]]
    draw: Callable[[np.random.Generator, Shape, int | None, Options], Arrays]
    build: Callable[[KeyLike], UnitMap]
    key_space: Callable[[Shape, int, Options], tuple[float, float]]  # nominal, effective
    options: tuple[str, ...] = ()  # the options it takes
    required: tuple[str, ...] = ()  # those of them a key must have
    check: Callable[[KeyLike], None] = lambda key: None


# ---------------------------------------------------------------------------------------------------
# Helpers: counting, checking, and building a map by applying the steps to an image of unit indices
# ---------------------------------------------------------------------------------------------------


def _log2_factorial(n: int) -> float:
    return math.lgamma(n + 1) / math.log(2)


def _log2_binomial(n: int, k: int) -> float:
    return _log2_factorial(n) - _log2_factorial(k) - _log2_factorial(n - k)


def _n_blocks(shape: Shape, b: int) -> int:
    return (shape[0] // b) * (shape[1] // b)


def _le_values(b: int) -> int:
    """The 4-bit values in an LE/ELE block of b x b pixels."""
    return 6 * b**2


def _require_permutations(key: KeyLike, name: str) -> None:
    a = key.arrays[name]
    if not (np.sort(a, axis=-1) == np.arange(a.shape[-1])).all():
        raise PihError(f"{key.method} key array '{name}' is not a permutation")


def _require_count(key: KeyLike, name: str, count: int) -> None:
    got = int(key.arrays[name].sum())
    if got != count:
        raise PihError(f"{key.method} key array '{name}' marks {got} values; it must mark {count}")


def _to_blocks(a: np.ndarray, b: int) -> np.ndarray:
    """(C, H, W) -> (n_blocks, C, b, b), blocks row-major."""
    c, h, w = a.shape
    return a.reshape(c, h // b, b, w // b, b).transpose(1, 3, 0, 2, 4).reshape(-1, c, b, b)


def _from_blocks(blocks: np.ndarray, h: int, w: int) -> np.ndarray:
    n, c, b, _ = blocks.shape
    return blocks.reshape(h // b, w // b, c, b, b).transpose(2, 0, 3, 1, 4).reshape(c, h, w)


def _byte_map(src: np.ndarray, invert_src: np.ndarray) -> UnitMap:
    """A byte map; ``invert_src`` marks the input values that are inverted (before they move)."""
    src = src.ravel().astype(np.int64)
    xor = np.where(invert_src.ravel(), 255, 0).astype(np.uint8)[src]
    return src, xor, False


def _channel_table(key: KeyLike) -> np.ndarray:
    aliased = key.options.get("channel_maps") == "authors-aliased"
    return ALIASED_CHANNEL_ORDERS if aliased else CHANNEL_ORDERS


def _le_map(shape: Shape, b: int, keys: np.ndarray, order: np.ndarray) -> UnitMap:
    """LE/ELE in nibble units: output block i is input block order[i], encrypted with keys[order[i]]."""
    h, w = shape
    byte_idx = np.arange(3 * h * w).reshape(3, h, w)
    blocks = byte_idx.reshape(3, h // b, b, w // b, b).transpose(1, 3, 2, 4, 0).reshape(-1, 3 * b * b)
    nib = np.concatenate([2 * blocks, 2 * blocks + 1], axis=1)  # high halves, then low halves
    k = keys[order]
    mask = k > 3 * b * b
    src = np.empty(nib.size, np.int64)
    xor = np.empty(nib.size, np.uint8)
    src[nib] = np.take_along_axis(nib[order], k, axis=1)
    xor[nib] = 15 * (np.take_along_axis(mask, k, axis=1) ^ mask)
    return src, xor, True


# ---------------------------------------------------------------------------------------------------
# Options: each checked (and normalised) by one function of its value and the image shape
# ---------------------------------------------------------------------------------------------------


def _channel_maps_option(value: Any, shape: Shape) -> str:
    if value not in CHANNEL_MAPS:
        raise PihError(f"channel_maps must be one of {', '.join(CHANNEL_MAPS)}, got {value!r}")
    return value


def _inverted_option(value: Any, shape: Shape) -> int:
    n = 3 * shape[0] * shape[1]
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or not 0 <= value <= n:
        raise PihError(f"PE-IIR needs the option inverted=<count> with 0 <= count <= {n}, got {value!r}")
    return int(value)


OPTIONS: dict[str, Callable[[Any, Shape], Any]] = {
    "channel_maps": _channel_maps_option,  # PE, EtC: "authors-aliased" reproduces the authors' bug
    "inverted": _inverted_option,  # PE-IIR: how many of the 3*H*W values are inverted
}


# PE ------------------------------------------------------------------------------------------------

def _pe_arrays(shape: Shape, block_size: int | None) -> dict[str, ArraySpec]:
    h, w = shape
    return {"invert": ((3, h, w), 2, bool), "channel_order": ((h, w), 6, np.uint8)}


def _pe_draw(rng: np.random.Generator, shape: Shape, block_size: int | None, options: Options) -> Arrays:
    h, w = shape
    return {"invert": rng.integers(0, 2, (3, h, w)).astype(bool),
            "channel_order": rng.integers(0, 6, (h, w)).astype(np.uint8)}


def _pe_build(key: KeyLike) -> UnitMap:
    h, w = key.shape
    idx = np.arange(3 * h * w).reshape(3, h, w)
    orders = _channel_table(key)[key.arrays["channel_order"]].transpose(2, 0, 1)
    return _byte_map(np.take_along_axis(idx, orders, axis=0), key.arrays["invert"])


def _pe_key_space(shape: Shape, block_size: int, options: Options) -> tuple[float, float]:
    h, w = shape
    bits = 3 * h * w + h * w * math.log2(6)
    return bits, bits


# PE-IIR (metric study) -----------------------------------------------------------------------------

def _iir_arrays(shape: Shape, block_size: int | None) -> dict[str, ArraySpec]:
    return {"invert": ((3, *shape), 2, bool)}


def _iir_draw(rng: np.random.Generator, shape: Shape, block_size: int | None, options: Options) -> Arrays:
    n = 3 * shape[0] * shape[1]
    invert = np.zeros(n, bool)
    invert[rng.choice(n, size=options["inverted"], replace=False)] = True
    return {"invert": invert.reshape(3, *shape)}


def _iir_check(key: KeyLike) -> None:
    _require_count(key, "invert", key.options["inverted"])


def _iir_build(key: KeyLike) -> UnitMap:
    return _byte_map(np.arange(key.arrays["invert"].size), key.arrays["invert"])


def _iir_key_space(shape: Shape, block_size: int, options: Options) -> tuple[float, float]:
    values = 3 * shape[0] * shape[1]
    bits = _log2_binomial(values, options.get("inverted", values // 2))
    return bits, bits


# EtC -----------------------------------------------------------------------------------------------

def _etc_arrays(shape: Shape, block_size: int) -> dict[str, ArraySpec]:
    n = _n_blocks(shape, block_size)
    return {"rotation": ((n,), 4, np.uint8), "invert": ((n,), 2, bool), "flip": ((n,), 3, np.uint8),
            "channel_order": ((n,), 6, np.uint8), "block_order": ((n,), n, np.int64)}


def _etc_draw(rng: np.random.Generator, shape: Shape, block_size: int | None, options: Options) -> Arrays:
    n = _n_blocks(shape, block_size)
    invert = np.zeros(n, bool)
    invert[rng.choice(n, size=n // 2, replace=False)] = True
    return {"rotation": rng.integers(0, 4, n).astype(np.uint8), "invert": invert,
            "flip": rng.integers(0, 3, n).astype(np.uint8),
            "channel_order": rng.integers(0, 6, n).astype(np.uint8),
            "block_order": rng.permutation(n).astype(np.int64)}


def _etc_check(key: KeyLike) -> None:
    _require_count(key, "invert", _n_blocks(key.shape, key.block_size) // 2)
    _require_permutations(key, "block_order")


def _etc_build(key: KeyLike) -> UnitMap:
    h, w = key.shape
    b, a = key.block_size, key.arrays
    blocks = _to_blocks(np.arange(3 * h * w).reshape(3, h, w), b)
    for r in (1, 2, 3):
        sel = a["rotation"] == r
        blocks[sel] = np.rot90(blocks[sel], r, axes=(2, 3))
    blocks[a["flip"] == 1] = blocks[a["flip"] == 1][:, :, ::-1, :]
    blocks[a["flip"] == 2] = blocks[a["flip"] == 2][:, :, :, ::-1]
    orders = _channel_table(key)[a["channel_order"]]
    blocks = np.take_along_axis(blocks, orders[:, :, None, None], axis=1)[a["block_order"]]
    invert = np.broadcast_to(a["invert"][:, None, None, None], (len(blocks), 3, b, b))
    return _byte_map(_from_blocks(blocks, h, w), _from_blocks(invert, h, w))


def _etc_key_space(shape: Shape, block_size: int, options: Options) -> tuple[float, float]:
    """4 rotations x 3 flips give 12 codes but only the 8 symmetries of a square (a 180-degree rotation
    is both flips), so each block has 12 x 6 nominal and 8 x 6 distinct transforms."""
    blocks = _n_blocks(shape, block_size)
    common = _log2_binomial(blocks, blocks // 2) + _log2_factorial(blocks)
    return common + blocks * math.log2(4 * 3 * 6), common + blocks * math.log2(8 * 6)


# LE ------------------------------------------------------------------------------------------------

def _le_arrays(shape: Shape, block_size: int) -> dict[str, ArraySpec]:
    m = _le_values(block_size)
    return {"perm": ((m,), m, np.int64)}


def _le_draw(rng: np.random.Generator, shape: Shape, block_size: int | None, options: Options) -> Arrays:
    return {"perm": rng.permutation(_le_values(block_size)).astype(np.int64)}


def _le_check(key: KeyLike) -> None:
    _require_permutations(key, "perm")


def _le_build(key: KeyLike) -> UnitMap:
    n = _n_blocks(key.shape, key.block_size)
    keys = np.broadcast_to(key.arrays["perm"], (n, _le_values(key.block_size)))
    return _le_map(key.shape, key.block_size, keys, np.arange(n))


def _le_key_space(shape: Shape, block_size: int, options: Options) -> tuple[float, float]:
    bits = _log2_factorial(_le_values(block_size))
    return bits, bits


# ELE -----------------------------------------------------------------------------------------------

def _ele_arrays(shape: Shape, block_size: int) -> dict[str, ArraySpec]:
    n, m = _n_blocks(shape, block_size), _le_values(block_size)
    return {"block_perms": ((n, m), m, np.int64), "block_order": ((n,), n, np.int64)}


def _ele_draw(rng: np.random.Generator, shape: Shape, block_size: int | None, options: Options) -> Arrays:
    n, m = _n_blocks(shape, block_size), _le_values(block_size)
    return {"block_perms": rng.permuted(np.tile(np.arange(m), (n, 1)), axis=1).astype(np.int64),
            "block_order": rng.permutation(n).astype(np.int64)}


def _ele_check(key: KeyLike) -> None:
    _require_permutations(key, "block_perms")
    _require_permutations(key, "block_order")


def _ele_build(key: KeyLike) -> UnitMap:
    return _le_map(key.shape, key.block_size, key.arrays["block_perms"], key.arrays["block_order"])


def _ele_key_space(shape: Shape, block_size: int, options: Options) -> tuple[float, float]:
    blocks = _n_blocks(shape, block_size)
    bits = blocks * _log2_factorial(_le_values(block_size)) + _log2_factorial(blocks)
    return bits, bits


REGISTRY: dict[str, Method] = {
    "PE": Method("PE", False, _pe_arrays, _pe_draw, _pe_build, _pe_key_space, options=("channel_maps",)),
    "PE-IIR": Method("PE-IIR", False, _iir_arrays, _iir_draw, _iir_build, _iir_key_space,
                     options=("inverted",), required=("inverted",), check=_iir_check),
    "EtC": Method("EtC", True, _etc_arrays, _etc_draw, _etc_build, _etc_key_space,
                  options=("channel_maps",), check=_etc_check),
    "LE": Method("LE", True, _le_arrays, _le_draw, _le_build, _le_key_space, check=_le_check),
    "ELE": Method("ELE", True, _ele_arrays, _ele_draw, _ele_build, _ele_key_space, check=_ele_check),
}


# ---------------------------------------------------------------------------------------------------
# Checks of a key's parts (every Key and every keygen request goes through them)
# ---------------------------------------------------------------------------------------------------


def get_method(name: str) -> Method:
    """The registry entry of ``name``; a ``PihError`` naming the methods if there is none."""
    if not isinstance(name, str) or name not in REGISTRY:
        raise PihError(f"unknown scrambling method {name!r}; choose from {', '.join(ALL_METHODS)}")
    return REGISTRY[name]


def check_geometry(method: Method, shape: Any, block_size: Any) -> None:
    """Raise ``PihError`` unless ``shape`` is (H, W), positive ints with H*W <= ``MAX_PIXELS``, and
    ``block_size`` is None for a method without blocks, else a positive int dividing H and W."""
    if (not isinstance(shape, tuple) or len(shape) != 2
            or not all(isinstance(s, int | np.integer) and not isinstance(s, bool) and s > 0 for s in shape)):
        raise PihError(f"image shape must be two positive integers (H, W), got {shape!r}")
    if shape[0] * shape[1] > MAX_PIXELS:
        raise PihError(f"image shape {shape[0]}x{shape[1]} is too large: keys are made for at most "
                       f"{MAX_PIXELS:,} pixels")
    if not method.blocks:
        if block_size is not None:
            raise PihError(f"{method.name} has no blocks; its key's block_size must be None")
        return
    if not isinstance(block_size, int | np.integer) or isinstance(block_size, bool) or block_size < 1:
        raise PihError(f"block size must be a positive integer, got {block_size!r}")
    h, w = shape
    if h % block_size or w % block_size:
        raise PihError(f"block size {block_size} does not divide the image size {h}x{w}")


def check_options(method: Method, shape: Shape, options: Any) -> dict[str, Any]:
    """``options`` checked for ``method`` at ``shape`` (a valid geometry): a new dict with each value
    normalised (``inverted`` an int). ``PihError`` for an option the method does not take, a missing
    required one, or a bad value."""
    if not isinstance(options, dict):
        raise PihError(f"key options must be a dict, got {type(options).__name__}")
    unknown = set(options) - set(method.options)
    if unknown:
        allowed = ", ".join(method.options) or "none"
        raise PihError(f"{method.name} has no option {', '.join(sorted(unknown))} (options: {allowed})")
    names = [*options, *(r for r in method.required if r not in options)]
    return {name: OPTIONS[name](options.get(name), shape) for name in names}


def check_key(method: str, shape: Any, block_size: Any, arrays: Any, options: Any) -> KeyParts:
    """A key's parts checked: the method, geometry and options, then each array's shape and values,
    then the method's own rules. Returns them with new copies of the arrays in the method's dtypes;
    raises ``PihError`` naming the first fault."""
    m = get_method(method)
    check_geometry(m, shape, block_size)
    options = check_options(m, shape, options)
    expected = m.arrays(shape, block_size)
    if not isinstance(arrays, dict) or set(arrays) != set(expected):
        got = sorted(arrays) if isinstance(arrays, dict) else type(arrays).__name__
        raise PihError(f"{m.name} key must hold arrays {sorted(expected)}, got {got}")
    canonical = {}
    for name, (dims, bound, dtype) in expected.items():
        a = np.asarray(arrays[name])
        if a.shape != dims:
            raise PihError(f"{m.name} key array '{name}' has shape {a.shape}, expected {dims}")
        if not (a.dtype == bool or np.issubdtype(a.dtype, np.integer)):
            raise PihError(f"{m.name} key array '{name}' has dtype {a.dtype}, expected integers")
        if a.size and (a.min() < 0 or a.max() >= bound):
            raise PihError(f"{m.name} key array '{name}' has values outside 0..{bound - 1}")
        canonical[name] = np.array(a, dtype=dtype)
    parts = KeyParts(m.name, shape, block_size, canonical, options)
    m.check(parts)
    return parts
