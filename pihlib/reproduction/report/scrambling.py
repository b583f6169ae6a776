"""Notebook 00's reading of the ``scramblers`` record: its table and its one claim."""

from __future__ import annotations

from .verdicts import Verdict


def table(record: dict) -> dict[str, dict]:
    return {m: {"key fingerprint": r["fingerprint"],
                "exact inverse on all images": "yes" if r["exact_inverse"] else "NO",
                "values changed": f"{100 * r['values_changed']:.1f} %",
                "key space (bits)": f"{r['key_space_bits']['effective']:,.0f}"}
            for m, r in record["result"].items()}


def claims(record: dict) -> list[dict]:
    """The one claim of this section: every key's inverse gives back every image, bit for bit."""
    bad = [m for m, r in record["result"].items() if not r["exact_inverse"]]
    return [{"claim": "Each scrambler's inverse recovers every image exactly",
             "ours": f"{len(record['result']) - len(bad)} of {len(record['result'])} methods exact on "
                     f"{record['params']['n_check']} images",
             "verdict": Verdict("reproduced") if not bad else Verdict("not reproduced", ", ".join(bad))}]
