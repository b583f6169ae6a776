"""Which committed records a claim is judged on: the strongest evidence for it, whatever preset the
book is built at.

The build's preset decides what is computed, not which evidence the reader is shown: a claim is
judged on the ``paper`` preset's records where they are committed, else the ``gpu`` preset's, else the
``cpu`` preset's, else this build's own (a ``smoke`` build ranks last). A committed record counts only
if it was computed with its preset's parameters (``presets.params``); one computed by older code
counts, marked as such by its provenance (``stale``). Of the records that count, a claim rests on the
strongest whose verdict is tested (``first_tested``): an observer at chance level, say, is passed over.
"""

from __future__ import annotations

from collections.abc import Callable

from .. import cache, experiment, presets

STRONGEST_FIRST = ("paper", "gpu", "cpu")  # the presets whose records outrank a smaller build's

# Each experiment's records that its claims read, by the name its notebook gives them, from the
# preset's parameters (the record names under ``results/<preset>/``)
CLAIM_RECORDS: dict[str, Callable[[dict], dict[str, str]]] = {
    "metric_study": lambda params: {"curves": "metric_study", "ssim_channels": "ssim_channels"},
    "key_search": lambda params: {m: f"key_search_{m}" for m in params["methods"]},
    "hiding": lambda params: {"hiding": "hiding"},
    "attacks": lambda params: {"attacks": "attacks"},
}


def stronger(preset: str) -> tuple[str, ...]:
    """The presets whose committed records outrank a build at ``preset`` (strongest first)."""
    return STRONGEST_FIRST[:STRONGEST_FIRST.index(preset)] if preset in STRONGEST_FIRST else STRONGEST_FIRST


def stored(preset: str, experiment_name: str) -> dict[str, dict] | None:
    """The committed records of ``experiment_name`` that its claims read (``CLAIM_RECORDS``) at
    ``preset``, by name; None unless every one is stored with that preset's parameters."""
    compute = experiment(experiment_name)
    params = presets.params(compute.NOTEBOOK, preset)
    out = {}
    for key, name in CLAIM_RECORDS[experiment_name](params).items():
        record = cache.load(preset, name, compute.__name__)
        if record is None or record["params"] != params:
            return None
        out[key] = record
    return out


def candidates(preset: str, experiment_name: str, own: dict[str, dict] | None = None
               ) -> list[tuple[dict[str, dict], str]]:
    """The records that could show ``experiment_name``'s claims, strongest first, each with its
    preset: the committed records of every preset that outranks ``preset`` (``stronger``; each only
    if stored with that preset's parameters), then ``own``, this build's (default: its committed
    records, where there are any). Each entry maps the names of ``CLAIM_RECORDS`` to records."""
    out = [(records, p) for p in stronger(preset) if (records := stored(p, experiment_name)) is not None]
    own = own if own is not None else stored(preset, experiment_name)
    return [*out, (own, preset)] if own is not None else out


def first_tested(claims: list[tuple[dict, str]]) -> dict:
    """Of one claim checked on each candidate record (strongest first, each with its preset): the
    first whose verdict is tested (evidence that cannot support a verdict is passed over), else the
    strongest; its verdict said to rest on that record's preset (``Verdict.on``)."""
    claim, preset = next(((c, p) for c, p in claims if c["verdict"].tested), claims[0])
    return {**claim, "verdict": claim["verdict"].on(preset)}


def judged(candidates: list[tuple[dict[str, dict], str]], claims: Callable[[dict[str, dict]], list[dict]]
           ) -> list[dict]:
    """Every claim of ``claims`` (a function of one candidate's records), each judged on the first
    candidate that can support it (``first_tested``)."""
    checked = [(claims(records), p) for records, p in candidates]  # each candidate's claims, checked once
    return [first_tested([(c[i], p) for c, p in checked]) for i in range(len(checked[0][0]))]


def rows(claims: list[dict]) -> list[dict[str, str]]:
    """Judged claims (``judged``) as a page's table shows them: the claim, our numbers, the verdict and
    the preset whose records it rests on."""
    return [{"claim": c["claim"], "ours": c["ours"], "verdict": str(c["verdict"]),
             "rests on": f"{c['verdict'].evidence} preset" if c["verdict"].evidence else "this build's run"}
            for c in claims]


def where(shown_preset: str, preset: str, own_shown: str | None = None) -> str:
    """One line saying whose records a page shows and its verdicts rest on, for the book; where this
    build's own run is on the page (``own_shown``: "above", "at the end of this page"), if it is."""
    if shown_preset == preset:
        return f"This build's own results (the `{preset}` preset) are the strongest committed evidence here."
    return (f"The results and verdicts below rest on the committed **`{shown_preset}`-preset** results, the "
            f"strongest evidence for these claims; this build (the `{preset}` preset) computed its own "
            "smaller run, " + (f"shown {own_shown}." if own_shown else f"cached in `results/{preset}/`."))
