"""The four scramblers (PE, EtC, LE, ELE) and the metric-study PE variant, on one index-map engine.

For a fixed key and image shape, every scrambler is a fixed rearrangement of values followed by an XOR:
output unit ``j`` is input unit ``src[j]`` XOR ``xor[j]``. A unit is a byte for PE and EtC (XOR 255 is
the negative-positive transform 255 - v) and a 4-bit half of a byte for LE and ELE (XOR 15 is 15 - v).
A key compiles once into such an ``IndexMap``; ``scramble``/``unscramble`` are then one or two
``index_select`` calls on the flattened batch, on the tensor's device. The inverse map is the inverse
permutation, so ``unscramble(scramble(x, k), k) == x`` exactly.

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

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from .errors import PihError
from .images import as_uint8
from .keys import Key

METHODS = ("PE", "EtC", "LE", "ELE")  # the paper's four scramblers
STUDY_METHOD = "PE-IIR"  # the metric study's variant of PE (Fig. 3): inverts a given number of values
ALL_METHODS = (*METHODS, STUDY_METHOD)
CHANNEL_ORDERS = np.array([(0, 1, 2), (1, 0, 2), (2, 1, 0), (0, 2, 1), (2, 0, 1), (1, 2, 0)])
CHANNEL_MAPS = ("permutation", "authors-aliased")
CPU_CHUNK = 1024  # images a pass on CPU: small enough for the intermediates to stay in cache
MAX_PIXELS = 4096 * 4096  # the largest image a key is made for (its index maps grow with the image)


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


# ---------------------------------------------------------------------------------------------------
# The engine
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class IndexMap:
    """Output unit j = input unit src[j] XOR xor[j]; units are bytes, or 4-bit halves (high first)."""

    src: np.ndarray
    xor: np.ndarray
    nibbles: bool

    @property
    def invertible(self) -> bool:
        return bool(np.array_equal(np.sort(self.src), np.arange(self.src.size)))

    def inverse(self) -> IndexMap:
        inv = np.empty_like(self.src)
        inv[self.src] = np.arange(self.src.size)
        return IndexMap(inv, self.xor[inv], self.nibbles)

    @cached_property
    def _byte_plan(self) -> tuple[np.ndarray, ...]:
        """Byte-level indices: (src, xor), or for nibbles (hi_src, hi_shift, lo_src, lo_shift, xor).

        A nibble map reads whole bytes and shifts the wanted half into place, so it gathers from the
        input bytes directly instead of first splitting the batch into twice as many half-bytes.
        """
        if not self.nibbles:
            return (self.src, self.xor)
        hi, lo = self.src[0::2], self.src[1::2]
        hi_shift = np.where(hi % 2 == 1, 4, 0)  # a low half moves up; a high half stays
        lo_shift = np.where(lo % 2 == 0, 4, 0)  # a high half moves down; a low half stays
        xor = (self.xor[0::2] << 4) | self.xor[1::2]
        return (hi // 2, hi_shift, lo // 2, lo_shift, xor)

    def tensors(self, device: torch.device) -> tuple[torch.Tensor, ...]:
        cache = self.__dict__.setdefault("_on_device", {})
        if device not in cache:
            plan = self._byte_plan
            dtypes = [torch.int64, torch.uint8] * 2 if self.nibbles else [torch.int64]
            cache[device] = tuple(torch.from_numpy(np.ascontiguousarray(a)).to(device, dt)
                                  for a, dt in zip(plan, [*dtypes, torch.uint8], strict=True))
        return cache[device]

    def apply(self, flat: torch.Tensor) -> torch.Tensor:
        """Apply to a uint8 batch N x L (L bytes an image)."""
        plan = self.tensors(flat.device)
        if flat.device.type != "cpu":
            return self._apply(flat, plan)
        out = torch.empty_like(flat)
        for i in range(0, flat.shape[0], CPU_CHUNK):  # chunks stay in cache between the passes
            out[i:i + CPU_CHUNK] = self._apply(flat[i:i + CPU_CHUNK], plan)
        return out

    def _apply(self, flat: torch.Tensor, plan: tuple[torch.Tensor, ...]) -> torch.Tensor:
        n = flat.shape[0]
        if not self.nibbles:
            src, xor = plan
            return torch.gather(flat, 1, src.expand(n, -1)).bitwise_xor_(xor)
        hi, hi_shift, lo, lo_shift, xor = plan
        out = torch.gather(flat, 1, hi.expand(n, -1)).bitwise_left_shift_(hi_shift).bitwise_and_(0xF0)
        low = torch.gather(flat, 1, lo.expand(n, -1)).bitwise_right_shift_(lo_shift).bitwise_and_(0x0F)
        return out.bitwise_or_(low).bitwise_xor_(xor)


# ---------------------------------------------------------------------------------------------------
# Index-image helpers: build a map by applying the method's steps to an image of unit indices
# ---------------------------------------------------------------------------------------------------


def _to_blocks(a: np.ndarray, b: int) -> np.ndarray:
    """(C, H, W) -> (n_blocks, C, b, b), blocks row-major."""
    c, h, w = a.shape
    return a.reshape(c, h // b, b, w // b, b).transpose(1, 3, 0, 2, 4).reshape(-1, c, b, b)


def _from_blocks(blocks: np.ndarray, h: int, w: int) -> np.ndarray:
    n, c, b, _ = blocks.shape
    return blocks.reshape(h // b, w // b, c, b, b).transpose(2, 0, 3, 1, 4).reshape(c, h, w)


def _byte_map(src: np.ndarray, invert_src: np.ndarray) -> IndexMap:
    """A byte map; ``invert_src`` marks the input values that are inverted (before they move)."""
    src = src.ravel().astype(np.int64)
    xor = np.where(invert_src.ravel(), 255, 0).astype(np.uint8)[src]
    return IndexMap(src, xor, nibbles=False)


def _channel_table(key: Key) -> np.ndarray:
    aliased = key.options.get("channel_maps") == "authors-aliased"
    return ALIASED_CHANNEL_ORDERS if aliased else CHANNEL_ORDERS


def _le_map(shape: tuple[int, int], b: int, keys: np.ndarray, order: np.ndarray) -> IndexMap:
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
    return IndexMap(src, xor, nibbles=True)


# ---------------------------------------------------------------------------------------------------
# The methods: what a key holds, how to draw one, how it compiles
# ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Method:
    name: str
    blocks: bool  # uses the block size
    arrays: Callable[[Key], dict[str, tuple[tuple[int, ...], int, type]]]  # name -> shape, bound, dtype
    draw: Callable[..., dict[str, np.ndarray]]
    build: Callable[[Key], IndexMap]
    options: tuple[str, ...] = ()
    check: Callable[[Key], None] = lambda key: None


def _n_blocks(key: Key) -> int:
    return (key.shape[0] // key.block_size) * (key.shape[1] // key.block_size)


def _le_values(key: Key) -> int:
    return 6 * key.block_size**2


def _require_permutations(key: Key, name: str) -> None:
    a = key.arrays[name]
    if not (np.sort(a, axis=-1) == np.arange(a.shape[-1])).all():
        raise PihError(f"{key.method} key array '{name}' is not a permutation")


def _require_count(key: Key, name: str, count: int) -> None:
    got = int(key.arrays[name].sum())
    if got != count:
        raise PihError(f"{key.method} key array '{name}' marks {got} values; it must mark {count}")


# PE ------------------------------------------------------------------------------------------------

def _pe_arrays(key: Key):
    h, w = key.shape
    return {"invert": ((3, h, w), 2, bool), "channel_order": ((h, w), 6, np.uint8)}


def _pe_draw(rng, shape, block_size, options):
    h, w = shape
    return {"invert": rng.integers(0, 2, (3, h, w)).astype(bool),
            "channel_order": rng.integers(0, 6, (h, w)).astype(np.uint8)}


def _pe_build(key: Key) -> IndexMap:
    h, w = key.shape
    idx = np.arange(3 * h * w).reshape(3, h, w)
    orders = _channel_table(key)[key.arrays["channel_order"]].transpose(2, 0, 1)
    return _byte_map(np.take_along_axis(idx, orders, axis=0), key.arrays["invert"])


# PE-IIR (metric study) -----------------------------------------------------------------------------

def _iir_arrays(key: Key):
    return {"invert": ((3, *key.shape), 2, bool)}


def _iir_draw(rng, shape, block_size, options):
    n = 3 * shape[0] * shape[1]
    count = options["inverted"]
    invert = np.zeros(n, bool)
    invert[rng.choice(n, size=count, replace=False)] = True
    return {"invert": invert.reshape(3, *shape)}


def _iir_check(key: Key) -> None:
    n = 3 * key.shape[0] * key.shape[1]
    count = key.options.get("inverted")
    if not isinstance(count, (int, np.integer)) or isinstance(count, bool) or not 0 <= count <= n:
        raise PihError(f"PE-IIR needs option inverted=<count> with 0 <= count <= {n}, got {count!r}")
    _require_count(key, "invert", int(count))


def _iir_build(key: Key) -> IndexMap:
    return _byte_map(np.arange(key.arrays["invert"].size), key.arrays["invert"])


# EtC -----------------------------------------------------------------------------------------------

def _etc_arrays(key: Key):
    n = _n_blocks(key)
    return {"rotation": ((n,), 4, np.uint8), "invert": ((n,), 2, bool), "flip": ((n,), 3, np.uint8),
            "channel_order": ((n,), 6, np.uint8), "block_order": ((n,), n, np.int64)}


def _etc_draw(rng, shape, block_size, options):
    n = (shape[0] // block_size) * (shape[1] // block_size)
    invert = np.zeros(n, bool)
    invert[rng.choice(n, size=n // 2, replace=False)] = True
    return {"rotation": rng.integers(0, 4, n).astype(np.uint8), "invert": invert,
            "flip": rng.integers(0, 3, n).astype(np.uint8),
            "channel_order": rng.integers(0, 6, n).astype(np.uint8),
            "block_order": rng.permutation(n).astype(np.int64)}


def _etc_check(key: Key) -> None:
    _require_count(key, "invert", _n_blocks(key) // 2)
    _require_permutations(key, "block_order")


def _etc_build(key: Key) -> IndexMap:
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


# LE ------------------------------------------------------------------------------------------------

def _le_arrays(key: Key):
    return {"perm": ((_le_values(key),), _le_values(key), np.int64)}


def _le_draw(rng, shape, block_size, options):
    return {"perm": rng.permutation(6 * block_size**2).astype(np.int64)}


def _le_build(key: Key) -> IndexMap:
    n = _n_blocks(key)
    keys = np.broadcast_to(key.arrays["perm"], (n, _le_values(key)))
    return _le_map(key.shape, key.block_size, keys, np.arange(n))


# ELE -----------------------------------------------------------------------------------------------

def _ele_arrays(key: Key):
    n, m = _n_blocks(key), _le_values(key)
    return {"block_perms": ((n, m), m, np.int64), "block_order": ((n,), n, np.int64)}


def _ele_draw(rng, shape, block_size, options):
    n = (shape[0] // block_size) * (shape[1] // block_size)
    m = 6 * block_size**2
    return {"block_perms": rng.permuted(np.tile(np.arange(m), (n, 1)), axis=1).astype(np.int64),
            "block_order": rng.permutation(n).astype(np.int64)}


def _ele_build(key: Key) -> IndexMap:
    return _le_map(key.shape, key.block_size, key.arrays["block_perms"], key.arrays["block_order"])


def _check_perm(name: str) -> Callable[[Key], None]:
    return lambda key: _require_permutations(key, name)


def _check_ele(key: Key) -> None:
    _require_permutations(key, "block_perms")
    _require_permutations(key, "block_order")


REGISTRY: dict[str, Method] = {
    "PE": Method("PE", False, _pe_arrays, _pe_draw, _pe_build, options=("channel_maps",)),
    "PE-IIR": Method("PE-IIR", False, _iir_arrays, _iir_draw, _iir_build, options=("inverted",),
                     check=_iir_check),
    "EtC": Method("EtC", True, _etc_arrays, _etc_draw, _etc_build, options=("channel_maps",),
                  check=_etc_check),
    "LE": Method("LE", True, _le_arrays, _le_draw, _le_build, check=_check_perm("perm")),
    "ELE": Method("ELE", True, _ele_arrays, _ele_draw, _ele_build, check=_check_ele),
}


def _method(name: str) -> Method:
    if name not in REGISTRY:
        raise PihError(f"unknown scrambling method {name!r}; choose from {', '.join(ALL_METHODS)}")
    return REGISTRY[name]


def _check_geometry(method: Method, shape, block_size) -> None:
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
    if not isinstance(block_size, (int, np.integer)) or isinstance(block_size, bool) or block_size < 1:
        raise PihError(f"block size must be a positive integer, got {block_size!r}")
    h, w = shape
    if h % block_size or w % block_size:
        raise PihError(f"block size {block_size} does not divide the image size {h}x{w}")


def _check_options(method: Method, options: dict) -> None:
    if not isinstance(options, dict):
        raise PihError(f"key options must be a dict, got {type(options).__name__}")
    unknown = set(options) - set(method.options)
    if unknown:
        allowed = ", ".join(method.options) or "none"
        raise PihError(f"{method.name} has no option {', '.join(sorted(unknown))} (options: {allowed})")
    cm = options.get("channel_maps", "permutation")
    if cm not in CHANNEL_MAPS:
        raise PihError(f"channel_maps must be one of {', '.join(CHANNEL_MAPS)}, got {cm!r}")


def check_key(key: Key) -> None:
    """Raise PihError unless ``key`` is a well-formed key of its method (called by ``Key()``).

    Also gives the key its own copies of the arrays in their canonical dtypes.
    """
    method = _method(key.method)
    _check_geometry(method, key.shape, key.block_size)
    _check_options(method, key.options)
    expected = method.arrays(key)
    if not isinstance(key.arrays, dict) or set(key.arrays) != set(expected):
        got = sorted(key.arrays) if isinstance(key.arrays, dict) else type(key.arrays).__name__
        raise PihError(f"{method.name} key must hold arrays {sorted(expected)}, got {got}")
    arrays = {}
    for name, (shape, bound, dtype) in expected.items():
        a = np.asarray(key.arrays[name])
        if a.shape != shape:
            raise PihError(f"{method.name} key array '{name}' has shape {a.shape}, expected {shape}")
        if not (a.dtype == bool or np.issubdtype(a.dtype, np.integer)):
            raise PihError(f"{method.name} key array '{name}' has dtype {a.dtype}, expected integers")
        if a.size and (a.min() < 0 or a.max() >= bound):
            raise PihError(f"{method.name} key array '{name}' has values outside 0..{bound - 1}")
        arrays[name] = np.array(a, dtype=dtype)
    object.__setattr__(key, "arrays", arrays)
    object.__setattr__(key, "options", dict(key.options))
    method.check(key)


# ---------------------------------------------------------------------------------------------------
# Public API
# ---------------------------------------------------------------------------------------------------


def keygen(method: str, seed: int | np.random.Generator | None = None, shape: tuple[int, int] = (32, 32),
           block_size: int | None = 4, **options) -> Key:
    """Draw a random key for ``method`` ("PE", "EtC", "LE", "ELE" or "PE-IIR").

    ``seed``: an int, a ``numpy.random.Generator``, or None for fresh entropy. ``block_size`` is used by
    LE, ELE and EtC (it must divide both sides of ``shape``) and ignored by PE and PE-IIR.
    Options: ``channel_maps="authors-aliased"`` (PE, EtC) reproduces the authors' defective channel
    step, which duplicates channels: such a key is lossy and cannot be unscrambled.
    ``inverted=<count>`` (PE-IIR, required) is the number of the 3*H*W values that are inverted.
    """
    m = _method(method)
    shape = tuple(shape)
    block_size = block_size if m.blocks else None
    _check_geometry(m, shape, block_size)
    _check_options(m, options)
    if method == "PE-IIR":
        n = 3 * shape[0] * shape[1]
        c = options.get("inverted")
        if not isinstance(c, (int, np.integer)) or isinstance(c, bool) or not 0 <= c <= n:
            raise PihError(f"PE-IIR needs the option inverted=<count> with 0 <= count <= {n}, got {c!r}")
        options["inverted"] = int(c)
    return Key(method, shape, block_size, m.draw(rng_of(seed), shape, block_size, options), options)


def rng_of(seed: int | np.random.Generator | None) -> np.random.Generator:
    """A random generator from a seed: a non-negative integer, a Generator (used as it is), or None
    (fresh entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0):
        raise PihError(f"seed must be a non-negative integer, a numpy Generator or None, got {seed!r}")
    return np.random.default_rng(seed)


