"""Notebook 03's reading of the classification runs: Table 2 (accuracy and PIH, ours beside the
paper's), timings, the gpu preset's targets, the non-inferiority test of "proposed keys keep the
accuracy", Table 3's claim, the committed gpu runs for a book at another preset, and the values the
book's pages glue."""

from __future__ import annotations

from types import ModuleType

import numpy as np
import pandas as pd
import torch
from IPython.display import Markdown

from ...train import time_to_accuracy
from .. import cache, paper, presets
from ..compute import derived_runs
from ..compute import runs as runs_code
from ..compute import table3 as table3_compute
from ..compute.classification import NOTEBOOK
from ..compute.runs import KINDS, train_config
from ..provenance import markdown
from . import downloads, evidence, table3
from .training_studies import first_layer_rows, jpeg_values
from .verdicts import Verdict, checked, entry, within

# One-sided 95 % quantiles of Student's t by degrees of freedom (1 to 10), for the non-inferiority test
T95 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812)
NONINFERIORITY_MARGIN = 1.0  # accuracy points the proposed keys may lose and still "keep the accuracy"
TARGET_ACCURACY = 0.93  # the time-to-accuracy column's threshold
# The gpu preset's targets (test accuracy %, mean over seeds, original keys): on the official
# (lossless) data, the plain classifier at airbench95's level and each method at the paper's mean; on
# the shared JPEG copy, PE and LE at 91 %. And all of its runs, key searches included, in 5 minutes.
TARGETS_LOSSLESS = {"plain": 95.0, **{m: paper.TABLE2[m]["original"]["acc_mean"] for m in paper.TABLE2}}
TARGETS_JPEG = {"PE": 91.0, "LE": 91.0}
TARGET_TOTAL_S = 300.0
LEGACY_PARAMS = ("data_sha256", "code_version")  # compared loosely: older records carry a code_version


def stored_runs(preset: str, params: dict, code: ModuleType = runs_code) -> dict:
    """The runs of ``params`` already stored at ``preset``, on whatever data and by whatever code they
    were computed (their provenance says which; older code is marked ``stale``); nothing is computed.
    ``code``: the module that computes them (``runs``, or ``derived_runs`` for the runs with derived
    first layers). Returns ``{"runs", "plain", "total"}``: the stored key runs, the plain run (or
    None) and the number of runs ``params`` asks for."""
    todo = code.jobs(params["methods"], params["seeds"])
    found = []
    for method, kind, seed in todo:
        record = cache.load(preset, code.run_name(method, kind, seed), code.__name__)
        want = code.run_params(method, kind, seed, params, "")
        if record is not None and {k: v for k, v in record["params"].items() if k not in LEGACY_PARAMS} == \
                {k: v for k, v in want.items() if k not in LEGACY_PARAMS}:
            found.append({**record["result"], "provenance": record["provenance"]})
    plain = next((r for r in found if r["kind"] == "plain"), None)
    return {"runs": [r for r in found if r["kind"] != "plain"], "plain": plain, "total": len(todo)}


def summary(runs: list[dict], target: float = TARGET_ACCURACY) -> dict:
    """Per method and key kind, over seeds: accuracy (%) and rho, mean and SD; the mean training
    time of a run and the mean time to ``target`` test accuracy (over the runs that reached it)."""
    out: dict = {}
    for r in runs:
        v = out.setdefault(r["method"], {}).setdefault(r["kind"], {"acc": [], "rho": [], "time": [],
                                                                   "to_target": []})
        v["acc"].append(100 * r["accuracy"])
        v["rho"].append(r["rho"])
        v["time"].append(r["history"][-1].get("time_s", float("nan")) if r["history"] else float("nan"))
        v["to_target"].append(time_to_accuracy(r["history"], target))
    for kinds in out.values():
        for v in kinds.values():
            for k in ("acc", "rho"):
                t = torch.tensor(v[k], dtype=torch.float64)
                v[f"{k}_mean"] = float(t.mean())
                v[f"{k}_sd"] = float(t.std()) if len(t) > 1 else float("nan")
            v["time_mean"] = float(np.mean(v["time"]))
            reached = [t for t in v["to_target"] if t is not None]
            v["reached_target"] = f"{len(reached)}/{len(v['to_target'])}"
            v["to_target_mean"] = float(np.mean(reached)) if reached else None
    return out


