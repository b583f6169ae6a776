"""The engine that scrambles images: every method's key compiled to one index map, applied to tensors.

For a fixed key and image shape, every scrambler (``pihlib.methods``: PE, EtC, LE, ELE and the metric
study's PE-IIR) is a fixed rearrangement of values followed by an XOR: output unit ``j`` is input unit
``src[j]`` XOR ``xor[j]``. A unit is a byte for PE and EtC and a 4-bit half of a byte for LE and ELE. A
key compiles once into such an ``IndexMap`` (by its method's ``build``); ``scramble``/``unscramble``
are then one or two ``gather`` calls on the flattened batch, on the tensor's device. The inverse map is
the inverse permutation, so ``unscramble(scramble(x, k), k) == x`` exactly. The layout conventions
(block order, nibble order, channel-order numbering) are documented in ``pihlib/methods.py``.

The method registry, ``keygen`` and the key type live in ``pihlib.methods`` and ``pihlib.keys``; their
names are importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import torch

from .errors import PihError
from .images import as_uint8
from .keys import Key, keygen, rng_of
from .methods import (
    ALIASED_CHANNEL_ORDERS,
    ALL_METHODS,
    CHANNEL_MAPS,
    CHANNEL_ORDERS,
    MAX_PIXELS,
    METHODS,
    REGISTRY,
    STUDY_METHOD,
    aliased_channel_map,
)

__all__ = ["ALIASED_CHANNEL_ORDERS", "ALL_METHODS", "CHANNEL_MAPS", "CHANNEL_ORDERS", "CPU_CHUNK",
           "IndexMap", "MAX_PIXELS", "METHODS", "STUDY_METHOD", "aliased_channel_map", "index_map",
           "keygen", "rng_of", "scramble", "unscramble"]

CPU_CHUNK = 1024  # images a pass on CPU: small enough for the intermediates to stay in cache


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


def index_map(key: Key, inverse: bool = False) -> IndexMap:
    """The key's compiled map, built by its method's ``build`` and cached on the key.

    Args:
        key: a ``Key``.
        inverse: False for the map ``scramble`` applies, True for ``unscramble``'s.

    Returns:
        IndexMap: ``src`` (int64) and ``xor`` (uint8) of 3*H*W bytes (PE, PE-IIR, EtC) or 6*H*W
        4-bit halves (LE, ELE), in the order of a flattened 3 x H x W image.

    Raises:
        PihError: ``key`` is not a ``Key``; ``inverse`` for a key made with
            ``channel_maps="authors-aliased"``, which loses information.
    """
    if not isinstance(key, Key):
        raise PihError(f"expected a pihlib Key, got {type(key).__name__}")
    cache = key.__dict__.setdefault("_maps", {})
    if inverse not in cache:
        fwd = cache.get(False) or IndexMap(*REGISTRY[key.method].build(key))
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
    """Scramble a batch of images with ``key`` (the paper's f(x; P)), on the images' device.

    Float images in [0, 1] (float64, float32, float16 or bfloat16) are quantised to the nearest k/255
    (they must lie within ``pihlib.images.level_tolerance(dtype)``/255 of it, the dtype's rounding
    error; NaN is refused) and come back as k / 255 in their dtype: ``unscramble(scramble(x))`` is
    ``x`` bit for bit when ``x`` was made as ``k / 255`` (as ``ToTensor`` does), and
    ``round(x * 255) / 255``, within one ulp of ``x``, when it was made as ``k * (1 / 255)`` (as
    torchvision's ``ToDtype(scale=True)`` does).

    Args:
        x: torch.Tensor N x 3 x H x W (N >= 0; an empty batch gives an empty batch) or one image
            3 x H x W, RGB, uint8 (0..255) or float 8-bit levels in [0, 1]; (H, W) must be
            ``key.shape``.
        key: a ``Key`` of any method (the first use compiles it, cached on the key).

    Returns:
        torch.Tensor: the scrambled images, the same shape, dtype and device as ``x``.

    Raises:
        PihError: ``x`` is not a tensor, not N x 3 x H x W or 3 x H x W, of another dtype, a float
            outside [0, 1], NaN or not 8-bit levels, or of another H x W than the key's; ``key`` is
            not a ``Key``.

    References:
        Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve Perceptual
        Information Hiding", IS&T Electronic Imaging (f(x; P), the scrambler of a key); each method's
        own source is cited in ``pihlib.methods``.
    """
    return _apply(x, key, inverse=False)


def unscramble(x: torch.Tensor, key: Key) -> torch.Tensor:
    """Undo ``scramble`` exactly: ``unscramble(scramble(x, key), key) == x``, bit for bit for uint8.

    Args:
        x: scrambled images, as ``scramble`` takes them (uint8 or float 8-bit levels,
            N x 3 x H x W or 3 x H x W, (H, W) = ``key.shape``).
        key: the ``Key`` they were scrambled with.

    Returns:
        torch.Tensor: the plain images, the same shape, dtype and device as ``x``.

    Raises:
        PihError: as ``scramble``; and a key made with ``channel_maps="authors-aliased"``, which
            loses information and cannot be undone.

    References:
        Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve Perceptual
        Information Hiding", IS&T Electronic Imaging (f(x; P), the scrambler of a key); each method's
        own source is cited in ``pihlib.methods``.
    """
    return _apply(x, key, inverse=True)
