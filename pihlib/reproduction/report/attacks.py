"""Notebook 05's reading of the ``attacks`` record: what the known-plaintext, ciphertext-only and
key-free (FR, ITN) attacks recover of the highest- and lowest-rho keys of N (Q1: the reconstructions'
LPIPS, SSIM, PSNR and a plain classifier's accuracy on them, the ``group`` highest- against the
``group`` lowest-rho keys, with 95 % intervals over keys and images), whether rho predicts how much
they recover (Q2: rank correlation over all keys), the claim, and the values the book's pages glue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...attacks import (
    ele_high_halves,
    etc_ciphertext_only,
    fr_attack,
    le_ciphertext_only,
    pe_ciphertext_only,
)
from ...data import load_cifar10
from ...keysearch import candidate_keys
from ...scramblers import scramble
from ..compute.attacks import ELE_IMAGE_FROM, RECONSTRUCTIONS, decode
from ..png import decode_png
from .evidence import judged
from .verdicts import Verdict, entry

CLAIM = ("(this project) the key with the highest rho of N resists the attacks the field uses against "
         "these scramblers better than the one with the lowest")
BOOTSTRAP = 2000


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation (ties averaged); None where either side is constant."""
    a, b = (np.argsort(np.argsort(v, kind="stable")).astype(float) for v in (x, y))
    for ranks, values in ((a, np.asarray(x)), (b, np.asarray(y))):
        for v in np.unique(values):  # average the ranks of ties
            ranks[values == v] = ranks[values == v].mean()
    if a.std() == 0 or b.std() == 0:
        return None
    return float(np.corrcoef(a, b)[0, 1])


def _ranks(v: np.ndarray) -> np.ndarray:
    """Each row's ranks (from 0), ties given their mean rank, as ``spearman`` ranks."""
    b, n = v.shape
    order = np.argsort(v, axis=1, kind="stable")
    s = np.take_along_axis(v, order, 1)
    starts = np.ones((b, n), bool)
    starts[:, 1:] = s[:, 1:] != s[:, :-1]
    ends = np.ones((b, n), bool)
    ends[:, :-1] = starts[:, 1:]
    at = np.arange(n)
    first = np.maximum.accumulate(np.where(starts, at, 0), axis=1)
    last = np.minimum.accumulate(np.where(ends, at, n - 1)[:, ::-1], axis=1)[:, ::-1]
    ranks = np.empty((b, n))
    np.put_along_axis(ranks, order, (first + last) / 2, 1)
    return ranks


def spearman_interval(x: list[float], y: list[float], seed: int = 0) -> tuple[float, float] | None:
    """The 95 % bootstrap interval of ``spearman`` over the keys (resampled); None where undefined
    (more than half the draws constant on a side)."""
    rng = np.random.default_rng(seed)
    x, y = np.asarray(x, float), np.asarray(y, float)
    i = rng.integers(0, len(x), (BOOTSTRAP, len(x)))
    a, b = _ranks(x[i]), _ranks(y[i])
    a, b = a - a.mean(1, keepdims=True), b - b.mean(1, keepdims=True)
    norm = np.sqrt((a * a).sum(1) * (b * b).sum(1))
    ok = (a.std(1) > 0) & (b.std(1) > 0)
    if ok.sum() < BOOTSTRAP // 2:
        return None
    draws = (a * b).sum(1)[ok] / norm[ok]
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return float(lo), float(hi)


# Q1 and Q2 ---------------------------------------------------------------------------------------

# how the book names each reconstruction (compute.attacks.RECONSTRUCTIONS)
ATTACKS = {"scrambled": "none (the scrambled images)", "known plaintext": "known plaintext",
           "ciphertext only": "ciphertext only", "FR": "FR-Attack", "ITN": "ITN-Attack"}
# each measure of a reconstruction against the plain image, its name, and the sign of a difference
# that means the key resists better (a reconstruction farther from the plain image, or read worse)
MEASURES = {"lpips": ("LPIPS", +1), "ssim": ("SSIM", -1), "psnr": ("PSNR (dB)", -1),
            "accuracy": ("plain classifier's accuracy (%)", -1)}