def fmt(mean: float, sd: float, digits: int) -> str:
    return f"{mean:.{digits}f}" + ("" if np.isnan(sd) else f" ± {sd:.{digits}f}")


def table2_rows(summary: dict) -> dict[tuple[str, str], dict]:
    """Table 2, ours beside the paper's, per method and key kind."""
    rows = {}
    for m, kinds in summary.items():
        for kind, v in kinds.items():
            p = paper.TABLE2[m][kind]
            rows[m, kind] = {"accuracy % (ours)": fmt(v["acc_mean"], v["acc_sd"], 2),
                             "accuracy % (paper)": fmt(p["acc_mean"], p["acc_sd"], 2),
                             "rho of the runs' keys (ours)": fmt(v["rho_mean"], v["rho_sd"], 4),
                             "PIH (paper)": fmt(p["pih_mean"], p["pih_sd"], 4)}
    return rows


# derived_rows' column of the points lost to scrambling
LOST_COLUMN = "points lost, adaptation network / derived layer"


def derived_rows(paper_runs: list[dict], derived: list[dict],
                 plain: dict | None) -> dict[tuple[str, str], dict]:
    """Per method and key kind (the same keys): test accuracy with the paper's adaptation network and
    with the first layer derived from the training statistics (``derived_runs``), mean over seeds,
    the points each loses to scrambling (below the ``plain`` run, same preset and settings), and
    the share of the test images the derived layer gave back as the plain image (or its 4-bit
    version, LE's), either one up to a left-right mirror."""
    ours, new = summary(paper_runs), summary(derived)
    base = None if plain is None else 100 * plain["accuracy"]
    rows = {}
    for m, kinds in new.items():
        for kind, v in kinds.items():
            p = ours.get(m, {}).get(kind)
            given = [r["recovered"] for r in derived if r["method"] == m and r["kind"] == kind]
            lost = (lambda acc: "-" if base is None or acc is None else f"{base - acc:+.2f}")
            rows[m, kind] = {
                "accuracy %, adaptation network (Table 2)":
                    "-" if p is None else fmt(p["acc_mean"], p["acc_sd"], 2),
                "accuracy %, derived first layer": fmt(v["acc_mean"], v["acc_sd"], 2),
                LOST_COLUMN: f"{lost(p and p['acc_mean'])} / {lost(v['acc_mean'])}",
                "share of test images recovered exactly / at 4-bit depth":
                    " / ".join(f"{np.mean([g[k] for g in given]):.2f}" for k in ("exact", "four_bit"))}
    return rows


def derived_text(paper_runs: list[dict], derived: list[dict], plain: dict | None) -> str:
    """One line for the book's pages: per method, the points lost to scrambling (original keys) with
    the adaptation network (the paper's method, trained with this preset's recipe) and with the
    derived first layer."""
    lost = LOST_COLUMN
    rows = derived_rows(paper_runs, derived, plain)
    return "; ".join(f"{m} {v[lost]}" for (m, kind), v in rows.items() if kind == "original") \
        or "no runs with derived first layers at this preset"


def equivalence_rows(runs: list[dict], derived: list[dict]) -> dict[str, dict]:
    """The non-inferiority test of proposed against original keys (``noninferiority``) with the
    paper's networks and with the derived first layers, per method."""
    def text(v: dict) -> str:
        return (v["verdict"] if "diff" not in v else
                f"{v['verdict']}: {v['diff']:+.2f} [{v['low']:+.2f}, {v['high']:+.2f}] ({v['seeds']} seeds)")

    paper_test, derived_test = noninferiority(runs), noninferiority(derived)
    return {m: {"adaptation networks": text(paper_test[m]) if m in paper_test else "-",
                "derived first layers": text(derived_test[m]) if m in derived_test else "-"}
            for m in dict.fromkeys([*paper_test, *derived_test])}


