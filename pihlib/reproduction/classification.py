"""The paper's classification experiments (notebook 03): Table 2 (original vs. proposed keys) and the
runs behind Table 3.

"Original" is one random key per run; "proposed" the best of N keys by rho (Algorithm 1) over the
key-search images; the two are drawn from independent streams of the run's seed, so the original key
is never among the search's candidates. Each run trains an adaptation network and a classifier on the
scrambled training images, and records its test accuracy, its key's rho (authors' convention) and, for
Table 3, its prediction on three test images. Every run is cached on its own with its provenance
(``results/<preset>/classification-runs/``), so an interrupted experiment, or one cut into pieces by a
time budget, goes on where it stopped: ``python -m pihlib.reproduction compute --preset gpu --only
classification --budget-s 600``.
"""

from __future__ import annotations

import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ..data import ImageSet, load_cifar10
from ..errors import PihError
from ..keys import Key, fingerprint
from ..keysearch import search
from ..runtime import cache_root, default_device
from ..scorecache import CachedScorer
from ..scramblers import METHODS, keygen
from ..train import TRAIN_FIELDS, TrainConfig, time_to_accuracy, train
from . import cache, paper, table3

NOTEBOOK = "03_classification"
CODE = ("pihlib.train", "pihlib.models.classifiers", "pihlib.models.adaptation", "pihlib.scramblers",
        "pihlib.keys", "pihlib.images", "pihlib.metrics", "pihlib.assets", "pihlib.rho",
        "pihlib.scorecache", "pihlib.keysearch", "pihlib.reproduction.table3", __name__)
READERS = ("stored_runs", "summary", "table2_rows", "timing_rows", "target_check", "claims", "fmt",
           "describe", "gpu_view", "book_values", "best_runs", "runs_source", "equivalence", "T95",
           "EQUIVALENCE_MARGIN", "accuracy_verdict")
# One-sided 95 % quantiles of Student's t by degrees of freedom (1 to 10), for the equivalence test
T95 = (6.314, 2.920, 2.353, 2.132, 2.015, 1.943, 1.895, 1.860, 1.833, 1.812)
EQUIVALENCE_MARGIN = 1.0  # accuracy points within which original and proposed keys count as equal
KINDS = ("original", "proposed")
RUNS = "classification-runs"  # the runs' folder under results/<preset>/
TARGET_ACCURACY = 0.93  # the time-to-accuracy column's threshold
# The gpu preset's targets (test accuracy %, mean over seeds, original keys): on the official
# (lossless) data, the plain classifier at airbench95's level and each method at the paper's mean; on
# the shared JPEG copy, PE and LE at 91 %. And all of its runs, key searches included, in 5 minutes.
TARGETS_LOSSLESS = {"plain": 95.0, **{m: paper.TABLE2[m]["original"]["acc_mean"] for m in paper.TABLE2}}
TARGETS_JPEG = {"PE": 91.0, "LE": 91.0}
TARGET_TOTAL_S = 300.0


class BudgetExhausted(PihError):
    """The time budget ran out before every run was done; the finished runs are cached."""

    exit_status = 3

    def __init__(self, done: int, total: int, budget_s: float):
        super().__init__(f"time budget of {budget_s:.0f} s reached with {done} of {total} runs done "
                         "(each finished run is cached): run again to go on")
        self.done, self.total = done, total


def inputs(params: dict, data: str | None = None) -> tuple[ImageSet, ImageSet, torch.Tensor]:
    """The training set, the test set and the key-search images that ``params`` asks for."""
    train_set = load_cifar10("train", data, count=params["n_train"])
    test_set = load_cifar10("test", data, count=params["n_test"])
    if params["n_search"] <= params["n_train"]:  # the first images of the training set, as loading gives
        search_images = train_set.images[:params["n_search"]]
    else:
        search_images = load_cifar10("train", data, count=params["n_search"]).images
    return train_set, test_set, search_images


