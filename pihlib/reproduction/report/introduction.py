"""The introduction's verdict table from the committed results alone, without running a notebook.

A build writes its own records under ``results/<preset>/`` before its pages are made, so after a
build this is exactly what its introduction shows: each notebook glues the same ``verdicts`` of its
report module. Tests build the table with only the ``cpu`` preset's results and with the ``gpu``
preset's beside them, and check that the verdicts change where the ``gpu`` records say more.
"""

from __future__ import annotations

from .. import presets
from ..compute import table3 as table3_compute
from . import attacks, classification, evidence, hiding, key_search, metric_study

# The rows of the introduction's table (book/intro.md glues verdict_<row> and reason_<row> of each)
ROWS = ("table2_pih", "table2_acc", "accuracy", "table3", "fig3_peak", "fig3_sharpest", "metric_choice",
        "table1", "fig4_gain", "fig4", "fig5", "hiding", "attacks")


def verdicts(preset: str) -> dict[str, str]:
    """Every row of the introduction's table for a book built at ``preset``: ``verdict_<row>`` (the
    verdict's word) and ``reason_<row>`` for each of ``ROWS`` whose experiment has committed records
    (this preset's or a stronger one's; see ``evidence``), plus the Paper vs. reproduction page's
    ``<claim>_ok`` and ``<claim>_claim`` texts."""
    out: dict[str, str] = {}
    for name, reader in (("metric_study", metric_study), ("key_search", key_search), ("hiding", hiding),
                         ("attacks", attacks)):
        if found := evidence.candidates(preset, name):
            out.update(reader.verdicts(found))
    params = presets.params(classification.NOTEBOOK, preset)
    stored = classification.stored_runs(preset, params)
    table3 = table3_compute.assemble(stored["plain"], stored["runs"], params["seeds"][0]) \
        if stored["plain"] else {}
    out.update(classification.verdicts(preset, {**stored, "table3": table3}))
    return out