def frame(rows: dict) -> pd.DataFrame:
    """A table of rows keyed by (method, key kind), as the notebook shows them."""
    return pd.DataFrame(rows).T.rename_axis(["method", "key"])


def derived_view(preset: str, params: dict, result: dict) -> list:
    """What notebook 03 shows of the runs with derived first layers: this build's beside the paper's
    networks (``derived_rows``), the equivalence test on both (``equivalence_rows``), the runs as a
    CSV download and, where committed and the book is at another preset, the gpu preset's."""
    def table(rows: dict) -> pd.DataFrame:
        return pd.DataFrame(rows).T.rename_axis(["method", "key"] if rows and isinstance(
            next(iter(rows)), tuple) else "method")

    out = [Markdown(markdown(result["derived"], title=f"the {len(result['derived'])} runs with derived "
                                                      "first layers")),
           table(derived_rows(result["runs"], result["derived"], result["plain"])),
           table(equivalence_rows(result["runs"], result["derived"])).rename_axis(
               columns="proposed - original keys, accuracy points"),
           downloads.data_link(downloads.derived_runs(result["runs"], result["derived"], result["plain"]),
                               "derived_first_layers.csv", "classification", preset, params)]
    gpu = gpu_view(preset, result) if preset != "gpu" else None
    if gpu and gpu["derived"]:
        where = runs_source({"preset": "gpu", "runs": gpu["derived"], "plain": gpu["plain"]})
        out += [Markdown(f"The `gpu` preset's {len(gpu['derived'])} committed runs with derived first layers "
                         f"({where}):"),
                table(derived_rows(gpu["runs"], gpu["derived"], gpu["plain"]))]
    elif gpu is not None:
        out.append(Markdown("No `gpu`-preset runs with derived first layers are committed yet."))
    return out


def timing_caption(target: float = TARGET_ACCURACY) -> str:
    """The text above ``timing_rows``' table."""
    return (f"Training time per run (evaluation left out) and the time to the `gpu` preset's target, "
            f"{100 * target:.0f} % test accuracy, over the runs that reached it:")


def timing_rows(summary: dict, target: float = TARGET_ACCURACY) -> dict[tuple[str, str], dict]:
    """Per method and key kind: training time a run, and how many runs reached ``target`` how fast."""
    def seconds(t: float | None) -> str:
        return "-" if t is None else f"{t:.1f}"

    pct = 100 * target
    return {(m, kind): {"training time a run (s)": seconds(v["time_mean"]),
                        f"runs reaching {pct:.0f} %": v["reached_target"],
                        f"time to {pct:.0f} % (s)": seconds(v["to_target_mean"])}
            for m, kinds in summary.items() for kind, v in kinds.items()}


def target_check(runs: list[dict], plain: dict | None) -> list[dict]:
    """Each target of the gpu preset beside what ``runs`` (and the ``plain`` run) reached: mean test
    accuracy over the original keys' runs per method, against the targets for the runs' data (JPEG
    targets where the data was lossy), and the runs' total compute time (training, key searches and
    evaluation, from their provenance) against 5 minutes."""
    everything = runs + ([plain] if plain else [])
    lossless = all(r["provenance"]["data"]["lossless"] for r in everything) if everything else True
    targets = TARGETS_LOSSLESS if lossless else TARGETS_JPEG
    data = "official (lossless)" if lossless else "JPEG copy (lossy)"
    rows = []
    for method, target in targets.items():
        accs = ([plain["accuracy"]] if plain else []) if method == "plain" else \
            [r["accuracy"] for r in runs if r["method"] == method and r["kind"] == "original"]
        mean = 100 * float(np.mean(accs)) if accs else None
        rows.append({"what": f"{method} accuracy %", "data": data, "target": f">= {target:.2f}",
                     "reached": "-" if mean is None else f"{mean:.2f} ({len(accs)} run(s))",
                     "met": "not run" if mean is None else "yes" if mean >= target else "no"})
    total = sum(r["provenance"]["wall_time_s"] for r in everything)
    rows.append({"what": "all runs, compute time (s)", "data": data, "target": f"<= {TARGET_TOTAL_S:.0f}",
                 "reached": f"{total:.0f} ({len(everything)} run(s))" if everything else "-",
                 "met": "not run" if not everything else "yes" if total <= TARGET_TOTAL_S else "no"})
    return rows


