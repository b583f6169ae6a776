"""The paper's metric study (Fig. 3, Table 1): nine metrics against the intensity inversion ratio.

For each inversion ratio (0-100 % of the 3*H*W values, at random positions: the metric-study
variant of PE, ``PE-IIR``) and each iteration (a fresh random key), every metric compares the plain
images with their scrambled versions; FID compares the two sets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from .metrics import metric
from .scramblers import keygen, scramble


def inverted_count(percent: float, values: int = 3072) -> int:
    """The authors' counts: 0, 307, 614, ..., 3072 for 0, 10, 20, ..., 100 % of 3072 values."""
    return int(values * percent) // 100


def metric_study(images: torch.Tensor, percents: Sequence[int], iterations: int, names: Sequence[str],
                 seed: int = 0, progress: bool = True) -> dict:
    """Per metric: ``values[i][j]``, the metric (mean over images; FID over the set) at ratio i,
    iteration j. The keys of iteration j are the same for every metric."""
    values = 3 * images.shape[-2] * images.shape[-1]
    rng = np.random.default_rng(seed)
    keys = [[keygen("PE-IIR", seed=rng, shape=tuple(images.shape[-2:]), inverted=inverted_count(p, values))
             for _ in range(iterations)] for p in percents]
    out = {}
    for name in names:
        m = metric(name)
        compare = m.against(images)
        rows = []
        for row in tqdm(keys, desc=name, disable=not progress, leave=False):
            rows.append([float(compare(scramble(images, k)).double().mean()) for k in row])
        out[name] = rows
    return {"percents": list(percents), "inverted": [inverted_count(p, values) for p in percents],
            "iterations": iterations, "values": out}


def lpips_examples(image: torch.Tensor, percents: Sequence[int], seed: int = 0,
                   convention: str = "lpips") -> dict:
    """Table 1: one image scrambled at several ratios, with the LPIPS of each version."""
    rng = np.random.default_rng(seed)
    lp = metric("lpips", convention=convention)
    x = image[None]
    images, scores = [], []
    for p in percents:
        y = scramble(x, keygen("PE-IIR", seed=rng, shape=tuple(x.shape[-2:]),
                               inverted=inverted_count(p, x[0].numel())))
        images.append(y[0].permute(1, 2, 0).numpy().tolist())
        scores.append(float(lp(x, y)))
    return {"percents": list(percents), "lpips": scores, "images": images, "convention": convention}


def peak_summary(percents: Sequence[int], curve: Sequence[float]) -> dict:
    """Where a curve peaks, and how sharp the peak is: the width (in % IIR) of the part of the curve
    above its midpoint between its lowest and highest value, linearly interpolated on a fine grid."""
    p, c = np.asarray(percents, float), np.asarray(curve, float)
    fine = np.linspace(p.min(), p.max(), 1001)
    f = np.interp(fine, p, c)
    half = (f.min() + f.max()) / 2
    return {"peak_percent": float(p[int(np.argmax(c))]),
            "width_above_half": float((f >= half).mean() * (p.max() - p.min()))}
