"""The statistics of best-of-N key selection (paper Figs. 4-5): mean and SD of the selected rho.

Two estimators of E[max of N rho] and SD[max of N rho] for N = 1..20:
(a) ``repeats``: the authors' protocol, R independent searches of N fresh keys for each N
    (R * sum(N) key evaluations: 1,050 for R = 5);
(b) ``pool``: one pool of K scored random keys; the maximum of N draws (with replacement) from the
    pool's empirical distribution has exact order-statistic moments, P(max = s_(i)) =
    (i/K)^N - ((i-1)/K)^N; confidence bands come from bootstrapping the pool. K evaluations in all.

References: Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve Perceptual
Information Hiding", IS&T Electronic Imaging (Algorithm 1, Figs. 4-5); the percentile bootstrap:
B. Efron, R. J. Tibshirani, "An Introduction to the Bootstrap", Chapman & Hall, 1993.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from tqdm.auto import tqdm

from .keysearch import candidate_keys
from .scorecache import CachedScorer


@dataclass
class BestOfN:
    """Mean and SD of the best (highest) rho of N keys, for each N, from one estimator.

    Attributes:
        ns: int array of shape (L,): the N values.
        mean: float64 (L,): estimated E[max of N rho] (unitless, as rho).
        sd: float64 (L,): estimated SD[max of N rho] (pool: exact for the pool's distribution;
            repeats: the sample SD over the repeats, ddof 1; zeros for one repeat).
        mean_se: float64 (L,): standard error of ``mean`` (pool: the bootstrap SD; repeats:
            ``sd / sqrt(repeats)``).
        band: float64 2 x L, the lower and upper bounds of the bootstrap confidence band of
            ``mean`` (pool); None for the repeats estimator.
        evaluations: the number of key evaluations the estimate needs (K, or R * sum(N)).
        estimator: ``"pool"`` or ``"repeats"``.
    """

    ns: np.ndarray  # N values
    mean: np.ndarray  # estimated E[max of N]
    sd: np.ndarray  # estimated SD[max of N]
    mean_se: np.ndarray  # standard error of ``mean``
    band: np.ndarray | None  # 2 x len(ns): confidence band of ``mean`` (pool estimator)
    evaluations: int  # key evaluations the estimate needs
    estimator: str

    def as_dict(self) -> dict:
        """The estimate as JSON-ready lists and numbers.

        Returns:
            dict: ``ns``, ``mean``, ``sd``, ``mean_se`` (lists of length L), ``band`` (two lists, or
            None), ``evaluations`` (int) and ``estimator`` (str).
        """
        out = {k: getattr(self, k).tolist() for k in ("ns", "mean", "sd", "mean_se")}
        out.update(band=None if self.band is None else self.band.tolist(), evaluations=self.evaluations,
                   estimator=self.estimator)
        return out


def max_of_n_moments(pool: np.ndarray, ns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and SD of the maximum of N draws with replacement from ``pool``, for each N.

    ``pool`` may be K scores or B x K bootstrap resamples (then the result is B x len(ns)).
    With the pool sorted, s_(1) <= ... <= s_(K), the maximum of N draws is s_(i) with probability
    (i/K)^N - ((i-1)/K)^N.

    Args:
        pool: K >= 1 scores (array-like of shape (K,)), or B x K (one pool a row); any real values.
        ns: the N values (positive ints), length L.

    Returns:
        tuple[np.ndarray, np.ndarray]: mean and SD, float64, of shape (L,) (or B x L for a B x K
        pool), in the pool's units. N = 1 gives the pool's mean and its population SD (ddof 0).
    """
    s = np.sort(np.asarray(pool, dtype=np.float64), axis=-1)
    k = s.shape[-1]
    cdf = np.arange(k + 1) / k
    means, sds = [], []
    for n in ns:
        p = cdf[1:] ** n - cdf[:-1] ** n
        m = (s * p).sum(-1)
        means.append(m)
        sds.append(np.sqrt(np.maximum((s * s * p).sum(-1) - m * m, 0)))
    return np.stack(means, -1), np.stack(sds, -1)