def noninferiority(runs: list[dict], margin: float = NONINFERIORITY_MARGIN) -> dict[str, dict]:
    """Per method, the one-sided test of "proposed keys keep the accuracy" (the paper's claim is that
    they do not degrade it; a gain keeps it too): the mean difference (proposed - original, in
    points, paired by seed) with its 90 % t interval, whose lower end is the one-sided 95 % bound.
    "kept" when that lower end lies above -``margin``; "lost" when the whole interval lies below
    -``margin``; "not shown" otherwise."""
    out = {}
    for m in dict.fromkeys(r["method"] for r in runs):
        acc = {(r["kind"], r["seed"]): 100 * r["accuracy"] for r in runs if r["method"] == m}
        d = np.array([acc["proposed", s] - acc["original", s] for k, s in acc if k == "original"
                      and ("proposed", s) in acc])
        if len(d) < 2:
            out[m] = {"seeds": len(d), "verdict": "not tested (fewer than 2 seeds)"}
            continue
        half = T95[min(len(d), len(T95) + 1) - 2] * d.std(ddof=1) / np.sqrt(len(d))
        lo, hi = d.mean() - half, d.mean() + half
        out[m] = {"seeds": len(d), "diff": float(d.mean()), "low": float(lo), "high": float(hi),
                  "verdict": "kept" if lo > -margin else "lost" if hi < -margin else "not shown"}
    return out


def claims(result: dict) -> list[dict]:
    """The paper's claims that the runs can check: the proposed keys keep the accuracy (a
    non-inferiority test over seeds, ``NONINFERIORITY_MARGIN`` points) and Table 3's (every image
    keeps its class)."""
    eq = noninferiority(result["runs"])
    tested = {m: v for m, v in eq.items() if "diff" in v}
    ours = "; ".join(f"{m} {v['diff']:+.2f} [{v['low']:+.2f}, {v['high']:+.2f}] ({v['seeds']} seeds)"
                     for m, v in tested.items()) or "one seed per method"
    lost = [m for m, v in tested.items() if v["verdict"] == "lost"]
    unshown = [m for m, v in tested.items() if v["verdict"] == "not shown"]
    if not tested:
        verdict = Verdict("not tested", "needs 2 or more seeds")
    elif lost:
        verdict = Verdict("not reproduced", "the proposed keys lose more than "
                          f"{NONINFERIORITY_MARGIN:g} point for " + ", ".join(lost))
    elif unshown:
        verdict = Verdict("partly" if len(unshown) < len(tested) else "not distinguishable",
                          "not shown for " + ", ".join(unshown))
    else:
        verdict = Verdict("reproduced")
    return [{"claim": paper.CLAIMS["accuracy"],
             "ours": f"proposed - original accuracy, points [90 % interval, whose lower end is a one-sided "
                     f"95 % bound; kept when it lies above -{NONINFERIORITY_MARGIN:g}]: {ours}",
             "verdict": verdict},
            *table3.claims(result["table3"])]


def describe(params: dict, result: dict) -> str:
    """The training settings and what the runs were, as the notebook's text."""
    c = train_config(params, "plain", params["seeds"][0])
    runs = result["runs"]
    devices = "; ".join(dict.fromkeys(r["device"] for r in runs))
    per = "per 1024 examples, " if c.recipe == "airbench" else ""
    return (f"Training: the `{c.recipe}` recipe, classifier `{c.classifier}`, {c.epochs} epochs, batch "
            f"{c.batch_size}, learning rate {c.lr:g} ({per}{c.schedule} schedule), test-time augmentation "
            f"level {c.tta}.\n\n"
            f"A classifier trained on the plain images under the same settings: "
            f"{100 * result['plain']['accuracy']:.2f} % test accuracy. Runs: {len(runs)} "
            f"({len(params['seeds'])} seed(s) each), {c.epochs} epoch(s) of {params['n_train']} images, "
            f"tested on {params['n_test']}; per-run training speed "
            f"{np.mean([r['images_per_s'] for r in runs]):.0f} images/s on {devices}.")


