"""The data beside each figure and table of the book (``report.downloads``): a CSV inside the link
that is the frame it was made from, the command that recomputes it, and frames that hold the numbers
the book's tables show rounded."""

from __future__ import annotations

import base64
import io
import json
import re
import shlex
from html import unescape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from pihlib.reproduction import EXPERIMENTS, presets
from pihlib.reproduction.__main__ import overrides
from pihlib.reproduction.compute import scrambling
from pihlib.reproduction.report import classification, downloads, hiding, key_search, metric_study
from pihlib.reproduction.report import scrambling as scrambling_report

ROOT = Path(__file__).resolve().parents[1]
COMMITTED = ROOT / "results" / "cpu"


def parse(link) -> tuple[str, str, str, str]:
    """(class, download name, CSV text, command) of a ``data_link`` snippet."""
    html = link.data
    cls = re.search(r'<p class="([^"]+)"', html).group(1)
    name = re.search(r'<a download="([^"]+)"', html).group(1)
    data = re.search(r'href="data:text/csv;base64,([A-Za-z0-9+/=]+)"', html).group(1)
    commands = re.findall(r"<code>(.*?)</code>", html)
    return cls, name, base64.b64decode(data).decode("utf-8"), unescape(commands[-1])


def record(name: str) -> dict:
    return json.loads((COMMITTED / f"{name}.json").read_text())


def test_the_link_holds_the_frames_csv_and_names_the_command():
    frame = pd.DataFrame({"inversion ratio (%)": [0, 50, 100], "LPIPS distance": [0.0, 0.31, 0.2],
                          "metric": ["lpips", "lpips, a \"quoted\" name", "é"]})
    cls, name, csv, command = parse(downloads.data_link(frame, "fig3.csv", "metric_study", "cpu"))
    assert cls == downloads.CLASS == "pih-data" and name == "fig3.csv"
    assert csv == frame.to_csv(index=False, lineterminator="\n")
    pd.testing.assert_frame_equal(pd.read_csv(io.StringIO(csv)), frame)
    assert command == ("python -m pihlib.reproduction compute --preset cpu --only metric_study"
                       " && make book PRESET=cpu")


def test_a_committed_gpu_record_in_a_cpu_book_is_recomputed_at_gpu_and_the_book_rebuilt_at_cpu():
    *_, command = parse(downloads.data_link(pd.DataFrame({"a": [1]}), "h.csv", "hiding", "gpu",
                                            book_preset="cpu"))
    assert command == ("python -m pihlib.reproduction compute --preset gpu --only hiding"
                       " && make book PRESET=cpu")


@pytest.mark.parametrize("experiment", EXPERIMENTS)
def test_a_build_with_overrides_names_them_and_they_parse_back(experiment):
    from pihlib.reproduction import experiment as compute_module

    notebook = compute_module(experiment).NOTEBOOK
    base = presets.params(notebook, "smoke")
    changed = {"seed": 3} if "seed" in base else {"seeds": [0, 4]}
    params = presets.params(notebook, "smoke", **changed)
    *_, command = parse(downloads.data_link(pd.DataFrame({"a": [1]}), "x.csv", experiment, "smoke", params))
    compute, build = command.split(" && ")
    assert compute.startswith(f"python -m pihlib.reproduction compute --preset smoke --only {experiment} -p ")
    assert build.startswith("python -m pihlib.reproduction build --preset smoke -p ")
    for part, target in ((compute, experiment), (build, notebook)):
        words = shlex.split(part)
        pairs = [words[i + 1:i + 3] for i, w in enumerate(words) if w == "-p"]
        assert all(t.startswith(f"{target}.") for t, _ in pairs)
        assert overrides(pairs, "smoke") == {notebook: changed}  # what the command line reads back
    unchanged = downloads.data_link(pd.DataFrame({"a": [1]}), "x.csv", experiment, "smoke", base)
    assert parse(unchanged)[3].endswith("&& make book PRESET=smoke") and " -p " not in parse(unchanged)[3]


def test_the_scramblers_frames_hold_the_tables_numbers(cifar_images):
    rec = record("scramblers")
    frame = downloads.scramblers_table(rec)
    shown = scrambling_report.table(rec)
    for _, row in frame.iterrows():
        assert f"{row['values changed (%)']:.1f} %" == shown[row["method"]]["values changed"]
        assert row["key fingerprint"] == shown[row["method"]]["key fingerprint"]
    x = cifar_images[:3]
    figure = downloads.scramblers_figure(scrambling.keys(rec["params"]), x)
    assert len(figure) == 3 * len(rec["result"]) and figure["unscrambled identical to plain"].all()
    assert (figure["values changed (%)"] > 50).all()