def jobs(methods: list[str], seeds: list[int]) -> list[tuple[str, str, int]]:
    """(method, kind, seed) of every run, in the order they are run: the classifier on plain images
    first, then seed by seed, so a budget that cuts the list short leaves every method a run."""
    if not isinstance(seeds, list | tuple) or not seeds or not all(
            isinstance(s, int) and not isinstance(s, bool) for s in seeds):
        raise PihError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    if not isinstance(methods, list | tuple) or not all(m in METHODS for m in methods):
        raise PihError(f"methods must be a list drawn from {list(METHODS)}, got {methods!r}")
    return [("plain", "plain", seeds[0])] + [(m, k, s) for s in seeds for m in methods for k in KINDS]


def key_streams(seed: int) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent random streams of one run's seed: the original key's and the key search's."""
    original, searched = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(original), np.random.default_rng(searched)


def run_key(method: str, kind: str, seed: int, trials: int, scorer: CachedScorer | None = None,
            images: torch.Tensor | None = None) -> Key:
    """The key of a run: ``original``, one random key; ``proposed``, the best of ``trials`` candidates by
    rho over ``images`` (Algorithm 1). Each from its own stream of ``seed`` (``key_streams``)."""
    original, searched = key_streams(seed)
    if kind == "original":
        return keygen(method, seed=original)
    return search(images, method, trials, seed=searched, scorer=scorer, progress=False).key


def train_config(params: dict, method: str, seed: int) -> TrainConfig:
    """The training configuration of one run: the recipe's values, overridden by those ``params``
    names (a None leaves the recipe's)."""
    return TrainConfig(method, seed=seed, **{k: params[k] for k in TRAIN_FIELDS if params.get(k) is not None})


def run_name(method: str, kind: str, seed: int) -> str:
    return f"{RUNS}/plain-seed{seed}" if kind == "plain" else f"{RUNS}/{method}-{kind}-seed{seed}"


def _run_params(method: str, kind: str, seed: int, params: dict, data_sha256: str) -> dict:
    cfg = train_config(params, method, seed)
    return {"method": method, "kind": kind, "seed": seed, "config": asdict(cfg),
            "n_train": params["n_train"], "n_test": params["n_test"], "data_sha256": data_sha256,
            **({} if kind == "plain" else {"n_search": params["n_search"]}),
            **({"trials": params["trials"]} if kind == "proposed" else {})}


def checkpoint_path(preset: str, run_params: dict) -> Path:
    """Where a run's training checkpoint lives while it trains (a cache, never committed; removed once
    the run's record is written). Named by everything the run depends on (its parameters, data and
    key search), so a checkpoint is never resumed for other data."""
    folder = cache_root() / "checkpoints" / preset
    folder.mkdir(parents=True, exist_ok=True)
    p = run_params
    return folder / f"{p['method']}-{p['kind']}-{p['seed']}-{cache.params_hash(p)[:16]}.pt"


def _train_run(run_params: dict, trials: int, train_set: ImageSet, test_set: ImageSet,
               search_images: torch.Tensor, scorer: CachedScorer | None, preset: str, device: torch.device,
               progress: bool) -> dict:
    method, kind, seed = run_params["method"], run_params["kind"], run_params["seed"]
    key = None if kind == "plain" else run_key(method, kind, seed, trials, scorer, search_images)
    cfg = TrainConfig(**run_params["config"])
    r = train(cfg, train_set.images, train_set.labels, test_set.images, test_set.labels, key=key,
              device=device, checkpoint=checkpoint_path(preset, run_params), progress=progress)
    return {"method": method, "kind": kind, "seed": seed,
            "fingerprint": None if key is None else fingerprint(key),
            "rho": None if key is None else scorer(key), "accuracy": r.test_accuracy, "history": r.history,
            "train_time_s": r.train_time_s, "images_per_s": r.images_per_s, "device": r.device,
            "config": run_params["config"], "table3": table3.column(test_set, r.model, key, cfg.tta)}


