"""The book's figures, drawn from records. Each returns a ``matplotlib.figure.Figure`` made without
pyplot (it is shown only where the notebook glues or displays it), sized to read at page width."""

from __future__ import annotations

import io

import numpy as np
import pandas as pd
import seaborn
import torch
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from ...bestofn import max_of_n_moments
from ...keys import Key
from ...scramblers import scramble, unscramble
from .. import paper
from ..compute.metric_study import AUTHORS_LPIPS
from ..png import decode_png

# A figure PAGE inches wide is about 730 px as PNG (110 dpi, with its margin) and is shown in the book's
# text column, 660 px wide in a 1280-px window: a label of FONT - 1 = 9 points reads at about 9.3 points
# there. No figure below is wider, and none of its text smaller (tests/test_book_build.py checks both).
# On a phone (390 px wide, 342 px for a figure) one PAGE wide shrinks to less than half: Fig. 3, nine
# panels, is drawn narrower, two panels a row, so that its labels still read at 8 points there (also
# checked).
PAGE = 6.5  # inches
FONT = 10  # points
FIG3_WIDTH = 4.0  # inches
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
    """Labelled image strips, one under another, the page's width (the labels take the left fifth)."""
    height = 0.8 * PAGE * rows[0][1].shape[0] / rows[0][1].shape[1]  # inches a strip takes
    fig = Figure(figsize=(PAGE, 1.08 * height * len(rows)), layout="constrained")
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


def attacks(rows: list[tuple[str, torch.Tensor]]) -> Figure:
    """Labelled rows of images (each N x 3 x H x W uint8): the plain images, each method's scrambled
    images and what an attack reconstructs of them (``report.attacks.reconstructions``)."""
    return _strips([(label, _strip(x)) for label, x in rows])


# notebook 05's Q1 figure: each measure's panel title and the factor its values are shown at
ATTACK_MEASURES = {"lpips": ("LPIPS of the reconstruction", 1), "ssim": ("SSIM", 1), "psnr": ("PSNR (dB)", 1),
                   "accuracy": ("plain classifier's accuracy (%)", 100)}


def attack_groups(frame: pd.DataFrame, measures: tuple[str, ...] = ("lpips", "accuracy")) -> Figure:
    """Q1 of notebook 05 (``report.attacks.group_frame``): per method (a row of panels) and measure (a
    column), each attack's mean over the highest-rho keys (red circles) and the lowest-rho keys (blue
    squares), with their 95 % intervals over keys and images as bars; the legend above the panels."""
    methods = list(dict.fromkeys(frame["method"]))
    attacks = list(dict.fromkeys(frame["attack"]))
    fig = Figure(figsize=(PAGE, 0.5 + 0.32 * len(attacks) * len(methods) + 0.4 * len(methods)),
                 layout="constrained")
    axes = fig.subplots(len(methods), len(measures), squeeze=False, sharex="col")
    y = np.arange(len(attacks))[::-1]
    style = {"highest rho": ("o", "C3", +0.15), "lowest rho": ("s", "C0", -0.15)}
    for row, m in zip(axes, methods, strict=True):
        for ax, measure in zip(row, measures, strict=True):
            label, scale = ATTACK_MEASURES[measure]
            for group, (marker, colour, dy) in style.items():
                d = frame[(frame.method == m) & (frame.measure == measure) & (frame.group == group)]
                at = {a: i for i, a in zip(y, attacks, strict=True)}
                pos = np.array([at[a] for a in d.attack]) + dy
                mean, lo, hi = (scale * d[c].to_numpy() for c in ("mean", "low", "high"))
                keys = int(d["keys"].iloc[0]) if len(d) else 0
                ax.errorbar(mean, pos, xerr=[mean - lo, hi - mean], fmt=marker, color=colour, ms=4,
                            capsize=2, lw=1, label=f"{plural(keys, 'key')} of {group}")
            ax.set_yticks(y, attacks if measure == measures[0] else [""] * len(attacks), fontsize=FONT - 1)
            ax.set_ylim(-0.6, len(attacks) - 0.4)
            ax.tick_params(labelsize=FONT - 1)
            ax.grid(axis="x", lw=0.4, alpha=0.5)
            if m == methods[0]:
                ax.set_title(label, fontsize=FONT)
            if measure == measures[0]:
                ax.set_ylabel(m, fontsize=FONT, rotation=0, ha="right", va="center", labelpad=4)
    handles, labels = axes[0][0].get_legend_handles_labels()
    fig.legend(handles, labels, ncol=2, loc="outside upper center", fontsize=FONT - 1, frameon=False)
    return fig


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


