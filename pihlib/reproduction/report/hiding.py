"""Notebook 04's reading of the ``hiding`` record: what each observer sees of the best and the
worst key's images, the claims (with the evidence each needs) and the values the book's pages glue.

Two observers. The classifier trained on plain images supports a verdict only about keys whose
images it reads above chance: where it reads neither key's images above chance, both hide everything
from it and it cannot tell them apart ("not tested" for that method). The key-independent view
(|x - 127.5|) is compared image by image (paired by test image), with a 95 % interval of the mean
difference; records computed by older code hold only the means, and then no interval can be given.
"""

from __future__ import annotations

import numpy as np

from ...train import TrainConfig
from .evidence import judged
from .verdicts import Verdict, entry

CHANCE = 0.10  # ten classes
CLAIM_CLASSIFIER = "(this project) the highest-rho key hides more from a classifier trained on plain images"
CLAIM_VIEW = "(this project) the highest-rho key hides more from a key-independent view (|x - 127.5|)"
Z95 = 1.96


def chance_line(n: int) -> float:
    """The accuracy above which an observer reads ``n`` images better than chance (two SE above)."""
    return CHANCE + 2 * np.sqrt(CHANCE * (1 - CHANCE) / n)


def paired_interval(best: list[float], worst: list[float]) -> tuple[float, float, float]:
    """Mean of best - worst over the same images, with its 95 % normal interval."""
    d = np.asarray(best, float) - np.asarray(worst, float)
    half = Z95 * d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.inf
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def accuracy_difference(entry: dict, n: int) -> tuple[float, float, float]:
    """Best - worst key's accuracy for the plain-trained classifier, with its 95 % interval: paired
    by image where the record holds each image's outcome, else from the two accuracies (unpaired)."""
    b, w = entry["best"], entry["worst"]
    if "correct" in b and "correct" in w:
        return paired_interval(b["correct"], w["correct"])
    d = b["accuracy"] - w["accuracy"]
    half = Z95 * np.sqrt(b["accuracy"] * (1 - b["accuracy"]) / n + w["accuracy"] * (1 - w["accuracy"]) / n)
    return d, d - half, d + half


def accuracy_rows(record: dict) -> dict[str, dict]:
    r = record["result"]
    rows = {}
    for m, e in r["methods"].items():
        best, worst = e["best"]["accuracy"], e["worst"]["accuracy"]
        d, lo, hi = accuracy_difference(e, r["n_test"])
        rows[m] = {"rho, best / worst key": f"{e['best']['rho']:.4f} / {e['worst']['rho']:.4f}",
                   "plain classifier's accuracy %, best key": f"{100 * best:.1f}",
                   "worst key": f"{100 * worst:.1f}",
                   "best - worst, points [95 % interval]":
                       f"{100 * d:+.1f} [{100 * lo:+.1f}, {100 * hi:+.1f}]"}
    return rows


def observer(record: dict) -> str:
    """The plain-trained observer of ``record`` in one paragraph (Markdown): its accuracy on plain
    images, how it was trained (its own classifier, not the Classification page's), and the chance
    line above which it counts as reading a key's images."""
    r, p = record["result"], record["params"]
    c = TrainConfig("plain", seed=p["seed"], epochs=p["epochs"], batch_size=p["batch_size"])  # as computed
    return (f"The observer is this study's own classifier ({c.classifier}, {c.epochs} epoch(s) on "
            f"{p['n_train']:,} plain training images; not the Classification page's plain classifier, "
            f"which is trained with that page's settings): {100 * r['plain_accuracy']:.1f} % on "
            f"{r['n_test']:,} plain test "
            f"images. It counts as reading a key's images when its accuracy on them is above the **chance "
            f"line**, {100 * chance_line(r['n_test']):.1f} %: chance (10 %, ten classes) plus two standard "
            "errors of an accuracy over that many images. Below it, the observer sees nothing of either "
            "key's images and cannot tell the keys apart (\"not tested\").")


def view_rows(record: dict) -> dict[str, dict]:
    rows = {}
    for m, e in record["result"]["methods"].items():
        row = {"view correlation, best key": f"{e['best']['view_correlation']:.3f}",
               "worst key": f"{e['worst']['view_correlation']:.3f}"}
        if "view_correlations" in e["best"]:
            d, lo, hi = paired_interval(e["best"]["view_correlations"], e["worst"]["view_correlations"])
            row["best - worst [95 % interval]"] = f"{d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
        rows[m] = row
    return rows


