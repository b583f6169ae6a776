"""The paper's metric study (notebook 01: Fig. 3, Table 1): nine metrics against the intensity
inversion ratio, and the paper's claims about them.

For each inversion ratio (0-100 % of the 3*H*W values, at random positions: the metric-study
variant of PE, ``PE-IIR``) and each iteration (a fresh random key), every metric compares the plain
images with their scrambled versions; FID compares the two sets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data import load_cifar10
from ..metrics import metric, metric_info, metric_names
from ..scramblers import STUDY_METHOD, keygen, scramble
from . import cache, paper
from .presets import IIR_PERCENT, SLOW_METRICS

NOTEBOOK = "01_metric_selection"
CODE = ("pihlib.scramblers", "pihlib.keys", "pihlib.images", "pihlib.metrics", "pihlib.nr_iqa",
        "pihlib.assets", __name__)
READERS = ("claims", "peaks", "curves", "book_values")
TABLE1_PERCENTS = [0, 10, 30, 50, 70, 90, 100]
PEAK_METRICS = ("brisque", "fid", "lpips")  # the metrics the paper says peak at 50 %


def inverted_count(percent: float, values: int = 3072) -> int:
    """The authors' counts: 0, 307, 614, ..., 3072 for 0, 10, 20, ..., 100 % of 3072 values."""
    return int(values * percent) // 100


def metric_study(images: torch.Tensor, percents: Sequence[int], iterations: int, names: Sequence[str],
                 seed: int = 0, progress: bool = True) -> dict:
    """Per metric: ``values[i][j]``, the metric (mean over images; FID over the set) at ratio i,
    iteration j. The keys of iteration j are the same for every metric."""
    values = 3 * images.shape[-2] * images.shape[-1]
    rng = np.random.default_rng(seed)
    shape = tuple(images.shape[-2:])
    keys = [[keygen(STUDY_METHOD, seed=rng, shape=shape, inverted=inverted_count(p, values))
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
        y = scramble(x, keygen(STUDY_METHOD, seed=rng, shape=tuple(x.shape[-2:]),
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


def compute(params: dict, images: torch.Tensor) -> dict:
    """Fig. 3's curves: the fast metrics on ``n_images``, the slow ones on ``n_images_slow``."""
    fast_names = [m for m in metric_names() if m not in SLOW_METRICS]
    fast = metric_study(images, IIR_PERCENT, params["iterations"], fast_names, seed=params["seed"])
    slow = metric_study(images[: params["n_images_slow"]], IIR_PERCENT, params["iterations_slow"],
                        SLOW_METRICS, seed=params["seed"])
    return {"percents": fast["percents"], "inverted": fast["inverted"],
            "values": {**fast["values"], **slow["values"]},
            "images": {m: params["n_images"] for m in fast_names}
            | {m: params["n_images_slow"] for m in SLOW_METRICS},
            "iterations": {m: params["iterations"] for m in fast_names}
            | {m: params["iterations_slow"] for m in SLOW_METRICS}}


def ssim_channels(params: dict, images: torch.Tensor) -> dict:
    """Mean SSIM at 50 % IIR on grey (pihlib's default) and on colour images (the authors')."""
    key = keygen(STUDY_METHOD, seed=params["seed"], inverted=inverted_count(50))
    y = scramble(images, key)
    return {c: float(metric("ssim", channels=c)(images, y).mean()) for c in ("grey", "rgb")}


def run(preset: str, params: dict, data: str | None = None) -> dict:
    """The records of this section: ``curves`` (Fig. 3), ``ssim_channels`` and ``examples`` (Table 1)."""
    images = load_cifar10("train", data, count=params["n_images"])
    source = images.source.as_dict()
    example = load_cifar10("test", data, count=params["example_image"] + 1)
    return {
        "curves": cache.cached(preset, "metric_study", params, lambda: compute(params, images.images),
                               code=CODE, data=source,
                               assets=["alexnet", "vgg16", "brisque", "niqe", "inception"]),
        "ssim_channels": cache.cached(preset, "ssim_channels", params,
                                      lambda: ssim_channels(params, images.images), code=CODE, data=source),
        "examples": cache.cached(preset, "iir_examples", {**params, "percents": TABLE1_PERCENTS},
                                 lambda: lpips_examples(example.images[params["example_image"]],
                                                        TABLE1_PERCENTS, seed=params["seed"],
                                                        convention="authors"),
                                 code=CODE, data=example.source.as_dict(), assets=["alexnet"]),
    }


def curves(record: dict) -> dict[str, dict]:
    """Per metric: the ratios with finite values (PSNR of an unchanged image is infinite), and the
    mean and SD over keys at each."""
    r = record["result"]
    pct = np.array(r["percents"])
    out = {}
    for name in metric_names():
        v = np.array(r["values"][name], dtype=float)
        keep = np.isfinite(v).all(1)
        v = v[keep]
        out[name] = {"percents": pct[keep], "mean": v.mean(1),
                     "sd": v.std(1, ddof=1) if v.shape[1] > 1 else np.zeros(len(v)),
                     "images": r["images"][name], "keys": r["iterations"][name]}
    return out


def peaks(record: dict) -> dict[str, dict]:
    """Per metric: where its curve is most hiding (PSNR and SSIM fall as hiding rises: their minimum),
    and how wide that peak is (``peak_summary``)."""
    out = {}
    for name, c in curves(record).items():
        curve = c["mean"] if metric_info(name).higher_hides_more else -c["mean"]
        out[name] = peak_summary(c["percents"], curve)
    return out


def claims(record: dict) -> list[dict]:
    """The paper's two claims about Fig. 3: BRISQUE, FID and LPIPS peak at 50 % (within 10 points),
    and LPIPS's peak is the sharpest of the three."""
    summary = peaks(record)
    near_50 = {m: abs(summary[m]["peak_percent"] - 50) <= 10 for m in PEAK_METRICS}
    sharpest = min(PEAK_METRICS, key=lambda m: summary[m]["width_above_half"]) == "lpips"
    return [
        {"claim": paper.CLAIMS["fig3_peak"],
         "ours": ", ".join(f"{m} peaks at {summary[m]['peak_percent']:.0f} %" for m in PEAK_METRICS),
         "verdict": "yes" if all(near_50.values()) else "no: " + ", ".join(
             f"{m} peaks at {summary[m]['peak_percent']:.0f} %" for m, ok in near_50.items() if not ok)},
        {"claim": paper.CLAIMS["fig3_sharpest"],
         "ours": ", ".join(f"{m} {summary[m]['width_above_half']:.0f} %" for m in PEAK_METRICS),
         "verdict": "yes" if sharpest else "no: " + ", ".join(
             f"{m} {summary[m]['width_above_half']:.0f} %" for m in PEAK_METRICS)},
    ]


def book_values(records: dict) -> dict[str, str]:
    """The texts the book's pages read from this section (glued by the notebook)."""
    out = {}
    for name, c in zip(("fig3_peak", "fig3_sharpest"), claims(records["curves"]), strict=True):
        out[f"{name}_ok"], out[f"{name}_claim"] = c["verdict"], c["claim"]
    out["lpips_peak"] = f"{peaks(records['curves'])['lpips']['peak_percent']:.0f} %"
    ssim = records["ssim_channels"]["result"]
    out["ssim_channels"] = f"{ssim['grey']:.4f} (grey) vs. {ssim['rgb']:.4f} (RGB)"
    return out
