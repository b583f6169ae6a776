"""Table 2 with first layers set from the training images' statistics (notebook 03; issue #23), one
cached record a run.

The server knows the scrambling method but not the key. Each run takes the key of the paper-network
run of the same method, kind and seed (``runs.run_key``: the same original key, the same search for
the proposed one), sets the first layer that undoes the method from the scrambled training images
alone (``pihlib.derived``), maps the scrambled training and test images through it and trains the
classifier for plain images on the result, with the plain run's training configuration. Beside the
accuracy, each record says how much of the test set the layer gave back as the plain image
(``recovered``). Records: ``results/<preset>/classification-derived/``.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import torch
from tqdm.auto import tqdm

from ...data import ImageSet
from ...derived import DERIVED_METHODS, FIT_IMAGES, derive_first_layer
from ...keys import fingerprint
from ...runtime import default_device
from ...scorecache import CachedScorer
from ...scramblers import scramble
from ...train import TrainConfig, train
from .. import cache
from .runs import KINDS, BudgetExhausted, checkpoint_path, run_key, train_config

RUNS = "classification-derived"  # the runs' folder under results/<preset>/


def jobs(methods: list[str], seeds: list[int]) -> list[tuple[str, str, int]]:
    """(method, kind, seed) of every run, seed by seed: the methods of ``methods`` that have a derived
    layer (``pihlib.derived.DERIVED_METHODS``), each key kind."""
    return [(m, k, s) for s in seeds for m in methods if m in DERIVED_METHODS for k in KINDS]


def run_name(method: str, kind: str, seed: int) -> str:
    return f"{RUNS}/{method}-{kind}-seed{seed}"


def run_params(method: str, kind: str, seed: int, params: dict, data_sha256: str) -> dict:
    """What one run's record is keyed by: the key's method, kind and seed, the plain run's training
    configuration, the images the layer is set from, sizes and the training data's sha256."""
    return {"method": method, "kind": kind, "seed": seed, "first_layer": "derived", "fit_images": FIT_IMAGES,
            "config": asdict(train_config(params, "plain", seed)), "n_train": params["n_train"],
            "n_test": params["n_test"], "n_search": params["n_search"], "data_sha256": data_sha256,
            **({"trials": params["trials"]} if kind == "proposed" else {})}


def recovered(images: torch.Tensor, plain: torch.Tensor) -> dict[str, float]:
    """The fraction of ``images`` that are their ``plain`` image (``exact``) or its 4-bit version
    ``(x // 16) * 16 + 8`` (``four_bit``), either one also mirrored left-right as a whole (which no
    statistic of the scrambled images settles and a classifier trained with flips does not mind)."""
    def share(target: torch.Tensor) -> float:
        same = (images == target).flatten(1).all(1) | (images == target.flip(-1)).flatten(1).all(1)
        return float(same.float().mean())

    return {"exact": share(plain), "four_bit": share((plain // 16) * 16 + 8)}


def _train_run(keyed: dict, train_set: ImageSet, test_set: ImageSet, search_images: torch.Tensor,
               scorer: CachedScorer, preset: str, device: torch.device, progress: bool) -> dict:
    method, kind, seed = keyed["method"], keyed["kind"], keyed["seed"]
    key = run_key(method, kind, seed, keyed.get("trials", 1), scorer, search_images)
    seen = scramble(train_set.images, key)
    layer = derive_first_layer(method, seen, key.block_size or 4)
    x_train, x_test = layer(seen), layer(scramble(test_set.images, key))
    r = train(TrainConfig(**keyed["config"]), x_train, train_set.labels, x_test, test_set.labels,
              device=device, checkpoint=checkpoint_path(preset, keyed), progress=progress)
    return {"method": method, "kind": kind, "seed": seed, "fingerprint": fingerprint(key), "rho": scorer(key),
            "accuracy": r.test_accuracy, "history": r.history, "train_time_s": r.train_time_s,
            "images_per_s": r.images_per_s, "device": r.device, "config": keyed["config"],
            "fit_time_s": layer.fit_s, "fit_images": layer.images,
            "recovered": recovered(x_test, test_set.images)}


def compute_runs(params: dict, todo: list[tuple[str, str, int]], train_set: ImageSet, test_set: ImageSet,
                 search_images: torch.Tensor, preset: str, device: str | torch.device | None = None,
                 budget_s: float | None = None, progress: bool = True) -> list[dict]:
    """The runs ``todo`` (``jobs``' triples), each computed only if not cached (by this code); each
    returned run carries its record's provenance. ``budget_s``: as ``runs.compute_runs``'s."""
    device = default_device(device)
    data = train_set.source.as_dict()
    search_images = search_images.to(device)
    scorer: list[CachedScorer] = []  # made once, when the first run must be computed
    start, longest = time.perf_counter(), 0.0

    def compute(keyed: dict, done: int) -> dict:
        nonlocal longest
        if budget_s is not None and time.perf_counter() - start + longest > budget_s:
            raise BudgetExhausted(done, len(todo), budget_s)
        if not scorer:
            scorer.append(CachedScorer(search_images))
        t0 = time.perf_counter()
        out = _train_run(keyed, train_set, test_set, search_images, scorer[0], preset, device, progress)
        longest = max(longest, time.perf_counter() - t0)
        return out

    out = []
    for done, (method, kind, seed) in enumerate(tqdm(todo, desc="runs with derived first layers", unit="run",
                                                     disable=not progress)):
        keyed = run_params(method, kind, seed, params, train_set.source.sha256)
        record = cache.cached(preset, run_name(method, kind, seed), keyed,
                              lambda k=keyed, d=done: compute(k, d), code=__name__, data=data,
                              assets=["alexnet"])
        checkpoint_path(preset, keyed).unlink(missing_ok=True)  # the record holds the run now
        out.append({**record["result"], "provenance": record["provenance"]})
    return out
