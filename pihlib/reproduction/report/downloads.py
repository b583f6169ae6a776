"""The data behind each figure and results table of the book, for the reader to take away.

``data_link`` turns a table (a ``pandas.DataFrame``) into an HTML snippet set beside the figure or
table: a link that downloads it as a CSV file (the file is inside the link, a ``data:`` URL, so the
page needs no other file and works offline) and the one command that recomputes it. The other
functions here make those tables from the records, the numbers plotted or tabulated as numbers
(not the rounded text the book shows), with column names that say their units. They only read.
"""

from __future__ import annotations

import base64
import shlex
from html import escape
from typing import Any

import numpy as np
import pandas as pd
import torch
from IPython.display import HTML

from ...keys import Key
from ...keyspace import key_space_bits, selection_cost_bits
from ...scramblers import scramble, unscramble
from .. import experiment as compute_module
from .. import paper, presets
from .figures import UNITS, metric_frame, selection_bands
from .hiding import accuracy_difference, chance_line, paired_interval
from .key_search import estimates
from .metric_study import peaks

CLASS = "pih-data"  # the snippet's class: the book's style sheet and tests find it by it
LPIPS_AUTHORS = "LPIPS, authors' convention"  # rho and Table 1's LPIPS: [0, 1] images fed as they are


def _command(experiment: str, preset: str, params: dict[str, Any] | None, book_preset: str) -> str:
    """The shell command that computes ``experiment`` at ``preset`` and builds the book at
    ``book_preset``. Where the record is the build's own (``preset`` is ``book_preset``), the
    parameters of ``params`` that differ from the preset's are passed on as ``-p`` overrides."""
    notebook = compute_module(experiment).NOTEBOOK
    defaults = presets.PRESETS[preset][notebook]
    given = {k: v for k, v in (params or {}).items() if k in defaults and v != defaults[k]} \
        if book_preset == preset else {}
    compute = f"python -m pihlib.reproduction compute --preset {preset} --only {experiment}"
    compute += "".join(f" -p {experiment}.{k} {shlex.quote(repr(v))}" for k, v in given.items())
    if not given:
        return f"{compute} && make book PRESET={book_preset}"
    build = f"python -m pihlib.reproduction build --preset {book_preset}"
    return f"{compute} && {build}" + "".join(f" -p {notebook}.{k} {shlex.quote(repr(v))}"
                                             for k, v in given.items())


def data_link(frame: pd.DataFrame, filename: str, experiment: str, preset: str,
              params: dict[str, Any] | None = None, book_preset: str | None = None) -> HTML:
    """A figure's or table's data as a CSV download, with the command that recomputes it.

    Args:
        frame: the numbers behind the figure or table, one row per point or cell group, columns
            named with their units; written as CSV without its index (put what identifies a row in
            its columns).
        filename: the name the download is saved under, e.g. ``"fig3.csv"``.
        experiment: the experiment whose record the frame comes from (one of
            ``pihlib.reproduction.EXPERIMENTS``), the ``--only`` of the command.
        preset: the preset of that record, e.g. ``"gpu"`` where a page shows the committed ``gpu``
            records whatever preset the book is built at.
        params: the notebook's parameters (its ``P``). Where the record is the build's own
            (``book_preset`` None or ``preset``), those that differ from ``preset``'s are named as
            ``-p`` overrides in the command; ignored for another preset's record. None: the
            preset's own.
        book_preset: the preset the book is built at; None: ``preset``.

    Returns:
        IPython.display.HTML: one paragraph of class ``pih-data`` holding an ``<a download=filename
        href="data:text/csv;base64,...">`` link (UTF-8 CSV, header row then ``len(frame)`` rows) and
        the command in a ``<code>`` element.
    """
    csv = frame.to_csv(index=False, lineterminator="\n")
    data = base64.b64encode(csv.encode("utf-8")).decode("ascii")
    command = _command(experiment, preset, params, book_preset or preset)
    rows = f"{len(frame)} row{'' if len(frame) == 1 else 's'}"
    return HTML(f'<p class="{CLASS}">Data: <a download="{escape(filename)}" '
                f'href="data:text/csv;base64,{data}">{escape(filename)}</a> ({rows}, CSV; the '
                f'<code>{escape(preset)}</code> preset). Recompute: <code>{escape(command)}</code></p>')


# Notebook 00 ---------------------------------------------------------------------------------------

