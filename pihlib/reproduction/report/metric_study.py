"""Notebook 01's reading of the metric study's records: Fig. 3's curves and peaks, the paper's claims
about them and the values the book's pages glue."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ...metrics import metric_info, metric_names
from .. import paper
from ..compute.metric_study import AUTHORS_LPIPS
from .evidence import judged
from .verdicts import Verdict, checked, entry

PEAK_METRICS = ("brisque", "fid", "lpips")  # the metrics the paper says peak at 50 %


def peak_summary(percents: Sequence[int], curve: Sequence[float]) -> dict:
    """Where a curve peaks, and how sharp the peak is: the width (in % IIR) of the part of the curve
    above its midpoint between its lowest and highest value, linearly interpolated on a fine grid."""
    p, c = np.asarray(percents, float), np.asarray(curve, float)
    fine = np.linspace(p.min(), p.max(), 1001)
    f = np.interp(fine, p, c)
    half = (f.min() + f.max()) / 2
    return {"peak_percent": float(p[int(np.argmax(c))]),
            "width_above_half": float((f >= half).mean() * (p.max() - p.min()))}


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


def _where(summary: dict, m: str) -> tuple[str, str]:
    """Where metric ``m`` is most hiding, as text, and whether that is at 50 %: "yes" (the 95 %
    interval of the peak's location within 40-60 %), "no" (wholly outside) or "unsure" (across an
    edge, or one key and no interval)."""
    s, iv = summary[m], summary[m]["peak_percent_interval"]
    lo, hi = iv if iv is not None else (0, 100)
    text = f"{m} peaks at {s['peak_percent']:.0f} %" + ("" if iv is None else f" [{lo:.0f}, {hi:.0f}]")
    if hi < 40 or lo > 60:
        return text, "no"
    return (text + (" (one key: no interval)" if iv is None else ""), "unsure") if lo < 40 or hi > 60 \
        else (text, "yes")


def _sharpest(summary: dict, metric: str, others: list[str]) -> Verdict:
    """Whether ``metric``'s peak is narrower than each of ``others``' (the 95 % interval of the
    difference of their widths below 0), as a verdict."""
    samples = {m: summary[m]["width_above_half_samples"] for m in [metric, *others]}
    if any(len(v) == 0 for v in samples.values()):
        return Verdict("not distinguishable", "one key for some metric, no interval")
    bounds = {m: np.quantile(samples[metric] - samples[m], [0.025, 0.975]) for m in others}
    sharper = [m for m, (lo, _) in bounds.items() if lo > 0]
    if all(hi < 0 for _, hi in bounds.values()):
        return Verdict("reproduced")
    if sharper:
        return Verdict("not reproduced", f"{', '.join(sharper)} sharper")
    return Verdict("not distinguishable", ", ".join(
        f"width of {metric.upper()} - {m} [{lo:+.0f}, {hi:+.0f}] %" for m, (lo, hi) in bounds.items()))


METRIC_CHOICE = ("(this project) of the nine metrics, LPIPS suits PIH best by the paper's own criterion: "
                 "most hiding at 50 % inversion (where an image is least recognisable; 0 % and 100 % are the "
                 "image and its negative) and with the sharpest peak there")


def claims(record: dict) -> list[dict]:
    """The paper's two claims about Fig. 3, with 95 % intervals over keys: BRISQUE, FID and LPIPS
    peak at 50 % (the interval of the peak's location within 40-60 %; outside it: no; across its
    edge: not distinguishable), and LPIPS's peak is the sharpest of the three (the interval of its
    width minus each other's below 0). And the question behind them, over all nine metrics: of those
    that peak at 50 %, is LPIPS's peak the sharpest (``METRIC_CHOICE``)?"""
    summary = peaks(record)
    where = {m: _where(summary, m) for m in summary}
    off = [where[m][0] for m in PEAK_METRICS if where[m][1] == "no"]
    unsure = [where[m][0] for m in PEAK_METRICS if where[m][1] == "unsure"]
    peak = Verdict("not reproduced", ", ".join(off)) if off else \
        Verdict("not distinguishable", ", ".join(unsure)) if unsure else Verdict("reproduced")
    widths = "peak width above half height, % inversion: " + ", ".join(
        f"{m} {summary[m]['width_above_half']:.0f}" for m in PEAK_METRICS)
    nine = [m for m in metric_names() if m in summary]
    at_50 = [m for m in nine if where[m][1] != "no"]
    if where["lpips"][1] == "no":
        choice = Verdict("not reproduced", where["lpips"][0])
    else:
        choice = _sharpest(summary, "lpips", [m for m in at_50 if m != "lpips"])
    return [{"claim": paper.CLAIMS["fig3_peak"], "ours": ", ".join(where[m][0] for m in PEAK_METRICS),
             "verdict": peak},
            {"claim": paper.CLAIMS["fig3_sharpest"], "ours": widths,
             "verdict": _sharpest(summary, "lpips", [m for m in PEAK_METRICS if m != "lpips"])},
            {"claim": METRIC_CHOICE,
             "ours": "peak at 50 % (interval within or across 40-60 %): " + ", ".join(
                 f"{m} (width {summary[m]['width_above_half']:.0f} %)" for m in at_50)
                     + "; not at 50 %: " + ", ".join(where[m][0] for m in nine if m not in at_50),
             "verdict": choice}]


def judged_claims(candidates: list[tuple[dict[str, dict], str]]) -> list[dict]:
    """``claims``, each judged on the strongest of ``candidates`` that can support it."""
    return judged(candidates, lambda records: claims(records["curves"]))


def verdicts(candidates: list[tuple[dict[str, dict], str]]) -> dict[str, str]:
    """The introduction's rows of this section (and each claim's verdict and text for the Paper vs.
    reproduction page): each claim judged on the strongest of ``candidates`` (``{"curves": record}``
    and its preset, strongest first; see ``evidence.candidates``) that can support it."""
    out = {}
    names = ("fig3_peak", "fig3_sharpest", "metric_choice")
    for name, c in zip(names, judged_claims(candidates), strict=True):
        out.update(checked(name, c))
        out.update(entry(name, c["verdict"], c["ours"]))
    out.update(entry("table1", Verdict("not compared", "shown for one image; the paper's image is not "
                                                       "identified")))
    return out


def book_values(candidates: list[tuple[dict[str, dict], str]], own: dict) -> dict[str, str]:
    """The texts the book's pages read from this section (glued by the notebook): the
    introduction's rows (``verdicts``), the strongest records' LPIPS peak and SSIM deviation (with
    their preset). ``own``: this build's records (kept for the pages that show them)."""
    out = verdicts(candidates)
    out["lpips_peak"] = f"{peaks(candidates[0][0]['curves'])['lpips']['peak_percent']:.0f} %"
    records, preset = candidates[0]
    ssim = records["ssim_channels"]["result"]
    out["ssim_channels"] = f"{ssim['grey']:.4f} (grey) vs. {ssim['rgb']:.4f} (RGB), {preset} preset"
    return out
