"""The classification experiment (notebook 03): the runs of Table 2 and Table 3 (``runs``), the same
keys' runs with first layers set from the training statistics (``derived_runs``), and the two
training studies beside them (``training_studies``)."""

from __future__ import annotations

import torch

from ...data import ImageSet
from . import derived_runs, table3, training_studies
from .runs import compute_runs, inputs, jobs

NOTEBOOK = "03_classification"


def compute(params: dict, train_set: ImageSet, test_set: ImageSet, search_images: torch.Tensor,
            preset: str, device: str | torch.device | None = None, budget_s: float | None = None,
            progress: bool = True) -> dict:
    """Every run of ``params`` (``compute_runs``), Table 3 assembled from them, and the runs with
    derived first layers (``derived_runs``). Returns ``{"runs", "plain", "table3", "derived"}``."""
    table3.images(test_set)  # fail before any training if Table 3 cannot be made
    plain, *runs = compute_runs(params, jobs(params["methods"], params["seeds"]), train_set, test_set,
                                search_images, preset, device, budget_s, progress)
    todo = derived_runs.jobs(params["methods"], params["seeds"])
    derived = derived_runs.compute_runs(params, todo, train_set, test_set, search_images, preset, device,
                                        budget_s, progress)
    return {"runs": runs, "plain": plain, "table3": table3.assemble(plain, runs, params["seeds"][0]),
            "derived": derived}


def run(preset: str, params: dict, data: str | None = None, jpeg_data: str | None = None,
        device: str | torch.device | None = None, budget_s: float | None = None,
        progress: bool = True) -> dict:
    """Everything notebook 03 shows: the runs (``compute``), the first-layer study and, where the data
    allow, the JPEG penalty (``jpeg_penalty`` is its record, or the reason it is not measured)."""
    train_set, test_set, search_images = inputs(params, data)
    out = compute(params, train_set, test_set, search_images, preset, device, budget_s, progress)
    out["first_layer"] = training_studies.first_layer(params, train_set, test_set, preset, device=device,
                                             progress=progress)
    missing = training_studies.jpeg_penalty_missing(train_set, jpeg_data)
    out["jpeg_penalty"] = missing or training_studies.cached_jpeg_penalty(
        preset, params, train_set, test_set, jpeg_data, device=device, progress=progress)
    return out
