"""Notebook 05's reading of the ``attacks`` record: what the known-plaintext and ciphertext-only
attacks recover of the highest- and lowest-rho key of N, whether rho predicts how hard a key is to
recover, the claim, and the values the book's pages glue."""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch

from ...attacks import le_ciphertext_only, pe_ciphertext_only
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


def ciphertext_rows(record: dict) -> dict[tuple[str, str], dict]:
    """Per method with a ciphertext-only attack and number of scrambled images: what the attack
    reconstructs of the test images for the highest- and lowest-rho key (LPIPS and SSIM against the
    plain images; the scrambled images' own beside them), and the keys recovered over all keys."""
    r = record["result"]
    rows = {}
    for m, e in r["methods"].items():
        keys = e["keys"]
        if "coa" not in keys[0]:
            continue
        for n in keys[0]["coa"]:
            best, worst = keys[e["best"]]["coa"][n], keys[e["worst"]]["coa"][n]
            row = {"LPIPS, scrambled (highest-rho key)": f"{keys[e['best']]['scrambled']['lpips']:.3f}"}
            if "lpips" in best:
                row.update({"LPIPS of the reconstruction, highest / lowest key":
                            f"{best['lpips']:.4f} / {worst['lpips']:.4f}",
                            "SSIM, highest / lowest key": f"{best['ssim']:.3f} / {worst['ssim']:.3f}"})
            if m == "PE":
                exact = sum(k["coa"][n]["exact_key"] for k in keys)
                row["keys recovered exactly"] = f"{exact} of {len(keys)}"
            else:
                row["thumbnails' median r, highest / lowest key"] = \
                    f"{best['thumbnail_r_median']:.4f} / {worst['thumbnail_r_median']:.4f}"
                ceiling = r["four_bit_ceiling"]["lpips"]
                at = sum(_at_ceiling(k["coa"][n], ceiling) for k in keys)
                row["keys at the 4-bit ceiling"] = f"{at} of {len(keys)} (LPIPS {ceiling:.4f})"
            rows[m, n] = row
    return rows


def frame(record: dict) -> pd.DataFrame:
    """The record's numbers, one row per method, key and attack: the key's rho (authors'
    convention), the known pairs that recover it exactly (empty: more than tried) and, per number of
    scrambled images of a ciphertext-only attack, the reconstruction's MSE (0-255 scale), SSIM and
    LPIPS (standard inputs) against the plain test images (the scrambled images' own under "0")."""
    rows = []
    for m, e in record["result"]["methods"].items():
        for i, (rho, k) in enumerate(zip(e["rho"], e["keys"], strict=True)):
            base = {"method": m, "key (index)": i, "key fingerprint": k["fingerprint"], "rho": rho,
                    "highest rho": i == e["best"], "lowest rho": i == e["worst"],
                    "known pairs needed": k["kpa"]["pairs"]}
            rows.append({**base, "attack": "none (scrambled)", "scrambled images": 0, **k["scrambled"]})
            for n, coa in k.get("coa", {}).items():
                rows.append({**base, "attack": "ciphertext only", "scrambled images": int(n),
                             **{q: coa.get(q) for q in ("mse", "ssim", "lpips")}})
    return pd.DataFrame(rows).rename(columns={"mse": "MSE (0-255 scale)", "ssim": "SSIM",
                                              "lpips": "LPIPS (standard inputs)"})


def _at_ceiling(coa: dict, ceiling: float) -> bool:
    """An LE reconstruction as good as the plain image's high halves can be (LPIPS within 1e-4)."""
    return "lpips" in coa and abs(coa["lpips"] - ceiling) < 1e-4


def _broken(m: str, key: dict, ceiling: float) -> bool:
    """Whether the attacks recover this key: the known pairs give its exact map and, for PE and LE,
    the ciphertext-only attack from the most images tried recovers it too."""
    if not key["kpa"]["decrypts_test"]:
        return False
    if "coa" not in key:
        return True
    last = key["coa"][max(key["coa"], key=int)]
    return last["exact_key"] if m == "PE" else _at_ceiling(last, ceiling)


def claims(record: dict) -> list[dict]:
    """Does the highest-rho key resist better? Not where the attacks recover every key, the highest
    included; partly where, for some method, the pairs needed rise with rho (the 95 % bootstrap
    interval of their rank correlation over the keys above 0)."""
    r = record["result"]
    ceiling = r["four_bit_ceiling"]["lpips"]
    rising, every = [], []
    for m, e in r["methods"].items():
        if all(_broken(m, k, ceiling) for k in e["keys"]):
            every.append(m)
        interval = spearman_interval(e["rho"], [_pairs(k) for k in e["keys"]])
        if interval is not None and interval[0] > 0:
            rising.append(m)
    best = {m: e["keys"][e["best"]]["kpa"]["pairs"] for m, e in r["methods"].items()}
    ours = ("known pairs that recover the highest-rho key exactly: "
            + ", ".join(f"{m} {p if p is not None else 'more than tried'}" for m, p in best.items())
            + f"; every key of N recovered by the attacks: {', '.join(every) or 'none'}")
    if rising:
        verdict = Verdict("partly", "the pairs needed rise with rho for " + ", ".join(rising))
    elif len(every) == len(r["methods"]):
        verdict = Verdict("not reproduced", "the attacks recover the highest-rho key as fully as the lowest, "
                                            "for every method")
    else:
        verdict = Verdict("not distinguishable", "no method's pairs needed rise with rho beyond the interval")
    return [{"claim": CLAIM, "ours": ours, "verdict": verdict}]


def judged_claims(candidates: list[tuple[dict[str, dict], str]]) -> list[dict]:
    """``claims``, each judged on the strongest of ``candidates`` that can support it."""
    return judged(candidates, lambda records: claims(records["attacks"]))


def verdicts(candidates: list[tuple[dict[str, dict], str]]) -> dict[str, str]:
    """The introduction's row for the attacks (``{"attacks": record}`` candidates, strongest first)."""
    (claim,) = judged_claims(candidates)
    return entry("attacks", claim["verdict"], claim["ours"])


def reconstructions(record: dict, data: str | None, n_show: int = 6, n_images: int = 10
                    ) -> list[tuple[str, torch.Tensor]]:
    """For the book's figure: the first ``n_show`` test images plain, then for each method of the
    record its highest-rho key's scrambled images and, for PE and LE, what the ciphertext-only attack
    reconstructs of them from ``n_images`` scrambled training images (the record's keys are drawn
    again from its seed: they are the same keys, its fingerprints say which). Returns (label,
    uint8 images) rows."""
    p = record["params"]
    test = load_cifar10("test", data, count=n_show).images
    train = load_cifar10("train", data, count=n_images).images
    rows = [("plain", test)]
    for m, e in record["result"]["methods"].items():
        key = list(candidate_keys(m, p["keys"], seed=p["seed"] + 1))[e["best"]]
        y = scramble(test, key)
        rows.append((f"{m}, highest-rho key:\nscrambled", y))
        if m == "PE":
            rows.append((f"PE: recovered from\n{n_images} ciphertexts", pe_ciphertext_only(
                scramble(train, key)).unscramble(y)))
        elif m == "LE":
            recovered = le_ciphertext_only(scramble(train, key), key.block_size)
            if recovered.layout is not None:
                rows.append((f"LE: high halves from\n{n_images} ciphertexts", recovered.high_halves(y)))
    return rows
