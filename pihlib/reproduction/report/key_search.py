"""Notebook 02's reading of the key-search records: the two estimators, Table 2's PIH columns, the
paper's claims about Figs. 4 and 5 (with bootstrap intervals), the deviations' measured effects and
the values the book's pages glue."""

from __future__ import annotations

import numpy as np

from ... import bestofn
from ...keyspace import key_space_bits, selection_cost_bits
from .. import paper
from .evidence import judged
from .verdicts import Verdict, checked, entry, within


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
                   f"one search's chosen key (best of {trials}), its rho":
                       f"{records[m]['result']['search']['rho']:.4f}"}
    return rows


def bootstrap(records: dict[str, dict], draws: int = 2000, seed: int = 0) -> dict[str, dict[str, np.ndarray]]:
    """Per method, ``draws`` bootstrap resamples of its pool: the gain of best-of-N selection
    (E[max of N] - E[rho], N = the trials) and the SD of rho before (N = 1) and after (N) selection."""
    rng = np.random.default_rng(seed)
    out = {}
    for m, r in records.items():
        pool = np.asarray(r["result"]["pool"], dtype=np.float64)
        resampled = pool[rng.integers(0, len(pool), (draws, len(pool)))]
        mean, sd = bestofn.max_of_n_moments(resampled, [1, r["params"]["trials"]])
        out[m] = {"gain": mean[:, 1] - mean[:, 0], "sd_1": sd[:, 0], "sd_n": sd[:, 1]}
    return out


def _interval(samples: np.ndarray) -> tuple[float, float]:
    lo, hi = np.quantile(samples, [0.025, 0.975])
    return float(lo), float(hi)


def _fmt_interval(value: float, samples: np.ndarray, signed: bool = True) -> str:
    lo, hi = _interval(samples)
    sign = "+" if signed else ""
    return f"{value:{sign}.4f} [{lo:{sign}.4f}, {hi:{sign}.4f}]"


