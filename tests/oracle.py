"""Straightforward per-image scramblers, written step by step from the methods' descriptions.

Slow on purpose: loops over images, blocks and pixels, each step as the papers describe it, on H x W x 3
numpy images. They share nothing with the index-map engine in ``pihlib/scramblers.py`` except the key, so
the tests use them as an independent oracle and ``benchmarks/`` as the baseline (which is why they live
here, outside the package). The authors' aliased channel step is reproduced literally (in-place
assignment), not from a table.
"""

from __future__ import annotations

import numpy as np

from pihlib.keys import Key
from pihlib.scramblers import CHANNEL_ORDERS


def _channels(px: np.ndarray, code: int, aliased: bool) -> np.ndarray:
    order = CHANNEL_ORDERS[code]
    if aliased:  # the authors' code: channel by channel, on the same array
        px = px.copy()
        for c in range(3):
            px[..., c] = px[..., order[c]]
        return px
    return px[..., order]


def _le_block(v: np.ndarray, perm: np.ndarray, decrypt: bool) -> np.ndarray:
    """One block's bytes in (row, col, channel) order through LE (or its inverse)."""
    nib = np.concatenate([v >> 4, v & 15])
    mask = perm > len(perm) // 2
    nib = np.where(mask, 15 - nib, nib)
    if decrypt:
        out = np.empty_like(nib)
        out[perm] = nib
    else:
        out = nib[perm]
    out = np.where(mask, 15 - out, out)
    half = len(v)
    return ((out[:half] << 4) | out[half:]).astype(np.uint8)


def _blocks(h: int, w: int, b: int):
    return [(by, bx) for by in range(0, h, b) for bx in range(0, w, b)]


def scramble_one(img: np.ndarray, key: Key) -> np.ndarray:
    """Scramble one H x W x 3 uint8 image."""
    h, w, _ = img.shape
    a, b = key.arrays, key.block_size
    aliased = key.options.get("channel_maps") == "authors-aliased"
    out = img.copy()
    if key.method in ("PE", "PE-IIR"):
        for y in range(h):
            for x in range(w):
                px = img[y, x].copy()
                for c in range(3):
                    if a["invert"][c, y, x]:
                        px[c] = 255 - px[c]
                if key.method == "PE":
                    px = _channels(px, int(a["channel_order"][y, x]), aliased)
                out[y, x] = px
        return out
    pos = _blocks(h, w, b)
    enc = []
    for i, (by, bx) in enumerate(pos):
        blk = img[by:by + b, bx:bx + b].copy()
        if key.method == "EtC":
            blk = np.rot90(blk, int(a["rotation"][i]))
            if a["invert"][i]:
                blk = 255 - blk
            if a["flip"][i] == 1:
                blk = blk[::-1]
            elif a["flip"][i] == 2:
                blk = blk[:, ::-1]
            blk = _channels(blk, int(a["channel_order"][i]), aliased)
        else:
            perm = a["perm"] if key.method == "LE" else a["block_perms"][i]
            blk = _le_block(blk.reshape(-1), perm, decrypt=False).reshape(b, b, 3)
        enc.append(blk)
    order = a.get("block_order", np.arange(len(pos)))
    for i, (by, bx) in enumerate(pos):
        out[by:by + b, bx:bx + b] = enc[order[i]]
    return out


def unscramble_one(img: np.ndarray, key: Key) -> np.ndarray:
    """Undo ``scramble_one`` for keys with true channel permutations."""
    h, w, _ = img.shape
    a, b = key.arrays, key.block_size
    out = img.copy()
    if key.method in ("PE", "PE-IIR"):
        for y in range(h):
            for x in range(w):
                px = img[y, x].copy()
                if key.method == "PE":
                    restored = np.empty_like(px)
                    restored[CHANNEL_ORDERS[a["channel_order"][y, x]]] = px
                    px = restored
                for c in range(3):
                    if a["invert"][c, y, x]:
                        px[c] = 255 - px[c]
                out[y, x] = px
        return out
    pos = _blocks(h, w, b)
    order = a.get("block_order", np.arange(len(pos)))
    for i, (by, bx) in enumerate(pos):
        src = order[i]
        sy, sx = pos[src]
        blk = img[by:by + b, bx:bx + b].copy()
        if key.method == "EtC":
            restored = np.empty_like(blk)
            restored[..., CHANNEL_ORDERS[a["channel_order"][src]]] = blk
            blk = restored
            if a["flip"][src] == 1:
                blk = blk[::-1]
            elif a["flip"][src] == 2:
                blk = blk[:, ::-1]
            if a["invert"][src]:
                blk = 255 - blk
            blk = np.rot90(blk, -int(a["rotation"][src]))
        else:
            perm = a["perm"] if key.method == "LE" else a["block_perms"][src]
            blk = _le_block(blk.reshape(-1), perm, decrypt=True).reshape(b, b, 3)
        out[sy:sy + b, sx:sx + b] = blk
    return out
