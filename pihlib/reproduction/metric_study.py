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
from ..metrics import RHO_CONVENTION, metric, metric_info, metric_names
from ..scramblers import STUDY_METHOD, keygen, scramble
from . import cache, paper
from .presets import IIR_PERCENT, SLOW_METRICS

NOTEBOOK = "01_metric_selection"
CODE = ("pihlib.scramblers", "pihlib.keys", "pihlib.images", "pihlib.metrics", "pihlib.nr_iqa",
        "pihlib.assets", __name__)
READERS = ("claims", "peaks", "curves", "book_values", "peak_rows", "_values", "_hiding")
TABLE1_PERCENTS = [0, 10, 30, 50, 70, 90, 100]
PEAK_METRICS = ("brisque", "fid", "lpips")  # the metrics the paper says peak at 50 %
AUTHORS_LPIPS = "lpips (authors)"  # LPIPS under the authors' input convention, beside the standard one


def inverted_count(percent: float, values: int = 3072) -> int:
    """The authors' counts: 0, 307, 614, ..., 3072 for 0, 10, 20, ..., 100 % of 3072 values."""
    return int(values * percent) // 100


def metric_study(images: torch.Tensor, percents: Sequence[int], iterations: int, names: Sequence[str],
                 seed: int = 0, progress: bool = True, options: dict | None = None,
                 label: str | None = None) -> dict:
    """Per metric: ``values[i][j]``, the metric (mean over images; FID over the set) at ratio i,
    iteration j. The keys of iteration j are the same for every metric (and every call with this
    seed). ``options`` go to each metric; ``label`` names its values (default: the metric's name)."""
    values = 3 * images.shape[-2] * images.shape[-1]
    rng = np.random.default_rng(seed)
    shape = tuple(images.shape[-2:])
    keys = [[keygen(STUDY_METHOD, seed=rng, shape=shape, inverted=inverted_count(p, values))
             for _ in range(iterations)] for p in percents]
    out = {}
    for name in names:
        compare = metric(name, **(options or {})).against(images)
        rows = []
        for row in tqdm(keys, desc=label or name, disable=not progress, leave=False):
            rows.append([float(compare(scramble(images, k)).double().mean()) for k in row])
        out[label or name] = rows
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
    authors = metric_study(images, IIR_PERCENT, params["iterations"], ["lpips"], seed=params["seed"],
                           options={"convention": RHO_CONVENTION}, label=AUTHORS_LPIPS)
    slow = metric_study(images[: params["n_images_slow"]], IIR_PERCENT, params["iterations_slow"],
                        SLOW_METRICS, seed=params["seed"])
    fast_names = [*fast_names, AUTHORS_LPIPS]
    return {"percents": fast["percents"], "inverted": fast["inverted"],
            "values": {**fast["values"], **authors["values"], **slow["values"]},
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


def _values(record: dict, name: str) -> tuple[np.ndarray, np.ndarray]:
    """The ratios with finite values of a metric (PSNR of an unchanged image is infinite) and its
    values there, ratios x keys."""
    v = np.array(record["result"]["values"][name], dtype=float)
    keep = np.isfinite(v).all(1)
    return np.array(record["result"]["percents"])[keep], v[keep]


def curves(record: dict) -> dict[str, dict]:
    """Per metric (and LPIPS under the authors' convention, where computed): the ratios with finite
    values, and the mean and SD over keys at each."""
    r = record["result"]
    out = {}
    for name in [*metric_names(), AUTHORS_LPIPS]:
        if name not in r["values"]:
            continue
        pct, v = _values(record, name)
        out[name] = {"percents": pct, "mean": v.mean(1),
                     "sd": v.std(1, ddof=1) if v.shape[1] > 1 else np.zeros(len(v)),
                     "images": r["images"][name], "keys": r["iterations"][name]}
    return out


def _hiding(name: str) -> float:
    """+1 where a higher value hides more, -1 where it hides less (PSNR, SSIM: their minimum)."""
    return 1.0 if metric_info(name.split(" ")[0]).higher_hides_more else -1.0


def peaks(record: dict, draws: int = 1000, seed: int = 0) -> dict[str, dict]:
    """Per metric: where its mean curve is most hiding and how wide that peak is (``peak_summary``),
    each with a 95 % interval from resampling the keys (None with one key)."""
    rng = np.random.default_rng(seed)
    out = {}
    for name in curves(record):
        pct, v = _values(record, name)
        v = v * _hiding(name)
        point = peak_summary(pct, v.mean(1))
        boot = [peak_summary(pct, v[:, rng.integers(0, v.shape[1], v.shape[1])].mean(1))
                for _ in range(draws if v.shape[1] > 1 else 0)]
        for k in ("peak_percent", "width_above_half"):
            samples = np.array([b[k] for b in boot])
            point[f"{k}_interval"] = tuple(np.quantile(samples, [0.025, 0.975])) if boot else None
            point[f"{k}_samples"] = samples
        out[name] = point
    return out


def peak_rows(record: dict) -> dict[str, dict]:
    """The peaks as the notebook's table: whole percents, with their intervals."""
    def show(v: float, interval) -> str:
        return f"{v:.0f}" + ("" if interval is None else f" [{interval[0]:.0f}, {interval[1]:.0f}]")

    return {name: {"most hiding at IIR (%) [95 % interval over keys]":
                   show(p["peak_percent"], p["peak_percent_interval"]),
                   "width of the peak (% IIR) [95 % interval]": show(p["width_above_half"],
                                                                      p["width_above_half_interval"])}
            for name, p in peaks(record).items()}


def claims(record: dict) -> list[dict]:
    """The paper's two claims about Fig. 3, with 95 % intervals over keys: BRISQUE, FID and LPIPS
    peak at 50 % (the interval of the peak's location within 40-60 %; outside it: no; across its
    edge: not distinguishable), and LPIPS's peak is the sharpest of the three (the interval of its
    width minus each other's below 0)."""
    summary = peaks(record)
    where, off, unsure = [], [], []
    for m in PEAK_METRICS:
        s, iv = summary[m], summary[m]["peak_percent_interval"]
        lo, hi = iv if iv is not None else (0, 100)
        interval = "" if iv is None else f" [{lo:.0f}, {hi:.0f}]"
        where.append(f"{m} peaks at {s['peak_percent']:.0f} %{interval}")
        if hi < 40 or lo > 60:
            off.append(where[-1])
        elif lo < 40 or hi > 60:
            unsure.append(where[-1] + (" (one key: no interval)" if iv is None else ""))
    if off:
        peak = "no: " + ", ".join(off)
    else:
        peak = "not distinguishable: " + ", ".join(unsure) if unsure else "yes"
    widths = ", ".join(f"{m} {summary[m]['width_above_half']:.0f} %" for m in PEAK_METRICS)
    samples = {m: summary[m]["width_above_half_samples"] for m in PEAK_METRICS}
    if any(len(v) == 0 for v in samples.values()):
        sharpest = "not distinguishable: one key for some metric, no interval"
    else:
        bounds = {m: np.quantile(samples["lpips"] - samples[m], [0.025, 0.975])
                  for m in PEAK_METRICS if m != "lpips"}
        sharper = [m for m, (lo, _) in bounds.items() if lo > 0]
        if all(hi < 0 for _, hi in bounds.values()):
            sharpest = "yes"
        elif sharper:
            sharpest = f"no: {', '.join(sharper)} sharper"
        else:
            sharpest = "not distinguishable: " + ", ".join(
                f"width of LPIPS - {m} [{lo:+.0f}, {hi:+.0f}] %" for m, (lo, hi) in bounds.items())
    return [{"claim": paper.CLAIMS["fig3_peak"], "ours": ", ".join(where), "verdict": peak},
            {"claim": paper.CLAIMS["fig3_sharpest"], "ours": widths, "verdict": sharpest}]


def book_values(records: dict) -> dict[str, str]:
    """The texts the book's pages read from this section (glued by the notebook), the
    introduction's verdicts among them."""
    from .verdicts import entry

    out = {}
    for name, c in zip(("fig3_peak", "fig3_sharpest"), claims(records["curves"]), strict=True):
        out[f"{name}_ok"], out[f"{name}_claim"] = c["verdict"], c["claim"]
        out.update(entry(name, c["verdict"], c["ours"]))
    out["lpips_peak"] = f"{peaks(records['curves'])['lpips']['peak_percent']:.0f} %"
    ssim = records["ssim_channels"]["result"]
    out["ssim_channels"] = f"{ssim['grey']:.4f} (grey) vs. {ssim['rgb']:.4f} (RGB)"
    out.update(entry("table1", "not compared", "shown for one image; the paper's image is not identified"))
    return out
