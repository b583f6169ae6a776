"""The book's figures, drawn from records. Each returns a ``matplotlib.figure.Figure`` made without
pyplot (it is shown only where the notebook glues or displays it), sized to read at page width."""

from __future__ import annotations

import io

import numpy as np
import torch
from matplotlib.figure import Figure

from ..images import decode_png
from ..keys import Key
from ..scramblers import scramble, unscramble
from . import paper

FONT = 10  # points at page width: every figure below is at most 9 inches wide
UNITS = {"mse": "MSE (8-bit values squared)", "psnr": "PSNR (dB)", "ssim": "SSIM (1 = identical)",
         "brisque": "BRISQUE score", "niqe": "NIQE score", "piqe": "PIQE score",
         "lpips": "LPIPS distance", "vgg": "VGG-16 feature distance", "fid": "FID"}


def png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure as PNG bytes, trimmed to what is drawn."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    return buf.getvalue()


def _show_in_notebooks() -> None:
    """Figures made without pyplot have no PNG form in a notebook until one is registered."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is not None:
        shell.display_formatter.formatters["image/png"].for_type(Figure, png)


_show_in_notebooks()


def plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def _strip(images: torch.Tensor | list[np.ndarray], gap: int = 2) -> np.ndarray:
    """Images (N x 3 x H x W uint8, or H x W x 3 arrays) side by side, a thin white gap between them."""
    if isinstance(images, torch.Tensor):
        images = [x.permute(1, 2, 0).numpy() for x in images]
    arrays = [np.pad(x, ((0, 0), (0, gap), (0, 0)), constant_values=255) for x in images]
    return np.concatenate(arrays, axis=1)[:, :-gap]


def _strips(rows: list[tuple[str, np.ndarray]]) -> Figure:
    """Labelled image strips, one under another, 9 inches wide."""
    height = 9 * rows[0][1].shape[0] / rows[0][1].shape[1]  # inches a strip takes at 9 inches wide
    fig = Figure(figsize=(10.5, 1.08 * height * len(rows)), layout="constrained")
    for ax, (title, strip) in zip(fig.subplots(len(rows), 1), rows, strict=True):
        ax.imshow(strip, interpolation="nearest")
        ax.set_ylabel(title, rotation=0, ha="right", va="center", fontsize=FONT)
        ax.set_xticks([])
        ax.set_yticks([])
    return fig


def scramblers(keys: dict[str, Key], x: torch.Tensor) -> Figure:
    """The plain images on top, then each method's scrambled images and the same unscrambled again."""
    rows = [("plain", _strip(x))]
    for method, key in keys.items():
        y = scramble(x, key)
        rows += [(f"{method}: scrambled", _strip(y)), (f"{method}: unscrambled", _strip(unscramble(y, key)))]
    return _strips(rows)


def hiding(result: dict) -> Figure:
    """The plain test images, then for each method its best and worst key's images by rho, and for
    PE the attacker's key-independent view of each."""
    def strip(pngs: list[str]) -> np.ndarray:
        return _strip([decode_png(t) for t in pngs])

    rows = [("plain", strip(result["plain_png"]))]
    for m, e in result["methods"].items():
        for which in ("best", "worst"):
            rows.append((f"{m}, {which} key\n(rho {e[which]['rho']:.3f})", strip(e[which]["images_png"])))
    if "PE" in result["methods"]:
        for which in ("best", "worst"):
            view = strip(result["methods"]["PE"][which]["view_png"])
            rows.append((f"PE, {which} key:\nview |x - 127.5|", view))
    return _strips(rows)


def fig3(curves: dict[str, dict]) -> Figure:
    """The nine metrics against the inversion ratio: mean over keys, band of one SD over keys; LPIPS
    (red) also under the authors' input convention (dashed), where computed."""
    fig = Figure(figsize=(9, 8.5), layout="constrained")
    names = [n for n in curves if n in UNITS]
    for ax, name in zip(fig.subplots(3, 3).flat, names, strict=True):
        c = curves[name]
        color = "C3" if name == "lpips" else "C0"
        ax.plot(c["percents"], c["mean"], "o-", ms=3, color=color, label="standard inputs")
        ax.fill_between(c["percents"], c["mean"] - c["sd"], c["mean"] + c["sd"], alpha=0.25, color=color)
        if name == "lpips" and "lpips (authors)" in curves:
            a = curves["lpips (authors)"]
            ax.plot(a["percents"], a["mean"], "s--", ms=3, color="C1", label="authors' inputs")
            ax.fill_between(a["percents"], a["mean"] - a["sd"], a["mean"] + a["sd"], alpha=0.2, color="C1")
            ax.legend(fontsize=FONT - 2)
        ax.set_title(f"{name.upper()}: {plural(c['images'], 'image')}, {plural(c['keys'], 'key')}",
                     fontsize=FONT)
        ax.set_xlabel("intensity inversion ratio (%)", fontsize=FONT - 1)
        ax.set_ylabel(UNITS[name], fontsize=FONT - 1)
        ax.axvline(50, color="grey", lw=0.6, ls=":")
        ax.tick_params(labelsize=FONT - 2)
    return fig


