"""A preset's work cut into tasks, and the tasks into N shards (``compute --shard K/N``).

A task is one cached record's worth of work: a classification run (proposed runs include their key
search), one of the classification's two training studies, or a whole smaller experiment. Every
shard builds the same list from the parameters alone (never from what is cached), sorts it by
expected cost and gives each task to the shard with the least work so far (ties: the lower shard),
so the N shards are disjoint, together hold every task once and carry about the same cost. Each
shard writes only its own records: merging shards is copying their ``results/<preset>/`` folders
into one.

The expected costs are rough, in training images for one epoch: a method's training cost relative
to the plain classifier and a scored key-search image's cost were read from the gpu preset's runs
(EtC and ELE train ~2.8x slower than the plain classifier); only their proportions matter.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..errors import PihError
from . import EXPERIMENTS, experiment, presets
from .compute import runs, table3, training_studies
from .compute.metric_study import IIR_PERCENT, SLOW_METRICS
from .compute.training_studies import FIRST_LAYER_METHODS, FIRST_LAYER_VARIANTS, JPEG_METHODS

# Every experiment the command line computes: ``reproduction.EXPERIMENTS`` and "attacks" (notebook 05),
# which joins that tuple at the next full recompute: editing reproduction/__init__.py changes the code
# digest of every committed record
COMPUTABLE = (*EXPERIMENTS, "attacks")
# training cost of a method relative to the plain classifier, and of one key-search image scored
TRAIN_COST = {"plain": 1.0, "PE": 1.0, "LE": 1.3, "EtC": 2.8, "ELE": 2.8}
SEARCH_COST = 1.0
# metric evaluations per image: the fast metrics and the slow ones (NIQE, VGG-LPIPS, FID on CPU)
METRIC_COST, SLOW_METRIC_COST = 1.0, 20.0


@dataclass(frozen=True)
class Task:
    experiment: str  # the experiment it belongs to
    part: str  # what it computes: "all" (the whole experiment), a run's name, or a study's
    cost: float  # expected cost (see the module's docstring)


def parse(text: str) -> tuple[int, int]:
    """``"K/N"`` -> (K, N), shard K (from 0) of N."""
    k, _, n = text.partition("/")
    try:
        k_, n_ = int(k), int(n)
    except ValueError:
        k_, n_ = -1, 0
    if not 0 <= k_ < n_:
        raise PihError(f"--shard takes K/N with 0 <= K < N (shard K of N, from 0), got {text!r}")
    return k_, n_


def _epochs(params: dict, method: str) -> int:
    return runs.train_config(params, method, 0).epochs


def _run_part(job: tuple[str, str, int]) -> str:
    return runs.run_name(*job).rsplit("/", 1)[-1]


def _classification(params: dict) -> list[Task]:
    def training(method: str) -> float:
        return TRAIN_COST[method] * _epochs(params, method) * params["n_train"]

    out = []
    for method, kind, seed in runs.jobs(params["methods"], params["seeds"]):
        search = SEARCH_COST * params["trials"] * params["n_search"] if kind == "proposed" else 0.0
        out.append(Task("classification", _run_part((method, kind, seed)), training(method) + search))
    # each method trained both ways; each trained on the lossless images and on their JPEG copies
    first_layer = len(FIRST_LAYER_VARIANTS) * sum(map(training, FIRST_LAYER_METHODS))
    out.append(Task("classification", "first_layer", first_layer))
    out.append(Task("classification", "jpeg_penalty", 2 * sum(map(training, JPEG_METHODS))))
    return out


def _cost(experiment: str, params: dict) -> float:
    """Expected cost of a whole smaller experiment, in the same units as a training run."""
    if experiment == "scrambling":
        return 0.01 * params["n_check"]
    if experiment == "metric_study":
        per_ratio = (METRIC_COST * 6 * params["n_images"] * params["iterations"]
                     + SLOW_METRIC_COST * len(SLOW_METRICS) * params["n_images_slow"]
                     * params["iterations_slow"])
        return len(IIR_PERCENT) * per_ratio
    if experiment == "key_search":
        return SEARCH_COST * len(params["methods"]) * params["pool"] * params["n_images"]
    if experiment == "attacks":
        return SEARCH_COST * len(params["methods"]) * params["keys"] * (params["n_score"] + params["n_test"])
    if experiment == "hiding":
        search = SEARCH_COST * len(params["methods"]) * params["keys"] * params["n_search"]
        return _epochs({**params, "seeds": [0]}, "plain") * params["n_train"] + search
    raise PihError(f"no cost model for experiment {experiment!r}")


def tasks(preset: str, experiments: list[str], changes: dict[str, dict]) -> list[Task]:
    """Every task of ``experiments`` at ``preset`` (``changes``: parameter overrides by notebook), in
    the order one process would compute them."""
    out = []
    for name in experiments:
        params = experiment_params(name, preset, changes)
        whole = [Task(name, "all", _cost(name, params))] if name != "classification" else []
        out += whole or _classification(params)
    return out


def experiment_params(name: str, preset: str, changes: dict[str, dict]) -> dict:
    notebook = experiment(name).NOTEBOOK
    return presets.params(notebook, preset, **changes.get(notebook, {}))


def plan(todo: list[Task], n: int) -> list[list[Task]]:
    """``todo`` cut into ``n`` shards of about equal expected cost (greedy, most expensive first);
    each shard keeps ``todo``'s order."""
    load, owner = [0.0] * n, {}
    for i in sorted(range(len(todo)), key=lambda i: (-todo[i].cost, i)):
        k = min(range(n), key=lambda k: (load[k], k))
        owner[i] = k
        load[k] += todo[i].cost
    return [[t for i, t in enumerate(todo) if owner[i] == k] for k in range(n)]


