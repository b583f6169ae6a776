"""The four scramblers on real images (notebook 00): each key's inverse is exact on every image."""

from __future__ import annotations

import torch

from ...data import ImageSet, load_cifar10
from ...keys import Key, fingerprint
from ...keyspace import key_space_bits
from ...scramblers import METHODS, keygen, scramble, unscramble
from .. import cache

NOTEBOOK = "00_scramblers"


def keys(params: dict) -> dict[str, Key]:
    """One key per method, from the parameters' seed (shown only as fingerprints)."""
    return {m: keygen(m, seed=params["seed"]) for m in METHODS}


def inputs(params: dict, data: str | None = None, count: int | None = None) -> ImageSet:
    return load_cifar10(params["split"], data, count=count or params["n_check"])


def compute(params: dict, images: ImageSet) -> dict:
    out = {}
    for method, key in keys(params).items():
        y = scramble(images.images, key)
        out[method] = {"fingerprint": fingerprint(key),
                       "exact_inverse": bool(torch.equal(unscramble(y, key), images.images)),
                       "values_changed": float((y != images.images).float().mean()),
                       "key_space_bits": key_space_bits(method)}
    return out


def run(preset: str, params: dict, data: str | None = None) -> dict:
    """The record ``scramblers``: per method, the key's fingerprint, whether its inverse is exact on
    every image, the share of values it changes and its key space."""
    images = inputs(params, data)
    return cache.cached(preset, "scramblers", params, lambda: compute(params, images), code=__name__,
                        data=images.source.as_dict())
