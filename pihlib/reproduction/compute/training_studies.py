"""Two studies beside Table 2 (notebook 03), each one cached record: whether airbench's whitened first
layer helps behind an adaptation network, and what the lossy (JPEG) copy of CIFAR-10 costs."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from ...data import ImageSet, load_paired_copy, source_sha256
from ...errors import PihError
from ...metrics import metric
from ...train import TRAIN_FIELDS, evaluate, train
from .. import cache
from .runs import run_key, train_config

JPEG_METHODS = ("plain", "PE", "LE")  # the methods with a target on the JPEG copy
FIRST_LAYER_VARIANTS = {"whitened": {}, "trainable": {"whiten": False}}
FIRST_LAYER_METHODS = ("LE", "ELE")  # the methods whose first layer sits behind an adaptation network


def study_params(params: dict) -> dict:
    """The parameters both studies' records are keyed by: the seeds, the sizes and the training's."""
    return {k: params[k] for k in ("seeds", "n_train", "n_test", *TRAIN_FIELDS) if k in params}


def first_layer(params: dict, train_set: ImageSet, test_set: ImageSet, preset: str,
                methods: tuple[str, ...] = FIRST_LAYER_METHODS, device: str | torch.device | None = None,
                progress: bool = True) -> dict:
    """Behind an adaptation network, airbench's frozen whitening layer is computed from the network's
    output at initialisation, which then moves as it trains: is that better than a first layer that
    trains? Each method (original key of the first seed, the run's settings) trained both ways; the
    record (cached at ``preset``) holds the test accuracies."""
    seed = params["seeds"][0]
    keyed = {**study_params(params), "methods": list(methods), "data_sha256": train_set.source.sha256}

    def compute() -> dict:
        out = {}
        for method in methods:
            key = run_key(method, "original", seed, 1)
            for variant, options in FIRST_LAYER_VARIANTS.items():
                config = dataclasses.replace(train_config(params, method, seed), **options)
                r = train(config, train_set.images, train_set.labels, test_set.images, test_set.labels,
                          key=key, device=device, progress=progress)
                out.setdefault(method, {})[variant] = {"accuracy": r.test_accuracy, "time_s": r.train_time_s}
        return out

    return cache.cached(preset, "first_layer", keyed, compute, code=__name__, data=train_set.source.as_dict())


def jpeg_penalty(params: dict, train_set: ImageSet, test_set: ImageSet, jpeg: str,
                 methods: tuple[str, ...] = JPEG_METHODS, device: str | torch.device | None = None,
                 progress: bool = True) -> dict:
    """What the lossy copy of CIFAR-10 costs: the lossless ``train_set`` and ``test_set`` (official
    order) paired with their copies in ``jpeg``; the PSNR of the pairs; and, for each method (original
    key of the first seed, the run's training settings), a model trained on the lossless images and
    one trained on the JPEG images, each tested on both test sets."""
    seed = params["seeds"][0]
    sets = {"lossless": (train_set, test_set)}
    if not all(s.source.lossless for s in sets["lossless"]):
        raise PihError(f"{train_set.source.path} is not a lossless source")
    sets["jpeg"] = tuple(load_paired_copy(ref, jpeg) for ref in sets["lossless"])
    psnr = metric("psnr")
    out: dict = {"psnr": {}, "accuracy": {}, "sources": {k: v[0].source.as_dict() for k, v in sets.items()}}
    for split, i in (("train", 0), ("test", 1)):
        p = psnr(sets["lossless"][i].images, sets["jpeg"][i].images)
        out["psnr"][split] = {"mean": float(p.mean()), "min": float(p.min()), "max": float(p.max()),
                              "count": len(p)}
    for method in methods:
        key = None if method == "plain" else run_key(method, "original", seed, 1)
        config = train_config(params, method, seed)
        acc = out["accuracy"][method] = {}
        for trained_on, (train_images, own_test) in sets.items():
            r = train(config, train_images.images, train_images.labels, own_test.images, own_test.labels,
                      key=key, device=device, progress=progress)
            for tested_on, (_, test_images) in sets.items():
                acc[f"{trained_on}->{tested_on}"] = evaluate(r.model, test_images.images, test_images.labels,
                                                            key, tta=config.tta)
    return out


def jpeg_penalty_missing(train_set: ImageSet, jpeg: str | None) -> str | None:
    """Why the JPEG penalty cannot be measured with these inputs, or None if it can."""
    if not jpeg:
        return "no JPEG copy is named (`jpeg_data` / `PIH_CIFAR10_JPEG`)"
    if not Path(jpeg).exists():
        return f"the JPEG copy `{jpeg}` does not exist"
    if not (train_set.source.lossless and train_set.source.order == "official"):
        return "the training data is not lossless in the official order (`data` / `PIH_CIFAR10`)"
    return None


def cached_jpeg_penalty(preset: str, params: dict, train_set: ImageSet, test_set: ImageSet, jpeg: str,
                        device: str | torch.device | None = None, progress: bool = True) -> dict:
    """``jpeg_penalty``'s record (result and provenance), computed only if none is cached at ``preset``
    for these parameters and data (the lossless set's hash and the JPEG copy's name)."""
    keyed = {**study_params(params), "jpeg": Path(jpeg).name, "jpeg_sha256": source_sha256(jpeg),
             "data_sha256": train_set.source.sha256}

    def compute() -> dict:
        return jpeg_penalty(params, train_set, test_set, jpeg, device=device, progress=progress)

    return cache.cached(preset, "jpeg_penalty", keyed, compute, code=__name__,
                        data=train_set.source.as_dict())
