"""One word for each claim's verdict, for the introduction's table: reproduced, partly, not
reproduced, not distinguishable (within noise) or not tested; the claim checks say why."""

from __future__ import annotations

WORDS = {"yes": "reproduced", "partly": "partly", "no": "not reproduced",
         "not distinguishable": "not distinguishable", "not tested": "not tested", "not run": "not tested",
         "not compared": "not compared"}


def word(verdict: str) -> str:
    """The table's word for a claim check's verdict: its start, up to a colon (``WORDS``' keys)."""
    for start in sorted(WORDS, key=len, reverse=True):  # "not tested" before "no"
        if verdict == start or verdict.startswith(start + ":"):
            return WORDS[start]
    raise ValueError(f"a verdict must start with one of {list(WORDS)}, got {verdict!r}")


def within(ours: float, theirs: float, spread: float) -> bool:
    """Whether our mean is within two spreads (the larger SD of one key or one run) of the paper's."""
    return abs(ours - theirs) <= 2 * spread


def entry(name: str, verdict: str, reason: str) -> dict[str, str]:
    """The two glue values of one row of the introduction's table: the verdict's word, and the reason,
    led by what the verdict says after its word."""
    detail = verdict.partition(":")[2].strip()
    return {f"verdict_{name}": word(verdict), f"reason_{name}": f"{detail}; {reason}" if detail else reason}
