"""Table 3's reading: ours beside the paper's, and its claim (every image keeps its class)."""

from __future__ import annotations

from .. import paper
from .verdicts import Verdict


def rows(table: dict) -> dict[tuple[str, str], dict]:
    """Ours beside the paper's, per image and column."""
    out = {}
    for image, entry in table.items():
        for col, v in entry.items():
            if col == "test_index":
                continue
            theirs = paper.TABLE3[image].get(col.removesuffix(" (proposed)"))
            out[image, col] = {"ours": f"{v['class']} ({v['probability']:.4f}), LPIPS {v['lpips']:.4f}",
                               "paper": None if theirs is None else
                               f"{theirs[0]} ({theirs[1]:.4f}), LPIPS {theirs[2]:.4f}"}
    return out


def claims(table: dict) -> list[dict]:
    """The paper's claim about Table 3: every image keeps its class in every column."""
    wrong = [f"{image} ({col}: {v['class']})" for image, entry in table.items()
             for col, v in entry.items() if col != "test_index" and v["class"] != image]
    cols = [c for c in next(iter(table.values())) if c != "test_index"] if table else []
    return [{"claim": paper.CLAIMS["table3"],
             "ours": f"{len(table)} images x {len(cols)} columns ({', '.join(cols)})",
             "verdict": Verdict("not reproduced", ", ".join(wrong)) if wrong else Verdict("reproduced")
             if "PE (proposed)" in cols and "LE (proposed)" in cols
             else Verdict("not tested", "PE and LE with proposed keys needed")}]
