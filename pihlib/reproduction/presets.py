"""The book's presets: one base (the default ``cpu`` preset) and what each other preset changes.

- ``smoke``: tiny, for the tests (minutes on CPU);
- ``cpu``: the default book, a real but small run on a laptop's CPU;
- ``gpu``: the full 50,000 training images, sized for minutes on one H100;
- ``paper``: the authors' full protocol.

Parameters are grouped by notebook (each notebook is the view of one experiment). The classification's
training parameters (``recipe``, ``classifier``, ``epochs``, ``batch_size``, ``lr``, ``schedule``) left
None take the recipe's values (``pihlib.train.RECIPES``): the fast presets train with airbench95's
recipe, the ``paper`` preset with the paper's.
"""

from __future__ import annotations

import ast
import copy
from typing import Any

from ..errors import PihError
from ..scramblers import METHODS

IIR_PERCENT = list(range(0, 101, 10))  # the metric study's inversion ratios (Fig. 3's x axis)
SLOW_METRICS = ["niqe", "vgg", "fid"]  # slow on CPU: scored on fewer images

BASE: dict[str, dict[str, Any]] = {
    "00_scramblers": {"split": "test", "n_show": 6, "n_check": 1000, "seed": 0},
    "01_metric_selection": {"n_images": 1000, "n_images_slow": 60, "iterations": 10, "iterations_slow": 4,
                            "seed": 0, "example_image": 7},
    "02_key_search": {"n_images": 2000, "trials": 20, "pool": 200, "repeats": 5, "seed": 0,
                      "methods": list(METHODS)},
    "03_classification": {"methods": list(METHODS), "seeds": [0], "trials": 20, "n_train": 2000,
                          "n_test": 1000, "n_search": 2000, "recipe": "airbench", "classifier": None,
                          "epochs": 3, "batch_size": 128, "lr": None, "schedule": None},
    "04_hiding": {"methods": list(METHODS), "keys": 20, "n_train": 2000, "n_test": 1000, "n_search": 2000,
                  "epochs": 3, "batch_size": 128, "seed": 0, "n_show": 6},
}

_FULL_SCRAMBLERS = {"split": "train", "n_check": 50000}
DIFFERENCES: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "00_scramblers": {"n_show": 4, "n_check": 256},
        "01_metric_selection": {"n_images": 24, "n_images_slow": 4, "iterations": 2, "iterations_slow": 1},
        "02_key_search": {"n_images": 100, "pool": 60, "repeats": 2},
        "03_classification": {"methods": ["PE", "LE"], "n_train": 128, "n_test": 64, "n_search": 64,
                              "epochs": 1, "batch_size": 64},
        "04_hiding": {"methods": ["PE", "LE"], "keys": 6, "n_train": 128, "n_test": 64, "n_search": 64,
                      "epochs": 1, "batch_size": 64, "n_show": 4},
    },
    "cpu": {},
    "gpu": {
        "00_scramblers": _FULL_SCRAMBLERS,
        "01_metric_selection": {"n_images": 10000, "n_images_slow": 2000, "iterations": 10,
                                "iterations_slow": 3},
        "02_key_search": {"n_images": 10000, "pool": 400},
        "03_classification": {"seeds": [0, 1, 2], "n_train": 50000, "n_test": 10000, "n_search": 10000,
                              "epochs": None, "batch_size": None},
        "04_hiding": {"n_train": 50000, "n_test": 10000, "n_search": 10000, "epochs": None,
                      "batch_size": None},
    },
    "paper": {
        "00_scramblers": _FULL_SCRAMBLERS,
        "01_metric_selection": {"n_images": 50000, "n_images_slow": 50000, "iterations": 10,
                                "iterations_slow": 10},
        "02_key_search": {"n_images": 50000, "pool": 1000},
        "03_classification": {"seeds": [0, 1, 2], "n_train": 50000, "n_test": 10000, "n_search": 50000,
                              "recipe": "classic", "classifier": "pyramidnet", "epochs": 100,
                              "batch_size": 256, "lr": 0.1, "schedule": "steps"},
        "04_hiding": {"n_train": 50000, "n_test": 10000, "n_search": 50000, "epochs": None,
                      "batch_size": None},
    },
}


def _merge(differences: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(BASE)
    for notebook, changes in differences.items():
        out[notebook].update(copy.deepcopy(changes))
    return out


PRESETS: dict[str, dict[str, dict[str, Any]]] = {name: _merge(d) for name, d in DIFFERENCES.items()}
NOTEBOOKS = list(BASE)


# positive integers (the training's epochs and batch size are checked by pihlib.train.TrainConfig)
COUNTS = {"n_show", "n_check", "n_images", "n_images_slow", "iterations", "iterations_slow", "trials", "pool",
          "repeats", "n_train", "n_test", "n_search", "keys"}


def params(notebook: str, preset: str, **overrides: Any) -> dict[str, Any]:
    """The notebook's parameters under ``preset``; overrides that are not None win. A count that is
    not a positive integer is refused here, before anything is computed."""
    if preset not in PRESETS:
        raise PihError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if notebook not in PRESETS[preset]:
        raise PihError(f"no parameters for notebook {notebook!r}")
    base = copy.deepcopy(PRESETS[preset][notebook])
    unknown = set(overrides) - set(base)
    if unknown:
        raise PihError(f"{notebook} has no parameter {', '.join(sorted(unknown))}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    for name in COUNTS & set(base):
        v = base[name]
        if v is not None and (not isinstance(v, int) or isinstance(v, bool) or v < 1):
            raise PihError(f"{notebook}: {name} must be a positive integer, got {v!r}")
    return base


def parse_value(text: str) -> Any:
    """A command-line parameter value: a Python literal (``20``, ``[0, 1]``, ``'PE'``) or else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def markdown(params: dict[str, Any], preset: str, resolved: Any = None) -> str:
    """The parameters a notebook ran with, as a small table; a None that ``resolved`` (a training
    configuration) fills in shows its value and where it came from."""
    rows = []
    for name, value in params.items():
        if value is None and resolved is not None and hasattr(resolved, name):
            value = f"{getattr(resolved, name)} (the `{resolved.recipe}` recipe's)"
        rows.append(f"| `{name}` | {value} |")
    return "\n".join([f"**Parameters** (preset `{preset}`)", "", "| parameter | value |", "|---|---|", *rows])
