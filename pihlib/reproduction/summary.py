"""What the committed results say, read from them (nothing is computed): every number the README
states about this project's results, each with its preset, data, device and whether the code that
computed its record has changed since; and the texts the book's pages read about the presets.

    python -m pihlib.reproduction summary [--preset P ...]     # print it (Markdown)
    python -m pihlib.reproduction summary --write-readme       # rewrite the README's block

The README's block lies between ``BEGIN`` and ``END``; ``--write-readme`` rewrites only what lies
between them, for the presets whose results the checkout's git tracks (``committed_presets``), and
``tests/test_summary.py`` fails when the block and the committed results disagree. Every reader here
only reads records (``cache.load``): a record whose code digest differs from this checkout's is
marked "computed by older code", as the book marks it.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from ..errors import PihError
from . import EXPERIMENTS, cache, experiment, presets
from .compute import derived_runs, runs
from .compute.metric_study import AUTHORS_LPIPS, SLOW_METRICS
from .provenance import CHECKOUT, UNCOMMITTED
from .report import attacks, classification, hiding, key_search, metric_study, scrambling

README = CHECKOUT / "README.md"
BEGIN = "<!-- summary:begin -->"
END = "<!-- summary:end -->"
COMMAND = "python -m pihlib.reproduction summary --write-readme"

# The module that computes each record (its code digest decides "computed by older code"), by name
COMPUTED_BY = {"scramblers": "scrambling", "metric_study": "metric_study", "ssim_channels": "metric_study",
               "iir_examples": "metric_study", "first_layer": "training_studies",
               "jpeg_penalty": "training_studies", "hiding": "hiding", "attacks": "attacks"}


NOTEBOOKS = {name: experiment(name).NOTEBOOK for name in (*EXPERIMENTS, "attacks")}


def computed_by(name: str) -> str | None:
    """The module that computes the record ``name`` (None for a name no experiment writes)."""
    if name.startswith("key_search_"):
        return experiment("key_search").__name__
    if name.startswith(runs.RUNS + "/"):
        return runs.__name__
    if name.startswith(derived_runs.RUNS + "/"):
        return derived_runs.__name__
    return f"{runs.__package__}.{COMPUTED_BY[name]}" if name in COMPUTED_BY else None


def committed_presets() -> list[str]:
    """The presets (in ``presets.PRESETS`` order) whose results the checkout's git tracks; outside a
    git checkout, those with a results folder holding records (``smoke``'s never: it is not
    committed)."""
    root = cache.results_root()
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--", str(root)], cwd=CHECKOUT, capture_output=True,
                                text=True, timeout=30, check=True).stdout.split("\0")
        tracked = {Path(p).relative_to(root.relative_to(CHECKOUT)).parts[0] for p in listed if p}
    except (OSError, ValueError, subprocess.SubprocessError):
        tracked = {p for p in presets.PRESETS if p != "smoke" and any((root / p).rglob("*.json"))}
    return [p for p in presets.PRESETS if p in tracked]


def records(preset: str) -> dict[str, dict]:
    """Every stored record of ``preset`` that an experiment wrote, by name (``classification-runs/…``
    for the runs), each marked ``stale`` where its code has changed since (``cache.load``)."""
    folder = cache.results_root() / preset
    out = {}
    for path in sorted(folder.rglob("*.json")):
        name = path.relative_to(folder).with_suffix("").as_posix()
        code = computed_by(name)
        if code is not None and (record := cache.load(preset, name, code)) is not None:
            out[name] = record
    return out


# --- what the records came from ------------------------------------------------------------------

def _distinct(values: Iterable[str]) -> str:
    return ", ".join(dict.fromkeys(values))


def _data(record: dict) -> str:
    d = record["provenance"].get("data") or {}
    if not d:
        return "no data record"
    quality = "lossless" if d.get("lossless") else "LOSSY (JPEG)"
    count = f"{d['count']:,}" if isinstance(d.get("count"), int) else "all"
    return f"{count} CIFAR-10 {d.get('split')} images ({d.get('kind')} source, {quality})"


def _minutes(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 600 else f"{seconds / 60:.0f} minutes"


def _metric(name: str) -> str:
    return "LPIPS (authors' inputs)" if name == AUTHORS_LPIPS else name.upper()


def source(recs: list[dict], preset: str, notebook: str | None = None) -> str:
    """One line on where ``recs`` come from: data, device, compute time, when and at which commit(s),
    and, in bold, whether older code computed them or their parameters differ from the preset's."""
    ps = [r["provenance"] for r in recs]
    days = _distinct(datetime.fromisoformat(p["computed_at"]).date().isoformat() for p in ps)
    shown = [p["git_commit"].split()[0][:7] + (" with uncommitted changes" if UNCOMMITTED in p["git_commit"]
                                                else "") for p in ps]
    commits, many = _distinct(shown), len(set(shown)) > 1
    line = (f"data: {_distinct(_data(r) for r in recs)}; device: {_distinct(p['device'] for p in ps)}; "
            f"{_minutes(sum(p['wall_time_s'] for p in ps))} of compute"
            + (f" over {len(ps)} records" if len(ps) > 1 else "")
            + f", {days}, at commit{'s' if many else ''} {commits}")
    stale = sum(bool(p.get("stale")) for p in ps)
    if stale:
        line += (f"; **computed by older code** ({stale} of {len(ps)} records: the code they depend on "
                 "has changed since)" if len(ps) > 1 else "; **computed by older code**")
    else:
        line += "; computed by this code"
    if notebook is not None:
        want = cache.params_hash(presets.params(notebook, preset))
        differ = sum(r["provenance"].get("params_sha256") != want for r in recs)
        if differ:
            line += f"; **parameters differ from the preset's** ({differ} of {len(ps)})"
    return line