def scramblers_table(record: dict) -> pd.DataFrame:
    """Notebook 00's table, from the ``scramblers`` record.

    Args:
        record: the ``scramblers`` record (``result`` by method, ``params`` with ``n_check``).

    Returns:
        pandas.DataFrame: one row per method: its key's fingerprint, whether the inverse was exact
        on every checked image, the share of values the key changes (%) and its key space (bits).
    """
    n = record["params"]["n_check"]
    return pd.DataFrame([{"method": m, "key fingerprint": r["fingerprint"],
                          f"exact inverse on all {n} images": bool(r["exact_inverse"]),
                          "values changed (%)": 100 * r["values_changed"],
                          "key space, nominal (bits)": r["key_space_bits"]["nominal"],
                          "key space, effective (bits)": r["key_space_bits"]["effective"]}
                         for m, r in record["result"].items()])


def scramblers_figure(keys: dict[str, Key], x: torch.Tensor) -> pd.DataFrame:
    """The numbers behind notebook 00's figure: what each key does to each image shown.

    Args:
        keys: one key per method, as the figure scrambles with.
        x: the images shown, N x 3 x H x W uint8 (the first N of the split, in order).

    Returns:
        pandas.DataFrame: one row per method and image (N rows a method): the image's position in
        the split, the share of its values the key changes (%), the mean absolute change (8-bit
        levels) and whether unscrambling gives it back bit for bit.
    """
    rows = []
    for method, key in keys.items():
        y = scramble(x, key)
        back = unscramble(y, key)
        for i in range(len(x)):
            rows.append({"method": method, "image (index in the split)": i,
                         "values changed (%)": 100 * float((y[i] != x[i]).float().mean()),
                         "mean |scrambled - plain| (8-bit levels)":
                             float((y[i].double() - x[i].double()).abs().mean()),
                         "unscrambled identical to plain": bool(torch.equal(back[i], x[i]))})
    return pd.DataFrame(rows)


# Notebook 01 ---------------------------------------------------------------------------------------

def fig3(record: dict) -> pd.DataFrame:
    """The points of Fig. 3, before averaging: each metric's value for each key at each ratio.

    Args:
        record: the metric study's ``curves`` record.

    Returns:
        pandas.DataFrame: ``figures.metric_frame``'s long form (one row per metric, inversion ratio
        and key; ratios where some key's value is not finite left out, as in the figure) with each
        metric's unit and how many images each value averages. Fig. 3's lines are the means over
        the keys.
    """
    r = record["result"]
    frame = metric_frame(record).rename(columns={"key": "key (index)", "value": "value (see unit)"})
    units = {m: UNITS[m.split(" ")[0]] + ("" if m in UNITS else ", authors' input convention")
             for m in r["values"]}
    frame.insert(1, "unit", frame["metric"].map(units))
    frame.insert(2, "images per value", frame["metric"].map(r["images"]))
    return frame


def fig3_peaks(record: dict) -> pd.DataFrame:
    """The table of where each curve of Fig. 3 is most hiding, and how wide that peak is.

    Args:
        record: the metric study's ``curves`` record.

    Returns:
        pandas.DataFrame: one row per metric (``metric_study.peaks``): the ratio (%) where its mean
        curve is most hiding (PSNR, SSIM: lowest) and the peak's width (% of the ratio's range),
        each with its 95 % interval over keys (empty with one key).
    """
    rows = []
    for name, p in peaks(record).items():
        row = {"metric": name}
        for key, label in (("peak_percent", "most hiding at IIR (%)"),
                           ("width_above_half", "width of the peak (% IIR)")):
            interval = p[f"{key}_interval"] or (np.nan, np.nan)
            row |= {label: p[key], f"{label}, 95 % interval low": interval[0],
                    f"{label}, 95 % interval high": interval[1]}
        rows.append(row)
    return pd.DataFrame(rows)


def table1(examples: dict) -> pd.DataFrame:
    """Table 1's numbers: one image's LPIPS at each inversion ratio.

    Args:
        examples: the ``iir_examples`` record (``result`` with ``percents`` and ``lpips``, ``params``
            with ``example_image``).

    Returns:
        pandas.DataFrame: one row per ratio: the test image, the ratio (%) and the LPIPS against
        the plain image (authors' convention).
    """
    r = examples["result"]
    return pd.DataFrame({"test image (index)": examples["params"]["example_image"],
                         "inversion ratio (%)": r["percents"],
                         "LPIPS against the plain image (authors' convention)": r["lpips"]})


