"""A preset's work cut into tasks, and the tasks into N shards (``compute --shard K/N``); the time
budget of one call (``compute --budget-s S``).

A task is one cached record's worth of work: a classification run (proposed runs include their key
search), one of the classification's two training studies, or a whole smaller experiment. Every
shard builds the same list from the parameters alone (never from what is cached), sorts it by
expected cost and gives each task to the shard with the least work so far (ties: the lower shard),
so the N shards are disjoint, together hold every task once and carry about the same cost. Each
shard writes only its own records: merging shards is copying their ``results/<preset>/`` folders
into one.

The expected costs are rough, in training images for one epoch: a method's training cost relative
to the plain classifier and a scored key-search image's cost were read from the gpu preset's runs
(EtC and ELE train ~2.8x slower than the plain classifier); a metric's cost per image was measured on
one CPU thread (the slow metrics, NIQE and above all VGG and FID's Inception on 224 and 299 pixel
inputs, take ~1000 times a fast one's ~0.4 ms); for the shards only their proportions matter.

The time budget turns costs into seconds (``SECONDS_PER_COST``, by experiment and device) and
starts no task that would end after the budget: such a task is left for the next call and the
next one tried, and the call ends with ``BudgetLeft`` (exit status 3). It watches the records as
the compute code asks the cache for them, so a cached task costs nothing and a task's work starts
only once it is admitted (``Budget``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from unittest import mock

import torch

from ..errors import PihError
from ..runtime import default_device
from . import EXPERIMENTS, cache, experiment, presets
from .compute import derived_runs, runs, table3, training_studies
from .compute.key_search import COMPARE, RESHUFFLED
from .compute.metric_study import IIR_PERCENT, SLOW_METRICS
from .compute.training_studies import FIRST_LAYER_METHODS, FIRST_LAYER_VARIANTS, JPEG_METHODS

# Every experiment the command line computes: ``reproduction.EXPERIMENTS`` and "attacks" (notebook 05),
# which joins that tuple at the next full recompute: editing reproduction/__init__.py changes the code
# digest of every committed record
COMPUTABLE = (*EXPERIMENTS, "attacks")
# training cost of a method relative to the plain classifier, and of one key-search image scored
TRAIN_COST = {"plain": 1.0, "PE": 1.0, "LE": 1.3, "EtC": 2.8, "ELE": 2.8}
SEARCH_COST = 1.0
# metric evaluations per image: the fast metrics and the slow ones (NIQE, VGG, FID), measured on CPU
METRIC_COST, SLOW_METRIC_COST = 1.0, 1000.0
# the attacks: per key, the known-plaintext search and the ciphertext-only fits (ATTACK_COST) and each
# test image's reconstructions measured (RECONSTRUCTION_COST); the plain classifier, per training
# image and epoch; one ITN a method, per training step (cpu preset, measured: 769 s, one thread of a
# loaded 2-core machine)
ATTACK_COST, RECONSTRUCTION_COST, CLASSIFIER_COST, ITN_STEP_COST = 3000.0, 20.0, 120.0, 1250.0

# Seconds per unit of expected cost, for the time budget, by the device the training runs on and by
# experiment: (the rest of its work, the images it scores for keys). The metric study, the key search
# and the scrambling check keep their images on the CPU whatever the device, as does the hiding
# study's key scoring (the classification's key searches run on the device), so on a GPU machine they
# run on its CPU. "cuda": one H100/H200 with 16 CPU cores; the classification and the hiding study
# measured there (gpu preset, benchmarks/measured/: 0.8-1.8e-5 s a unit over the 25 runs; hiding
# 32 s); the CPU-bound work NOT measured there: one CPU thread's speed here (a scored image ~60 us, a
# fast metric's image ~0.43 ms) divided by 20 for its 16 cores. "cpu": one process on a small CPU
# machine, from the cpu and smoke presets' records (one thread). Rough by design: a call corrects the
# classification's rate by its own finished runs, and the log shows each task's expected and measured
# time.
SECONDS_PER_COST = {
    "cuda": {"scrambling": (1e-2, 0.0), "metric_study": (2.2e-5, 0.0), "key_search": (0.0, 3e-6),
             "classification": (1.2e-5, 1.2e-5), "hiding": (4e-5, 3e-6), "attacks": (1e-5, 1e-5)},
    "cpu": {"scrambling": (1e-2, 0.0), "metric_study": (5e-4, 0.0), "key_search": (0.0, 1e-4),
            "classification": (4.5e-2, 1e-4), "hiding": (4.5e-2, 1e-4), "attacks": (3.3e-4, 1.8e-4)},
}


@dataclass(frozen=True)
class Task:
    experiment: str  # the experiment it belongs to
    part: str  # what it computes: "all" (the whole experiment), a run's name, or a study's
    cost: float  # expected cost (see the module's docstring)
    scored: float = 0.0  # the part of ``cost`` that is images scored for keys (LPIPS)

    @property
    def label(self) -> str:
        return self.experiment if self.part == "all" else f"{self.experiment} {self.part}"


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
        out.append(Task("classification", _run_part((method, kind, seed)), training(method) + search, search))
    for job in derived_runs.jobs(params["methods"], params["seeds"]):  # the same keys, derived first layers
        search = SEARCH_COST * params["trials"] * params["n_search"] if job[1] == "proposed" else 0.0
        out.append(Task("classification", derived_runs.run_name(*job), training("plain") + search, search))
    # each method trained both ways; each trained on the lossless images and on their JPEG copies
    first_layer = len(FIRST_LAYER_VARIANTS) * sum(map(training, FIRST_LAYER_METHODS))
    out.append(Task("classification", "first_layer", first_layer))
    out.append(Task("classification", "jpeg_penalty", 2 * sum(map(training, JPEG_METHODS))))
    return out


def _scored_keys(params: dict, method: str) -> int:
    """Keys the key search scores for ``method``: the pool, the authors' repeated searches (R of each
    N up to ``trials``), one search, the pool's first keys again under the other convention and, for
    the reshuffled methods, the reshuffled pool and the aliased channel maps."""
    t, compare = params["trials"], min(COMPARE, params["pool"])
    keys = params["pool"] + params["repeats"] * t * (t + 1) // 2 + t + compare
    return keys + (params["pool"] + compare if method in RESHUFFLED else 0)


def _whole(experiment: str, params: dict) -> Task:
    """A whole smaller experiment as one task; its expected cost in the same units as a training run."""
    if experiment == "scrambling":
        return Task(experiment, "all", 0.01 * params["n_check"])
    if experiment == "metric_study":
        per_ratio = (METRIC_COST * 6 * params["n_images"] * params["iterations"]
                     + SLOW_METRIC_COST * len(SLOW_METRICS) * params["n_images_slow"]
                     * params["iterations_slow"])
        return Task(experiment, "all", len(IIR_PERCENT) * per_ratio)
    if experiment == "key_search":
        scored = SEARCH_COST * params["n_images"] * sum(_scored_keys(params, m) for m in params["methods"])
        return Task(experiment, "all", scored, scored)
    if experiment == "attacks":  # each key scored and attacked, the classifier and the ITNs trained
        keys = SEARCH_COST * len(params["methods"]) * params["keys"]
        scored = keys * params["n_score"]
        work = (keys * (RECONSTRUCTION_COST * params["n_test"] + ATTACK_COST)
                + CLASSIFIER_COST * params["classifier_epochs"] * params["n_classifier"]
                + ITN_STEP_COST * len(params["methods"]) * params["itn_steps"])
        return Task(experiment, "all", scored + work, scored)
    if experiment == "hiding":
        search = SEARCH_COST * len(params["methods"]) * params["keys"] * params["n_search"]
        training = _epochs({**params, "seeds": [0]}, "plain") * params["n_train"]
        return Task(experiment, "all", training + search, search)
    raise PihError(f"no cost model for experiment {experiment!r}")


def tasks(preset: str, experiments: list[str], changes: dict[str, dict]) -> list[Task]:
    """Every task of ``experiments`` at ``preset`` (``changes``: parameter overrides by notebook), in
    the order one process would compute them."""
    out = []
    for name in experiments:
        params = experiment_params(name, preset, changes)
        out += _classification(params) if name == "classification" else [_whole(name, params)]
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


# The time budget ---------------------------------------------------------------------------------

def expected_seconds(task: Task, device: str) -> float:
    """How long ``task`` is expected to take when none of it is cached, on a device of type
    ``device`` ("cuda", "cpu"; another type counts as "cpu")."""
    work, scored = SECONDS_PER_COST.get(device, SECONDS_PER_COST["cpu"])[task.experiment]
    return (task.cost - task.scored) * work + task.scored * scored


class BudgetLeft(PihError):
    """The time budget left tasks undone (each finished record is cached); ``report`` is what the
    call would have returned (the classification's runs, when every one is done)."""

    exit_status = 3

    def __init__(self, budget_s: float, left: dict[Task, float], report: dict | None = None):
        groups = []
        for name in dict.fromkeys(t.experiment for t in left):
            mine = {t: s for t, s in left.items() if t.experiment == name}
            if len(mine) == 1:
                task, need = next(iter(mine.items()))
                groups.append(f"{task.label} (~{need:.0f} s)")
            else:
                groups.append(f"{name}: {len(mine)} tasks (~{sum(mine.values()):.0f} s)")
        never = [t.label for t, need in left.items() if need > budget_s] if budget_s > 0 else []
        super().__init__(f"time budget of {budget_s:.0f} s spent with {len(left)} task(s) left for the next "
                         f"call: {'; '.join(groups)}. Each finished record is cached: run again to go on"
                         + (f" ({', '.join(never)}: expected to take longer than the whole budget, so no "
                            "call with this budget starts it)" if never else ""))
        self.left, self.report = left, report


class _NotStarted(Exception):
    """A task that would end after the budget: left, and the next one tried."""


class Budget:
    """The time budget of one call over ``todo``: the experiments go by their longest task, shortest
    first (work that comes in pieces before one long task, which can then only hold up itself); a
    task whose records must be computed is started only if its expected time (``expected_seconds``,
    scaled by what the classification's own finished runs took) fits in what is left. It sees each
    record as the compute code asks the cache for it (``cache.lookup`` and ``cache.cached`` are
    watched while an experiment runs), so it knows which tasks are cached, which were computed and
    which were left, without changing the compute code (whose digest keys the records)."""

    def __init__(self, budget_s: float, todo: list[Task], device: str, say: Callable[..., None] = print):
        self.budget_s, self.todo, self.device, self.say = budget_s, todo, device, say
        self.start = time.perf_counter()
        self.status: dict[Task, str] = {}  # "reused", "computed", "left" or "skipped"
        self.factor: dict[str, float] = {}  # measured / expected, by experiment
        self.left: dict[Task, float] = {}
        self.current: list[Task] = []

    def remaining(self) -> float:
        return self.budget_s - (time.perf_counter() - self.start)

    def expected(self, task: Task) -> float:
        return expected_seconds(task, self.device) * self.factor.get(task.experiment, 1.0)

    def order(self) -> list[str]:
        names = list(dict.fromkeys(t.experiment for t in self.todo))
        longest = {n: max(self.expected(t) for t in self.todo if t.experiment == n) for n in names}
        names.sort(key=lambda n: longest[n])
        totals = {n: sum(self.expected(t) for t in self.todo if t.experiment == n) for n in names}
        self.say(f"time budget {self.budget_s:.0f} s on {self.device}; expected if nothing is cached: "
                 + ", ".join(f"{n} ~{totals[n]:.0f} s" for n in names)
                 + " (in this order: the longest single task last)", flush=True)
        return names

    def _task(self, name: str) -> Task | None:
        part = name.rsplit("/", 1)[-1]
        return (next((t for t in self.current if t.part == name), None)
                or next((t for t in self.current if t.part == part), None)
                or next((t for t in self.current if t.part == "all"), None))

    def skip(self, part: str, why: str) -> None:
        """A task of the experiment running that these inputs cannot compute: said, never left."""
        for t in self.current:
            if t.part == part:
                self.status[t] = "skipped"
                self.say(f"not computed: {t.label}: {why}", flush=True)

    @contextmanager
    def watching(self, name: str) -> Iterator[Callable[[Callable[[], object]], object]]:
        """While experiment ``name`` runs: its records watched; yields ``attempt(fn)``, which runs one
        group of its tasks and goes on past one that does not fit."""
        self.current = [t for t in self.todo if t.experiment == name]
        lookup, cached = cache.lookup, cache.cached

        def watched_lookup(preset, record, *args, **kwargs):
            out = lookup(preset, record, *args, **kwargs)
            if out is not None and (task := self._task(record)) is not None:
                self.status.setdefault(task, "reused")
            return out

        def watched_cached(preset, record, params, compute, **kwargs):
            task = self._task(record)

            def admitted():
                if task is not None and self.status.get(task) != "computed":
                    need, left = self.expected(task), self.remaining()
                    if need > left:
                        self.status[task], self.left[task] = "left", need
                        self.say(f"left for the next call: {task.label} (expected ~{need:.0f} s, "
                                 f"{max(left, 0):.0f} s of the budget left)", flush=True)
                        raise _NotStarted(task.label)
                    self.status[task] = "computed"
                    self.say(f"starting {task.label} (expected ~{need:.0f} s, {left:.0f} s of the budget "
                             "left)", flush=True)
                t0 = time.perf_counter()
                out = compute()
                took = time.perf_counter() - t0
                self.say(f"computed {record} in {took:.1f} s", flush=True)
                if task is not None and task.part != "all":  # an experiment in pieces learns its rate
                    self.factor[task.experiment] = took / max(expected_seconds(task, self.device), 1e-9)
                return out

            return cached(preset, record, params, admitted, **kwargs)

        def attempt(fn: Callable[[], object]) -> object:
            try:
                return fn()
            except _NotStarted:
                return None

        try:
            with mock.patch.object(cache, "lookup", watched_lookup), \
                    mock.patch.object(cache, "cached", watched_cached):
                yield attempt
        finally:
            after = [t for t in self.current if t not in self.status]  # never reached: after one left
            for t in after:
                self.status[t], self.left[t] = "left", self.expected(t)
            if after:
                self.say(f"left for the next call too: {', '.join(t.part for t in after)}", flush=True)
            self.current = []

    def summary(self) -> str:
        counts = {s: sum(v == s for v in self.status.values())
                  for s in ("computed", "reused", "left", "skipped")}
        return (f"{counts['computed']} task(s) computed, {counts['reused']} found cached, "
                f"{counts['left']} left"
                + (f", {counts['skipped']} not computable with these inputs" if counts["skipped"] else "")
                + f", in {time.perf_counter() - self.start:.0f} s of a {self.budget_s:.0f} s budget")


def run(preset: str, mine: list[Task], changes: dict[str, dict], data: str | None = None,
        jpeg_data: str | None = None, device: str | torch.device | None = None, budget_s: float | None = None,
        progress: bool = True) -> dict | None:
    """Compute the tasks ``mine`` (each only if not cached). Returns the classification's runs as
    ``compute.classification.run`` would when ``mine`` holds all of them, else None. With
    ``budget_s``, no task starts that would end after ``budget_s`` seconds (``Budget``): a task that
    does not fit is left and the next one tried, and ``BudgetLeft`` (exit status 3, carrying that
    return value) ends the call if any was left."""
    say = print if progress else (lambda *a, **kw: None)
    budget = None if budget_s is None else Budget(budget_s, mine, default_device(device).type, say)
    names = budget.order() if budget else list(dict.fromkeys(t.experiment for t in mine))
    report = None
    for name in names:
        with (budget.watching(name) if budget else nullcontext(lambda fn: fn())) as attempt:
            report = _experiment(name, preset, mine, changes, data, jpeg_data, device, progress, attempt,
                                 budget) or report
    if budget:
        say(budget.summary(), flush=True)
        if budget.left:
            raise BudgetLeft(budget_s, budget.left, report)
    return report


def _experiment(name: str, preset: str, mine: list[Task], changes: dict[str, dict], data: str | None,
                jpeg_data: str | None, device: str | torch.device | None, progress: bool,
                attempt: Callable[[Callable[[], object]], object], budget: Budget | None) -> dict | None:
    params = experiment_params(name, preset, changes)
    parts = {t.part for t in mine if t.experiment == name}
    module = experiment(name)
    if name == "hiding":
        attempt(lambda: module.run(preset, params, data, device=device, progress=progress))
        return None
    if name != "classification":
        attempt(lambda: module.run(preset, params, data))
        return None
    train_set, test_set, search_images = runs.inputs(params, data)
    table3.images(test_set)  # fail before any training if Table 3 cannot be made
    every = runs.jobs(params["methods"], params["seeds"])
    todo = [j for j in every if _run_part(j) in parts]
    # under a budget each run is admitted on its own (the budget's watch), not by compute_runs' rule
    done = attempt(lambda: runs.compute_runs(params, todo, train_set, test_set, search_images, preset,
                                             device, None, progress))
    derived = [j for j in derived_runs.jobs(params["methods"], params["seeds"])
               if derived_runs.run_name(*j) in parts]
    derived_done = derived and attempt(lambda: derived_runs.compute_runs(
        params, derived, train_set, test_set, search_images, preset, device, None, progress))
    if "first_layer" in parts:
        attempt(lambda: training_studies.first_layer(params, train_set, test_set, preset, device=device,
                                                     progress=progress))
    if "jpeg_penalty" in parts:
        missing = training_studies.jpeg_penalty_missing(train_set, jpeg_data)
        if missing is None:
            attempt(lambda: training_studies.cached_jpeg_penalty(preset, params, train_set, test_set,
                                                                 jpeg_data, device=device, progress=progress))
        elif budget is not None:
            budget.skip("jpeg_penalty", missing)
        elif progress:
            print(f"not computed: classification jpeg_penalty: {missing}", flush=True)
    if done is not None and todo == every:
        whole = derived_done is not None and derived == derived_runs.jobs(params["methods"], params["seeds"])
        return {"plain": done[0], "runs": done[1:], **({"derived": derived_done} if whole else {})}
    return None
