"""One training run over two processes (torchrun, gloo, CPU) against the same run in one process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import pihlib
import pihlib.train
from pihlib.reproduction import cache
from tests.conftest import cache_with_lpips
from tests.workers import ddp_train

WORKER = Path(ddp_train.__file__)
# Where the two differ: BatchNorm's statistics are per process (32 images each instead of 64). Their
# distance after two epochs, over the size of the second epoch's update, stays below these bounds; a
# wrong scaling of the loss (the processes' gradients summed, or halved) moves it to ~0.5 or more.
TOLERANCE = {"airbench": 0.2, "classic": 0.35}


def _distance(a: dict, b: dict) -> float:
    squares = (((a[k].double() - b[k].double()) ** 2).sum() for k in a if a[k].is_floating_point())
    return sum(squares).sqrt().item()


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cifar_npz) -> tuple[Path, Path]:
    one, two = tmp_path_factory.mktemp("one-process"), tmp_path_factory.mktemp("two-processes")
    env = {**os.environ, "PYTHONPATH": str(WORKER.parents[2]), "OMP_NUM_THREADS": "1",
           "PIH_RESULTS": str(two / "results"), "PIH_CACHE": str(cache_with_lpips(two / "cache"))}
    launcher = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone",
                                 "--nproc_per_node", "2", str(WORKER), str(two), str(cifar_npz)], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    ddp_train.main(one, str(cifar_npz))  # meanwhile, the same runs in this process
    output, _ = launcher.communicate(timeout=600)
    assert launcher.returncode == 0, output[-3000:]
    return one, two


@pytest.mark.parametrize("recipe", list(ddp_train.RECIPES))
def test_two_processes_train_the_one_process_run(runs, recipe):
    one, two = runs
    w = {name: {d: torch.load(d / f"{recipe}-{name}.pt") for d in runs} for name in ("whole", "epoch1")}
    update = _distance(w["whole"][one], w["epoch1"][one])
    assert update > 0
    apart = _distance(w["whole"][two], w["whole"][one])
    # zero would mean that neither run moved its final weights (airbench's look-ahead needs 5 steps)
    assert 0 < apart < TOLERANCE[recipe] * update
    histories = {d: json.loads((d / f"{recipe}-whole.json").read_text())["history"] for d in runs}
    for h1, h2 in zip(histories[one], histories[two], strict=True):  # the epoch's loss over all 192 images
        assert h2["loss"] == pytest.approx(h1["loss"], rel=0.02)


@pytest.mark.parametrize("recipe", list(ddp_train.RECIPES))
def test_a_two_process_run_resumes_from_rank_0s_checkpoint(runs, recipe):
    _, two = runs
    resumed = json.loads((two / f"{recipe}-resumed.json").read_text())
    assert resumed["resumed"] == 1
    whole, again = (torch.load(two / f"{recipe}-{n}.pt") for n in ("whole", "resumed"))
    assert all(torch.equal(whole[k], again[k]) for k in whole)
    assert sorted(p.name for p in two.glob("*.pt")) == sorted(
        f"{r}-{n}.pt" for r in ddp_train.RECIPES for n in ("whole", "epoch1", "resumed", "checkpoint"))


def test_a_last_batch_too_small_to_share_is_refused_in_every_process(runs):
    _, two = runs
    for rank in (0, 1):
        refusal = (two / f"refused-{rank}.txt").read_text()
        assert "last batch of 1 images cannot be shared by 2 processes" in refusal


def test_the_compute_command_under_torchrun_writes_each_record_once(runs):
    _, two = runs
    records = sorted(p.relative_to(two / "results" / "smoke") for p in (two / "results").rglob("*.json"))
    assert [str(p) for p in records] == ["classification-derived/PE-original-seed0.json",
                                         "classification-derived/PE-proposed-seed0.json",
                                         "classification-runs/PE-original-seed0.json",
                                         "classification-runs/PE-proposed-seed0.json",
                                         "classification-runs/plain-seed0.json", "first_layer.json"]
    for p in records:
        record = json.loads((two / "results" / "smoke" / p).read_text())
        assert record["provenance"]["device"].endswith(", 2 processes")
    assert not list((two / "cache" / "checkpoints").rglob("*.pt"))  # removed once each record was written


def test_only_rank_0_writes_a_record(monkeypatch, tmp_path):
    monkeypatch.setenv("PIH_RESULTS", str(tmp_path))
    monkeypatch.setattr(cache, "is_main_process", lambda: False)
    record = cache.cached("smoke", "shared-run", {"a": 1}, lambda: {"accuracy": 0.5})
    assert record["result"] == {"accuracy": 0.5} and not list(tmp_path.rglob("*.json"))
    monkeypatch.setattr(cache, "is_main_process", lambda: True)
    cache.cached("smoke", "shared-run", {"a": 1}, lambda: {"accuracy": 0.5})
    assert [p.name for p in tmp_path.rglob("*.json")] == ["shared-run.json"]


def test_a_damaged_world_size_is_refused_with_one_line(monkeypatch, capsys):
    from pihlib.reproduction.__main__ import main

    monkeypatch.setenv("WORLD_SIZE", "two")
    assert main(["compute", "--preset", "smoke", "--only", "scrambling"]) == 2
    assert "WORLD_SIZE must be a positive integer (torchrun sets it), got 'two'" in capsys.readouterr().err


def test_a_time_budget_is_refused_under_torchrun(monkeypatch, capsys):
    import pihlib.reproduction.__main__ as command

    monkeypatch.setattr(command, "init_distributed", lambda device: (0, 2))
    assert command.main(["compute", "--preset", "smoke", "--only", "scrambling", "--budget-s", "60"]) == 2
    assert "--budget-s works in one process only, not under torchrun" in capsys.readouterr().err


@pytest.mark.parametrize("device, message", [
    ("bogus", "unknown device 'bogus'"),
    ("cuda", "this machine has no CUDA GPU"),
    ("cuda:7", "this machine has no CUDA GPU"),
    ("tpu", "unknown device 'tpu'"),
    ("meta", "is not supported"),
])
def test_a_device_this_machine_lacks_is_refused_in_one_line(device, message, capsys):
    """compute (and --plan) refuse it before any work; train() refuses it too."""
    import torch

    from pihlib.reproduction.__main__ import main as reproduction
    from pihlib.runtime import default_device

    if torch.cuda.is_available() and device.startswith("cuda"):
        pytest.skip("this machine has CUDA")
    with pytest.raises(pihlib.PihError, match=message):
        default_device(device)
    for extra in ([], ["--plan"]):
        code = reproduction(["compute", "--preset", "smoke", "--only", "scrambling", "--device", device,
                             *extra])
        err = capsys.readouterr().err.strip().splitlines()
        assert code == 2 and len(err) == 1 and message in err[0], err
    with pytest.raises(pihlib.PihError, match=message):
        pihlib.train.train(pihlib.train.TrainConfig("plain", epochs=1), None, None, None, None, device=device)
