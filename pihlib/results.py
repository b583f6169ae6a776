"""Expensive results, cached with their provenance under ``results/<preset>/``.

``cached(preset, name, params, compute)`` returns the stored result when its parameter hash matches
(and ``force`` is off), else runs ``compute()`` and writes the result atomically beside a record of
what produced it: the parameters and their hash, the data source and its sha256, each pretrained
asset's source and sha256, the device, the versions, the git commit and the wall time. Committed
results re-render without recomputing and without a GPU.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import torch

from ._io import atomic_write_bytes

ROOT = Path(os.environ.get("PIH_RESULTS", Path(__file__).resolve().parents[1] / "results"))
VERSIONED = ("pihlib", "torch", "torchvision", "numpy", "lpips", "piq")


def params_hash(params: dict) -> str:
    return hashlib.sha256(json.dumps(params, sort_keys=True, default=str).encode()).hexdigest()


def _git_commit() -> str:
    """The code's commit, with a note if it has uncommitted changes; $PIH_GIT_COMMIT where the code
    runs from a copy without its git history (a GPU machine's copy of the working tree, say)."""
    if os.environ.get("PIH_GIT_COMMIT"):
        return os.environ["PIH_GIT_COMMIT"]
    try:
        here = Path(__file__).resolve().parents[1]
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True,
                                timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".",
                                ":(exclude)results"],  # the code's state, not the results'
                               cwd=here, capture_output=True, text=True, timeout=10).stdout.strip()
        return (commit or "unknown") + (" (with uncommitted changes)" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def device_name(device: torch.device | str | None = None) -> str:
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    if device.type == "cuda":
        return f"cuda: {torch.cuda.get_device_name(device)}"
    return f"cpu: {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"


def environment() -> dict[str, Any]:
    versions = {"python": platform.python_version()}
    for name in VERSIONED:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return {"versions": versions, "device": device_name(), "git_commit": _git_commit(),
            "host": platform.node()}


def load(preset: str, name: str) -> dict | None:
    """The stored record of ``name`` (marked ``reused``), whatever its parameters; None if there is
    none or it is damaged (then it is computed again)."""
    try:
        record = json.loads((ROOT / preset / f"{name}.json").read_text())
        record["provenance"]["reused"] = True
        return record if isinstance(record.get("params"), dict) else None
    except (FileNotFoundError, json.JSONDecodeError, KeyError, TypeError, AttributeError):
        return None


def lookup(preset: str, name: str, params: dict) -> dict | None:
    """The stored record of ``name`` if it was computed with ``params``, else None."""
    record = load(preset, name)
    if record is not None and record["provenance"].get("params_sha256") == params_hash(params):
        return record
    return None


def cached(preset: str, name: str, params: dict, compute: Callable[[], dict], *,
           data: dict | None = None, assets: list[str] | None = None, force: bool = False) -> dict:
    """The record ``{"result", "params", "provenance"}`` for ``name``, computed only if needed.

    ``compute()`` returns a JSON-serialisable result. ``data`` is the data source record, ``assets``
    the names of the pretrained assets the computation used.
    """
    digest = params_hash(params)
    if not force and (record := lookup(preset, name, params)) is not None:
        return record
    from . import assets as asset_module

    start = time.perf_counter()
    result = compute()
    wall = time.perf_counter() - start
    provenance = {
        "preset": preset, "name": name, "params_sha256": digest, "data": data,
        "assets": {a: {k: v for k, v in asset_module.provenance(a).items()
                       if k in ("source", "where", "member", "raw_sha256")} for a in assets or []},
        "wall_time_s": round(wall, 1),
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
        **environment(),
    }
    record = {"result": result, "params": params, "provenance": provenance}
    text = json.dumps(record, indent=1, default=str) + "\n"
    atomic_write_bytes(ROOT / preset / f"{name}.json", text.encode())
    return record


def provenance_markdown(records: dict | list[dict], title: str | None = None) -> str:
    """A compact provenance box for a notebook: where a result came from. For several records (the
    runs of one experiment, say) each row shows what they share, or each of their distinct values."""
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
              f"| code | git {distinct(p['git_commit'] for p in ps)} |"]
    if len(ps) == 1:
        lines.append(f"| computed | {ps[0]['computed_at']} in {ps[0]['wall_time_s']} s; "
                     f"parameters sha256 `{ps[0]['params_sha256'][:16]}…` |")
    else:
        when = sorted(p["computed_at"] for p in ps)
        total = sum(p["wall_time_s"] for p in ps)
        lines.append(f"| computed | {when[0]} to {when[-1]}, {total:.1f} s in all |")
    return "\n".join(lines)
