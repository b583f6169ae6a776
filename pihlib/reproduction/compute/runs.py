"""The classification's runs (notebook 03: Table 2 and the runs behind Table 3), one cached record
each.

"Original" is one random key per run; "proposed" the best of N keys by rho (Algorithm 1) over the
key-search images; the two are drawn from independent streams of the run's seed, so the original key
is never among the search's candidates. Each run trains an adaptation network and a classifier on the
scrambled training images, and records its test accuracy, its key's rho (authors' convention) and, for
Table 3, its prediction on three test images. Every run is cached on its own with its provenance
(``results/<preset>/classification-runs/``), so an interrupted experiment, or one cut into pieces by a
time budget, goes on where it stopped: ``python -m pihlib.reproduction compute --preset gpu --only
classification --budget-s 600``. The two training studies beside Table 2 use this module's keys and
settings (``run_key``, ``train_config``).
"""

from __future__ import annotations

import time
from dataclasses import asdict
from functools import partial
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from ...data import ImageSet, load_cifar10
from ...errors import PihError
from ...keys import Key, fingerprint
from ...keysearch import search
from ...runtime import cache_root, default_device
from ...scorecache import CachedScorer
from ...scramblers import METHODS, keygen
from ...train import TRAIN_FIELDS, TrainConfig, train
from .. import cache
from . import table3

KINDS = ("original", "proposed")
RUNS = "classification-runs"  # the runs' folder under results/<preset>/


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


def run_params(method: str, kind: str, seed: int, params: dict, data_sha256: str) -> dict:
    """What one run's record is keyed by: its method, key kind, seed, training configuration, sizes
    and the training data's sha256."""
    cfg = train_config(params, method, seed)
    return {"method": method, "kind": kind, "seed": seed, "config": asdict(cfg),
            "n_train": params["n_train"], "n_test": params["n_test"], "data_sha256": data_sha256,
            **({} if kind == "plain" else {"n_search": params["n_search"]}),
            **({"trials": params["trials"]} if kind == "proposed" else {})}


def checkpoint_path(preset: str, keyed: dict) -> Path:
    """Where a run's training checkpoint lives while it trains (a cache, never committed; removed once
    the run's record is written). Named by everything the run depends on (its parameters, data and
    key search), so a checkpoint is never resumed for other data."""
    folder = cache_root() / "checkpoints" / preset
    folder.mkdir(parents=True, exist_ok=True)
    p = keyed
    return folder / f"{p['method']}-{p['kind']}-{p['seed']}-{cache.params_hash(p)[:16]}.pt"


def _train_run(keyed: dict, trials: int, train_set: ImageSet, test_set: ImageSet,
               search_images: torch.Tensor, scorer: CachedScorer | None, preset: str, device: torch.device,
               progress: bool) -> dict:
    method, kind, seed = keyed["method"], keyed["kind"], keyed["seed"]
    key = None if kind == "plain" else run_key(method, kind, seed, trials, scorer, search_images)
    cfg = TrainConfig(**keyed["config"])
    r = train(cfg, train_set.images, train_set.labels, test_set.images, test_set.labels, key=key,
              device=device, checkpoint=checkpoint_path(preset, keyed), progress=progress)
    return {"method": method, "kind": kind, "seed": seed,
            "fingerprint": None if key is None else fingerprint(key),
            "rho": None if key is None else scorer(key), "accuracy": r.test_accuracy, "history": r.history,
            "train_time_s": r.train_time_s, "images_per_s": r.images_per_s, "device": r.device,
            "config": keyed["config"], "table3": table3.column(test_set, r.model, key, cfg.tta)}


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
        keyed = run_params(method, kind, seed, params, train_set.source.sha256)
        record = cache.lookup(preset, name, keyed, __name__)
        if record is None:
            if budget_s is not None and time.perf_counter() - start + longest > budget_s:
                raise BudgetExhausted(done, len(todo), budget_s)
            if scorer is None and kind != "plain":
                scorer = CachedScorer(search_images)
            bar.set_postfix_str(f"{method} {kind} seed {seed}")
            t0 = time.perf_counter()
            run = partial(_train_run, keyed, params["trials"], train_set, test_set, search_images,
                          scorer, preset, device, progress)
            record = cache.cached(preset, name, keyed, run, code=__name__, data=data, assets=["alexnet"])
            checkpoint_path(preset, keyed).unlink(missing_ok=True)  # the record holds the run now
            longest = max(longest, time.perf_counter() - t0)
        out.append({**record["result"], "provenance": record["provenance"]})
    return out
