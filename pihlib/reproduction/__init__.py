"""The reproduction of the paper: presets, the paper's numbers, the results cache, one module per
experiment and the book build. Built on the core (``pihlib``), which never imports this package.

Each experiment (``scrambling``, ``metric_study``, ``key_search``, ``classification``, ``hiding``)
has two modules: ``compute.<name>`` (``experiment(name)``) holds ``NOTEBOOK`` (the notebook that
shows it) and ``run(preset, params, data)``, its records, cached under ``results/<preset>/`` with the
digest of the code that computed them; ``report.<name>`` (``reader(name)``) reads the records:
tables, ``claims(...)`` (the paper's claims, checked) and the values the book glues. The compute side
never imports the report side, so a record's code digest (``cache.code_modules``) covers only what
computes it. ``shards`` cuts a preset's work into tasks (a record's worth each) and the tasks into N
balanced, disjoint shards. From the command line::

    python -m pihlib.reproduction compute --preset gpu [--only classification] [--budget-s 600]
    python -m pihlib.reproduction compute --preset paper --shard 3/8        (shard 3 of 8)
    torchrun --nproc_per_node 4 -m pihlib.reproduction compute ...          (each run over 4 GPUs)
    python -m pihlib.reproduction build --preset cpu
"""

import importlib
from types import ModuleType

EXPERIMENTS = ("scrambling", "metric_study", "key_search", "classification", "hiding")


def experiment(name: str) -> ModuleType:
    """The compute module of experiment ``name`` (one of ``EXPERIMENTS``): ``NOTEBOOK``, ``run``."""
    return importlib.import_module(f"{__name__}.compute.{name}")


def reader(name: str) -> ModuleType:
    """The report module of experiment ``name`` (one of ``EXPERIMENTS``): what reads its records."""
    return importlib.import_module(f"{__name__}.report.{name}")
