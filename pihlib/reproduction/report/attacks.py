"""Notebook 05's reading of the ``attacks`` record: what the known-plaintext and ciphertext-only
attacks recover of the highest- and lowest-rho key of N, whether rho predicts how hard a key is to
recover, the claim, and the values the book's pages glue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...attacks import ele_ciphertext_only, etc_ciphertext_only, le_ciphertext_only, pe_ciphertext_only
from ...data import load_cifar10
from ...keysearch import candidate_keys
from ...scramblers import scramble
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


def spearman_interval(x: list[float], y: list[float], seed: int = 0) -> tuple[float, float] | None:
    """The 95 % bootstrap interval of ``spearman`` over the keys (resampled); None where undefined."""
    rng = np.random.default_rng(seed)
    x, y = np.asarray(x, float), np.asarray(y, float)
    draws = [spearman(x[i], y[i]) for i in rng.integers(0, len(x), (BOOTSTRAP, len(x)))]
    draws = [d for d in draws if d is not None]
    if len(draws) < BOOTSTRAP // 2:
        return None
    lo, hi = np.quantile(draws, [0.025, 0.975])
    return float(lo), float(hi)


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
                row["ELE: blocks placed right, highest / lowest key"] = \
                    f"{best['blocks_right']:.2f} / {worst['blocks_right']:.2f}"
            rows[m, n] = row
    return rows


def frame(record: dict) -> pd.DataFrame:
    """The record's numbers, one row per method, key and attack: the key's rho (authors'
    convention), the known pairs that recover it exactly (empty: more than tried) and, per number of
    scrambled images of a ciphertext-only attack, the reconstruction's MSE (0-255 scale), SSIM and
    LPIPS (standard inputs) against the plain test images (the scrambled images' own under "0"),
    and what it recovered of the key (``RECOVERED``, 0 to 1)."""
    rows = []
    ceiling = record["result"]["four_bit_ceiling"]["lpips"]
    for m, e in record["result"]["methods"].items():
        for i, (rho, k) in enumerate(zip(e["rho"], e["keys"], strict=True)):
            base = {"method": m, "key (index)": i, "key fingerprint": k["fingerprint"], "rho": rho,
                    "highest rho": i == e["best"], "lowest rho": i == e["worst"],
                    "known pairs needed": k["kpa"]["pairs"]}
            rows.append({**base, "attack": "none (scrambled)", "scrambled images": 0, **k["scrambled"]})
            for n, coa in k.get("coa", {}).items():
                rows.append({**base, "attack": "ciphertext only", "scrambled images": int(n),
                             **{q: coa.get(q) for q in ("mse", "ssim", "lpips")},
                             "recovered of the key (0-1)": recovered(m, coa, ceiling)})
    return pd.DataFrame(rows).rename(columns={"mse": "MSE (0-255 scale)", "ssim": "SSIM",
                                              "lpips": "LPIPS (standard inputs)"})


def claims(record: dict) -> list[dict]:
    """Does the highest-rho key resist better? For each method and attack, how much of each key the
    attack recovers (the known pairs it needs; what the ciphertext-only attack recovers from each
    number of images) against rho over the keys: resisting better means less recovered the higher
    rho is (the 95 % bootstrap interval of the rank correlation below 0). Reproduced where that holds
    for every method, partly for some; not reproduced where no attack recovers less of a higher-rho key
    and the known pairs recover every key exactly, the highest-rho one included."""
    r = record["result"]
    ceiling = r["four_bit_ceiling"]["lpips"]
    resists, everyone = [], []
    for m, e in r["methods"].items():
        measures = {"known pairs": [-_pairs(k) for k in e["keys"]]}
        for n in e["keys"][0].get("coa", {}):
            measures[f"{n} ciphertexts"] = [recovered(m, k["coa"][n], ceiling) for k in e["keys"]]
        for what, success in measures.items():
            interval = spearman_interval(e["rho"], [min(v, 1e9) for v in success])
            if interval is not None and interval[1] < 0:
                resists.append(f"{m} ({what})")
        if all(k["kpa"]["decrypts_test"] for k in e["keys"]):
            everyone.append(m)
    best = {m: e["keys"][e["best"]]["kpa"]["pairs"] for m, e in r["methods"].items()}
    ours = ("known pairs that recover the highest-rho key exactly: "
            + ", ".join(f"{m} {p if p is not None else 'more than tried'}" for m, p in best.items())
            + f"; every key of N recovered exactly by known pairs: {', '.join(everyone) or 'none'}")
    if resists:
        methods = {x.split(" ")[0] for x in resists}
        verdict = Verdict("reproduced" if methods == set(r["methods"]) else "partly",
                          "less is recovered of higher-rho keys for " + ", ".join(resists))
    elif len(everyone) == len(r["methods"]):
        verdict = Verdict("not reproduced", "known pairs recover every key exactly, the highest-rho one "
                                            "included, and no attack recovers less of a higher-rho key")
    else:
        verdict = Verdict("not distinguishable", "no attack recovers less of higher-rho keys beyond the "
                                                 "intervals, and some keys resist the known pairs tried")
    return [{"claim": CLAIM, "ours": ours, "verdict": verdict}]


def judged_claims(candidates: list[tuple[dict[str, dict], str]]) -> list[dict]:
    """``claims``, each judged on the strongest of ``candidates`` that can support it."""
    return judged(candidates, lambda records: claims(records["attacks"]))


def verdicts(candidates: list[tuple[dict[str, dict], str]]) -> dict[str, str]:
    """The introduction's row for the attacks (``{"attacks": record}`` candidates, strongest first)."""
    (claim,) = judged_claims(candidates)
    return entry("attacks", claim["verdict"], claim["ours"])


# scrambled training images each method's figure row is recovered from (EtC and ELE need more)
SHOWN_FROM = {"PE": 10, "EtC": 100, "LE": 10, "ELE": 100}


def reconstructions(record: dict, data: str | None, n_show: int = 6) -> list[tuple[str, torch.Tensor]]:
    """For the book's figure: the first ``n_show`` test images plain, then for each method of the
    record its highest-rho key's scrambled images and what the ciphertext-only attack reconstructs of
    them from ``SHOWN_FROM`` scrambled training images (ELE: its block levels, placed, in grey); the
    record's keys are drawn again from its seed (the same keys: its fingerprints say which).
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
            levels = ele_ciphertext_only(seen, key.block_size).thumbnails(y)  # N x H/B x W/B
            grey = levels.repeat_interleave(key.block_size, 1).repeat_interleave(key.block_size, 2)
            rows.append((label + " (block levels)", grey.round().clamp(0, 255).to(torch.uint8)
                         .unsqueeze(1).expand(-1, 3, -1, -1).contiguous()))
    return rows