def compute_runs(params: dict, todo: list[tuple[str, str, int]], train_set: ImageSet, test_set: ImageSet,
                 search_images: torch.Tensor, preset: str, device: str | torch.device | None = None,
                 budget_s: float | None = None, progress: bool = True) -> list[dict]:
    """The runs ``todo`` (``jobs``' (method, kind, seed) triples), each computed only if not cached
    (by this code); each returned run carries its record's provenance. ``budget_s``: start no run that
    the longest run so far says would end past it (raises ``BudgetExhausted``)."""
    device = default_device(device)
    data = train_set.source.as_dict()
    search_images = search_images.to(device)
    scorer = None
    start, longest, out = time.perf_counter(), 0.0, []
    bar = tqdm(todo, desc="classification runs", unit="run", disable=not progress)
    for done, (method, kind, seed) in enumerate(bar):
        name = run_name(method, kind, seed)
        run_params = _run_params(method, kind, seed, params, train_set.source.sha256)
        record = cache.lookup(preset, name, run_params, CODE)
        if record is None:
            if budget_s is not None and time.perf_counter() - start + longest > budget_s:
                raise BudgetExhausted(done, len(todo), budget_s)
            if scorer is None and kind != "plain":
                scorer = CachedScorer(search_images)
            bar.set_postfix_str(f"{method} {kind} seed {seed}")
            t0 = time.perf_counter()
            run = partial(_train_run, run_params, params["trials"], train_set, test_set, search_images,
                          scorer, preset, device, progress)
            record = cache.cached(preset, name, run_params, run, code=CODE, data=data, assets=["alexnet"])
            checkpoint_path(preset, run_params).unlink(missing_ok=True)  # the record holds the run now
            longest = max(longest, time.perf_counter() - t0)
        out.append({**record["result"], "provenance": record["provenance"]})
    return out


def compute(params: dict, train_set: ImageSet, test_set: ImageSet, search_images: torch.Tensor,
            preset: str, device: str | torch.device | None = None, budget_s: float | None = None,
            progress: bool = True) -> dict:
    """Every run of ``params`` (``compute_runs``) and Table 3 assembled from them. Returns
    ``{"runs", "plain", "table3"}``."""
    table3.images(test_set)  # fail before any training if Table 3 cannot be made
    plain, *runs = compute_runs(params, jobs(params["methods"], params["seeds"]), train_set, test_set,
                                search_images, preset, device, budget_s, progress)
    return {"runs": runs, "plain": plain, "table3": table3.assemble(plain, runs, params["seeds"][0])}


def run(preset: str, params: dict, data: str | None = None, jpeg_data: str | None = None,
        device: str | torch.device | None = None, budget_s: float | None = None,
        progress: bool = True) -> dict:
    """Everything notebook 03 shows: the runs (``compute``), the first-layer study and, where the data
    allow, the JPEG penalty (``jpeg_penalty`` is its record, or the reason it is not measured)."""
    from . import training_studies as studies

    train_set, test_set, search_images = inputs(params, data)
    out = compute(params, train_set, test_set, search_images, preset, device, budget_s, progress)
    out["first_layer"] = studies.first_layer(params, train_set, test_set, preset, device=device,
                                             progress=progress)
    missing = studies.jpeg_penalty_missing(train_set, jpeg_data)
    out["jpeg_penalty"] = missing or studies.cached_jpeg_penalty(
        preset, params, train_set, test_set, jpeg_data, device=device, progress=progress)
    return out


LEGACY_PARAMS = ("data_sha256", "code_version")  # compared loosely: older records carry a code_version


