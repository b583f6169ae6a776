"""Algorithm 1's key search (notebook 02: Figs. 4 and 5, Table 2's PIH columns), its claims, and the
measured effects of the authors' deviations (rho's input convention, reshuffled candidates, aliased
channel maps).

Per method, one record: a pool of scored random keys (estimator b), the authors' repeated searches
(estimator a), one search of ``trials`` keys, and the keys re-scored under the other convention and
variants. All rho use the authors' LPIPS convention unless named otherwise.
"""

from __future__ import annotations

import numpy as np
import torch

from .. import bestofn, keysearch
from ..data import load_cifar10
from ..keyspace import key_space_bits, selection_cost_bits
from ..metrics import LPIPS_CONVENTION
from ..rho import PIHScorer
from ..scorecache import CachedScorer
from . import cache, paper

NOTEBOOK = "02_key_search"
CODE = ("pihlib.scramblers", "pihlib.keys", "pihlib.images", "pihlib.metrics", "pihlib.assets",
        "pihlib.rho", "pihlib.scorecache", "pihlib.keysearch", "pihlib.bestofn", __name__)
READERS = ("claims", "estimates", "table2_rows", "deviation_rows", "fmt", "book_values")
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
                            lambda m=m: compute(params, m, scorer, lazy), code=CODE,
                            data=images.source.as_dict(), assets=["alexnet"]) for m in params["methods"]}


def estimates(records: dict[str, dict]) -> dict[str, dict]:
    """Per method: estimator (b) from the pool (a ``BestOfN``) and estimator (a) as stored."""
    out = {}
    for m, r in records.items():
        ns = range(1, r["params"]["trials"] + 1)
        out[m] = {"pool": bestofn.pool_estimate(r["result"]["pool"], ns), "repeats": r["result"]["repeats"]}
    return out


def fmt(mean: float, sd: float) -> str:
    return f"{mean:.4f} ± {sd:.4f}"


def table2_rows(records: dict[str, dict]) -> dict[str, dict]:
    """Table 2's PIH columns, ours and the paper's, with each method's key space and the bits that
    keeping the best of N gives away. "Original": mean and SD of rho over the pool; "proposed": of the
    maximum of N draws (estimator b)."""
    rows = {}
    for m, e in estimates(records).items():
        pool = np.array(records[m]["result"]["pool"])
        trials = records[m]["params"]["trials"]
        theirs = paper.TABLE2[m]
        rows[m] = {"key space (bits)": f"{key_space_bits(m)['effective']:,.0f}",
                   f"cost of best-of-{trials} (bits)": f"{selection_cost_bits(trials):.2f}",
                   "original rho (ours)": fmt(pool.mean(), pool.std(ddof=1)),
                   "original rho (paper)": fmt(theirs["original"]["pih_mean"], theirs["original"]["pih_sd"]),
                   "proposed rho (ours)": fmt(e["pool"].mean[trials - 1], e["pool"].sd[trials - 1]),
                   "proposed rho (paper)": fmt(theirs["proposed"]["pih_mean"], theirs["proposed"]["pih_sd"]),
                   "searched key's rho": f"{records[m]['result']['search']['rho']:.4f}"}
    return rows


