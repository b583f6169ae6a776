"""The code that computes the reproduction's records, one module per experiment (and ``runs``,
``table3``, ``training_studies`` for the classification's parts).

Each experiment module holds ``NOTEBOOK`` (the notebook that shows it) and ``run(preset, params,
data, ...)``, which returns its records, each computed only if not cached under ``results/<preset>/``
(``cache.cached``). A record's code digest covers the module that computes it and every pihlib module
that module imports (``cache.code_modules``), so nothing here imports the code that reads records
(``pihlib.reproduction.report``, the figures, the book): editing how a result is shown never makes it
stale. ``tests/test_architecture.py`` holds this rule.
"""