def metric_frame(record: dict) -> pd.DataFrame:
    """The metric study's record in long form, one row per metric, inversion ratio and key: the
    metric's value (mean over the images; FID: over the set) for that key. A ratio where some key's
    value is not finite (PSNR of an unchanged image) is left out, as in ``metric_study.curves``."""
    r = record["result"]
    rows = []
    for name, values in r["values"].items():
        v = np.asarray(values, dtype=float)
        for percent, keys in zip(r["percents"], v, strict=True):
            if np.isfinite(keys).all():
                rows += [(name, percent, k, value) for k, value in enumerate(keys)]
    return pd.DataFrame(rows, columns=["metric", "inversion ratio (%)", "key", "value"])


BAND = ("ci", 95)  # Fig. 3's bands: 95 % bootstrap interval of the mean over keys (seaborn's "ci")


def fig3(record: dict, seed: int = 0) -> Figure:
    """The nine metrics against the inversion ratio (``metric_study``'s record), two panels a row: the
    mean over keys, with its 95 % confidence interval from resampling the keys (seaborn's bootstrap,
    ``BAND``; no band where one key was drawn); LPIPS (red) also under the authors' input convention
    (dashed), where computed, named in a legend above the panels."""
    frame = metric_frame(record)
    r = record["result"]
    names = [n for n in r["values"] if n in UNITS]
    rows = -(-len(names) // 2)
    fig = Figure(figsize=(FIG3_WIDTH, 0.3 + 2.15 * rows), layout="constrained")
    axes = list(fig.subplots(rows, 2).flat)
    x, y = "inversion ratio (%)", "value"
    legend = None
    for ax, name in zip(axes, names, strict=False):
        if name == "lpips" and AUTHORS_LPIPS in r["values"]:
            inputs = {name: "LPIPS, standard inputs", AUTHORS_LPIPS: "LPIPS, authors' inputs"}
            d = frame[frame.metric.isin(list(inputs))].replace({"metric": inputs})
            order = list(inputs.values())
            seaborn.lineplot(d, x=x, y=y, hue="metric", hue_order=order, style="metric", style_order=order,
                             markers=["o", "s"], dashes=["", (4, 2)], palette=["C3", "C1"], markersize=4,
                             errorbar=BAND, seed=seed, err_kws={"alpha": 0.2}, ax=ax)
            legend = ax.get_legend()
            legend.remove()  # drawn above the panels instead, clear of every curve
        else:
            seaborn.lineplot(frame[frame.metric == name], x=x, y=y, marker="o", markersize=4,
                             color="C3" if name == "lpips" else "C0", errorbar=BAND, seed=seed,
                             err_kws={"alpha": 0.25}, ax=ax)
        keys = r["iterations"][name]
        ax.set_title(f"{name.upper()}\n{plural(r['images'][name], 'image')}, {plural(keys, 'key')}",
                     fontsize=FONT)
        ax.set_xlabel(x, fontsize=FONT)
        ax.set_ylabel(UNITS[name], fontsize=FONT)
        ax.set_xticks([0, 50, 100])
        ax.set_xlim(-5, 105)  # the same on every panel (PSNR has none at 0 %)
        ax.axvline(50, color="grey", lw=0.6, ls=":")
        ax.tick_params(labelsize=FONT)
    for ax in axes[len(names):]:
        ax.set_visible(False)  # the odd panel's neighbour
    if legend is not None:
        fig.legend(legend.legend_handles, [t.get_text() for t in legend.get_texts()], ncol=1,
                   loc="outside upper center", fontsize=FONT, frameon=False)
    return fig


def table1(examples: dict) -> Figure:
    """One image at several inversion ratios, with each version's LPIPS."""
    fig = Figure(figsize=(PAGE, 1.75), layout="constrained")
    axes = fig.subplots(1, len(examples["percents"]))
    for ax, p, img, s in zip(axes, examples["percents"], examples["images"], examples["lpips"], strict=True):
        # PNG text; records computed by older code hold nested lists of pixels
        ax.imshow(decode_png(img) if isinstance(img, str) else np.array(img, dtype=np.uint8),
                  interpolation="nearest")
        ax.set_title(f"IIR {p} %\nLPIPS {s:.3f}", fontsize=FONT - 1)
        ax.axis("off")
    return fig


def selection_bands(pool: np.ndarray, ns: np.ndarray, draws: int = 2000, seed: int = 0,
                    level: float = 0.95) -> dict[str, np.ndarray]:
    """Estimator (b) of the mean and SD of the best of N keys, from a pool of scored keys, with a
    ``level`` bootstrap interval of each (resampling the pool's keys: the draws and seed of
    ``bestofn.pool_estimate``, so the mean's band is its band). Each band is 2 x len(ns)."""
    mean, sd = max_of_n_moments(pool, ns)
    rng = np.random.default_rng(seed)
    boot_mean, boot_sd = max_of_n_moments(pool[rng.integers(0, len(pool), (draws, len(pool)))], ns)
    q = [(1 - level) / 2, (1 + level) / 2]
    return {"mean": mean, "sd": sd, "mean_band": np.quantile(boot_mean, q, axis=0),
            "sd_band": np.quantile(boot_sd, q, axis=0)}


def figs45(records: dict[str, dict]) -> dict[int, Figure]:
    """Fig. 4 (mean) and Fig. 5 (SD) of the selected rho against N, one panel per method, from
    ``key_search``'s records: estimator (b) from each method's pool of scored keys as a line, with its
    95 % bootstrap interval (``selection_bands``) as a band; estimator (a), the repeated searches, as
    points (Fig. 4: with one standard error either side); the paper's Table 2 values at N = 1
    (original key) and N = the trials (proposed) as black diamonds."""
    figs = {}
    for stat, label, fig_no in (("mean", "mean of the selected rho", 4), ("sd", "SD of the selected rho", 5)):
        fig = Figure(figsize=(PAGE, 6.5), layout="constrained")
        axes = list(fig.subplots(2, 2).flat)
        entries: dict = {}  # label: handle, from every panel, for one legend above them, clear of the data
        for ax, (m, r) in zip(axes, records.items(), strict=False):
            pool, a = np.asarray(r["result"]["pool"], dtype=float), r["result"]["repeats"]
            trials, repeats = r["params"]["trials"], r["params"]["repeats"]
            ns = np.arange(1, trials + 1)
            b = selection_bands(pool, ns)
            line, = ax.plot(ns, b[stat], "-", color="C0")
            band = ax.fill_between(ns, *b[f"{stat}_band"], color="C0", alpha=0.2)
            entries.setdefault(f"(b) pool of {len(pool)} keys, 95 % band", (band, line))  # line on band
            if stat == "mean":
                ax.errorbar(a["ns"], a["mean"], yerr=a["mean_se"], fmt="o", ms=3, color="C1",
                            label=f"(a) {repeats} repeats ({a['evaluations']} keys), ± 1 SE")
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
            for handle, text in zip(*ax.get_legend_handles_labels(), strict=True):
                entries.setdefault(text, handle)
        for ax in axes[len(records):]:
            ax.set_visible(False)  # panels left over when fewer than four methods ran
        fig.legend(list(entries.values()), list(entries), ncol=2, loc="outside upper center",
                   fontsize=FONT - 1, frameon=False)
        figs[fig_no] = fig
    return figs


def training_curves(runs: list[dict], seed: int) -> Figure:
    """Test accuracy per epoch of each run of ``seed``: one colour per method, proposed keys solid,
    original dashed; the legend above the plot, clear of the curves."""
    fig = Figure(figsize=(PAGE, 3.9), layout="constrained")
    ax = fig.subplots()
    mine = sorted((r for r in runs if r["seed"] == seed), key=lambda r: (r["method"], r["kind"]))
    colour = {m: f"C{i}" for i, m in enumerate(dict.fromkeys(r["method"] for r in mine))}
    for r in mine:
        ax.plot([h["epoch"] for h in r["history"]], [100 * h["test_accuracy"] for h in r["history"]],
                marker="o", ms=3, ls="-" if r["kind"] == "proposed" else "--", color=colour[r["method"]],
                label=f"{r['method']} {r['kind']}")
    ax.set_xlabel("epoch", fontsize=FONT)
    ax.set_ylabel("test accuracy (%)", fontsize=FONT)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True, min_n_ticks=1))  # whole epochs, even one
    ax.tick_params(labelsize=FONT - 1)
    fig.legend(ncol=4, loc="outside upper center", fontsize=FONT - 1, frameon=False)
    return fig


def table3(table: dict) -> Figure:
    """Table 3's images: each column's (scrambled) image with its prediction and LPIPS."""
    cols = [c for c in next(iter(table.values())) if c != "test_index"]
    side = PAGE / len(cols)  # inches of one image's column
    fig = Figure(figsize=(PAGE, (side + 0.5) * len(table)), layout="constrained")
    axes = fig.subplots(len(table), len(cols), squeeze=False)
    for row, entry in zip(axes, table.values(), strict=True):
        for ax, c in zip(row, cols, strict=True):
            v = entry[c]
            ax.imshow(decode_png(v["image_png"]), interpolation="nearest")
            ax.set_title(f"{c}\n{v['class']} {v['probability']:.3f}, LPIPS {v['lpips']:.3f}",
                         fontsize=FONT - 1)
            ax.axis("off")
    return fig