def accuracy_verdict(summary: dict, best: dict | None) -> Verdict:
    """Table 2's accuracies: each method's mean (original keys) within two SDs (ours or the paper's)
    of the paper's, for the best committed runs; the reason names the runs and the methods off."""
    if not best:
        return Verdict("not tested", "no runs at the paper's accuracy level (the gpu or paper preset) yet")
    off = [f"{m} {v['original']['acc_mean']:.2f} against {paper.TABLE2[m]['original']['acc_mean']:.2f}"
           for m, v in summary.items() if "original" in v and not within(
               v["original"]["acc_mean"], paper.TABLE2[m]["original"]["acc_mean"],
               max(np.nan_to_num(v["original"]["acc_sd"]), paper.TABLE2[m]["original"]["acc_sd"]))]
    word = "reproduced" if not off else "not reproduced" if len(off) == len(summary) else "partly"
    trained = {(r["config"]["classifier"], r["config"]["epochs"]) for r in best["runs"]}
    if off and trained != {PAPER_CLASSIFIER}:
        word = "not compared"  # another network or schedule than the paper's: no contradiction
    return Verdict(word, f"{runs_source(best)}, {training_setup(best['runs'])}: "
                         + ("every method within two SDs of the paper's" if not off else "; ".join(off)))


def best_runs(preset: str, result: dict) -> dict | None:
    """The runs that show the paper's accuracy level best: this build's at the ``gpu`` or ``paper``
    preset, else the committed ``gpu``-preset runs, else None (the small presets' runs only show that
    the pipeline works)."""
    if preset in ("gpu", "paper"):
        return {"preset": preset, "runs": result["runs"], "plain": result["plain"]}
    view = gpu_view(preset, result)
    return {"preset": "gpu", "runs": view["runs"], "plain": view["plain"]} if view["runs"] else None


PAPER_CLASSIFIER = ("pyramidnet", 100)  # the paper's network and epochs (the paper preset trains them)
PAPER_TRAINING = "the paper's ShakeDrop PyramidNet-110 for 100 epochs (SGD, steps at 50 and 75)"


def evidence_runs(preset: str, result: dict) -> dict:
    """The runs Table 3 and the accuracy claim are judged on: those of the strongest preset that
    outranks ``preset`` (``evidence.stronger``) with committed runs and the plain classifier, else
    this build's (``result``); ``{"runs", "plain", "table3", "preset"}``."""
    for p in evidence.stronger(preset):
        stored = stored_runs(p, presets.params(NOTEBOOK, p))
        if stored["plain"] and stored["runs"]:
            first_seed = min(r["seed"] for r in stored["runs"])
            return {"runs": stored["runs"], "plain": stored["plain"], "preset": p,
                    "table3": table3_compute.assemble(stored["plain"], stored["runs"], first_seed)}
    return {"runs": result["runs"], "plain": result["plain"], "table3": result["table3"], "preset": preset}


def training_setup(runs: list[dict]) -> str:
    """How ``runs`` were trained, against the paper's training (they differ: the reason a reader
    needs beside any accuracy)."""
    configs = dict.fromkeys(f"the {c['recipe']} recipe, classifier {c['classifier']}, {c['epochs']} "
                            f"epoch(s), {c['schedule']} schedule" for c in (r["config"] for r in runs))
    return f"trained with {'; '.join(configs)}, not {PAPER_TRAINING}"


def runs_source(best: dict) -> str:
    """One line naming where ``best``'s runs come from: preset, device, data, seeds, and how many of
    its runs (the plain classifier's included, as every provenance box counts them) older code
    computed."""
    ps = [r["provenance"] for r in best["runs"] + ([best["plain"]] if best.get("plain") else [])]
    data = ps[0]["data"]
    stale = sum(bool(p.get("stale")) for p in ps)
    return (f"{best['preset']} preset, {'; '.join(dict.fromkeys(p['device'] for p in ps))}, CIFAR-10 "
            f"{'official (lossless)' if data.get('lossless') else 'JPEG copy (lossy)'}, "
            f"{len({r['seed'] for r in best['runs']})} seed(s)"
            + (f"; {stale} of {len(ps)} runs computed by older code" if stale else ""))


