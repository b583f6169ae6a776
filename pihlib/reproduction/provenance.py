"""What produced a result: the environment, the code's git state, and the box the book shows."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from ..runtime import device_name, world_size

VERSIONED = ("pihlib", "torch", "torchvision", "numpy", "lpips", "piq")
UNCOMMITTED = " (with uncommitted changes)"
CHECKOUT = Path(__file__).resolve().parents[2]  # the project checkout, when pihlib runs from one


def git_commit(paths: list[str] | None = None) -> str:
    """The code's commit, marked if ``paths`` (default: every tracked file but the results) have
    uncommitted changes there, or are not tracked; ``$PIH_GIT_COMMIT`` where the code runs from a copy
    without its git history (a GPU machine's copy of the working tree, say); "unknown" outside a
    checkout."""
    if os.environ.get("PIH_GIT_COMMIT"):
        return os.environ["PIH_GIT_COMMIT"]
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=CHECKOUT, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        which = paths or [".", ":(exclude)results"]  # the code's state, not the results'
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=all", "--", *which],
                               cwd=CHECKOUT, capture_output=True, text=True, timeout=10).stdout.strip()
        if not paths:
            dirty = "\n".join(line for line in dirty.splitlines() if not line.startswith("??"))
        return (commit or "unknown") + (UNCOMMITTED if commit and dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def distributions(packages: list[str]) -> list[str]:
    """The installed distributions that provide the import names ``packages`` (``PIL`` -> pillow),
    in order, each once; a name no distribution provides stands for itself."""
    provided = metadata.packages_distributions()
    return list(dict.fromkeys(d for p in packages for d in provided.get(p, [p])))


def environment(paths: list[str] | None = None, packages: list[str] = ()) -> dict[str, Any]:
    """Versions (Python's, ``VERSIONED``'s and those of the distributions that provide the import
    names ``packages``), device, host and the git state of ``paths`` (see ``git_commit``)."""
    versions = {"python": platform.python_version()}
    for name in dict.fromkeys([*VERSIONED, *distributions(list(packages))]):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    if versions["pihlib"] == "not installed":  # run from a checkout's copy (a GPU machine's, say)
        from .. import __version__

        versions["pihlib"] = f"{__version__} (from its source, not installed)"
    world = world_size()  # one run shared by several processes (torchrun): each had such a device
    device = device_name() + (f", {world} processes" if world > 1 else "")
    return {"versions": versions, "device": device, "git_commit": git_commit(paths),
            "host": platform.node()}


def markdown(records: dict | list[dict], title: str | None = None) -> str:
    """A compact provenance box for a notebook: where a result came from. For several records (the
    runs of one experiment, say) each row shows what they share, or each of their distinct values.
    Results computed by older code than this checkout's, or from a tree with uncommitted changes,
    are marked in bold."""
    ps = [r["provenance"] for r in ([records] if isinstance(records, dict) else records)]

    def distinct(values) -> str:
        return "; ".join(dict.fromkeys(values))

    def data_row(d: dict) -> str:
        lossless = "lossless" if d.get("lossless") else "LOSSY (JPEG)"
        return (f"CIFAR-10 {d.get('split')} ({d.get('kind')}, {d.get('count')} images, {lossless}), "
                f"sha256 `{str(d.get('sha256'))[:16]}…`")

    reused = sum(bool(p.get("reused")) for p in ps)
    source = "" if not reused else ", reused from the committed results" if reused == len(ps) else \
        f", {reused} of {len(ps)} reused from the committed results"
    what = title or (f"`{ps[0]['name']}`" if len(ps) == 1 else f"{len(ps)} results")
    lines = [f"**Provenance** of {what} (preset `{distinct(p['preset'] for p in ps)}`{source})", "",
             "| | |", "|---|---|"]
    if any(p.get("data") for p in ps):
        lines.append(f"| data | {distinct(data_row(p['data']) for p in ps if p.get('data'))} |")
    for name in dict.fromkeys(a for p in ps for a in p.get("assets", {})):
        lines.append(f"| weights: {name} | " + distinct(
            f"{a.get('source')} {a.get('where', '')}, sha256 `{a.get('raw_sha256', '')[:16]}…`"
            for p in ps if (a := p.get("assets", {}).get(name))) + " |")
    lines += [f"| device | {distinct(p['device'] for p in ps)} |",
              "| versions | " + distinct(", ".join(f"{k} {v}" for k, v in p["versions"].items())
                                         for p in ps) + " |",
              f"| code | git {distinct(p['git_commit'] for p in ps)}; code digest "
              f"{distinct(str(p.get('code_sha256', 'none'))[:16] for p in ps)} |"]
    stale = sum(bool(p.get("stale")) for p in ps)
    if stale:
        lines.append(f"| **computed by older code** | {stale} of {len(ps)}: the pihlib code these results "
                     "depend on has changed since (their code digest differs from this checkout's); "
                     "they are shown as computed, and recomputed where they can be |")
    dirty = sum(UNCOMMITTED in p["git_commit"] for p in ps)
    if dirty:
        lines.append(f"| **uncommitted code** | {dirty} of {len(ps)} computed by code with uncommitted "
                     "changes: the exact code behind them is not in the history |")
    if len(ps) == 1:
        lines.append(f"| computed | {ps[0]['computed_at']} in {ps[0]['wall_time_s']} s; "
                     f"parameters sha256 `{ps[0]['params_sha256'][:16]}…` |")
    else:
        when = sorted(p["computed_at"] for p in ps)
        total = sum(p["wall_time_s"] for p in ps)
        lines.append(f"| computed | {when[0]} to {when[-1]}, {total:.1f} s in all |")
    return "\n".join(lines)
