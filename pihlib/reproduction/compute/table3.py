"""The paper's Table 3: three test images, each model's prediction and the LPIPS of its input.

The paper names the classes (a frog, an automobile, a horse) but not which test images; we take the
first test image of each class. Each run records its column (``column``); the table is assembled from
the plain run and the proposed keys of PE and LE (first seed).
"""

from __future__ import annotations

from functools import cache

import torch

from ...data import CIFAR10_CLASSES, ImageSet
from ...errors import PihError
from ...keys import Key
from ...metrics import RHO_CONVENTION, metric
from ...scramblers import scramble
from ...train import predict
from ..png import png_base64

CLASSES = ("frog", "automobile", "horse")
COLUMNS = ("PE", "LE")  # the proposed keys' columns beside the plain one, as in the paper


def images(test_set: ImageSet) -> dict[str, int]:
    """The first test image of each of Table 3's classes."""
    labels = test_set.labels.tolist()
    missing = [c for c in CLASSES if CIFAR10_CLASSES.index(c) not in labels]
    if missing:
        raise PihError(f"Table 3 needs a {', '.join(missing)} among the {len(labels)} test images: use more")
    return {c: labels.index(CIFAR10_CLASSES.index(c)) for c in CLASSES}


@cache
def _lpips():
    return metric("lpips", convention=RHO_CONVENTION)


@torch.no_grad()
def column(test_set: ImageSet, model: torch.nn.Module, key: Key | None, tta: int = 0) -> dict:
    """For each of Table 3's images: the model's predicted class and its probability (with the run's
    test-time augmentation), the (scrambled) image, and its LPIPS against the plain image (authors'
    convention, as the paper's)."""
    device = next(model.parameters()).device
    out = {}
    for name, index in images(test_set).items():
        x = test_set.images[index:index + 1]
        p = predict(model, x.to(device), key, tta)[0].softmax(0)
        y = scramble(x, key) if key is not None else x
        out[name] = {"test_index": index, "class": CIFAR10_CLASSES[int(p.argmax())],
                     "probability": float(p.max()), "lpips": float(_lpips()(x, y)),
                     "image_png": png_base64(y[0])}
    return out


def assemble(plain: dict, runs: list[dict], seed: int) -> dict:
    """Table 3 from the runs: the plain classifier and the proposed keys of PE and LE (``seed``)."""
    columns = {"plain": plain["table3"]}
    for r in runs:
        if r["kind"] == "proposed" and r["seed"] == seed and r["method"] in COLUMNS:
            columns[f"{r['method']} (proposed)"] = r["table3"]
    table: dict = {}
    for name, entries in columns.items():
        for image, v in entries.items():
            table.setdefault(image, {"test_index": v["test_index"]})[name] = {
                k: v[k] for k in ("class", "probability", "lpips", "image_png")}
    return table
