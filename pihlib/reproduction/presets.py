"""The book's presets: one base (the default ``cpu`` preset) and what each other preset changes.

- ``smoke``: tiny, for the tests (minutes on CPU);
- ``cpu``: the default book, a real but small run on a laptop's CPU;
- ``gpu``: the full 50,000 training images, sized for minutes on one H100;
- ``paper``: the authors' full protocol.

Parameters are grouped by notebook (each notebook is the view of one experiment). The classification's
training parameters (``recipe``, ``classifier``, ``epochs``, ``batch_size``, ``lr``, ``schedule``) left
None take the recipe's values (``pihlib.train.RECIPES``): the fast presets train with airbench95's
recipe, the ``paper`` preset with the paper's.

Overrides (``params(notebook, preset, NAME=VALUE)``, ``-p TARGET.NAME VALUE`` on the command line, the
values papermill injects into a notebook) win, None included: None is a value where the parameter
may be None (the training parameters: the recipe's value) and is refused elsewhere. A parameter not
given, or given as ``NOT_GIVEN`` (``...``, the notebooks' parameter defaults), keeps the preset's
value. Every value is checked against its parameter before anything is computed.
"""

from __future__ import annotations

import ast
import copy
import math
from collections.abc import Callable
from typing import Any

from ..data import SPLITS
from ..errors import PihError
from ..scramblers import METHODS
from ..train import CLASSIFIERS, RECIPES, SCHEDULES, TRAIN_FIELDS, TrainConfig

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
    "05_attacks": {"methods": list(METHODS), "keys": 20, "n_score": 2000, "n_test": 500, "max_pairs": 32,
                   "coa_images": [10, 100, 1000], "group": 5, "itn_images": 1000, "itn_keys": 64,
                   "itn_steps": 100, "n_classifier": 2000, "classifier_epochs": 3,
                   "classifier_batch_size": 128, "n_classify": 200, "seed": 0},
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
        "05_attacks": {"methods": ["PE", "LE"], "keys": 4, "n_score": 64, "n_test": 32, "max_pairs": 16,
                       "coa_images": [10, 100], "group": 2, "itn_images": 64, "itn_keys": 4, "itn_steps": 5,
                       "n_classifier": 128, "classifier_epochs": 1, "classifier_batch_size": 64,
                       "n_classify": 32},
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
        # 2,000 test images: each of the group's keys keeps every test image's values (~3 MB a record)
        "05_attacks": {"n_score": 10000, "n_test": 2000, "itn_images": 10000, "itn_keys": 256,
                       "itn_steps": 2000, "n_classifier": 50000, "classifier_epochs": 10,
                       "classifier_batch_size": 1024, "n_classify": 2000},
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
        # 2,000 test images: each of the group's keys keeps every test image's values (~3 MB a record)
        "05_attacks": {"n_score": 50000, "n_test": 2000, "itn_images": 10000, "itn_keys": 256,
                       "itn_steps": 2000, "n_classifier": 50000, "classifier_epochs": 10,
                       "classifier_batch_size": 1024, "n_classify": 2000},
    },
}


def _merge(differences: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    out = copy.deepcopy(BASE)
    for notebook, changes in differences.items():
        out[notebook].update(copy.deepcopy(changes))
    return out


PRESETS: dict[str, dict[str, dict[str, Any]]] = {name: _merge(d) for name, d in DIFFERENCES.items()}
NOTEBOOKS = list(BASE)


NOT_GIVEN = ...  # an override left at this keeps the preset's value (None is a value: see MAY_BE_NONE)

# What each parameter may hold is read from its BASE value (where that is None, from the training
# configuration's default): an int, a float, a string or a list of them; then:
COUNTS = {"n_show", "n_check", "n_images", "n_images_slow", "iterations", "iterations_slow", "trials", "pool",
          "repeats", "n_train", "n_test", "n_search", "keys", "epochs", "batch_size", "n_score",
          "max_pairs", "group", "itn_images", "itn_keys", "itn_steps", "n_classifier", "classifier_epochs",
          "classifier_batch_size", "n_classify"}  # positive (else >= 0)
CHOICES = {"split": SPLITS, "methods": METHODS, "recipe": tuple(RECIPES), "classifier": tuple(CLASSIFIERS),
           "schedule": SCHEDULES}  # a string's (or a list's items') possible values
MAY_BE_NONE = frozenset(TRAIN_FIELDS)  # the training's parameters: None takes the recipe's value


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)


def _rule(name: str, example: Any) -> tuple[Callable[[Any], bool], str]:
    """(test, what it asks for) of a value of parameter ``name`` shaped like ``example``."""
    if isinstance(example, list):
        item, _ = _rule(name, example[0])

        def test(v: Any) -> bool:
            return isinstance(v, list) and bool(v) and all(map(item, v)) and len(set(map(repr, v))) == len(v)
        if name in CHOICES:
            return test, f"a list drawn from {list(CHOICES[name])}, not empty and without repeats"
        return test, "a non-empty list of integers (each 0 or more), without repeats"
    if name in CHOICES:
        return (lambda v: isinstance(v, str) and v in CHOICES[name]), \
            "one of " + ", ".join(map(repr, CHOICES[name]))
    if isinstance(example, bool):
        return (lambda v: isinstance(v, bool)), "True or False"
    if isinstance(example, int):
        low = 1 if name in COUNTS else 0
        return (lambda v: _is_int(v) and v >= low), "a positive integer" if low else "a non-negative integer"
    if isinstance(example, float):
        return (lambda v: _is_number(v) and v > 0), "a positive number"
    raise PihError(f"no rule for parameter {name} (a {type(example).__name__})")


def check(notebook: str, name: str, value: Any) -> None:
    """Refuse, in one line, a ``value`` that parameter ``name`` of ``notebook`` cannot hold."""
    if value is None and name in MAY_BE_NONE:
        return
    example = BASE[notebook][name]
    test, want = _rule(name, getattr(TrainConfig("plain"), name) if example is None else example)
    if not test(value):
        label = f"training {name}" if name in TRAIN_FIELDS else name
        alternative = ", or None (the recipe's)" if name in MAY_BE_NONE else ""
        raise PihError(f"{notebook}: {label} must be {want}{alternative}, got {value!r}")


def params(notebook: str, preset: str, **overrides: Any) -> dict[str, Any]:
    """The notebook's parameters under ``preset``; the overrides win, None included (an override
    left at ``NOT_GIVEN`` keeps the preset's value). Each value is checked against its parameter
    (``check``) here, before anything is computed."""
    if preset not in PRESETS:
        raise PihError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    if notebook not in PRESETS[preset]:
        raise PihError(f"no parameters for notebook {notebook!r}")
    base = copy.deepcopy(PRESETS[preset][notebook])
    unknown = set(overrides) - set(base)
    if unknown:
        raise PihError(f"{notebook} has no parameter {', '.join(sorted(unknown))}")
    base.update({k: copy.deepcopy(v) for k, v in overrides.items() if v is not NOT_GIVEN})
    for name, value in base.items():
        check(notebook, name, value)
    return base


def check_overrides(preset: str, changes: dict[str, dict[str, Any]]) -> None:
    """Every override in ``changes`` (by notebook) checked at ``preset``: the first wrong one is
    refused in one line, before any notebook runs or anything is computed."""
    for notebook, given in changes.items():
        params(notebook, preset, **given)


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