def ssim_channels(record: dict) -> pd.DataFrame:
    """The table of SSIM on grey and on colour images, from the ``ssim_channels`` record.

    Args:
        record: the ``ssim_channels`` record (``result``: the mean SSIM by way of comparing).

    Returns:
        pandas.DataFrame: one row per way (grey, RGB): the mean SSIM (1 = identical) between the
        plain images and the same images at 50 % inversion ratio.
    """
    return pd.DataFrame({"SSIM computed on": list(record["result"]),
                         "mean SSIM, plain vs. 50 % IIR (1 = identical)": list(record["result"].values())})


# Notebook 02 ---------------------------------------------------------------------------------------

def _fig45(records: dict[str, dict], stat: str) -> pd.DataFrame:
    """Fig. 4's (``stat`` "mean") or Fig. 5's ("sd") points, one row per method and N."""
    name, unit = ("mean" if stat == "mean" else "SD"), f"({LPIPS_AUTHORS})"
    key = "pih_mean" if stat == "mean" else "pih_sd"
    frames = []
    for m, r in records.items():
        pool, a = np.asarray(r["result"]["pool"], dtype=float), r["result"]["repeats"]
        trials = r["params"]["trials"]
        ns = np.arange(1, trials + 1)
        b = selection_bands(pool, ns)
        f = pd.DataFrame({"method": m, "N (keys drawn)": ns, "(b) pool size (keys)": len(pool),
                          f"(b) {name} of the selected rho {unit}": b[stat],
                          f"(b) 95 % band low {unit}": b[f"{stat}_band"][0],
                          f"(b) 95 % band high {unit}": b[f"{stat}_band"][1]})
        searched = {"N (keys drawn)": a["ns"], "(a) repeated searches (count)": r["params"]["repeats"],
                    f"(a) {name} of the selected rho {unit}": a[stat]}
        if stat == "mean":
            searched[f"(a) standard error {unit}"] = a["mean_se"]
        f = f.merge(pd.DataFrame(searched), on="N (keys drawn)", how="left")
        theirs = paper.TABLE2.get(m)
        f[f"paper, Table 2 {unit}"] = np.nan
        if theirs:
            f.loc[f["N (keys drawn)"] == 1, f"paper, Table 2 {unit}"] = theirs["original"][key]
            f.loc[f["N (keys drawn)"] == trials, f"paper, Table 2 {unit}"] = theirs["proposed"][key]
        frames.append(f)
    return pd.concat(frames, ignore_index=True)


def fig4(records: dict[str, dict]) -> pd.DataFrame:
    """Fig. 4's points: the mean rho of the key selected among N, per method and N.

    Args:
        records: the key-search records by method.

    Returns:
        pandas.DataFrame: one row per method and N (1 to the trials): estimator (b) with its 95 %
        bootstrap band (``figures.selection_bands``, as drawn), estimator (a) with its standard
        error (where searched at that N) and the paper's Table 2 value at N = 1 and N = the trials.
    """
    return _fig45(records, "mean")


def fig5(records: dict[str, dict]) -> pd.DataFrame:
    """Fig. 5's points: the SD of the rho of the key selected among N, per method and N.

    Args:
        records: the key-search records by method.

    Returns:
        pandas.DataFrame: one row per method and N (1 to the trials): estimator (b) with its 95 %
        bootstrap band, estimator (a) (where searched at that N) and the paper's Table 2 SD at
        N = 1 and N = the trials.
    """
    return _fig45(records, "sd")


def table2_pih(records: dict[str, dict]) -> pd.DataFrame:
    """Table 2's PIH columns as numbers (``key_search.table2_rows`` shows them rounded).

    Args:
        records: the key-search records by method.

    Returns:
        pandas.DataFrame: one row per method: key space and the cost of keeping the best of N
        (bits), the mean and SD of rho of one random key ("original") and of the best of N
        ("proposed", estimator b), ours and the paper's, and the rho of the key the search kept.
    """
    rows = []
    for m, e in estimates(records).items():
        pool = np.asarray(records[m]["result"]["pool"], dtype=float)
        trials = records[m]["params"]["trials"]
        theirs = paper.TABLE2[m]
        rows.append({"method": m, "key space, effective (bits)": key_space_bits(m)["effective"],
                     "N (keys drawn)": trials, "cost of best-of-N (bits)": selection_cost_bits(trials),
                     "original rho mean, ours": pool.mean(), "original rho SD, ours": pool.std(ddof=1),
                     "original rho mean, paper": theirs["original"]["pih_mean"],
                     "original rho SD, paper": theirs["original"]["pih_sd"],
                     "proposed rho mean, ours": e["pool"].mean[trials - 1],
                     "proposed rho SD, ours": e["pool"].sd[trials - 1],
                     "proposed rho mean, paper": theirs["proposed"]["pih_mean"],
                     "proposed rho SD, paper": theirs["proposed"]["pih_sd"],
                     "searched key's rho": records[m]["result"]["search"]["rho"]})
    frame = pd.DataFrame(rows)
    return frame.rename(columns={c: f"{c} ({LPIPS_AUTHORS})" for c in frame if "rho" in c})