def claims(records: dict[str, dict]) -> list[dict]:
    """The paper's claims about Figs. 4 and 5, and whether our two estimators agree."""
    est = estimates(records)
    repeats = next(iter(records.values()))["params"]["repeats"]
    gain = {m: e["pool"].mean[-1] - e["pool"].mean[0] for m, e in est.items()}
    rel_gain = {m: gain[m] / e["pool"].sd[0] for m, e in est.items()}
    sd_falls = {m: e["pool"].sd[-1] < e["pool"].sd[0] and e["repeats"]["sd"][-1] < e["repeats"]["sd"][0]
                for m, e in est.items()}
    pe_most_unstable = max(est, key=lambda m: est[m]["pool"].sd[0]) == "PE"
    agree = {m: bool(np.all(np.abs(np.array(e["repeats"]["mean"]) - e["pool"].mean) < 3 * np.sqrt(
        (e["pool"].sd / np.sqrt(repeats)) ** 2 + e["pool"].mean_se ** 2))) for m, e in est.items()}
    smallest = min(rel_gain, key=rel_gain.get)
    return [
        {"claim": paper.CLAIMS["fig4_mean"],
         "ours": "; ".join(f"{m} +{gain[m]:.4f} ({rel_gain[m]:.1f} SD)" for m in est)
                 + f"; smallest gain: {smallest}",
         "verdict": "yes" if smallest == "ELE" else f"partly: the smallest gain is {smallest}'s"},
        {"claim": paper.CLAIMS["fig5_sd"],
         "ours": "; ".join(f"{m} {est[m]['pool'].sd[0]:.4f} -> {est[m]['pool'].sd[-1]:.4f}" for m in est),
         "verdict": "yes" if all(sd_falls.values()) and pe_most_unstable else
                    f"partly: SD falls for {', '.join(m for m, ok in sd_falls.items() if ok) or 'none'}; "
                    f"PE most unstable: {'yes' if pe_most_unstable else 'no'}"},
        {"claim": "(this project) estimators (a) and (b) agree within 3 standard errors at every N",
         "ours": ", ".join(f"{m}: {'yes' if ok else 'no'}" for m, ok in agree.items()),
         "verdict": "yes" if all(agree.values()) else "no"},
    ]


def deviation_rows(records: dict[str, dict]) -> dict[str, dict]:
    """The measured effects of the deviations, per method: rho under each LPIPS convention (and their
    correlation over keys); for PE and EtC, fresh vs reshuffled candidates and true vs aliased channel
    maps. Each entry holds its row for the table and its one-line text for the Deviations page."""
    out = {}
    for m, r in records.items():
        res = r["result"]
        authors = np.array(res["pool"][:len(res["lpips_convention"])])
        lpips_conv = np.array(res["lpips_convention"])
        row = {"rho, authors' [0,1] inputs": f"{authors.mean():.4f}",
               "rho, LPIPS's [-1,1] inputs": f"{lpips_conv.mean():.4f}",
               "correlation over keys": f"{np.corrcoef(authors, lpips_conv)[0, 1]:.2f}"}
        text = {"conv": f"{authors.mean():.4f} vs {lpips_conv.mean():.4f}"}
        if "reshuffle_pool" in res:
            fresh, resh = np.array(res["pool"]), np.array(res["reshuffle_pool"])
            aliased = np.array(res["aliased"])
            row["rho SD: fresh vs reshuffled keys"] = f"{fresh.std(ddof=1):.4f} vs {resh.std(ddof=1):.4f}"
            row["rho: true vs aliased channel maps"] = f"{authors.mean():.4f} vs {aliased.mean():.4f}"
            text["reshuffle"] = (f"{fmt(fresh.mean(), fresh.std(ddof=1))} (fresh) vs "
                                 f"{fmt(resh.mean(), resh.std(ddof=1))} (reshuffled)")
            text["aliased"] = f"{authors.mean():.4f} (true permutations) vs {aliased.mean():.4f} (aliased)"
        out[m] = {"row": row, "text": text}
    return out


def book_values(records: dict[str, dict]) -> dict[str, str]:
    """The texts the book's pages read from this section (glued by the notebook), the paper's PIH
    values among them."""
    out = {}
    for m, row in table2_rows(records).items():
        out[f"pih_orig_{m}"], out[f"pih_prop_{m}"] = row["original rho (ours)"], row["proposed rho (ours)"]
    for m, v in paper.TABLE2.items():
        for kind in ("original", "proposed"):
            out[f"paper_pih_{kind}_{m}"] = fmt(v[kind]["pih_mean"], v[kind]["pih_sd"])
    for name, c in zip(("fig4", "fig5"), claims(records), strict=False):
        out[f"{name}_ok"], out[f"{name}_claim"] = c["verdict"], c["claim"]
    for m, d in deviation_rows(records).items():
        out.update({f"{name}_{m}": text for name, text in d["text"].items()})
    return out