GROUPS = ("highest rho", "lowest rho", "highest - lowest")


def group_values(record: dict, method: str, attack: str, measure: str, which: str) -> np.ndarray | None:
    """Keys x images: each test image's ``measure`` (``"accuracy"``: 1 where the plain classifier got
    it right, the first ``n_classify`` images) for the reconstruction ``attack`` of the ``which``
    (``"best_k"`` or ``"worst_k"``) keys; None where the record holds no per-image values for it."""
    r = record["result"]
    e = r["methods"][method]
    rows = []
    for i in e.get(which, []):
        rec = e["keys"][i].get("reconstructions", {}).get(attack)
        if rec is None or "per_image" not in rec:
            return None
        name = "correct" if measure == "accuracy" else measure
        n = r.get("n_classify", r["n_test"]) if name == "correct" else r["n_test"]
        rows.append(decode(rec["per_image"][name], name, n))
    return np.array(rows) if rows else None


def hierarchical(best: np.ndarray, worst: np.ndarray, draws: int = BOOTSTRAP,
                 seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """The mean over keys and images of ``best`` and of ``worst`` (keys x images, the same images in
    both), and of their difference, each with its 95 % hierarchical bootstrap interval: every draw
    resamples each group's keys (independently) and the images (the same for both groups, so that the
    difference is paired by image). Returns {"highest rho", "lowest rho", "highest - lowest"}: (mean,
    low, high)."""
    rng = np.random.default_rng(seed)
    n = best.shape[1]
    images = rng.multinomial(n, np.full(n, 1 / n), size=draws)  # draws x n: how often each image

    def drawn(v: np.ndarray) -> np.ndarray:
        k = len(v)
        keys = rng.multinomial(k, np.full(k, 1 / k), size=draws)  # draws x k
        return ((keys @ v) * images).sum(1) / (k * n)

    b, w = drawn(best), drawn(worst)
    out = {}
    for name, point, d in zip(GROUPS, (best.mean(), worst.mean(), best.mean() - worst.mean()), (b, w, b - w),
                              strict=True):
        lo, hi = np.quantile(d, [0.025, 0.975])
        out[name] = (float(point), float(lo), float(hi))
    return out


def group_frame(record: dict) -> pd.DataFrame:
    """Q1 in long form: per method, reconstruction (``ATTACKS``' names) and measure, the ``group``
    highest- and lowest-rho keys' mean and their difference, each with its 95 % interval
    (``hierarchical``); accuracy as a fraction. Empty where the record keeps no per-image values."""
    rows = []
    for m in record["result"]["methods"]:
        for attack in RECONSTRUCTIONS:
            for measure in MEASURES:
                best, worst = (group_values(record, m, attack, measure, w) for w in ("best_k", "worst_k"))
                if best is None or worst is None:
                    continue
                for group, (mean, lo, hi) in hierarchical(best, worst).items():
                    rows.append({"method": m, "attack": ATTACKS[attack], "measure": measure, "group": group,
                                 "keys": len(best), "mean": mean, "low": lo, "high": hi})
    return pd.DataFrame(rows, columns=["method", "attack", "measure", "group", "keys", "mean", "low", "high"])


def _interval(mean: float, lo: float, hi: float, measure: str, signed: bool = False) -> str:
    scale, digits = (100, 1) if measure == "accuracy" else (1, 2 if measure == "psnr" else 3)
    sign = "+" if signed else ""
    return f"{scale * mean:{sign}.{digits}f} [{scale * lo:{sign}.{digits}f}, {scale * hi:{sign}.{digits}f}]"


def group_table(frame: pd.DataFrame) -> pd.DataFrame:
    """Q1 as a table: one row per method and attack, per measure the highest- and lowest-rho keys'
    mean [95 % interval] and their difference."""
    if frame.empty:
        return pd.DataFrame()
    cells = {}
    for (m, attack), part in frame.groupby(["method", "attack"], sort=False):
        row = cells.setdefault((m, attack), {})
        for _, x in part.iterrows():
            row[MEASURES[x["measure"]][0], x["group"]] = _interval(x["mean"], x["low"], x["high"],
                                                                   x["measure"], x["group"] == GROUPS[2])
    table = pd.DataFrame(cells).T
    table.columns = pd.MultiIndex.from_tuples(table.columns)
    return table.rename_axis(["method", "attack"])


def _success(record: dict, method: str, attack: str, measure: str) -> list[float] | None:
    """Per key (all of them), the reconstruction's mean ``measure``; None where some key lacks it."""
    values = [k.get("reconstructions", {}).get(attack, {}).get(measure) for k in
              record["result"]["methods"][method]["keys"]]
    return None if any(v is None for v in values) else values


def correlation_rows(record: dict) -> dict[tuple[str, str], dict]:
    """Q2: per method and attack, Spearman's rank correlation of rho with the reconstruction's mean
    LPIPS, SSIM and PSNR over all keys, with its 95 % bootstrap interval (over keys). A key that
    resists better gives a higher LPIPS and a lower SSIM and PSNR."""
    rows = {}
    for m, e in record["result"]["methods"].items():
        for attack in RECONSTRUCTIONS:
            row = {}
            for measure in ("lpips", "ssim", "psnr"):
                values = _success(record, m, attack, measure)
                if values is None:
                    continue
                r, ci = spearman(e["rho"], values), spearman_interval(e["rho"], values)
                row[f"{MEASURES[measure][0]}: rank correlation with rho [95 %]"] = \
                    "none (the same for every key)" if r is None else \
                    f"{r:+.2f}" + (f" [{ci[0]:+.2f}, {ci[1]:+.2f}]" if ci else "")
            if row:
                rows[m, ATTACKS[attack]] = row
    return rows


def _pairs(key: dict) -> float:
    return np.inf if key["kpa"]["pairs"] is None else key["kpa"]["pairs"]


def pairs_rows(record: dict) -> dict[str, dict]:
    """Per method: the known pairs that recover the highest- and lowest-rho key exactly, over all
    keys the range, and the rank correlation of rho with the pairs needed."""
    rows = {}
    for m, e in record["result"]["methods"].items():
        keys, best, worst = e["keys"], e["keys"][e["best"]], e["keys"][e["worst"]]
        needed = [_pairs(k) for k in keys]
        r = spearman(e["rho"], needed)

        def shown(k: dict) -> str:
            p = k["kpa"]["pairs"]
            return "more than the pairs tried" if p is None else f"{p}" + ("" if k["kpa"]["decrypts_test"]
                                                                         else " (test images not decrypted)")
        rows[m] = {"rho, highest / lowest key": f"{e['rho'][e['best']]:.4f} / {e['rho'][e['worst']]:.4f}",
                   "pairs that recover the highest-rho key": shown(best),
                   "the lowest-rho key": shown(worst),
                   f"over all {len(keys)} keys": f"{min(needed):g} to {max(needed):g}",
                   "keys recovered exactly": f"{sum(k['kpa']['decrypts_test'] for k in keys)} of {len(keys)}",
                   "rank correlation of rho with the pairs needed": "none (every key needs the same)"
                   if r is None else f"{r:+.2f}"}
    return rows


# What each method's ciphertext-only attack recovers of the key, per key and number of images: a
# success in [0, 1] (1: all of it) and how the book names it
RECOVERED = {"PE": ("exact_key", "exact key"),
             "EtC": ("blocks_right", "blocks placed right (up to a mirror)"),
             "LE": ("at_ceiling", "4-bit image (at the ceiling)"),
             "ELE": ("halves_right", "blocks whose high halves and signs are right")}


def recovered(method: str, coa: dict, ceiling: float) -> float:
    """What a ciphertext-only attack recovered of a key, in [0, 1] (``RECOVERED``)."""
    if method == "LE":
        return float("lpips" in coa and abs(coa["lpips"] - ceiling) < 1e-4)
    return float(coa[RECOVERED[method][0]])


def ciphertext_rows(record: dict) -> dict[tuple[str, str], dict]:
    """Per method and number of scrambled images: what the ciphertext-only attack reconstructs of the
    test images for the highest- and lowest-rho key (LPIPS and SSIM against the plain images where
    it gives an image; the scrambled images' own beside them), and what of the key it recovers, for
    those two keys and over all keys."""
    r = record["result"]
    ceiling = r["four_bit_ceiling"]["lpips"]
    rows = {}
    for m, e in r["methods"].items():
        keys = e["keys"]
        if "coa" not in keys[0]:
            continue
        for n in keys[0]["coa"]:
            best, worst = keys[e["best"]]["coa"][n], keys[e["worst"]]["coa"][n]
            row = {"LPIPS (standard inputs, test images), scrambled with the highest-rho key":
                   f"{keys[e['best']]['scrambled']['lpips']:.3f}"}
            if "lpips" in best:
                row.update({"LPIPS of the reconstruction, highest / lowest key":
                            f"{best['lpips']:.4f} / {worst['lpips']:.4f}",
                            "SSIM, highest / lowest key": f"{best['ssim']:.3f} / {worst['ssim']:.3f}"})
            row["recovered of the key"] = RECOVERED[m][1]
            row["highest / lowest key"] = " / ".join(f"{recovered(m, c, ceiling):.2f}" for c in (best, worst))
            row["mean over all keys"] = f"{np.mean([recovered(m, k['coa'][n], ceiling) for k in keys]):.2f}"
            if m == "ELE":
                row["ELE: blocks placed right by the statistics, highest / lowest key"] = \
                    f"{best['blocks_right']:.2f} / {worst['blocks_right']:.2f}"
                if "at_four_bits" in best:  # each block laid out and placed (ele_high_halves)
                    row["ELE: test images given back at 4-bit depth, mean over all keys"] = \
                        f"{np.mean([k['coa'][n]['at_four_bits'] for k in keys]):.2f}"
            rows[m, n] = row
    return rows


def frame(record: dict) -> pd.DataFrame:
    """The record's numbers, one row per method, key and attack: the key's rho (authors' convention),
    whether it is among the ``group`` highest- or lowest-rho keys, the known pairs that recover it
    exactly (empty: more than tried) and, per reconstruction, its MSE (0-255 scale), PSNR (dB, an
    identical image's capped), SSIM and LPIPS (standard inputs) against the plain test images (mean
    over them), the plain classifier's accuracy on it (the group's keys only), and for a
    ciphertext-only attack the scrambled images it saw and what it recovered of the key
    (``RECOVERED``, 0 to 1). The scrambled images' own under "none (the scrambled images)"."""
    rows = []
    r = record["result"]
    ceiling = r["four_bit_ceiling"]["lpips"]
    for m, e in r["methods"].items():
        for i, (rho, k) in enumerate(zip(e["rho"], e["keys"], strict=True)):
            base = {"method": m, "key (index)": i, "key fingerprint": k["fingerprint"], "rho": rho,
                    "highest rho": i == e["best"], "lowest rho": i == e["worst"],
                    "among the highest-rho group": i in e.get("best_k", []),
                    "among the lowest-rho group": i in e.get("worst_k", []),
                    "known pairs needed": k["kpa"]["pairs"]}
            made = k.get("reconstructions", {})
            top = max(k.get("coa", {"0": None}), key=int)

            def measured(values: dict) -> dict:
                return {q: values.get(q) for q in ("mse", "psnr", "ssim", "lpips", "accuracy")}
            rows.append({**base, "attack": ATTACKS["scrambled"], "scrambled images": 0,
                         **measured({**k["scrambled"], **made.get("scrambled", {})})})
            for n, coa in k.get("coa", {}).items():
                own = made.get("ciphertext only", {}) if n == top else {}
                rows.append({**base, "attack": ATTACKS["ciphertext only"], "scrambled images": int(n),
                             **measured({**coa, "accuracy": own.get("accuracy")}),
                             "recovered of the key (0-1)": recovered(m, coa, ceiling)})
            for attack in ("known plaintext", "FR", "ITN"):
                if attack in made:
                    rows.append({**base, "attack": ATTACKS[attack], **measured(made[attack])})
    return pd.DataFrame(rows).rename(columns={"mse": "MSE (0-255 scale)", "psnr": "PSNR (dB)", "ssim": "SSIM",
                                              "lpips": "LPIPS (standard inputs)",
                                              "accuracy": "plain classifier's accuracy"})


def findings(record: dict) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    """Per method, the comparisons whose 95 % interval says the higher-rho keys resist the attacks
    better, and those whose interval says they resist worse. The comparisons: the rank correlation of
    rho with how much of each key is recovered (the known pairs it needs, negated; what the
    ciphertext-only attack recovers from each number of images: ``RECOVERED``) and with each attack's
    reconstruction LPIPS (Q2); the ``group`` highest- minus lowest-rho keys' reconstruction LPIPS and
    plain classifier's accuracy (Q1). The scrambled images themselves are no attack and are left out;
    several comparisons a method: one alone beyond its interval is weak evidence."""
    r = record["result"]
    ceiling = r["four_bit_ceiling"]["lpips"]
    better: dict[str, list[str]] = {}
    worse: dict[str, list[str]] = {}
    q1 = group_frame(record)
    for m, e in r["methods"].items():
        better[m], worse[m] = [], []
        recovered_by = {"known pairs": [-_pairs(k) for k in e["keys"]]}  # more: more recovered
        for n in e["keys"][0].get("coa", {}):
            recovered_by[f"{n} ciphertexts"] = [recovered(m, k["coa"][n], ceiling) for k in e["keys"]]
        for attack in RECONSTRUCTIONS[1:]:
            lpips = _success(record, m, attack, "lpips")
            if lpips is not None:
                recovered_by[f"{ATTACKS[attack]}, LPIPS"] = [-v for v in lpips]
        for what, success in recovered_by.items():
            interval = spearman_interval(e["rho"], [min(v, 1e9) for v in success])
            if interval is not None and (interval[1] < 0 or interval[0] > 0):
                (better if interval[1] < 0 else worse)[m].append(f"{m} ({what})")
        mine = q1[(q1["method"] == m) & (q1["group"] == GROUPS[2]) & q1["measure"].isin(["lpips", "accuracy"])
                  & (q1["attack"] != ATTACKS["scrambled"])] if not q1.empty else q1
        for _, x in mine.iterrows():
            sign = MEASURES[x["measure"]][1]
            lo, hi = sorted((sign * x["low"], sign * x["high"]))  # above 0: the higher-rho keys resist
            if lo > 0 or hi < 0:
                what = f"{m} ({x['attack']}, {MEASURES[x['measure']][0].split(' (')[0]}, {GROUPS[2]})"
                (better if lo > 0 else worse)[m].append(what)
    return better, worse


def claims(record: dict) -> list[dict]:
    """Does the highest-rho key resist better? Per method, the comparisons of ``findings``: the method
    counts where some comparison's 95 % interval says the higher-rho keys resist better and none says
    worse. Reproduced where that holds for every method, partly for some; not reproduced where it holds
    for none and either the known pairs recover every key exactly, the highest-rho one included, or
    every method resists worse; otherwise not distinguishable."""
    r = record["result"]
    better, worse = findings(record)
    everyone = [m for m, e in r["methods"].items() if all(k["kpa"]["decrypts_test"] for k in e["keys"])]
    yes = [m for m in r["methods"] if better[m] and not worse[m]]
    best = {m: e["keys"][e["best"]]["kpa"]["pairs"] for m, e in r["methods"].items()}
    ours = ("known pairs that recover the highest-rho key exactly: "
            + ", ".join(f"{m} {p if p is not None else 'more than tried'}" for m, p in best.items())
            + f"; every key of N recovered exactly by known pairs: {', '.join(everyone) or 'none'}")
    against = [w for m in r["methods"] for w in worse[m]]
    more = f"; more is recovered of higher-rho keys for {', '.join(against)}" if against else ""
    if yes:
        verdict = Verdict("reproduced" if len(yes) == len(r["methods"]) else "partly",
                          "less is recovered of higher-rho keys for "
                          + ", ".join(b for m in yes for b in better[m]) + more)
    elif len(everyone) == len(r["methods"]):
        verdict = Verdict("not reproduced", "known pairs recover every key exactly, the highest-rho one "
                                            "included, and no attack recovers less of a higher-rho key"
                                            + more)
    elif all(worse[m] and not better[m] for m in r["methods"]):
        verdict = Verdict("not reproduced", more[2:])
    else:
        verdict = Verdict("not distinguishable", "no attack recovers less of higher-rho keys beyond the "
                                                 "intervals, and some keys resist the known pairs tried"
                                                 + more)
    return [{"claim": CLAIM, "ours": ours, "verdict": verdict}]


def judged_claims(candidates: list[tuple[dict[str, dict], str]]) -> list[dict]:
    """``claims``, each judged on the strongest of ``candidates`` that can support it."""
    return judged(candidates, lambda records: claims(records["attacks"]))


def verdicts(candidates: list[tuple[dict[str, dict], str]]) -> dict[str, str]:
    """The introduction's row for the attacks (``{"attacks": record}`` candidates, strongest first)."""
    (claim,) = judged_claims(candidates)
    return entry("attacks", claim["verdict"], claim["ours"])


# scrambled training images each method's figure row is recovered from (EtC and ELE need more)
SHOWN_FROM = {"PE": 10, "EtC": 100, "LE": 10, "ELE": ELE_IMAGE_FROM}


def reconstructions(record: dict, data: str | None, n_show: int = 6) -> list[tuple[str, torch.Tensor]]:
    """For the book's figure: the first ``n_show`` test images plain, then for each method of the
    record its highest-rho key's scrambled images, what the ciphertext-only attack reconstructs of
    them from ``SHOWN_FROM`` scrambled training images (LE, ELE: the high halves), what
    FR-Attack rebuilds of them (grey, key-free) and, where the record keeps it, the ITN-Attack's
    reconstruction (at most the record's ``N_SHOWN`` images); the record's keys are drawn again from
    its seed (the same keys: its fingerprints say which).
    Returns (label, uint8 images N x 3 x H x W) rows."""
    p = record["params"]
    test = load_cifar10("test", data, count=n_show).images
    train = load_cifar10("train", data, count=max(SHOWN_FROM.values())).images
    rows = [("plain", test)]
    for m, e in record["result"]["methods"].items():
        key = list(candidate_keys(m, p["keys"], seed=p["seed"] + 1))[e["best"]]
        y = scramble(test, key)
        rows.append((f"{m}, highest-rho key:\nscrambled", y))
        seen = scramble(train[:SHOWN_FROM[m]], key)
        label = f"{m}: recovered from\n{SHOWN_FROM[m]} ciphertexts"
        if m == "PE":
            rows.append((label, pe_ciphertext_only(seen).unscramble(y)))
        elif m == "EtC":
            rows.append((label, etc_ciphertext_only(seen, key.block_size).unscramble(y)))
        elif m == "LE":
            le = le_ciphertext_only(seen, key.block_size)
            if le.layout is not None:
                rows.append((label + " (high halves)", le.high_halves(y)))
        elif m == "ELE":
            rows.append((label + " (high halves)", ele_high_halves(seen, key.block_size).unscramble(y)))
        rows.append((f"{m}: FR-Attack\n(key-free, grey)", fr_attack(y, m, key.block_size or 4)))
        if "itn_png" in e:
            itn = [torch.from_numpy(decode_png(t).copy()).permute(2, 0, 1) for t in e["itn_png"][:n_show]]
            rows.append((f"{m}: ITN-Attack\n(own keys)", torch.stack(itn)))
    return rows
