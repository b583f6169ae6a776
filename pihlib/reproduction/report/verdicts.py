"""The verdict on one claim, typed: its word, the reason (what the word applies to) and the evidence it
rests on (the preset of the committed record). Every claim check (``claims(...)`` of each report
module) makes one ``Verdict``; the introduction's table, the Paper vs. reproduction page, the claim
tables of the notebooks and the README's summary all read that one object, never a re-parsed string.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

# Each word and what it means, as the introduction defines it (tests/test_claims.py holds the two equal)
WORDS = {
    "reproduced": "our results show what the claim says, beyond the 95 % intervals where there are intervals",
    "partly": "for some of the methods or parts of the claim and not the others (the reason says which)",
    "not reproduced": "our results contradict the claim",
    "not distinguishable": "the 95 % interval of our estimate is too wide to decide",
    "not tested": "no committed result can test the claim (the reason says what would)",
    "not compared": "the paper gives nothing to set ours beside, or ours comes from another network or "
                    "training than the paper's (the reason says which)",
}


@dataclass(frozen=True)
class Verdict:
    """One claim's verdict.

    Attributes:
        word: one of ``WORDS``' keys.
        reason: what the word applies to, or why (e.g. "for LE", "fid sharper"); may be empty.
        evidence: the preset whose committed record the verdict rests on ("" until it is said).

    Raises:
        ValueError: a word that is not one of ``WORDS``.
    """

    word: str
    reason: str = ""
    evidence: str = ""

    def __post_init__(self) -> None:
        if self.word not in WORDS:
            raise ValueError(f"a verdict's word is one of {list(WORDS)}, got {self.word!r}")

    def __str__(self) -> str:
        return f"{self.word}: {self.reason}" if self.reason else self.word

    def on(self, preset: str) -> Verdict:
        """This verdict, said to rest on ``preset``'s record."""
        return replace(self, evidence=preset)

    @property
    def tested(self) -> bool:
        """Whether the evidence could support a verdict at all (not "not tested")."""
        return self.word != "not tested"


def within(ours: float, theirs: float, spread: float) -> bool:
    """Whether our mean is within two spreads (the larger SD of one key or one run) of the paper's."""
    return abs(ours - theirs) <= 2 * spread


def checked(name: str, claim: dict) -> dict[str, str]:
    """The two glue values of one claim on the Paper vs. reproduction page: ``<name>_claim``, the
    claim, and ``<name>_ok``, its verdict with the preset it rests on."""
    v = claim["verdict"]
    return {f"{name}_claim": claim["claim"], f"{name}_ok": str(v) + (f" ({v.evidence} preset)" if v.evidence
                                                                     else "")}


def entry(name: str, verdict: Verdict, ours: str = "") -> dict[str, str]:
    """The two glue values of one row of the introduction's table (plain text): the verdict's word,
    and the reason: the verdict's own (left out where ``ours`` says it already), then ``ours`` (the
    numbers behind it), then the preset it rests on."""
    parts = [p for p in (verdict.reason, ours) if p and not (p is verdict.reason and p in ours)]
    where = f" ({verdict.evidence} preset)" if verdict.evidence else ""
    return {f"verdict_{name}": verdict.word, f"reason_{name}": "; ".join(parts) + where}
