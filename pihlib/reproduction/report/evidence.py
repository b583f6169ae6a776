"""Which committed record a claim is judged on: the strongest evidence for it, whatever preset the
book is built at.

The build's preset decides what is computed, not which evidence the reader is shown: a claim is
judged on the ``paper`` preset's record where one is committed (or this build is at that preset),
else the ``gpu`` preset's, else this build's own. A committed record counts only if it was computed
with that preset's parameters (``presets.params``); one computed by older code counts, marked as such
by its provenance (``stale``).
"""

from __future__ import annotations

from .. import cache, experiment, presets

STRONGEST_FIRST = ("paper", "gpu")  # the presets whose records outrank a smaller build's


def candidates(preset: str, experiment_name: str, name: str, record: dict) -> list[tuple[dict, str]]:
    """The records of ``name`` (an ``experiment_name`` record) that could show its claims, strongest
    first, each with its preset: the committed ``paper`` and ``gpu`` records (each only if computed
    with that preset's parameters), then ``record``, this build's (at ``preset``; a build at ``gpu``
    or ``paper`` ranks as that preset)."""
    compute = experiment(experiment_name)
    out = []
    for p in STRONGEST_FIRST:
        if p == preset:
            break
        stored = cache.load(p, name, compute.__name__)
        if stored is not None and stored["params"] == presets.params(compute.NOTEBOOK, p):
            out.append((stored, p))
    return [*out, (record, preset)]


def first_tested(claims: list[tuple[dict, str]]) -> tuple[dict, str]:
    """Of one claim checked on each candidate record (strongest first): the first whose verdict is
    not "not tested" (evidence that cannot support a verdict is passed over), else the strongest."""
    return next(((c, p) for c, p in claims if not c["verdict"].startswith("not tested")), claims[0])


def where(shown_preset: str, preset: str) -> str:
    """One line saying whose record a page's verdict rests on, for the book."""
    if shown_preset == preset:
        return f"This build's own results (the `{preset}` preset) are the strongest committed evidence here."
    return (f"The verdicts below rest on the committed **`{shown_preset}`-preset** results, the strongest "
            f"evidence for this claim; this build (the `{preset}` preset) computed its own smaller run, "
            "which is summarised after them.")