def stored_runs(preset: str, params: dict) -> dict:
    """The runs of ``params`` already stored at ``preset``, on whatever data and by whatever code they
    were computed (their provenance says which; older code is marked ``stale``); nothing is computed.
    Returns ``{"runs", "plain", "total"}``: the stored key runs, the plain run (or None) and the
    number of runs ``params`` asks for."""
    todo = jobs(params["methods"], params["seeds"])
    found = []
    for method, kind, seed in todo:
        record = cache.load(preset, run_name(method, kind, seed), CODE)
        want = _run_params(method, kind, seed, params, "")
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
                             "PIH (ours)": fmt(v["rho_mean"], v["rho_sd"], 4),
                             "PIH (paper)": fmt(p["pih_mean"], p["pih_sd"], 4)}
    return rows


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


def equivalence(runs: list[dict], margin: float = EQUIVALENCE_MARGIN) -> dict[str, dict]:
    """Per method, the two one-sided tests of "proposed keys keep the accuracy": the mean difference
    (proposed - original, in points, paired by seed) with its 90 % t interval; equivalent when the
    interval lies within +-``margin``, different when it lies wholly outside."""
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
                  "verdict": "equivalent" if -margin < lo and hi < margin else
                             "different" if hi < -margin or lo > margin else "not shown"}
    return out