# --- one section per experiment ------------------------------------------------------------------

def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    return ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header),
            *("| " + " | ".join(r) + " |" for r in rows)]


def _scramblers(preset: str, recs: dict) -> list[str]:
    r = recs.get("scramblers")
    if r is None:
        return []
    claim = scrambling.claims(r)[0]
    return [f"**The four scramblers** ({source([r], preset, NOTEBOOKS['scrambling'])}): exact inverse: "
            f"{claim['ours']} ({claim['verdict']})."]


def _metric_study(preset: str, recs: dict) -> list[str]:
    r = recs.get("metric_study")
    if r is None:
        return []
    res = r["result"]
    slow = ", ".join(map(_metric, SLOW_METRICS))
    peaks = metric_study.peaks(r)
    where = "; ".join(f"{_metric(m)} {p['peak_percent']:.0f} %" + (
        "" if p["peak_percent_interval"] is None else
        " [{:.0f}, {:.0f}]".format(*p["peak_percent_interval"])) for m, p in peaks.items())
    peak, sharpest, choice = metric_study.claims(r)
    return [f"**Metric study (Fig. 3)** ({source([r], preset, NOTEBOOKS['metric_study'])}): "
            f"{res['images']['lpips']:,} images ({res['images'][SLOW_METRICS[0]]:,} for {slow}), "
            f"{res['iterations']['lpips']} keys per inversion ratio "
            f"({res['iterations'][SLOW_METRICS[0]]} for {slow}). Most hiding at (inversion ratio, "
            f"[95 % interval over keys]): {where}. BRISQUE, FID and LPIPS peak at 50 %: {peak['verdict']}. "
            f"LPIPS the sharpest ({sharpest['ours']}): {sharpest['verdict']}. Of all nine metrics that "
            f"peak at 50 %, LPIPS the sharpest: {choice['verdict']}."]


def _key_search(preset: str, recs: dict) -> list[str]:
    found = {n.removeprefix("key_search_"): r for n, r in recs.items() if n.startswith("key_search_")}
    if not found:
        return []
    ordered = {m: found[m] for m in presets.PRESETS[preset]["02_key_search"]["methods"] if m in found} | found
    p = next(iter(ordered.values()))["params"]
    trials = p["trials"]
    rows = [[m, row["original rho (ours)"], row["proposed rho (ours)"], row[f"one search's chosen key (best "
                                                                          f"of {trials}), its rho"]]
            for m, row in key_search.table2_rows(ordered).items()]
    gain, fig4, fig5, _ = key_search.claims(ordered)
    where = source(list(ordered.values()), preset, NOTEBOOKS["key_search"])
    return [f"**Key search (Table 2's PIH, Figs. 4-5)** ({where}): rho (authors' LPIPS convention) over "
            f"{p['n_images']:,} images, pools "
            f"of {p['pool']} keys, {p['repeats']} repeats.", "",
            *_table(["method", "rho of one key (mean ± SD)",
                     f"best of {trials} (mean ± SD, estimator b)", "one search's key"], rows), "",
            f"Fig. 4, selection raises the mean rho: {gain['verdict']}; ELE the least: {fig4['verdict']} "
            f"({fig4['ours']}). "
            f"Fig. 5, selection lowers the SD, PE the most unstable: {fig5['verdict']} ({fig5['ours']})."]


