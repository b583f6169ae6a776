"""Algorithm 1 of the paper: draw N scrambling keys, score each with rho, keep the highest.

Scores go through the on-disk cache of ``pihlib.scorecache``: an interrupted search resumes without
scoring again what it had scored.

Reference: Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve Perceptual
Information Hiding", IS&T Electronic Imaging (Algorithm 1, Eq. 1; N = 20 in the paper).
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

    Args:
        key: a PE or EtC ``Key``.
        rng: the ``numpy.random.Generator`` that draws the permutations.

    Returns:
        Key: a new key of the same method, shape, block size and options.

    Raises:
        PihError: ``key`` is not a PE or EtC key.
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
    EtC) one random key and ``trials - 1`` reshuffles of it. Deterministic for a given seed.

    Args:
        method: the scrambler, as for ``pihlib.keygen``.
        trials: the number of candidates (a positive int).
        seed: an int >= 0, a ``numpy.random.Generator`` (advanced as keys are drawn) or None (fresh
            entropy).
        scheme: ``"fresh"`` or ``"reshuffle"`` (PE and EtC only).
        **keygen_options: passed to ``pihlib.keygen`` (``shape``, ``block_size``, ``inverted``, ...).

    Yields:
        Key: ``trials`` keys, lazily; the first is always a fresh ``keygen`` key.

    Raises:
        PihError: (when iteration starts) ``scheme`` is unknown, or ``"reshuffle"`` for another
            method; ``trials`` is not a positive int; ``method``, ``seed`` or a keygen option is
            invalid.
    """
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
    """The outcome of ``search``: the best key, its rho, and every candidate's fingerprint and rho.

    The result holds the key itself: store it with ``pihlib.save_key``; ``as_dict()`` leaves it out.

    Attributes:
        key: the candidate with the highest rho (the first of them on a tie).
        score: its rho (a Python float; unitless, >= 0).
        candidates: ``(fingerprint, rho)`` of every candidate, in draw order.
        method: the scrambler searched.
        convention: the LPIPS input convention the scores are labelled with.
        images_sha256: ``scorecache.images_hash`` of the plain images scored.
        scheme: ``"fresh"`` or ``"reshuffle"``.
        evaluations: candidates scored in this run (the others came from the cache).
    """

    key: Key
    score: float
    candidates: list[tuple[str, float]]  # (fingerprint, rho) of every candidate, in order
    method: str
    convention: str
    images_sha256: str
    scheme: str
    evaluations: int = 0  # candidates scored in this run (the others came from the cache)

    def as_dict(self) -> dict:
        """Everything but the key itself: safe to print or store.

        Returns:
            dict: ``method``, ``fingerprint`` (of the best key), ``rho``, ``convention``, ``scheme``,
            ``images_sha256``, ``trials``, ``evaluations`` and ``candidates`` (a list of
            ``{"fingerprint", "rho"}``), all JSON-ready.
        """
        return {"method": self.method, "fingerprint": fingerprint(self.key), "rho": self.score,
                "convention": self.convention, "scheme": self.scheme, "images_sha256": self.images_sha256,
                "trials": len(self.candidates), "evaluations": self.evaluations,
                "candidates": [{"fingerprint": f, "rho": s} for f, s in self.candidates]}


def search(images: torch.Tensor, method: str, trials: int = 20, seed: int | None = None,
           scheme: str = "fresh", convention: str = RHO_CONVENTION, cache: bool | str | os.PathLike = True,
           scorer: CachedScorer | None = None, progress: bool = True, **keygen_options) -> SearchResult:
    """Algorithm 1: the key with the highest rho over ``images`` among ``trials`` candidates.

    Candidates come from ``candidate_keys``; each is scored by rho (paper Eq. 1, mean LPIPS-alex
    between plain and scrambled images) through the on-disk score cache, written after every key,
    so an interrupted search resumes where it stopped.

    Args:
        images: the plain images, uint8 N x 3 x H x W (RGB, 0..255, N >= 1), on any device (the
            scoring runs there); H and W at least 32 (LPIPS-alex). With ``scorer`` given, only their
            H x W is used (the default key ``shape``).
        method: the scrambler: ``"PE"``, ``"EtC"``, ``"LE"``, ``"ELE"`` or ``"PE-IIR"``.
        trials: N, the number of candidates (a positive int; the paper uses 20).
        seed: an int >= 0, a ``numpy.random.Generator``, or None (fresh entropy: a different
            search each run, and no resuming from the cache).
        scheme: ``"fresh"`` (independent random keys) or ``"reshuffle"`` (PE, EtC: one key and its
            reshuffles, the authors' candidates).
        convention: ``"authors"`` (default) or ``"lpips"``, the LPIPS input convention of rho. With
            ``scorer`` given it only labels the result: pass the scorer's.
        cache: True (the score cache under ``cache_root()/scores``), a folder for it, or False (no
            cache).
        scorer: a ``CachedScorer`` to reuse across searches over the same images; None builds one
            from ``images``, ``convention`` and ``cache``.
        progress: show a progress bar over candidates.
        **keygen_options: passed to ``pihlib.keygen`` (e.g. ``inverted`` for PE-IIR, ``block_size``);
            ``shape`` defaults to the images' H x W.

    Returns:
        SearchResult: the best key and its rho (a float), every candidate's fingerprint and rho in
        draw order, the method, convention, scheme, the images' sha256 and the number of keys scored
        in this run.

    Raises:
        PihError: ``images`` is not a uint8 N x 3 x H x W batch with N >= 1, or is too small for
            LPIPS; ``convention``, ``scheme``, ``trials``, ``method``, ``seed`` or a keygen option is
            invalid (``"reshuffle"`` for LE or ELE); the score cache's path is taken by a folder, or
            cannot be written; the LPIPS weights cannot be had.

    References:
        Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve Perceptual
        Information Hiding", IS&T Electronic Imaging, Algorithm 1.

    Example::

        result = pihlib.keysearch.search(data.images[:1000], "LE", trials=20, seed=0)
        pihlib.save_key(result.key, "le.json"); result.as_dict()["rho"]
    """
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