def index_map(key: Key, inverse: bool = False) -> IndexMap:
    """The key's compiled map (cached on the key)."""
    if not isinstance(key, Key):
        raise PihError(f"expected a pihlib Key, got {type(key).__name__}")
    cache = key.__dict__.setdefault("_maps", {})
    if inverse not in cache:
        fwd = cache.get(False) or REGISTRY[key.method].build(key)
        cache[False] = fwd
        if inverse:
            if not fwd.invertible:
                raise PihError(
                    f"this {key.method} key uses the authors' aliased channel maps, which duplicate "
                    "channels and lose information: it cannot be unscrambled")
            cache[True] = fwd.inverse()
    return cache[inverse]


def _apply(x: torch.Tensor, key: Key, inverse: bool) -> torch.Tensor:
    m = index_map(key, inverse)
    u8, single, was_float = as_uint8(x)
    if tuple(u8.shape[2:]) != key.shape:
        h, w = u8.shape[2:]
        raise PihError(f"images are {h}x{w} but the key was made for {key.shape[0]}x{key.shape[1]}")
    out = m.apply(u8.reshape(u8.shape[0], -1)).view(u8.shape) if len(u8) else u8.clone()
    if was_float:
        out = out.to(x.dtype).div_(255)
    return out[0] if single else out


def scramble(x: torch.Tensor, key: Key) -> torch.Tensor:
    """Scramble a batch of images, N x 3 x H x W (or one, 3 x H x W), on any device.

    uint8 images come back as uint8. Float images in [0, 1] (float64, float32, float16 or bfloat16) are
    quantised to the nearest k/255 (they must lie within ``pihlib.images.level_tolerance(dtype)``/255
    of it, the dtype's rounding error; NaN is refused) and come back as k / 255 in their dtype:
    ``unscramble(scramble(x))`` is ``x`` bit for bit when ``x`` was made as ``k / 255`` (as
    ``ToTensor`` does), and ``round(x * 255) / 255``, within one ulp of ``x``, when it was made as
    ``k * (1 / 255)`` (as torchvision's ``ToDtype(scale=True)`` does). An empty batch gives an empty
    batch."""
    return _apply(x, key, inverse=False)


def unscramble(x: torch.Tensor, key: Key) -> torch.Tensor:
    """Undo ``scramble`` exactly, bit for bit."""
    return _apply(x, key, inverse=True)