# Notebook 03 ---------------------------------------------------------------------------------------

def table2_accuracy(summary: dict) -> pd.DataFrame:
    """Table 2's accuracy rows as numbers (``classification.table2_rows`` shows them rounded).

    Args:
        summary: ``classification.summary`` of the runs shown (per method and key kind).

    Returns:
        pandas.DataFrame: one row per method and key kind: the runs (seeds), the mean and SD over
        them of the test accuracy (%) and of rho of the runs' keys, beside the paper's; an SD is
        empty with one run.
    """
    rows = []
    for m, kinds in summary.items():
        for kind, v in kinds.items():
            p = paper.TABLE2[m][kind]
            rows.append({"method": m, "key": kind, "runs (seeds)": len(v["acc"]),
                         "test accuracy mean (%)": v["acc_mean"], "test accuracy SD (%)": v["acc_sd"],
                         "test accuracy mean, paper (%)": p["acc_mean"],
                         "test accuracy SD, paper (%)": p["acc_sd"],
                         f"rho of the runs' keys, mean ({LPIPS_AUTHORS})": v["rho_mean"],
                         f"rho of the runs' keys, SD ({LPIPS_AUTHORS})": v["rho_sd"],
                         f"PIH mean, paper ({LPIPS_AUTHORS})": p["pih_mean"],
                         f"PIH SD, paper ({LPIPS_AUTHORS})": p["pih_sd"]})
    return pd.DataFrame(rows)


def derived_runs(paper_runs: list[dict], derived: list[dict], plain: dict | None) -> pd.DataFrame:
    """The runs with first layers derived from the training statistics, each beside the run of the
    paper's network with the same key.

    Args:
        paper_runs: the classification runs with the paper's adaptation networks.
        derived: the runs with derived first layers (``compute.derived_runs``), the same keys.
        plain: the plain classifier's run at the same settings, or None.

    Returns:
        pandas.DataFrame: one row per derived run: method, key kind, seed, key fingerprint, rho
        (authors' convention), test accuracy (%) with the derived layer and with the adaptation network,
        the plain classifier's (%), the share of test images the layer gave back as the plain image
        and as its 4-bit version (either up to a left-right mirror), the layer's fitting time (s)
        and the scrambled training images it was set from.
    """
    paper_acc = {(r["method"], r["kind"], r["seed"]): 100 * r["accuracy"] for r in paper_runs}
    base = None if plain is None else 100 * plain["accuracy"]
    return pd.DataFrame([{"method": r["method"], "key": r["kind"], "seed": r["seed"],
                          "key fingerprint": r["fingerprint"], f"rho ({LPIPS_AUTHORS})": r["rho"],
                          "test accuracy, derived first layer (%)": 100 * r["accuracy"],
                          "test accuracy, adaptation network (%)":
                              paper_acc.get((r["method"], r["kind"], r["seed"])),
                          "test accuracy, plain images (%)": base,
                          "test images given back as plain": r["recovered"]["exact"],
                          "test images given back at 4 bits": r["recovered"]["four_bit"],
                          "layer fitted in (s)": r["fit_time_s"],
                          "layer fitted from (images)": r["fit_images"]}
                         for r in derived])


def training(runs: list[dict], seed: int) -> pd.DataFrame:
    """The training figure's points: test accuracy after each epoch of each run of ``seed``.

    Args:
        runs: the classification runs (each with ``method``, ``kind``, ``seed``, ``history``).
        seed: the seed whose runs the figure shows.

    Returns:
        pandas.DataFrame: one row per run and epoch: method, key kind, seed, epoch and test
        accuracy (%, scrambled test images).
    """
    return pd.DataFrame([{"method": r["method"], "key": r["kind"], "seed": r["seed"], "epoch": h["epoch"],
                          "test accuracy (%)": 100 * h["test_accuracy"]}
                         for r in runs if r["seed"] == seed for h in r["history"]],
                        columns=["method", "key", "seed", "epoch", "test accuracy (%)"])