def _classifier_claim(r: dict) -> dict:
    line, n = chance_line(r["n_test"]), r["n_test"]
    read, helped, hurt = [], [], []
    for m, e in r["methods"].items():
        if max(e["best"]["accuracy"], e["worst"]["accuracy"]) <= line:
            continue  # it reads neither key's images: both hide everything from it
        read.append(m)
        _, lo, hi = accuracy_difference(e, n)
        if hi < 0:
            helped.append(m)
        elif lo > 0:
            hurt.append(m)
    ours = (f"observer: {100 * r['plain_accuracy']:.1f} % on plain images; best vs worst key: "
            + "; ".join(f"{m} {100 * e['best']['accuracy']:.1f} % vs {100 * e['worst']['accuracy']:.1f} %"
                        for m, e in r["methods"].items())
            + f" (chance line {100 * line:.1f} %)")
    if not read:
        verdict = Verdict("not tested", "the plain-trained classifier reads neither key's images above "
                          "chance for any method, so it cannot tell the keys apart; an observer that reads "
                          "scrambled images above chance (a stronger classifier, e.g. the gpu preset's) "
                          "would test it")
    elif len(helped) == len(read) == len(r["methods"]):
        verdict = Verdict("reproduced")
    elif helped:
        verdict = Verdict("partly", "for " + ", ".join(helped) + (
            f"; not tested for {', '.join(m for m in r['methods'] if m not in read)}"
            if len(read) < len(r["methods"]) else ""))
    elif hurt:
        verdict = Verdict("not reproduced", "the best key leaks more for " + ", ".join(hurt))
    else:
        verdict = Verdict("not distinguishable", "the 95 % interval of best - worst includes 0 for every "
                          "method the observer reads")
    return {"claim": CLAIM_CLASSIFIER, "ours": ours, "verdict": verdict}


def _view_claim(r: dict) -> dict:
    methods = r["methods"]
    ours = "; ".join(f"{m} {e['best']['view_correlation']:.3f} (best) vs {e['worst']['view_correlation']:.3f}"
                     for m, e in methods.items())
    if not all("view_correlations" in e["best"] for e in methods.values()):
        return {"claim": CLAIM_VIEW, "ours": ours,
                "verdict": Verdict("not tested", "this record holds only the mean correlations (computed "
                                   "by older code), no interval")}
    intervals = {m: paired_interval(e["best"]["view_correlations"], e["worst"]["view_correlations"])
                 for m, e in methods.items()}
    lower = [m for m, (_, _, hi) in intervals.items() if hi < 0]
    higher = [m for m, (_, lo, _) in intervals.items() if lo > 0]
    if len(lower) == len(methods):
        verdict = Verdict("reproduced")
    elif lower:
        verdict = Verdict("partly", "for " + ", ".join(lower))
    elif higher:
        verdict = Verdict("not reproduced", "the best key's view is clearer for " + ", ".join(higher))
    else:
        verdict = Verdict("not distinguishable", "every method's difference interval includes 0")
    ours += "; best - worst [95 %]: " + ", ".join(f"{m} {d:+.3f} [{lo:+.3f}, {hi:+.3f}]"
                                                  for m, (d, lo, hi) in intervals.items())
    return {"claim": CLAIM_VIEW, "ours": ours, "verdict": verdict}


def claims(record: dict) -> list[dict]:
    """Does selection by rho buy hiding? Against the plain-trained classifier (for the methods whose
    images it reads above chance): the best key's images classified less accurately than the worst
    key's (the 95 % interval of the difference below 0); against the key-independent view: the best
    key's view correlating less with the plain image's (paired interval below 0)."""
    r = record["result"]
    return [_classifier_claim(r), _view_claim(r)]


def judged_claims(candidates: list[tuple[dict[str, dict], str]]) -> list[dict]:
    """``claims``, each judged on the strongest of ``candidates`` that can support it."""
    return judged(candidates, lambda records: claims(records["hiding"]))


def verdicts(candidates: list[tuple[dict[str, dict], str]]) -> dict[str, str]:
    """The introduction's verdict on hiding: each observer's claim judged on the strongest record
    that can support it (``candidates``: ``{"hiding": record}`` and its preset, strongest first; see
    ``evidence.candidates``), the two verdicts combined."""
    a, v = judged_claims(candidates)
    return entry("hiding", combined(a["verdict"], v["verdict"]))


def combined(classifier: Verdict, view: Verdict) -> Verdict:
    """The two observers' verdicts as one: reproduced (or not) where both say so, the one that was
    tested where the other was not, else partly; the reason gives each with the preset it rests on."""
    words = [classifier.word, view.word]
    decided = [w for w in words if w not in ("not tested", "not distinguishable")]
    if not decided:
        word = "not distinguishable" if "not distinguishable" in words else "not tested"
    elif all(w == "reproduced" for w in words):
        word = "reproduced"
    elif all(w == "not reproduced" for w in decided):
        word = "not reproduced"
    else:
        word = "partly"
    return Verdict(word, f"against the plain-trained classifier ({classifier.evidence} preset): "
                         f"{classifier}; against the key-independent view ({view.evidence} preset): {view}")