def test_the_metric_study_frames_hold_fig3s_points_and_the_peak_table():
    curves = record("metric_study")
    frame = downloads.fig3(curves)
    assert {"metric", "unit", "inversion ratio (%)", "key (index)", "value (see unit)"} <= set(frame.columns)
    assert frame["unit"].notna().all()
    means = metric_study.curves(curves)
    lpips = frame[frame.metric == "lpips"].groupby("inversion ratio (%)")["value (see unit)"].mean()
    np.testing.assert_allclose(lpips.to_numpy(), means["lpips"]["mean"])
    peaks = downloads.fig3_peaks(curves)
    shown = metric_study.peak_rows(curves)
    for _, row in peaks.iterrows():
        text = shown[row["metric"]]["most hiding at IIR (%) [95 % interval over keys]"]
        assert text.startswith(f"{row['most hiding at IIR (%)']:.0f}")
    ssim = downloads.ssim_channels(record("ssim_channels"))
    assert list(ssim["SSIM computed on"]) == ["grey", "rgb"] and ssim.iloc[:, 1].between(-1, 1).all()
    examples = downloads.table1(record("iir_examples"))
    assert list(examples["inversion ratio (%)"]) == record("iir_examples")["result"]["percents"]


def test_the_key_search_frames_hold_table_2s_pih_columns_and_figs_4_and_5():
    records = {m: record(f"key_search_{m}") for m in ("PE", "EtC", "LE", "ELE")}
    frame = downloads.table2_pih(records)
    shown = key_search.table2_rows(records)
    for _, row in frame.iterrows():
        unit = f"({downloads.LPIPS_AUTHORS})"
        ours = f"{row[f'proposed rho mean, ours {unit}']:.4f} ± {row[f'proposed rho SD, ours {unit}']:.4f}"
        assert ours == shown[row["method"]]["proposed rho (ours)"]
    trials = records["PE"]["params"]["trials"]
    for fig in (downloads.fig4(records), downloads.fig5(records)):
        assert len(fig) == 4 * trials and fig.filter(like="paper").notna().sum().sum() == 8


def test_the_hiding_and_classification_frames_hold_their_tables_numbers():
    gpu = json.loads((ROOT / "results" / "gpu" / "hiding.json").read_text())
    frame = downloads.hiding_accuracy(gpu)
    shown = hiding.accuracy_rows(gpu)
    for _, row in frame.iterrows():
        best = shown[row["method"]]["plain classifier's accuracy %, best key"]
        assert f"{row['accuracy, best key (%)']:.1f}" == best
    methods = len(gpu["result"]["methods"])
    assert len(downloads.hiding_view(gpu)) == len(downloads.hiding_figure(gpu)) / 2 == methods
    runs = [{"method": "PE", "kind": k, "seed": 0, "accuracy": a, "rho": r,
             "history": [{"epoch": 1, "test_accuracy": a / 2}, {"epoch": 2, "test_accuracy": a, "time_s": 2}]}
            for k, a, r in (("original", 0.9, 0.27), ("proposed", 0.91, 0.29))]
    table = downloads.table2_accuracy(classification.summary(runs))
    assert list(table["test accuracy mean (%)"]) == pytest.approx([90.0, 91.0])
    assert table["test accuracy SD (%)"].isna().all()  # one run: no SD
    curves = downloads.training(runs, 0)
    assert list(curves["test accuracy (%)"]) == pytest.approx([45.0, 90.0, 45.5, 91.0])
    assert downloads.training(runs, 1).empty


def test_table_3s_frame_sets_the_papers_values_beside_ours():
    entry = {"class": "frog", "probability": 0.8, "lpips": 0.3, "image_png": ""}
    table = {"frog": {"test_index": 6, "plain": entry, "PE (proposed)": entry}}
    frame = downloads.table3(table)
    assert list(frame["column (model)"]) == ["plain", "PE (proposed)"]
    assert list(frame["probability, paper (0-1)"]) == [0.9902, 0.9993]
    assert list(frame["test image (index)"]) == [6, 6]
