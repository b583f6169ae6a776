"""The paper's metric study (notebook 01: Fig. 3, Table 1): nine metrics against the intensity
inversion ratio.

For each inversion ratio (0-100 % of the 3*H*W values, at random positions: the metric-study
variant of PE, ``PE-IIR``) and each iteration (a fresh random key), every metric compares the plain
images with their scrambled versions; FID compares the two sets.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from ...data import load_cifar10
from ...metrics import RHO_CONVENTION, metric, metric_names
from ...scramblers import STUDY_METHOD, keygen, scramble
from .. import cache
from ..png import png_base64

NOTEBOOK = "01_metric_selection"
IIR_PERCENT = list(range(0, 101, 10))  # the metric study's inversion ratios (Fig. 3's x axis)
SLOW_METRICS = ["niqe", "vgg", "fid"]  # slow on CPU: scored on fewer images

TABLE1_PERCENTS = [0, 10, 30, 50, 70, 90, 100]

AUTHORS_LPIPS = "lpips (authors)"  # LPIPS under the authors' input convention, beside the standard one


def inverted_count(percent: float, values: int = 3072) -> int:
    """The authors' counts: 0, 307, 614, ..., 3072 for 0, 10, 20, ..., 100 % of 3072 values."""
    return int(values * percent) // 100


def metric_study(images: torch.Tensor, percents: Sequence[int], iterations: int, names: Sequence[str],
                 seed: int = 0, progress: bool = True, options: dict | None = None,
                 label: str | None = None) -> dict:
    """Per metric: ``values[i][j]``, the metric (mean over images; FID over the set) at ratio i,
    iteration j. The keys of iteration j are the same for every metric (and every call with this
    seed). ``options`` go to each metric; ``label`` names its values (default: the metric's name)."""
    values = 3 * images.shape[-2] * images.shape[-1]
    rng = np.random.default_rng(seed)
    shape = tuple(images.shape[-2:])
    keys = [[keygen(STUDY_METHOD, seed=rng, shape=shape, inverted=inverted_count(p, values))
             for _ in range(iterations)] for p in percents]
    out = {}
    for name in names:
        compare = metric(name, **(options or {})).against(images)
        rows = []
        for row in tqdm(keys, desc=label or name, disable=not progress, leave=False):
            rows.append([float(compare(scramble(images, k)).double().mean()) for k in row])
        out[label or name] = rows
    return {"percents": list(percents), "inverted": [inverted_count(p, values) for p in percents],
            "iterations": iterations, "values": out}


def lpips_examples(image: torch.Tensor, percents: Sequence[int], seed: int = 0,
                   convention: str = "lpips") -> dict:
    """Table 1: one image (uint8 3 x H x W) scrambled at several ratios, each version as PNG text
    (``png.png_base64``), with its LPIPS."""
    rng = np.random.default_rng(seed)
    lp = metric("lpips", convention=convention)
    x = image[None]
    images, scores = [], []
    for p in percents:
        y = scramble(x, keygen(STUDY_METHOD, seed=rng, shape=tuple(x.shape[-2:]),
                               inverted=inverted_count(p, x[0].numel())))
        images.append(png_base64(y[0]))
        scores.append(float(lp(x, y)))
    return {"percents": list(percents), "lpips": scores, "images": images, "convention": convention}


def compute(params: dict, images: torch.Tensor) -> dict:
    """Fig. 3's curves: the fast metrics on ``n_images``, the slow ones on ``n_images_slow``."""
    fast_names = [m for m in metric_names() if m not in SLOW_METRICS]
    fast = metric_study(images, IIR_PERCENT, params["iterations"], fast_names, seed=params["seed"])
    authors = metric_study(images, IIR_PERCENT, params["iterations"], ["lpips"], seed=params["seed"],
                           options={"convention": RHO_CONVENTION}, label=AUTHORS_LPIPS)
    slow = metric_study(images[: params["n_images_slow"]], IIR_PERCENT, params["iterations_slow"],
                        SLOW_METRICS, seed=params["seed"])
    fast_names = [*fast_names, AUTHORS_LPIPS]
    return {"percents": fast["percents"], "inverted": fast["inverted"],
            "values": {**fast["values"], **authors["values"], **slow["values"]},
            "images": {m: params["n_images"] for m in fast_names}
            | {m: params["n_images_slow"] for m in SLOW_METRICS},
            "iterations": {m: params["iterations"] for m in fast_names}
            | {m: params["iterations_slow"] for m in SLOW_METRICS}}


def ssim_channels(params: dict, images: torch.Tensor) -> dict:
    """Mean SSIM at 50 % IIR on grey (pihlib's default) and on colour images (the authors')."""
    key = keygen(STUDY_METHOD, seed=params["seed"], inverted=inverted_count(50))
    y = scramble(images, key)
    return {c: float(metric("ssim", channels=c)(images, y).mean()) for c in ("grey", "rgb")}


def run(preset: str, params: dict, data: str | None = None) -> dict:
    """The records of this section: ``curves`` (Fig. 3), ``ssim_channels`` and ``examples`` (Table 1)."""
    images = load_cifar10("train", data, count=params["n_images"])
    source = images.source.as_dict()
    example = load_cifar10("test", data, count=params["example_image"] + 1)
    return {
        "curves": cache.cached(preset, "metric_study", params, lambda: compute(params, images.images),
                               code=__name__, data=source,
                               assets=["alexnet", "vgg16", "brisque", "niqe", "inception"]),
        "ssim_channels": cache.cached(preset, "ssim_channels", params,
                                      lambda: ssim_channels(params, images.images), code=__name__,
                                      data=source),
        "examples": cache.cached(preset, "iir_examples", {**params, "percents": TABLE1_PERCENTS},
                                 lambda: lpips_examples(example.images[params["example_image"]],
                                                        TABLE1_PERCENTS, seed=params["seed"],
                                                        convention="authors"),
                                 code=__name__, data=example.source.as_dict(), assets=["alexnet"]),
    }
