"""Every parameter of every notebook, for each preset. papermill ``-p NAME VALUE`` overrides one.

- ``smoke``: the whole book in a few minutes on 2 CPU cores (CI);
- ``cpu``: the default of ``make book``: meaningful numbers on a laptop CPU in under an hour;
- ``gpu``: the full 50,000 training images, sized for minutes on one H100;
- ``paper``: the authors' full protocol.

The classification's training parameters (``recipe``, ``classifier``, ``epochs``, ``batch_size``,
``lr``, ``schedule``) left None take the recipe's values (``pihlib.train.RECIPES``): the fast presets
train with airbench95's recipe, the ``paper`` preset with the paper's.
"""

from __future__ import annotations

import ast
from typing import Any

from .errors import PihError

METHODS = ["PE", "EtC", "LE", "ELE"]
IIR_PERCENT = list(range(0, 101, 10))
SLOW_METRICS = ["niqe", "vgg", "fid"]  # slow on CPU: scored on fewer images

PRESETS: dict[str, dict[str, dict[str, Any]]] = {
    "smoke": {
        "00_scramblers": {"split": "test", "n_show": 4, "n_check": 256, "seed": 0},
        "01_metric_selection": {"n_images": 48, "n_images_slow": 8, "iterations": 2, "iterations_slow": 1,
                                "seed": 0, "example_image": 7},
        "02_key_search": {"n_images": 100, "trials": 20, "pool": 60, "repeats": 2, "seed": 0,
                          "methods": METHODS},
        "03_classification": {"methods": ["PE", "LE"], "seeds": [0], "trials": 20, "n_train": 256,
                              "n_test": 256, "n_search": 100, "recipe": "airbench", "classifier": None,
                              "epochs": 1, "batch_size": 64, "lr": None, "schedule": None},
    },
    "cpu": {
        "00_scramblers": {"split": "test", "n_show": 6, "n_check": 1000, "seed": 0},
        "01_metric_selection": {"n_images": 1000, "n_images_slow": 60, "iterations": 3, "iterations_slow": 1,
                                "seed": 0, "example_image": 7},
        "02_key_search": {"n_images": 2000, "trials": 20, "pool": 200, "repeats": 5, "seed": 0,
                          "methods": METHODS},
        "03_classification": {"methods": METHODS, "seeds": [0], "trials": 20, "n_train": 2000,
                              "n_test": 1000, "n_search": 2000, "recipe": "airbench", "classifier": None,
                              "epochs": 3, "batch_size": 128, "lr": None, "schedule": None},
    },
    "gpu": {
        "00_scramblers": {"split": "train", "n_show": 6, "n_check": 50000, "seed": 0},
        "01_metric_selection": {"n_images": 10000, "n_images_slow": 2000, "iterations": 10,
                                "iterations_slow": 3, "seed": 0, "example_image": 7},
        "02_key_search": {"n_images": 10000, "trials": 20, "pool": 400, "repeats": 5, "seed": 0,
                          "methods": METHODS},
        "03_classification": {"methods": METHODS, "seeds": [0, 1, 2], "trials": 20, "n_train": 50000,
                              "n_test": 10000, "n_search": 10000, "recipe": "airbench", "classifier": None,
                              "epochs": None, "batch_size": None, "lr": None, "schedule": None},
    },
    "paper": {
        "00_scramblers": {"split": "train", "n_show": 6, "n_check": 50000, "seed": 0},
        "01_metric_selection": {"n_images": 50000, "n_images_slow": 50000, "iterations": 10,
                                "iterations_slow": 10, "seed": 0, "example_image": 7},
        "02_key_search": {"n_images": 50000, "trials": 20, "pool": 1000, "repeats": 5, "seed": 0,
                          "methods": METHODS},
        "03_classification": {"methods": METHODS, "seeds": [0, 1, 2], "trials": 20, "n_train": 50000,
                              "n_test": 10000, "n_search": 50000, "recipe": "classic",
                              "classifier": "pyramidnet", "epochs": 100, "batch_size": 256, "lr": 0.1,
                              "schedule": "steps"},
    },
}


def params(notebook: str, preset: str, **overrides: Any) -> dict[str, Any]:
    """The notebook's parameters under ``preset``; overrides that are not None win."""
    if preset not in PRESETS:
        raise PihError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if notebook not in PRESETS[preset]:
        raise PihError(f"no parameters for notebook {notebook!r}")
    base = dict(PRESETS[preset][notebook])
    unknown = set(overrides) - set(base)
    if unknown:
        raise PihError(f"{notebook} has no parameter {', '.join(sorted(unknown))}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    return base


def parse_value(text: str) -> Any:
    """A command-line parameter value: a Python literal (``20``, ``[0, 1]``, ``'PE'``) or else the text."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text