def _classification(preset: str) -> list[str]:
    params = presets.params(NOTEBOOKS["classification"], preset)
    stored = classification.stored_runs(preset, params)
    everything = stored["runs"] + ([stored["plain"]] if stored["plain"] else [])
    if not everything:
        return []
    s = classification.summary(stored["runs"])
    derived = classification.summary(classification.stored_runs(preset, params, derived_runs)["runs"])
    config = runs.train_config(params, "plain", params["seeds"][0])
    rows = []
    if stored["plain"]:
        rows.append(["plain images (no key)", f"{100 * stored['plain']['accuracy']:.2f}", "", "", ""])
    for m, kinds in s.items():
        cell = {k: classification.fmt(v["acc_mean"], v["acc_sd"], 2) for k, v in kinds.items()}
        rho = " / ".join(f"{kinds[k]['rho_mean']:.4f}" if k in kinds else "-" for k in runs.KINDS)
        seeds = len({r["seed"] for r in stored["runs"] if r["method"] == m})
        layer = " / ".join(classification.fmt(v["acc_mean"], v["acc_sd"], 2)
                           if (v := derived.get(m, {}).get(k)) else "-" for k in runs.KINDS)
        rows.append([f"{m} ({seeds} seed{'s' if seeds > 1 else ''})", cell.get("original", "-"),
                     cell.get("proposed", "-"), rho, layer])
    keep = classification.claims({"runs": stored["runs"], "table3": {}})[0]
    out = [f"**Classification (Table 2)**: {len(everything)} of the preset's {stored['total']} runs, "
           f"`{config.recipe}` recipe, {config.epochs} epochs, {params['n_test']:,} test images "
           f"({source(everything, preset)}).", "",
           *_table(["test accuracy % (mean ± SD over seeds)", "original keys", f"proposed keys (best of "
                    f"{params['trials']})", "rho, original / proposed",
                    "first layer derived from the training statistics, original / proposed"], rows), "",
           f"Proposed keys keep the accuracy: {keep['verdict']} ({keep['ours']})."]
    if preset == "gpu":
        checks = [[c["what"], c["data"], c["target"], c["reached"], c["met"]]
                  for c in classification.target_check(stored["runs"], stored["plain"])]
        out += ["", "The `gpu` preset's targets for these data (`classification.TARGETS_*`, "
                "`TARGET_TOTAL_S`):",
                "", *_table(["target", "data", "wanted", "reached", "met"], checks)]
    return out


def _hiding(preset: str, recs: dict) -> list[str]:
    r = recs.get("hiding")
    if r is None:
        return []
    res, p = r["result"], r["params"]
    acc, view = hiding.accuracy_rows(r), hiding.view_rows(r)
    best = "plain classifier's accuracy %, best key"
    rows = [[m, a["rho, best / worst key"], f"{a[best]} / {a['worst key']}",
             a["best - worst, points [95 % interval]"],
             f"{view[m]['view correlation, best key']} / {view[m]['worst key']}"] for m, a in acc.items()]
    against_classifier, against_view = hiding.claims(r)
    where = source([r], preset, NOTEBOOKS["hiding"])
    return [f"**Does a higher rho hide more? (beyond the paper)** ({where}): "
            f"the best and the worst of {p['keys']} keys by rho; a classifier trained on the plain images "
            f"reaches {100 * res['plain_accuracy']:.1f} % on {res['n_test']:,} plain test images.", "",
            *_table(["method", "rho, best / worst key", "its accuracy % on them, best / worst key",
                     "best - worst, points [95 % interval]",
                     "key-independent view's correlation, best / worst"],
                    rows), "",
            f"The highest-rho key hides more from that classifier: {against_classifier['verdict']}; from the "
            f"key-independent view: {against_view['verdict']}."]


def _attacks(preset: str, recs: dict) -> list[str]:
    r = recs.get("attacks")
    if r is None:
        return []
    p = r["params"]
    rows = [[m, row["rho, highest / lowest key"], row["pairs that recover the highest-rho key"],
             row["the lowest-rho key"], row["keys recovered exactly"]]
            for m, row in attacks.pairs_rows(r).items()]
    claim = attacks.claims(r)[0]
    where = source([r], preset, NOTEBOOKS["attacks"])
    images = ", ".join(map(str, p["coa_images"]))
    learned = (f", and with the key-free FR-Attack and ITN-Attack; the {p['group']} highest- against the "
               f"{p['group']} lowest-rho keys compared") if "group" in p else ""
    return [f"**Does the highest-rho key resist attacks? (beyond the paper)** ({where}): {p['keys']} keys "
            f"per method, attacked with known plain/scrambled pairs, from {images} scrambled images "
            f"alone{learned}.", "",
            *_table(["method", "rho, highest / lowest key", "known pairs that recover the highest-rho key",
                     "the lowest-rho key's", "keys recovered exactly by the known pairs"], rows), "",
            f"The highest-rho key resists better: {claim['verdict']} ({claim['ours']})."]