def describe(shards: list[list[Task]]) -> str:
    """Each shard's tasks and its share of the expected cost, a line each."""
    total = sum(t.cost for s in shards for t in s) or 1.0
    return "\n".join(f"shard {k}/{len(shards)} ({100 * sum(t.cost for t in s) / total:.0f} % of the cost): "
                     + ", ".join(t.part if t.part != "all" else t.experiment for t in s)
                     for k, s in enumerate(shards))


def run(preset: str, mine: list[Task], changes: dict[str, dict], data: str | None = None,
        jpeg_data: str | None = None, device: str | torch.device | None = None, budget_s: float | None = None,
        progress: bool = True) -> dict | None:
    """Compute the tasks ``mine`` (each only if not cached). Returns the classification's runs as
    ``compute.classification.run`` would when ``mine`` holds all of them, else None."""
    report = None
    for name in dict.fromkeys(t.experiment for t in mine):
        params = experiment_params(name, preset, changes)
        parts = {t.part for t in mine if t.experiment == name}
        module = experiment(name)
        if name == "hiding":
            module.run(preset, params, data, device=device, progress=progress)
        elif name != "classification":
            module.run(preset, params, data)
        else:
            train_set, test_set, search_images = runs.inputs(params, data)
            table3.images(test_set)  # fail before any training if Table 3 cannot be made
            every = runs.jobs(params["methods"], params["seeds"])
            todo = [j for j in every if _run_part(j) in parts]
            done = runs.compute_runs(params, todo, train_set, test_set, search_images, preset, device,
                                     budget_s, progress)
            if todo == every:
                report = {"plain": done[0], "runs": done[1:]}
            if "first_layer" in parts:
                training_studies.first_layer(params, train_set, test_set, preset, device=device,
                                             progress=progress)
            if "jpeg_penalty" in parts and not training_studies.jpeg_penalty_missing(train_set, jpeg_data):
                training_studies.cached_jpeg_penalty(preset, params, train_set, test_set, jpeg_data,
                                                     device=device, progress=progress)
    return report
