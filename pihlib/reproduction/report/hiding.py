"""Notebook 04's reading of the ``hiding`` record: accuracies against the plain classifier, the
key-independent view's correlations, the claims and the values the book's pages glue."""

from __future__ import annotations

import numpy as np

from .verdicts import entry

CHANCE = 0.10


def z_of(p1: float, p2: float, n: int) -> float:
    """How many standard errors apart two accuracies on the same ``n`` images are (unpaired)."""
    se = np.sqrt(p1 * (1 - p1) / n + p2 * (1 - p2) / n)
    return float((p1 - p2) / se) if se > 0 else 0.0


def accuracy_rows(record: dict) -> dict[str, dict]:
    r = record["result"]
    rows = {}
    for m, e in r["methods"].items():
        best, worst = e["best"]["accuracy"], e["worst"]["accuracy"]
        rows[m] = {"rho, best / worst key": f"{e['best']['rho']:.4f} / {e['worst']['rho']:.4f}",
                   "plain classifier's accuracy %, best key": f"{100 * best:.1f}",
                   "worst key": f"{100 * worst:.1f}",
                   "best - worst (standard errors)": f"{z_of(best, worst, r['n_test']):+.1f}"}
    return rows


def view_rows(record: dict) -> dict[str, dict]:
    return {m: {"view correlation, best key": f"{e['best']['view_correlation']:.3f}",
                "worst key": f"{e['worst']['view_correlation']:.3f}"}
            for m, e in record["result"]["methods"].items()}


def claims(record: dict) -> list[dict]:
    """Does selection by rho buy hiding? Against the plain classifier: the best key's images must be
    classified less accurately than the worst key's by more than 2 standard errors; against the
    key-independent view: the best key's view must correlate less with the plain image's."""
    r = record["result"]
    leak = {m: (e["best"]["accuracy"], e["worst"]["accuracy"]) for m, e in r["methods"].items()}
    helped = [m for m, (b, w) in leak.items() if z_of(b, w, r["n_test"]) < -2]
    hurt = [m for m, (b, w) in leak.items() if z_of(b, w, r["n_test"]) > 2]
    if len(helped) == len(leak):
        classifier = "yes"
    elif helped:
        classifier = "partly: for " + ", ".join(helped)
    else:
        classifier = "no" + (": the best key leaks more for " + ", ".join(hurt) if hurt else
                             ": within 2 SE for every method")
    views = {m: e["best"]["view_correlation"] - e["worst"]["view_correlation"]
             for m, e in r["methods"].items()}
    lower = [m for m, d in views.items() if d < -0.01]
    if len(lower) == len(views):
        view = "yes"
    else:
        view = "partly: for " + ", ".join(lower) if lower else \
            "no: the view is as clear for the best key as for the worst"
    chance_line = CHANCE + 2 * np.sqrt(CHANCE * (1 - CHANCE) / r["n_test"])
    above = [m for m, (b, _) in leak.items() if b > chance_line]
    return [
        {"claim": "(this project) the highest-rho key hides more from a classifier trained on plain images",
         "ours": "; ".join(f"{m} {100 * b:.1f} % (best) vs {100 * w:.1f} % (worst)"
                           for m, (b, w) in leak.items())
                 + f"; above chance with the best key: {', '.join(above) or 'none'}",
         "verdict": classifier},
        {"claim": "(this project) the highest-rho key hides more from a key-independent view (|x - 127.5|)",
         "ours": "; ".join(f"{m} {e['best']['view_correlation']:.3f} (best) vs "
                           f"{e['worst']['view_correlation']:.3f}" for m, e in r["methods"].items()),
         "verdict": view},
    ]


def book_values(record: dict) -> dict[str, str]:
    a, v = claims(record)
    if a["verdict"] == v["verdict"] == "yes":
        both = "yes"
    elif a["verdict"].startswith("no") and v["verdict"].startswith("no"):
        both = "no"
    else:
        both = "partly"
    return {**entry("hiding", both, f"against the plain classifier: {a['verdict']}; against the "
                                    f"key-independent view: {v['verdict']}")}