def preset_markdown(preset: str) -> str:
    """Every section of ``preset`` that has records, under one heading; "" if none has."""
    recs = records(preset)
    parts = [s for s in (_scramblers(preset, recs), _metric_study(preset, recs), _key_search(preset, recs),
                         _classification(preset), _hiding(preset, recs), _attacks(preset, recs)) if s]
    if not parts:
        return ""
    lines = [f"### The `{preset}` preset (`results/{preset}/`)"]
    for part in parts:
        lines += ["", *part]
    return "\n".join(lines)


def markdown(which: Iterable[str] | None = None) -> str:
    """The summary of the presets ``which`` (default: ``committed_presets``), as the README shows it."""
    which = list(committed_presets() if which is None else which)
    unknown = [p for p in which if p not in presets.PRESETS]
    if unknown:
        raise PihError(f"unknown preset {', '.join(unknown)}; choose from {', '.join(presets.PRESETS)}")
    body = [m for p in which if (m := preset_markdown(p))]
    head = (f"<!-- generated from results/ by `{COMMAND}`: edit the code, not this block "
            "(tests/test_summary.py checks it) -->")
    if not body:
        return head + "\n\nNo results are stored for " + ", ".join(f"`{p}`" for p in which) + "."
    return "\n\n".join([head, *body])


# --- the README's block --------------------------------------------------------------------------

def _split(text: str) -> tuple[str, str, str]:
    if text.count(BEGIN) != 1 or text.count(END) != 1 or text.index(BEGIN) > text.index(END):
        raise PihError(f"the README must hold one {BEGIN} ... {END} block")
    head, rest = text.split(BEGIN)
    block, tail = rest.split(END)
    return head, block, tail


def readme_block(text: str) -> str:
    """What lies between the README's markers, without the blank lines around it."""
    return _split(text)[1].strip("\n")


def write_readme(path: Path = README, which: Iterable[str] | None = None) -> bool:
    """Rewrite the block of ``path`` from the results (nothing else of the file); True if it changed."""
    text = path.read_text()
    head, _, tail = _split(text)
    new = f"{head}{BEGIN}\n{markdown(which)}\n{END}{tail}"
    if new != text:
        path.write_text(new)
    return new != text


# --- the texts the book's pages read about the presets -------------------------------------------

def _size(preset: str) -> str:
    """What ``preset`` computes on, from its parameters."""
    p = presets.PRESETS[preset]
    ms, ks, cl = p["01_metric_selection"], p["02_key_search"], p["03_classification"]
    c = runs.train_config(presets.params(NOTEBOOKS["classification"], preset), "plain", cl["seeds"][0])
    seeds = len(cl["seeds"])
    network = f"the {c.recipe} recipe and network" if c.recipe == c.classifier else \
        f"the {c.recipe} recipe, network {c.classifier}"
    return (f"metric study: {ms['n_images']:,} images ({ms['n_images_slow']:,} for "
            f"{', '.join(m.upper() for m in SLOW_METRICS)}), {ms['iterations']} keys per inversion "
            f"ratio ({ms['iterations_slow']}); key search: {ks['n_images']:,} images, a pool of "
            f"{ks['pool']:,} keys, {ks['repeats']} repeats; training: {', '.join(cl['methods'])}, "
            f"{network}, {c.epochs} epoch{'s' if c.epochs > 1 else ''} at batch "
            f"{c.batch_size} on {cl['n_train']:,} images, tested on {cl['n_test']:,}, {seeds} "
            f"seed{'s' if seeds > 1 else ''}")


def compute_time(preset: str) -> str:
    """How long the committed records of ``preset`` took to compute, added up (a key search that
    found its scores in the score cache counts only what it computed), and on what."""
    recs = list(records(preset).values())
    if not recs:
        return f"no {preset} results are stored here"
    total = sum(r["provenance"]["wall_time_s"] for r in recs)
    study = sum(r["provenance"]["wall_time_s"] for n, r in records(preset).items() if n == "metric_study")
    stale = sum(bool(r["provenance"].get("stale")) for r in recs)
    devices = _distinct(r["provenance"]["device"] for r in recs)
    return (f"the committed records' compute times add up to {_minutes(total)} on {devices}"
            + (f", {_minutes(study)} of it the metric study" if study else "")
            + (f" ({stale} of {len(recs)} records computed by older code)" if stale else ""))


def book_values() -> dict[str, str]:
    """The texts the Rerun and Deviations pages read (glued by notebook 00; plain text, no Markdown):
    each preset's sizes, the committed results' compute times, the default number of repeats and the
    `gpu` preset's training."""
    out = {f"size_{p}": _size(p) for p in presets.PRESETS}
    out.update(time_cpu=compute_time("cpu"), time_gpu=compute_time("gpu"),
               repeats_default=str(presets.BASE["02_key_search"]["repeats"]))
    c = runs.train_config(presets.params(NOTEBOOKS["classification"], "gpu"), "plain", 0)
    out["training_gpu"] = f"{c.epochs} epochs at batch {c.batch_size}"
    return out