def pool_estimate(scores: Sequence[float], ns: Sequence[int] = range(1, 21), bootstrap: int = 2000,
                  level: float = 0.95, seed: int = 0) -> BestOfN:
    """Estimator (b) from the scores of a pool of random keys.

    The mean and SD of the best of N are the exact moments of the maximum of N draws from the
    pool's empirical distribution (``max_of_n_moments``); the band and ``mean_se`` come from
    ``bootstrap`` resamples of the pool (percentile interval). Deterministic for a given ``seed``.

    Args:
        scores: the rho of K >= 1 random keys (array-like of floats, e.g. ``score_pool``'s).
        ns: the N values, positive ints (default 1..20, the paper's Figs. 4-5).
        bootstrap: the number of bootstrap resamples B (a positive int).
        level: the confidence level of the band, in (0, 1).
        seed: seed of the bootstrap's ``numpy.random.default_rng``.

    Returns:
        BestOfN: ``estimator="pool"``, ``evaluations=K``, ``mean`` and ``sd`` float64 (L,),
        ``mean_se`` the SD of the bootstrap means, ``band`` 2 x L (lower, upper).
    """
    scores = np.asarray(scores, dtype=np.float64)
    ns = np.asarray(list(ns))
    mean, sd = max_of_n_moments(scores, ns)
    rng = np.random.default_rng(seed)
    resampled = scores[rng.integers(0, len(scores), (bootstrap, len(scores)))]
    boot_mean, _ = max_of_n_moments(resampled, ns)
    alpha = (1 - level) / 2
    band = np.quantile(boot_mean, [alpha, 1 - alpha], axis=0)
    return BestOfN(ns, mean, sd, boot_mean.std(0, ddof=1), band, len(scores), "pool")


def score_pool(scorer: CachedScorer, method: str, size: int, seed: int | None = 0, scheme: str = "fresh",
               progress: bool = True, **keygen_options) -> np.ndarray:
    """rho of ``size`` candidate keys (the pool of estimator (b)).

    Args:
        scorer: a ``CachedScorer`` over the plain images (its cache spares keys scored before).
        method: the scrambler, as for ``pihlib.keygen`` (``"PE"``, ``"EtC"``, ``"LE"``, ``"ELE"``,
            ``"PE-IIR"``).
        size: K, the number of candidates (a positive int).
        seed: an int, a ``numpy.random.Generator`` or None (fresh entropy); a given seed gives the
            same keys.
        scheme: ``"fresh"`` (independent keys) or ``"reshuffle"`` (PE, EtC: one key and K - 1
            reshuffles of it, the authors' candidates); see ``keysearch.candidate_keys``.
        progress: show a progress bar.
        **keygen_options: passed to ``pihlib.keygen`` (e.g. ``shape``, ``inverted`` for PE-IIR);
            ``shape`` must match the scorer's images.

    Returns:
        np.ndarray: float64 of shape (K,), the rho of each candidate in draw order.

    Raises:
        PihError: ``scheme`` is unknown, or ``"reshuffle"`` for a method other than PE or EtC;
            ``size`` is not a positive int; ``method``, ``seed`` or a keygen option is invalid;
            a key's shape does not match the images; the score cache cannot be written.
    """
    keys = candidate_keys(method, size, seed, scheme, **keygen_options)
    return np.array([scorer(k) for k in tqdm(keys, total=size, desc=f"pool {method}", disable=not progress)])


def repeats_estimate(scorer: CachedScorer, method: str, ns: Sequence[int] = range(1, 21), repeats: int = 5,
                     seed: int = 0, scheme: str = "fresh", progress: bool = True,
                     **keygen_options) -> BestOfN:
    """Estimator (a), the authors' protocol: ``repeats`` independent best-of-N searches for each N.

    For each N, ``repeats`` searches each draw N candidates (``keysearch.candidate_keys``) and keep
    the highest rho; the mean and SD over the repeats are the estimate. The authors ran 5 repeats
    (the paper's text says ten). Keys already in the scorer's cache are not scored again.

    Args:
        scorer: a ``CachedScorer`` over the plain images.
        method: the scrambler, as for ``pihlib.keygen``.
        ns: the N values, positive ints (default 1..20).
        repeats: R, searches per N (a positive int; with 1 the SD is reported as 0).
        seed: seed of the ``numpy.random.default_rng`` that draws every search's keys.
        scheme: ``"fresh"`` or ``"reshuffle"`` (PE, EtC), as for ``score_pool``.
        progress: show a progress bar over key evaluations.
        **keygen_options: passed to ``pihlib.keygen``; ``shape`` must match the scorer's images.

    Returns:
        BestOfN: ``estimator="repeats"``, ``evaluations = R * sum(ns)``, ``mean`` float64 (L,),
        ``sd`` the sample SD over the repeats (ddof 1), ``mean_se = sd / sqrt(R)``, ``band`` None.

    Raises:
        PihError: a value of ``ns`` below 1; ``scheme``, ``method`` or a keygen
            option is invalid; a key's shape does not match the images; the score cache cannot be
            written.
    """
    ns = np.asarray(list(ns))
    rng = np.random.default_rng(seed)
    best = np.empty((len(ns), repeats))
    bar = tqdm(total=int(ns.sum()) * repeats, desc=f"repeats {method}", disable=not progress)
    for i, n in enumerate(ns):
        for r in range(repeats):
            best[i, r] = max(scorer(k) for k in candidate_keys(method, int(n), rng, scheme, **keygen_options))
            bar.update(int(n))
    bar.close()
    sd = best.std(1, ddof=1) if repeats > 1 else np.zeros(len(ns))
    return BestOfN(ns, best.mean(1), sd, sd / np.sqrt(repeats), None, int(ns.sum()) * repeats, "repeats")
