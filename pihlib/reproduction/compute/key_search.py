"""Algorithm 1's key search (notebook 02: Figs. 4 and 5, Table 2's PIH columns) and the measured
effects of the authors' deviations (rho's input convention, reshuffled candidates, aliased channel
maps).

Per method, one record: a pool of scored random keys (estimator b), the authors' repeated searches
(estimator a), one search of ``trials`` keys, and the keys re-scored under the other convention and
variants. All rho use the authors' LPIPS convention unless named otherwise.
"""

from __future__ import annotations

import torch

from ... import bestofn, keysearch
from ...data import load_cifar10
from ...metrics import LPIPS_CONVENTION
from ...rho import PIHScorer
from ...scorecache import CachedScorer
from .. import cache

NOTEBOOK = "02_key_search"
COMPARE = 20  # keys scored again under another convention or variant, for the Deviations page
RESHUFFLED = ("PE", "EtC")  # the methods the authors searched by reshuffling one key


def compute(params: dict, method: str, scorer: CachedScorer, lpips_scorer: PIHScorer) -> dict:
    seed = params["seed"]
    out = {"pool": bestofn.score_pool(scorer, method, params["pool"], seed=seed + 1).tolist()}
    ns = range(1, params["trials"] + 1)
    out["repeats"] = bestofn.repeats_estimate(scorer, method, ns, params["repeats"], seed=seed + 2).as_dict()
    out["search"] = keysearch.search(scorer.scorer.images, method, params["trials"], seed=seed,
                                     scorer=scorer).as_dict()
    compare = min(COMPARE, params["pool"])  # the pool's first keys, scored again
    first = list(keysearch.candidate_keys(method, compare, seed=seed + 1))
    out["lpips_convention"] = lpips_scorer.score(first).tolist()
    if method in RESHUFFLED:
        out["reshuffle_pool"] = bestofn.score_pool(scorer, method, params["pool"], seed=seed + 1,
                                                   scheme="reshuffle").tolist()
        aliased = keysearch.candidate_keys(method, compare, seed=seed + 1, channel_maps="authors-aliased")
        out["aliased"] = [scorer(k) for k in aliased]
    return out


class _Lazy:
    """The LPIPS-convention scorer, built on first use only (most reruns find every record cached)."""

    def __init__(self, images: torch.Tensor):
        self.images, self.scorer = images, None

    def score(self, keys):
        self.scorer = self.scorer or PIHScorer(self.images, convention=LPIPS_CONVENTION, progress=False)
        return self.scorer.score(keys)


def run(preset: str, params: dict, data: str | None = None) -> dict[str, dict]:
    """One record per method (``key_search_<method>``)."""
    images = load_cifar10("train", data, count=params["n_images"])
    scorer = CachedScorer(images.images)  # scores cached on disk: an interrupted run resumes
    lazy = _Lazy(images.images)
    return {m: cache.cached(preset, f"key_search_{m}", params,
                            lambda m=m: compute(params, m, scorer, lazy), code=__name__,
                            data=images.source.as_dict(), assets=["alexnet"]) for m in params["methods"]}