def claims(records: dict[str, dict]) -> list[dict]:
    """The paper's claims about Figs. 4 and 5, tested beyond what any maximum of N draws gives, with
    95 % bootstrap intervals over each method's pool of keys; and whether the authors' repeated
    searches (a) agree with best-of-N of the measured distribution (b).

    Fig. 4, two claims: selection raises each method's mean rho (the gain's interval above 0; true of
    any maximum of draws that vary), and "except ELE": ELE's gain must be smaller than each other
    method's (the difference's interval below 0). Fig. 5: the SD at N falls below the SD of one key
    for every method, and PE's SD of one key is the largest."""
    est, boot = estimates(records), bootstrap(records)
    repeats = next(iter(records.values()))["params"]["repeats"]
    gain = {m: e["pool"].mean[-1] - e["pool"].mean[0] for m, e in est.items()}
    gains = "; ".join(f"{m} {_fmt_interval(gain[m], boot[m]['gain'])}" for m in est)
    raised = [m for m in est if _interval(boot[m]["gain"])[0] > 0]
    fig4_gain = Verdict("reproduced") if len(raised) == len(est) else \
        Verdict("partly", "not shown for " + ", ".join(m for m in est if m not in raised)) if raised else \
        Verdict("not distinguishable", "no method's gain interval lies above 0")
    if "ELE" not in est or len(est) < 2:
        fig4 = Verdict("not tested", "needs ELE and another method")
    else:
        diffs = {m: boot["ELE"]["gain"] - boot[m]["gain"] for m in est if m != "ELE"}
        below = [m for m, d in diffs.items() if _interval(d)[1] < 0]
        above = [m for m, d in diffs.items() if _interval(d)[0] > 0]
        fig4 = (Verdict("reproduced", "ELE's gain is the smallest") if len(below) == len(diffs) else
                Verdict("not reproduced", f"ELE's gain is larger than {', '.join(above)}'s") if above else
                Verdict("not distinguishable", "ELE's gain is within the intervals of "
                        + ", ".join(m for m in diffs if m not in below) + "'s"))
    sd_falls = {m: _interval(boot[m]["sd_n"] - boot[m]["sd_1"])[1] < 0 for m in est}
    others = [m for m in est if m != "PE"]
    pe_margin = (boot["PE"]["sd_1"] - np.max([boot[m]["sd_1"] for m in others], axis=0)) \
        if "PE" in est and others else None
    pe_most = None if pe_margin is None else _interval(pe_margin)[0] > 0
    pe_least = None if pe_margin is None else _interval(pe_margin)[1] < 0
    problems = []
    if not all(sd_falls.values()):
        problems.append(f"SD falls for {', '.join(m for m, ok in sd_falls.items() if ok) or 'none'}")
    if not pe_most:
        problems.append("PE most unstable: " + ("not tested" if pe_margin is None else "no" if pe_least
                                                else "not distinguishable"))
    fig5 = Verdict("reproduced") if not problems else Verdict("partly", "; ".join(problems))
    z, offset = {}, {}
    for m, e in est.items():
        diff, b = np.array(e["repeats"]["mean"]) - e["pool"].mean, e["pool"]
        z[m] = diff / np.sqrt((b.sd / np.sqrt(repeats)) ** 2 + b.mean_se ** 2)
        # the mean of (a) - (b) over N: (a)'s errors are independent across N, (b)'s shared (one pool)
        var_a = (b.sd ** 2 / repeats).sum() / len(diff) ** 2
        offset[m] = diff.mean() / np.sqrt(var_a + b.mean_se.mean() ** 2)
    off = {m: int((np.abs(v) > 3).sum()) for m, v in z.items()}
    systematic = [m for m, v in offset.items() if abs(v) > 3]
    if not any(off.values()):
        agree = Verdict("reproduced")
    elif not systematic:
        agree = Verdict("reproduced", "no systematic difference (the mean of (a) - (b) over N is within 3 SE "
                        "of 0 for every method); single N beyond 3 SE for "
                        + ", ".join(f"{m} ({k} of {len(z[m])})" for m, k in off.items() if k))
    else:
        agree = Verdict("not reproduced", "(a) lies systematically off (b) for " + ", ".join(systematic))
    return [
        {"claim": paper.CLAIMS["fig4_gain"],
         "ours": f"gain of best-of-N, mean [95 % interval]: {gains}", "verdict": fig4_gain},
        {"claim": paper.CLAIMS["fig4_ele"],
         "ours": f"gain of best-of-N, mean [95 % interval]: {gains}", "verdict": fig4},
        {"claim": paper.CLAIMS["fig5_sd"],
         "ours": "; ".join(f"{m} {est[m]['pool'].sd[0]:.4f} -> {est[m]['pool'].sd[-1]:.4f}" for m in est),
         "verdict": fig5},
        {"claim": "(this project) estimators (a) and (b) agree within 3 standard errors at every N, and "
                   "without a systematic offset",
         "ours": ", ".join(f"{m}: {off[m]} of {len(z[m])} N beyond, largest {np.abs(z[m]).max():.1f} SE, "
                           f"mean offset {offset[m]:+.1f} SE" for m in est),
         "verdict": agree},
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
        first = f"the pool's first {len(authors)} keys"
        row = {f"mean rho of {first}, authors' [0,1] inputs": f"{authors.mean():.4f}",
               "LPIPS's [-1,1] inputs": f"{lpips_conv.mean():.4f}",
               "correlation over keys": f"{np.corrcoef(authors, lpips_conv)[0, 1]:.2f}"}
        text = {"conv": f"{authors.mean():.4f} vs {lpips_conv.mean():.4f}"}
        if "reshuffle_pool" in res:
            fresh, resh = np.array(res["pool"]), np.array(res["reshuffle_pool"])
            aliased = np.array(res["aliased"])
            row["rho SD: fresh vs reshuffled keys"] = f"{fresh.std(ddof=1):.4f} vs {resh.std(ddof=1):.4f}"
            row[f"mean rho of {first}: true vs aliased channel maps"] = \
                f"{authors.mean():.4f} vs {aliased.mean():.4f}"
            text["reshuffle"] = (f"{fmt(fresh.mean(), fresh.std(ddof=1))} (fresh) vs "
                                 f"{fmt(resh.mean(), resh.std(ddof=1))} (reshuffled)")
            text["aliased"] = f"{authors.mean():.4f} (true permutations) vs {aliased.mean():.4f} (aliased)"
        out[m] = {"row": row, "text": text}
    return out


PIH_CLAIM = ("Table 2's PIH: each method's mean rho of one random key (original) and of the best of N "
             "(proposed), as the paper's, within two SDs")


def pih_verdict(records: dict[str, dict]) -> Verdict:
    """Table 2's PIH columns: per method and key kind, our mean rho within two SDs (ours or the
    paper's, the larger) of the paper's. Its reason names the methods that are off (with the
    authors' aliased channel maps where they were measured)."""
    off = []
    for m, e in estimates(records).items():
        res, trials = records[m]["result"], records[m]["params"]["trials"]
        pool = np.asarray(res["pool"])
        ours = {"original": (pool.mean(), pool.std(ddof=1)),
                "proposed": (e["pool"].mean[trials - 1], e["pool"].sd[trials - 1])}
        for kind, (mean, sd) in ours.items():
            theirs = paper.TABLE2[m][kind]
            if not within(mean, theirs["pih_mean"], max(sd, theirs["pih_sd"])):
                k = len(res.get("aliased", ()))
                aliased = (f" (the pool's first {k} keys: {np.mean(res['pool'][:k]):.4f} with true channel "
                           f"maps, {np.mean(res['aliased']):.4f} with the authors' aliased ones)") \
                    if k and kind == "original" else ""
                off.append(f"{m} {kind} {mean:.4f} against the paper's {theirs['pih_mean']:.4f}{aliased}")
    word = "reproduced" if not off else "not reproduced" if len(off) == 2 * len(records) else "partly"
    return Verdict(word, "every method within two SDs of the paper's" if not off else "; ".join(off))


def judged_claims(candidates: list[tuple[dict[str, dict], str]]) -> list[dict]:
    """``claims``, each judged on the strongest of ``candidates`` that can support it."""
    return judged(candidates, claims)


def verdicts(candidates: list[tuple[dict[str, dict], str]]) -> dict[str, str]:
    """The introduction's rows of this section (and each claim's verdict and text for the Paper vs.
    reproduction page): each claim judged on the strongest of ``candidates`` (records by method and
    their preset, strongest first; see ``evidence.candidates``) that can support it."""
    records, preset = candidates[0]
    pih = pih_verdict(records).on(preset)
    out = {**entry("table2_pih", pih), **checked("table2_pih", {"claim": PIH_CLAIM, "verdict": pih})}
    checks = dict(zip(("fig4_gain", "fig4", "fig5", "agree"), judged_claims(candidates), strict=True))
    for name in ("fig4_gain", "fig4", "fig5"):
        out.update(entry(name, checks[name]["verdict"], checks[name]["ours"]))
        out.update(checked(name, checks[name]))
    return out


def book_values(candidates: list[tuple[dict[str, dict], str]]) -> dict[str, str]:
    """The texts the book's pages read from this section (glued by the notebook): the
    introduction's rows (``verdicts``), and the strongest records' PIH values beside the paper's."""
    records = candidates[0][0]
    out = verdicts(candidates)
    for m, row in table2_rows(records).items():
        out[f"pih_orig_{m}"], out[f"pih_prop_{m}"] = row["original rho (ours)"], row["proposed rho (ours)"]
    for m, v in paper.TABLE2.items():
        for kind in ("original", "proposed"):
            out[f"paper_pih_{kind}_{m}"] = fmt(v[kind]["pih_mean"], v[kind]["pih_sd"])
    for m, d in deviation_rows(records).items():
        out.update({f"{name}_{m}": text for name, text in d["text"].items()})
    return out