def claims(result: dict) -> list[dict]:
    """The paper's claims that the runs can check: the proposed keys keep the accuracy (an
    equivalence test over seeds, within ``EQUIVALENCE_MARGIN`` points) and Table 3's (every image
    keeps its class)."""
    eq = equivalence(result["runs"])
    tested = {m: v for m, v in eq.items() if "diff" in v}
    ours = "; ".join(f"{m} {v['diff']:+.2f} [{v['low']:+.2f}, {v['high']:+.2f}] ({v['seeds']} seeds)"
                     for m, v in tested.items()) or "one seed per method"
    different = [m for m, v in tested.items() if v["verdict"] == "different"]
    unshown = [m for m, v in tested.items() if v["verdict"] == "not shown"]
    if not tested:
        verdict = "not tested: needs 2 or more seeds"
    elif different:
        verdict = "no: the accuracy differs for " + ", ".join(different)
    else:
        verdict = "yes" if not unshown else "partly: not shown for " + ", ".join(unshown)
    return [{"claim": paper.CLAIMS["accuracy"],
             "ours": f"proposed - original accuracy, points [90 % interval; equivalent within "
                     f"±{EQUIVALENCE_MARGIN:g}]: {ours}", "verdict": verdict},
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


def accuracy_verdict(summary: dict, best: dict | None) -> tuple[str, str]:
    """Table 2's accuracies: each method's mean (original keys) within two SDs (ours or the paper's)
    of the paper's, for the best committed runs; the verdict and its reason."""
    from .verdicts import within

    if not best:
        return "not tested", "no runs at the paper's accuracy level (the `gpu` or `paper` preset) yet"
    off = [f"{m} {v['original']['acc_mean']:.2f} against {paper.TABLE2[m]['original']['acc_mean']:.2f}"
           for m, v in summary.items() if "original" in v and not within(
               v["original"]["acc_mean"], paper.TABLE2[m]["original"]["acc_mean"],
               max(np.nan_to_num(v["original"]["acc_sd"]), paper.TABLE2[m]["original"]["acc_sd"]))]
    verdict = "yes" if not off else "no" if len(off) == len(summary) else "partly"
    return verdict, (f"{runs_source(best)}: " + ("every method within two SDs of the paper's" if not off
                                                   else "; ".join(off)))


def best_runs(preset: str, result: dict) -> dict | None:
    """The runs that show the paper's accuracy level best: this build's at the ``gpu`` or ``paper``
    preset, else the committed ``gpu``-preset runs, else None (the small presets' runs only show that
    the pipeline works)."""
    if preset in ("gpu", "paper"):
        return {"preset": preset, "runs": result["runs"], "plain": result["plain"]}
    view = gpu_view(preset, result)
    return {"preset": "gpu", "runs": view["runs"], "plain": view["plain"]} if view["runs"] else None


def runs_source(best: dict) -> str:
    """One line naming where ``best``'s runs come from: preset, device, data, seeds, and whether
    older code computed them."""
    ps = [r["provenance"] for r in best["runs"]]
    data = ps[0]["data"]
    stale = sum(bool(p.get("stale")) for p in ps)
    return (f"{best['preset']} preset, {'; '.join(dict.fromkeys(p['device'] for p in ps))}, CIFAR-10 "
            f"{'official (lossless)' if data.get('lossless') else 'JPEG copy (lossy)'}, "
            f"{len({r['seed'] for r in best['runs']})} seed(s)"
            + (f"; {stale} of {len(ps)} runs computed by older code" if stale else ""))


def gpu_view(preset: str, result: dict) -> dict:
    """The gpu preset's committed runs for a book built at ``preset``: ``runs``, ``plain`` (those of
    ``result`` at the gpu preset itself), ``summary`` (None if there are none) and ``note``."""
    if preset == "gpu":
        return {"runs": result["runs"], "plain": result["plain"], "summary": None,
                "note": "This book is built at the `gpu` preset: its runs are the tables above."}
    from . import presets

    stored = stored_runs("gpu", presets.params(NOTEBOOK, "gpu"))
    everything = stored["runs"] + ([stored["plain"]] if stored["plain"] else [])
    if not stored["runs"]:
        note = (f"**No `gpu`-preset runs are committed yet** (0 of {stored['total']}): the paper-level "
                "accuracies are still to be computed on a GPU.")
    else:
        from .provenance import markdown

        note = markdown(everything, title=f"{len(everything)} of the {stored['total']} `gpu`-preset runs")
        if stored["plain"]:
            note += (f"\n\nPlain images, same settings: {100 * stored['plain']['accuracy']:.2f} % test "
                     "accuracy.")
    return {"runs": stored["runs"], "plain": stored["plain"], "note": note,
            "summary": summary(stored["runs"]) if stored["runs"] else None}


def book_values(preset: str, params: dict, result: dict) -> dict[str, str]:
    """The texts the book's pages read from this section (glued by the notebook)."""
    from .training_studies import first_layer_rows, jpeg_values
    from .verdicts import entry

    c = train_config(params, "plain", params["seeds"][0])
    out = {"train_size": f"{params['n_train']} training and {params['n_test']} test images, "
                         f"{c.epochs} epoch(s)"}
    best = best_runs(preset, result)
    s = summary(best["runs"]) if best else {}
    out["acc_source"] = runs_source(best) if best else (
        "not tested at this preset: the paper's accuracy level needs the `gpu` or `paper` preset on a GPU, "
        "and no `gpu`-preset runs are committed (see Rerun)")
    for m in paper.TABLE2:  # every key the reproduction page asks for, also for methods not run here
        out[f"paper_acc_{m}"] = " / ".join(f"{paper.TABLE2[m][k]['acc_mean']:.2f}" for k in KINDS)
        for kind in KINDS:
            v = s.get(m, {}).get(kind)
            out[f"acc_{m}_{kind}"] = ("not tested at this preset" if v is None
                                      else fmt(v["acc_mean"], v["acc_sd"], 2))
    out["first_layer"] = "; ".join(f"{m} {v['whitened']} % whitened, {v['trainable']} % trainable"
                                   for m, v in first_layer_rows(result["first_layer"]).items())
    out.update(jpeg_values(result["jpeg_penalty"]))
    first_seed = min((r["seed"] for r in best["runs"]), default=0) if best else 0
    shown = {"runs": best["runs"], "table3": table3.assemble(best["plain"], best["runs"], first_seed)} \
        if best and best["plain"] else result
    accuracy, table = claims(shown)
    out.update(table3_ok=table["verdict"], table3_claim=table["claim"])
    where = f" ({best['preset']} preset)" if best else ""
    out.update(entry("accuracy", accuracy["verdict"], accuracy["ours"] + where))
    out.update(entry("table3", table["verdict"], f"{table['ours']}{where}"))
    out.update(entry("table2_acc", *accuracy_verdict(s, best)))
    return out
