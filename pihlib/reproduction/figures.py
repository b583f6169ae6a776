"""The book's figures, drawn from records (the notebooks call these and glue or show the result)."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..images import decode_png
from ..keys import Key
from ..scramblers import scramble, unscramble


def scramblers(keys: dict[str, Key], x: torch.Tensor, split: str) -> plt.Figure:
    """Each method's row: plain, scrambled and unscrambled images."""
    fig, axes = plt.subplots(len(keys), 3, figsize=(7, 2.3 * len(keys)))
    for row, (method, key) in zip(axes, keys.items(), strict=True):
        y = scramble(x, key)
        for ax, batch, title in zip(row, (x, y, unscramble(y, key)),
                                    ("plain", f"{method} scrambled", "unscrambled"), strict=True):
            ax.imshow(np.concatenate(list(batch.permute(0, 2, 3, 1).numpy()), axis=1))
            ax.set_title(title, fontsize=9)
            ax.axis("off")
    fig.suptitle(f"{len(x)} CIFAR-10 {split} images, key fingerprints as in the table", fontsize=10)
    fig.tight_layout()
    return fig


def fig3(curves: dict[str, dict]) -> plt.Figure:
    """The nine metrics against the inversion ratio: mean over keys, SD band (LPIPS in red)."""
    fig, axes = plt.subplots(3, 3, figsize=(10, 8.5))
    for ax, (name, c) in zip(axes.flat, curves.items(), strict=True):
        color = "C3" if name == "lpips" else "C0"
        ax.plot(c["percents"], c["mean"], "o-", ms=3, color=color)
        ax.fill_between(c["percents"], c["mean"] - c["sd"], c["mean"] + c["sd"], alpha=0.25, color=color)
        ax.set_title(f"{name.upper()} ({c['images']} images, {c['keys']} keys)", fontsize=9)
        ax.set_xlabel("intensity inversion ratio (%)", fontsize=8)
        ax.axvline(50, color="grey", lw=0.5, ls=":")
        ax.tick_params(labelsize=7)
    fig.suptitle("Metric between plain and scrambled images (LPIPS: standard [-1, 1] inputs)", fontsize=10)
    fig.tight_layout()
    return fig


def table1(examples: dict) -> plt.Figure:
    """One image at several inversion ratios, with each version's LPIPS."""
    fig, axes = plt.subplots(1, len(examples["percents"]), figsize=(10, 2))
    for ax, p, img, s in zip(axes, examples["percents"], examples["images"], examples["lpips"], strict=True):
        ax.imshow(np.array(img, dtype=np.uint8))
        ax.set_title(f"IIR {p} %\nLPIPS {s:.3f}", fontsize=8)
        ax.axis("off")
    fig.tight_layout()
    return fig


def figs45(estimates: dict[str, dict], repeats: int, n_images: int) -> dict[int, plt.Figure]:
    """Fig. 4 (mean) and Fig. 5 (SD) of the selected rho against N: estimator (b) as a line (with its
    bootstrap band for the mean), estimator (a) as points."""
    figs = {}
    for stat, label, fig_no in (("mean", "mean of selected rho", 4), ("sd", "SD of selected rho", 5)):
        fig, axes = plt.subplots(1, len(estimates), figsize=(3.2 * len(estimates), 3), squeeze=False)
        for ax, (m, e) in zip(axes[0], estimates.items(), strict=True):
            b, a = e["pool"], e["repeats"]
            ax.plot(b.ns, getattr(b, stat), "-", color="C0", label=f"(b) pool of {b.evaluations} keys")
            if stat == "mean":
                ax.fill_between(b.ns, b.band[0], b.band[1], color="C0", alpha=0.2)
                ax.errorbar(a["ns"], a["mean"], yerr=a["mean_se"], fmt="o", ms=3, color="C1",
                            label=f"(a) {repeats} repeats ({a['evaluations']} keys)")
            else:
                ax.plot(a["ns"], a["sd"], "o", ms=3, color="C1", label=f"(a) {repeats} repeats")
            ax.set_title(m, fontsize=10)
            ax.set_xlabel("N (trials)", fontsize=8)
            ax.tick_params(labelsize=7)
        axes[0][0].set_ylabel(label, fontsize=8)
        axes[0][0].legend(fontsize=7)
        fig.suptitle(f"Fig. {fig_no}: {label} ({n_images} CIFAR-10 training images)", fontsize=10)
        fig.tight_layout()
        figs[fig_no] = fig
    return figs


def training_curves(runs: list[dict], seed: int) -> plt.Figure:
    """Test accuracy per epoch of each run of ``seed`` (proposed keys solid, original dashed)."""
    fig, ax = plt.subplots(figsize=(6, 3.2))
    for r in (r for r in runs if r["seed"] == seed):
        ax.plot([h["epoch"] for h in r["history"]], [100 * h["test_accuracy"] for h in r["history"]],
                marker="o", ms=3, ls="-" if r["kind"] == "proposed" else "--",
                label=f"{r['method']} {r['kind']}")
    ax.set_xlabel("epoch")
    ax.set_ylabel("test accuracy (%)")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def table3(table: dict) -> plt.Figure:
    """Table 3's images: each column's (scrambled) image with its prediction and LPIPS."""
    cols = [c for c in next(iter(table.values())) if c != "test_index"]
    fig, axes = plt.subplots(len(table), len(cols), figsize=(2.2 * len(cols), 2.4 * len(table)),
                             squeeze=False)
    for row, entry in zip(axes, table.values(), strict=True):
        for ax, c in zip(row, cols, strict=True):
            v = entry[c]
            ax.imshow(decode_png(v["image_png"]))
            ax.set_title(f"{c}\n{v['class']} {v['probability']:.3f}, LPIPS {v['lpips']:.3f}", fontsize=7)
            ax.axis("off")
    fig.tight_layout()
    return fig