def table1(examples: dict) -> Figure:
    """One image at several inversion ratios, with each version's LPIPS."""
    fig = Figure(figsize=(9, 1.9), layout="constrained")
    axes = fig.subplots(1, len(examples["percents"]))
    for ax, p, img, s in zip(axes, examples["percents"], examples["images"], examples["lpips"], strict=True):
        ax.imshow(np.array(img, dtype=np.uint8), interpolation="nearest")
        ax.set_title(f"IIR {p} %\nLPIPS {s:.3f}", fontsize=FONT - 1)
        ax.axis("off")
    return fig


def figs45(estimates: dict[str, dict], repeats: int, n_images: int, trials: int) -> dict[int, Figure]:
    """Fig. 4 (mean) and Fig. 5 (SD) of the selected rho against N, one panel per method: estimator (b)
    as a line (with its 95 % bootstrap band for the mean), estimator (a) as points, and the paper's
    Table 2 values at N = 1 (original key) and N = ``trials`` (proposed) as black diamonds."""
    figs = {}
    for stat, label, fig_no in (("mean", "mean of the selected rho", 4), ("sd", "SD of the selected rho", 5)):
        fig = Figure(figsize=(9, 6.5), layout="constrained")
        axes = list(fig.subplots(2, 2).flat)
        for ax, (m, e) in zip(axes, estimates.items(), strict=False):
            b, a = e["pool"], e["repeats"]
            ax.plot(b.ns, getattr(b, stat), "-", color="C0", label=f"(b) pool of {b.evaluations} keys")
            if stat == "mean":
                ax.fill_between(b.ns, b.band[0], b.band[1], color="C0", alpha=0.2)
                ax.errorbar(a["ns"], a["mean"], yerr=a["mean_se"], fmt="o", ms=3, color="C1",
                            label=f"(a) {repeats} repeats ({a['evaluations']} keys)")
            else:
                ax.plot(a["ns"], a["sd"], "o", ms=3, color="C1", label=f"(a) {repeats} repeats")
            theirs = paper.TABLE2.get(m)
            if theirs:
                key = "pih_mean" if stat == "mean" else "pih_sd"
                ax.plot([1, trials], [theirs["original"][key], theirs["proposed"][key]], "kD", ms=5,
                        label="paper (Table 2)")
            ax.set_title(m, fontsize=FONT + 1)
            ax.set_xlabel("N (keys drawn)", fontsize=FONT)
            ax.set_ylabel(f"{label} (LPIPS)", fontsize=FONT)
            ax.tick_params(labelsize=FONT - 1)
        for ax in axes[len(estimates):]:
            ax.set_visible(False)  # panels left over when fewer than four methods ran
        axes[0].legend(fontsize=FONT - 2)
        figs[fig_no] = fig
    return figs


def training_curves(runs: list[dict], seed: int) -> Figure:
    """Test accuracy per epoch of each run of ``seed`` (proposed keys solid, original dashed)."""
    fig = Figure(figsize=(8, 3.8), layout="constrained")
    ax = fig.subplots()
    for r in (r for r in runs if r["seed"] == seed):
        ax.plot([h["epoch"] for h in r["history"]], [100 * h["test_accuracy"] for h in r["history"]],
                marker="o", ms=3, ls="-" if r["kind"] == "proposed" else "--",
                label=f"{r['method']} {r['kind']}")
    ax.set_xlabel("epoch", fontsize=FONT)
    ax.set_ylabel("test accuracy (%)", fontsize=FONT)
    ax.tick_params(labelsize=FONT - 1)
    ax.legend(fontsize=FONT - 2, ncol=2)
    return fig


def table3(table: dict) -> Figure:
    """Table 3's images: each column's (scrambled) image with its prediction and LPIPS."""
    cols = [c for c in next(iter(table.values())) if c != "test_index"]
    fig = Figure(figsize=(3 * len(cols), 3.3 * len(table)), layout="constrained")
    axes = fig.subplots(len(table), len(cols), squeeze=False)
    for row, entry in zip(axes, table.values(), strict=True):
        for ax, c in zip(row, cols, strict=True):
            v = entry[c]
            ax.imshow(decode_png(v["image_png"]), interpolation="nearest")
            ax.set_title(f"{c}\n{v['class']} {v['probability']:.3f}, LPIPS {v['lpips']:.3f}",
                         fontsize=FONT - 1)
            ax.axis("off")
    return fig
