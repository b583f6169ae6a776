"""The four scramblers on real images (notebook 00): each key's inverse is exact on every image."""

from __future__ import annotations

import torch

from ..data import ImageSet, load_cifar10
from ..keys import Key, fingerprint
from ..keyspace import key_space_bits
from ..scramblers import METHODS, keygen, scramble, unscramble
from . import cache

NOTEBOOK = "00_scramblers"
CODE = ("pihlib.scramblers", "pihlib.keys", "pihlib.images", "pihlib.keyspace", __name__)
READERS = ("claims", "table")


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
    images = inputs(params, data)
    return cache.cached(preset, "scramblers", params, lambda: compute(params, images), code=CODE,
                        data=images.source.as_dict())


def table(record: dict) -> dict[str, dict]:
    return {m: {"key fingerprint": r["fingerprint"],
                "exact inverse on all images": "yes" if r["exact_inverse"] else "NO",
                "values changed": f"{100 * r['values_changed']:.1f} %",
                "key space (bits)": f"{r['key_space_bits']['effective']:,.0f}"}
            for m, r in record["result"].items()}


def claims(record: dict) -> list[dict]:
    """The one claim of this section: every key's inverse gives back every image, bit for bit."""
    bad = [m for m, r in record["result"].items() if not r["exact_inverse"]]
    return [{"claim": "Each scrambler's inverse recovers every image exactly",
             "ours": f"{len(record['result']) - len(bad)} of {len(record['result'])} methods exact on "
                     f"{record['params']['n_check']} images",
             "verdict": "yes" if not bad else "no: " + ", ".join(bad)}]
