"""The reproduction of the paper: presets, the paper's numbers, the results cache, one module per
experiment and the book build. Built on the core (``pihlib``), which never imports this package.

Each experiment module (``scrambling``, ``metric_study``, ``key_search``, ``classification``,
``hiding``) holds
``NOTEBOOK`` (the notebook that shows it), ``CODE`` (the modules its results depend on: their digest is
part of each cached result's key), ``run(preset, params, data)`` (its records, cached under
``results/<preset>/``) and ``claims(...)`` (the paper's claims, checked). ``shards`` cuts a preset's
work into tasks (a record's worth each) and the tasks into N balanced, disjoint shards. From the
command line::

    python -m pihlib.reproduction compute --preset gpu [--only classification] [--budget-s 600]
    python -m pihlib.reproduction compute --preset paper --shard 3/8        (shard 3 of 8)
    torchrun --nproc_per_node 4 -m pihlib.reproduction compute ...          (each run over 4 GPUs)
    python -m pihlib.reproduction build --preset cpu
"""

import importlib
from types import ModuleType

EXPERIMENTS = ("scrambling", "metric_study", "key_search", "classification", "hiding")


def experiment(name: str) -> ModuleType:
    """The module of experiment ``name`` (one of ``EXPERIMENTS``)."""
    return importlib.import_module(f"{__name__}.{name}")