def gpu_view(preset: str, result: dict) -> dict:
    """The gpu preset's committed runs for a book built at ``preset``: ``runs``, ``plain`` (those of
    ``result`` at the gpu preset itself), ``summary`` (None if there are none), ``derived`` (the runs
    with derived first layers) and ``note``."""
    if preset == "gpu":
        return {"runs": result["runs"], "plain": result["plain"], "summary": None,
                "derived": result.get("derived", []),
                "note": "This book is built at the `gpu` preset: its runs are the tables above."}
    stored = stored_runs("gpu", presets.params(NOTEBOOK, "gpu"))
    derived = stored_runs("gpu", presets.params(NOTEBOOK, "gpu"), derived_runs)["runs"]
    everything = stored["runs"] + ([stored["plain"]] if stored["plain"] else [])
    if not stored["runs"]:
        note = (f"**No `gpu`-preset runs are committed yet** (0 of {stored['total']}): the paper-level "
                "accuracies are still to be computed on a GPU.")
    else:
        note = markdown(everything, title=f"{len(everything)} of the {stored['total']} `gpu`-preset runs")
        if stored["plain"]:
            note += (f"\n\nPlain images, same settings: {100 * stored['plain']['accuracy']:.2f} % test "
                     "accuracy.")
    return {"runs": stored["runs"], "plain": stored["plain"], "note": note, "derived": derived,
            "summary": summary(stored["runs"]) if stored["runs"] else None}


def book_values(preset: str, params: dict, result: dict) -> dict[str, str]:
    """The texts the book's pages read from this section (glued by the notebook)."""
    c = train_config(params, "plain", params["seeds"][0])
    out = {"train_size": f"this build's {preset}-preset run: {params['n_train']} training and "
                         f"{params['n_test']} test images, {c.epochs} epoch(s)"}
    best = best_runs(preset, result)
    s = summary(best["runs"]) if best else {}
    out["acc_source"] = runs_source(best) if best else (
        "not tested at this preset: the paper's accuracy level needs the gpu or paper preset on a GPU, "
        "and no gpu-preset runs are committed (see Rerun)")
    for m in paper.TABLE2:  # every key the reproduction page asks for, also for methods not run here
        out[f"paper_acc_{m}"] = " / ".join(f"{paper.TABLE2[m][k]['acc_mean']:.2f}" for k in KINDS)
        for kind in KINDS:
            v = s.get(m, {}).get(kind)
            out[f"acc_{m}_{kind}"] = ("not tested at this preset" if v is None
                                      else fmt(v["acc_mean"], v["acc_sd"], 2))
    out["first_layer"] = "; ".join(f"{m} {v['whitened']} % whitened, {v['trainable']} % trainable"
                                   for m, v in first_layer_rows(result["first_layer"]).items())
    out.update(jpeg_values(result["jpeg_penalty"]))
    out["derived"] = derived_text(result["runs"], result.get("derived", []), result["plain"])
    return {**out, **verdicts(preset, result)}


def verdicts(preset: str, result: dict) -> dict[str, str]:
    """The introduction's rows of this section (and Table 3's verdict and claim for the Paper vs.
    reproduction page), on the strongest committed runs (``evidence_runs``, ``best_runs``); ``result``
    holds this build's ``runs``, ``plain`` and ``table3``."""
    shown, best = evidence_runs(preset, result), best_runs(preset, result)
    accuracy, table = ({**c, "verdict": c["verdict"].on(shown["preset"])} for c in claims(shown))
    return {**checked("table3", table), **checked("accuracy", accuracy),
            **entry("accuracy", accuracy["verdict"], accuracy["ours"]),
            **entry("table3", table["verdict"], table["ours"]),
            **entry("table2_acc", accuracy_verdict(summary(best["runs"]) if best else {}, best))}
