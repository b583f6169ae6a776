"""Algorithm 1 of the paper: draw N scrambling keys, score each with rho, keep the highest.

Scores are cached on disk, keyed by the key's fingerprint and a hash of the image set (and the LPIPS
network and convention), written atomically after every key: an interrupted search resumes without
scoring again what it had scored. The cache holds fingerprints and scores only, never key material.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ._io import atomic_write_bytes
from .data import cache_root
from .errors import PihError
from .keys import Key, fingerprint
from .pih import PIHScorer
from .scramblers import REGISTRY, keygen, rng_of

SCHEMES = ("fresh", "reshuffle")


# Candidates -----------------------------------------------------------------------------------------

def reshuffle(key: Key, rng: np.random.Generator) -> Key:
    """The authors' candidate for PE and EtC: the same key values in new places.

    PE: the inversion bits and the per-pixel channel codes are permuted over the image, so the number
    of inverted values and the multiset of channel codes stay fixed. EtC: the per-block rotation,
    inversion, flip and channel codes are each permuted over the blocks, and the block order is drawn
    afresh.
    """
    if key.method not in ("PE", "EtC"):
        raise PihError(f"reshuffling is the authors' scheme for PE and EtC, not {key.method}")
    arrays = {}
    for name, a in key.arrays.items():
        if name == "block_order":
            arrays[name] = rng.permutation(len(a))
        else:
            arrays[name] = rng.permutation(a.ravel()).reshape(a.shape)
    return Key(key.method, key.shape, key.block_size, arrays, dict(key.options))


def candidate_keys(method: str, trials: int, seed: int | np.random.Generator | None = None,
                   scheme: str = "fresh", **keygen_options) -> Iterator[Key]:
    """The ``trials`` candidates of one search: fresh random keys, or (``scheme="reshuffle"``, PE and
    EtC) one random key and ``trials - 1`` reshuffles of it. Deterministic for a given seed."""
    if scheme not in SCHEMES:
        raise PihError(f"scheme must be one of {', '.join(SCHEMES)}, got {scheme!r}")
    if not isinstance(trials, int) or trials < 1:
        raise PihError(f"trials must be a positive integer, got {trials!r}")
    rng = rng_of(seed)
    base = keygen(method, seed=rng, **keygen_options)
    if scheme == "reshuffle" and method not in ("PE", "EtC"):
        raise PihError(f"reshuffling is the authors' scheme for PE and EtC, not {method}")
    yield base
    for _ in range(trials - 1):
        yield reshuffle(base, rng) if scheme == "reshuffle" else keygen(method, seed=rng, **keygen_options)


# The score cache ------------------------------------------------------------------------------------

def images_hash(images: torch.Tensor) -> str:
    """sha256 of a uint8 image set: its shape and bytes."""
    h = hashlib.sha256(str(tuple(images.shape)).encode())
    h.update(images.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


class ScoreCache:
    """rho of keys over one image set, stored in one JSON file as {fingerprint: {"rho", "check"}}.

    ``check`` is a digest of the fingerprint, the image set, the network, the convention and the score:
    an entry whose check does not match (an edited score, one copied from another image set, an older
    format) is ignored and recomputed, never trusted."""

    def __init__(self, images_sha256: str, net: str, convention: str,
                 folder: str | os.PathLike | None = None):
        name = f"{images_sha256[:24]}-{net}-{convention}.json"
        self.path = Path(folder or cache_root() / "scores") / name
        self.meta = {"images_sha256": images_sha256, "net": net, "convention": convention}
        self.entries: dict[str, dict] = {}  # fingerprint -> {"rho", "check"}, as stored
        try:
            stored = json.loads(self.path.read_text())["scores"] if self.path.exists() else {}
            for fp, entry in stored.items():
                if entry["check"] == self._check(str(fp), float(entry["rho"])):
                    self.entries[str(fp)] = {"rho": float(entry["rho"]), "check": entry["check"]}
        except (OSError, json.JSONDecodeError, KeyError, TypeError, ValueError, AttributeError):
            self.entries = {}  # a damaged cache is ignored (and rewritten), never trusted

    def _check(self, fp: str, score: float) -> str:
        doc = {**self.meta, "fingerprint": fp, "rho": repr(float(score))}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()

    @property
    def scores(self) -> dict[str, float]:
        return {fp: e["rho"] for fp, e in self.entries.items()}

    def get(self, fp: str) -> float | None:
        entry = self.entries.get(fp)
        return None if entry is None else entry["rho"]

    def put(self, fp: str, score: float) -> None:
        self.entries[fp] = {"rho": score, "check": self._check(fp, score)}
        atomic_write_bytes(self.path, json.dumps({**self.meta, "scores": self.entries}).encode())


class CachedScorer:
    """A ``PIHScorer`` with the on-disk score cache in front of it."""

    def __init__(self, images: torch.Tensor, convention: str = "authors", net: str = "alex",
                 cache: bool | str | os.PathLike = True, scorer: PIHScorer | None = None):
        self.scorer = scorer or PIHScorer(images, convention, net, progress=False)
        self.images_sha256 = images_hash(images)
        folder = None if cache is True else cache
        self.cache = ScoreCache(self.images_sha256, net, convention, folder) if cache is not False else None
        self.evaluations = 0  # keys actually scored (not served from the cache)

    def __call__(self, key: Key) -> float:
        fp = fingerprint(key)
        if self.cache is not None and (hit := self.cache.get(fp)) is not None:
            return hit
        score = float(self.scorer.score(key)[0])
        self.evaluations += 1
        if self.cache is not None:
            self.cache.put(fp, score)
        return score


# Algorithm 1 ----------------------------------------------------------------------------------------

@dataclass
class SearchResult:
    key: Key
    score: float
    candidates: list[tuple[str, float]]  # (fingerprint, rho) of every candidate, in order
    method: str
    convention: str
    images_sha256: str
    scheme: str
    evaluations: int = 0  # candidates scored in this run (the others came from the cache)
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        """Everything but the key itself: safe to print or store."""
        return {"method": self.method, "fingerprint": fingerprint(self.key), "rho": self.score,
                "convention": self.convention, "scheme": self.scheme, "images_sha256": self.images_sha256,
                "trials": len(self.candidates), "evaluations": self.evaluations,
                "candidates": [{"fingerprint": f, "rho": s} for f, s in self.candidates]}


def search(images: torch.Tensor, method: str, trials: int = 20, seed: int | None = None,
           scheme: str = "fresh", convention: str = "authors", cache: bool | str | os.PathLike = True,
           scorer: CachedScorer | None = None, progress: bool = True, **keygen_options) -> SearchResult:
    """Algorithm 1: the key with the highest rho over ``images`` among ``trials`` candidates."""
    scorer = scorer or CachedScorer(images, convention, cache=cache)
    keygen_options.setdefault("shape", tuple(images.shape[-2:]))
    before = scorer.evaluations
    best, best_score, candidates = None, -math.inf, []
    keys = candidate_keys(method, trials, seed, scheme, **keygen_options)
    for key in tqdm(keys, total=trials, desc=f"key search {method}", unit="key", disable=not progress):
        score = scorer(key)
        candidates.append((fingerprint(key), score))
        if score > best_score:
            best, best_score = key, score
    return SearchResult(best, best_score, candidates, method, convention, scorer.images_sha256, scheme,
                        scorer.evaluations - before)


# What selection costs in key space ------------------------------------------------------------------

def _log2_factorial(n: int) -> float:
    return math.lgamma(n + 1) / math.log(2)


def _log2_binomial(n: int, k: int) -> float:
    return _log2_factorial(n) - _log2_factorial(k) - _log2_factorial(n - k)


def key_space_bits(method: str, shape: tuple[int, int] = (32, 32), block_size: int = 4,
                   **options) -> dict[str, float]:
    """log2 of the number of keys (``nominal``) and of distinct scrambles they give (``effective``).

    The two differ for EtC only: 4 rotations x 3 flips give 12 codes but only the 8 symmetries of a
    square (a 180-degree rotation is both flips), so each block has 8 x 6 distinct transforms.
    """
    if method not in REGISTRY:
        raise PihError(f"unknown scrambling method {method!r}")
    h, w = shape
    values = 3 * h * w
    blocks = (h // block_size) * (w // block_size)
    if method == "PE":
        bits = values + h * w * math.log2(6)
        return {"nominal": bits, "effective": bits}
    if method == "PE-IIR":
        bits = _log2_binomial(values, options.get("inverted", values // 2))
        return {"nominal": bits, "effective": bits}
    if method == "LE":
        bits = _log2_factorial(6 * block_size**2)
        return {"nominal": bits, "effective": bits}
    if method == "ELE":
        bits = blocks * _log2_factorial(6 * block_size**2) + _log2_factorial(blocks)
        return {"nominal": bits, "effective": bits}
    common = _log2_binomial(blocks, blocks // 2) + _log2_factorial(blocks)
    return {"nominal": common + blocks * math.log2(4 * 3 * 6),
            "effective": common + blocks * math.log2(8 * 6)}


def selection_cost_bits(trials: int) -> float:
    """Keeping the best of N keys tells an attacker at most log2(N) bits about the key."""
    return math.log2(trials)
