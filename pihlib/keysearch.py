"""Algorithm 1 of the paper: draw N scrambling keys, score each with rho, keep the highest.

Scores go through the on-disk cache of ``pihlib.scorecache``: an interrupted search resumes without
scoring again what it had scored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from tqdm.auto import tqdm

from .errors import PihError
from .keys import Key, fingerprint
from .metrics import RHO_CONVENTION
from .scorecache import CachedScorer
from .scramblers import keygen, rng_of

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
    if not isinstance(trials, int) or isinstance(trials, bool) or trials < 1:
        raise PihError(f"trials must be a positive integer, got {trials!r}")
    rng = rng_of(seed)
    base = keygen(method, seed=rng, **keygen_options)
    if scheme == "reshuffle" and method not in ("PE", "EtC"):
        raise PihError(f"reshuffling is the authors' scheme for PE and EtC, not {method}")
    yield base
    for _ in range(trials - 1):
        yield reshuffle(base, rng) if scheme == "reshuffle" else keygen(method, seed=rng, **keygen_options)


# The score cache ------------------------------------------------------------------------------------

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

    def as_dict(self) -> dict:
        """Everything but the key itself: safe to print or store."""
        return {"method": self.method, "fingerprint": fingerprint(self.key), "rho": self.score,
                "convention": self.convention, "scheme": self.scheme, "images_sha256": self.images_sha256,
                "trials": len(self.candidates), "evaluations": self.evaluations,
                "candidates": [{"fingerprint": f, "rho": s} for f, s in self.candidates]}


def search(images: torch.Tensor, method: str, trials: int = 20, seed: int | None = None,
           scheme: str = "fresh", convention: str = RHO_CONVENTION, cache: bool | str | os.PathLike = True,
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
