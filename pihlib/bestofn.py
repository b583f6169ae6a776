"""The statistics of best-of-N key selection (paper Figs. 4-5): mean and SD of the selected rho.

Two estimators of E[max of N rho] and SD[max of N rho] for N = 1..20:
(a) ``repeats``: the authors' protocol, R independent searches of N fresh keys for each N
    (R * sum(N) key evaluations: 1,050 for R = 5);
(b) ``pool``: one pool of K scored random keys; the maximum of N draws (with replacement) from the
    pool's empirical distribution has exact order-statistic moments, P(max = s_(i)) =
    (i/K)^N - ((i-1)/K)^N; confidence bands come from bootstrapping the pool. K evaluations in all.
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
    ns: np.ndarray  # N values
    mean: np.ndarray  # estimated E[max of N]
    sd: np.ndarray  # estimated SD[max of N]
    mean_se: np.ndarray  # standard error of ``mean``
    band: np.ndarray | None  # 2 x len(ns): confidence band of ``mean`` (pool estimator)
    evaluations: int  # key evaluations the estimate needs
    estimator: str

    def as_dict(self) -> dict:
        out = {k: getattr(self, k).tolist() for k in ("ns", "mean", "sd", "mean_se")}
        out.update(band=None if self.band is None else self.band.tolist(), evaluations=self.evaluations,
                   estimator=self.estimator)
        return out


def max_of_n_moments(pool: np.ndarray, ns: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """Exact mean and SD of the maximum of N draws with replacement from ``pool``, for each N.

    ``pool`` may be K scores or B x K bootstrap resamples (then the result is B x len(ns))."""
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
    """Estimator (b) from the scores of a pool of random keys."""
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
    """rho of ``size`` candidate keys (the pool of estimator (b))."""
    keys = candidate_keys(method, size, seed, scheme, **keygen_options)
    return np.array([scorer(k) for k in tqdm(keys, total=size, desc=f"pool {method}", disable=not progress)])


def repeats_estimate(scorer: CachedScorer, method: str, ns: Sequence[int] = range(1, 21), repeats: int = 5,
                     seed: int = 0, scheme: str = "fresh", progress: bool = True,
                     **keygen_options) -> BestOfN:
    """Estimator (a), the authors' protocol: ``repeats`` independent best-of-N searches for each N."""
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
