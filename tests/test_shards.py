"""compute --shard K/N: disjoint shards, balanced by expected cost, that together compute what one
process computes; merging is copying their records."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
from collections import Counter
from pathlib import Path

import pytest

from pihlib.reproduction import EXPERIMENTS, shards
from pihlib.reproduction.__main__ import main
from tests.conftest import cache_with_lpips

TINY = {"scrambling": {"n_check": 32, "n_show": 2},
        "key_search": {"methods": ["PE"], "n_images": 16, "trials": 4, "pool": 8, "repeats": 1},
        "classification": {"methods": ["PE"], "trials": 3, "n_train": 64, "n_test": 32, "n_search": 32,
                           "epochs": 1, "batch_size": 32}}


def _without_timing(value):
    """A record's result without what depends on the clock."""
    if isinstance(value, dict):
        return {k: _without_timing(v) for k, v in value.items()
                if "time" not in k and not k.endswith("per_s")}
    if isinstance(value, list):
        return [_without_timing(v) for v in value]
    return value


def _records(root: Path) -> dict[str, dict]:
    return {str(p.relative_to(root)): json.loads(p.read_text()) for p in sorted(root.rglob("*.json"))}


@pytest.mark.parametrize("preset", ["smoke", "cpu", "gpu", "paper"])
@pytest.mark.parametrize("n", [1, 2, 3, 8, 40])
def test_shards_cover_every_task_once_balanced_by_cost(preset, n):
    todo = shards.tasks(preset, list(EXPERIMENTS), {})
    plan = shards.plan(todo, n)
    assert len(plan) == n and len(set(todo)) == len(todo)
    assert Counter(t for s in plan for t in s) == Counter(todo)
    assert all(s == [t for t in todo if t in s] for s in plan)  # each shard keeps the one-process order
    loads = [sum(t.cost for t in s) for s in plan]
    assert max(loads) - min(loads) <= max(t.cost for t in todo)  # greedy, most expensive first
    assert shards.plan(todo, n) == plan  # the same in every shard's process
    gpu_runs = {t.part: t.cost for t in shards.tasks("gpu", ["classification"], {})}
    assert gpu_runs["EtC-original-seed0"] > gpu_runs["PE-original-seed0"]
    assert gpu_runs["PE-proposed-seed0"] > gpu_runs["PE-original-seed0"]  # a key search first


def test_bad_shards_are_refused_with_one_line(capsys):
    for bad in ("2/2", "-1/2", "0/0", "a/b", "1"):
        assert main(["compute", "--preset", "smoke", f"--shard={bad}", "--plan"]) == 2
        assert "--shard takes K/N with 0 <= K < N" in capsys.readouterr().err
    assert main(["compute", "--preset", "gpu", "--shard", "0/3", "--plan"]) == 0
    assert capsys.readouterr().out.count("% of the cost)") == 3


def test_two_shards_compute_what_one_process_computes(tmp_path, monkeypatch, cifar_npz, capsys):
    common = ["compute", "--preset", "smoke", "--only", *TINY, "--data", str(cifar_npz), "--device", "cpu",
              "--jpeg-data", ""]
    common += [a for exp, ps in TINY.items() for k, v in ps.items()
               for a in ("-p", f"{exp}.{k}", json.dumps(v))]
    roots = {name: tmp_path / name for name in ("one", "shard0", "shard1")}
    for name, root in roots.items():  # each with a score cache and checkpoints of its own
        monkeypatch.setenv("PIH_RESULTS", str(root))
        monkeypatch.setenv("PIH_CACHE", str(cache_with_lpips(tmp_path / f"{name}-cache")))
        shard = "0/1" if name == "one" else f"{name[-1]}/2"
        assert main([*common, "--shard", shard]) == 0, capsys.readouterr().err
    one, parts = _records(roots["one"]), [_records(roots[f"shard{k}"]) for k in (0, 1)]
    assert parts[0] and parts[1] and not set(parts[0]) & set(parts[1])  # disjoint, neither empty
    assert set(parts[0]) | set(parts[1]) == set(one)
    assert len(one) == 1 + 1 + 3 + 2 + 1  # scramblers, key search, 3 runs, 2 derived-layer runs, first_layer

    merged = tmp_path / "merged"
    for k in (0, 1):
        shutil.copytree(roots[f"shard{k}"], merged, dirs_exist_ok=True)
    for name, record in _records(merged).items():
        assert _without_timing(record["result"]) == _without_timing(one[name]["result"]), name
        assert record["params"] == one[name]["params"]


def test_slurm_dry_run_prints_one_valid_command_per_array_task(capsys):
    script = Path(__file__).resolve().parents[1] / "scripts" / "slurm_shards.sh"
    args = ["--dry-run", "3", "gpu", "-p", "classification.seeds", "[0, 1]"]
    out = subprocess.run(["bash", str(script), *args], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert [line.split(":")[0] for line in out] == ["array task 0", "array task 1", "array task 2"]
    for k, line in enumerate(out):
        words = shlex.split(line.split(": ", 1)[1])
        assert words[:3] == [".venv/bin/python", "-m", "pihlib.reproduction"]
        assert main([*words[3:], "--plan"]) == 0  # the command is one the compute command takes
        plan = capsys.readouterr().out.splitlines()
        assert len(plan) == 3 and f"--shard {k}/3" in line and "seed1" in "".join(plan)  # -p passed on
    multi = subprocess.run(["bash", str(script), "--dry-run", "1", "paper"], capture_output=True, text=True,
                           check=True, env={**os.environ, "PIH_GPUS": "4"}).stdout
    assert "-m torch.distributed.run --standalone --nproc_per_node 4 -m pihlib.reproduction" in multi
    bad = subprocess.run(["bash", str(script), "--dry-run", "zero", "gpu"], capture_output=True, text=True)
    assert bad.returncode == 2 and "number of array tasks" in bad.stderr
    bad = subprocess.run(["bash", str(script), "--dry-run", "2", "gpu"], capture_output=True, text=True,
                         env={**os.environ, "PIH_GPUS": "four"})
    assert bad.returncode == 2 and bad.stderr.strip() == "PIH_GPUS must be a number of GPUs, got 'four'"
    outside = subprocess.run(["bash", str(script), "gpu"], capture_output=True, text=True,
                             env={k: v for k, v in os.environ.items() if not k.startswith("SLURM_")})
    assert outside.returncode == 2 and "not a Slurm array task" in outside.stderr