def table3(table: dict) -> pd.DataFrame:
    """Table 3's numbers: each image's prediction and LPIPS per model, beside the paper's.

    Args:
        table: Table 3 as assembled from the runs (by image: ``test_index`` and one entry per
            column, each with ``class``, ``probability``, ``lpips``).

    Returns:
        pandas.DataFrame: one row per image and column (model): the test image, the predicted
        class and its probability (0 to 1), the LPIPS against the plain image (authors'
        convention), and the paper's three (empty where the paper has no such column).
    """
    rows = []
    for image, entry in table.items():
        for col, v in entry.items():
            if col == "test_index":
                continue
            theirs = paper.TABLE3.get(image, {}).get(col.removesuffix(" (proposed)"), (None, np.nan, np.nan))
            rows.append({"image (paper's class)": image, "test image (index)": entry["test_index"],
                         "column (model)": col, "predicted class": v["class"],
                         "probability (0-1)": v["probability"],
                         "LPIPS against plain (authors' convention)": v["lpips"],
                         "predicted class, paper": theirs[0], "probability, paper (0-1)": theirs[1],
                         "LPIPS against plain, paper (authors' convention)": theirs[2]})
    return pd.DataFrame(rows)


# Notebook 04 ---------------------------------------------------------------------------------------

def hiding_figure(record: dict) -> pd.DataFrame:
    """The numbers behind the hiding figure: each method's best and worst key by rho.

    Args:
        record: the ``hiding`` record shown.

    Returns:
        pandas.DataFrame: one row per method and key (best, worst): the key's fingerprint, its rho
        and how many test images the figure shows.
    """
    r = record["result"]
    return pd.DataFrame([{"method": m, "key": which, "key fingerprint": e[which]["fingerprint"],
                          f"rho ({LPIPS_AUTHORS})": e[which]["rho"],
                          "test images shown": len(e[which]["images_png"])}
                         for m, e in r["methods"].items() for which in ("best", "worst")])


def hiding_accuracy(record: dict) -> pd.DataFrame:
    """The table of what the plain-trained classifier reads of the best and worst key's images.

    Args:
        record: the ``hiding`` record shown.

    Returns:
        pandas.DataFrame: one row per method: rho of each key, the classifier's accuracy (%) on
        each key's scrambled test images, best - worst (points) with its 95 % interval
        (``hiding.accuracy_difference``), the test images and the chance line (%).
    """
    r = record["result"]
    rows = []
    for m, e in r["methods"].items():
        d, lo, hi = accuracy_difference(e, r["n_test"])
        rows.append({"method": m, f"rho, best key ({LPIPS_AUTHORS})": e["best"]["rho"],
                     f"rho, worst key ({LPIPS_AUTHORS})": e["worst"]["rho"],
                     "accuracy, best key (%)": 100 * e["best"]["accuracy"],
                     "accuracy, worst key (%)": 100 * e["worst"]["accuracy"],
                     "best - worst (points)": 100 * d, "best - worst, 95 % interval low (points)": 100 * lo,
                     "best - worst, 95 % interval high (points)": 100 * hi, "test images": r["n_test"],
                     "chance line (%)": 100 * chance_line(r["n_test"]),
                     "accuracy on plain images (%)": 100 * r["plain_accuracy"]})
    return pd.DataFrame(rows)


def hiding_view(record: dict) -> pd.DataFrame:
    """The table of how well the key-independent view of each key's images matches the plain's.

    Args:
        record: the ``hiding`` record shown.

    Returns:
        pandas.DataFrame: one row per method: the mean correlation (Pearson r, -1 to 1) of the view
        |x - 127.5| of the scrambled and the plain test images, for the best and worst key, and
        best - worst with its 95 % interval (paired by image; empty for records that hold only the
        means).
    """
    rows = []
    for m, e in record["result"]["methods"].items():
        d = lo = hi = np.nan
        if "view_correlations" in e["best"]:
            d, lo, hi = paired_interval(e["best"]["view_correlations"], e["worst"]["view_correlations"])
        rows.append({"method": m, "view correlation, best key (r)": e["best"]["view_correlation"],
                     "view correlation, worst key (r)": e["worst"]["view_correlation"],
                     "best - worst (r)": d, "best - worst, 95 % interval low (r)": lo,
                     "best - worst, 95 % interval high (r)": hi})
    return pd.DataFrame(rows)
