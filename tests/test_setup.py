"""Set-up on a bare machine: `make test` provides headless Chromium or stops at once with one line, shows
its two side-by-side jobs' output as it comes and prints the phase times even when a phase fails; the
offline GPU script stops when the CUDA tests fail."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_make_test_stops_with_one_line_without_chromium(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sh").symlink_to(shutil.which("sh"))
    (bin_dir / "id").write_text("#!/bin/sh\necho 1000\n")  # not root: nothing is installed
    (bin_dir / "id").chmod(0o755)
    make = shutil.which("make")
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}  # under make
    out = subprocess.run([make, "-s", "-C", str(ROOT), "chromium"], capture_output=True, text=True,
                         env={**env, "PATH": str(bin_dir)}, timeout=60)
    assert out.returncode != 0
    lines = [line for line in out.stderr.splitlines()
             if line.strip() and not re.match(r"make(\[\d+\])?:", line)]  # make's own "Error 1" line
    assert len(lines) == 1 and "apt-get install chromium" in lines[0], out.stderr


def test_phases_are_timed(tmp_path):
    phases = tmp_path / "phases.txt"
    env = {**os.environ, "PHASES": str(phases)}
    assert subprocess.run([str(ROOT / "scripts" / "timed.sh"), "lint", "true"], env=env).returncode == 0
    assert subprocess.run([str(ROOT / "scripts" / "timed.sh"), "tests", "false"], env=env).returncode == 1
    lines = phases.read_text().splitlines()
    assert lines[0].split() == ["lint", "0", "s"] and lines[1].startswith("tests") and "failed" in lines[1]


STUB_PYTHON = """#!/usr/bin/env bash
# stands for .venv/bin/python: each job says it started, waits until the test has seen that line
# (at most 20 s), then ends
wait_for() {
    for _ in $(seq 200); do
        [ -e "$STUBS/$1" ] && { echo "released"; return; }
        sleep 0.1
    done
    echo "not released: the line was held back"
}
case "$*" in
    *"-m pytest -m book"*) echo "render checks ran" ;;
    *"-m pytest"*) echo "tests started"; wait_for release-tests; echo "tests ended"; exit "${TESTS_RC:-0}" ;;
    *"-m pihlib.reproduction build"*) echo "book started"; wait_for release-book; echo "book ended" ;;
esac
"""


def _make_test(tmp_path, tests_rc):
    """`make test` in a copy of the Makefile and scripts/, with stand-ins for the virtualenv's Python
    and ruff and for Chromium; returns (exit status, output lines). The jobs are released once the
    first line of each has been read here, so a job prints "released" only if both run at the same
    time and their output comes while they run."""
    work = tmp_path / "work"
    work.mkdir()
    for name in ("Makefile", "pyproject.toml"):
        shutil.copy(ROOT / name, work / name)
    shutil.copytree(ROOT / "scripts", work / "scripts")
    stubs = tmp_path / "stubs"
    (stubs / "venv" / "bin").mkdir(parents=True)
    for path, text in [(stubs / "venv" / "bin" / "python", STUB_PYTHON),
                       (stubs / "venv" / "bin" / "ruff", "#!/bin/sh\n"), (stubs / "chromium", "#!/bin/sh\n")]:
        path.write_text(text)
        path.chmod(0o755)
    past = (work / "pyproject.toml").stat().st_mtime - 3600
    os.utime(work / "pyproject.toml", (past, past))
    (stubs / "venv" / ".stamp").touch()  # installed after pyproject.toml changed: no install phase
    env = {k: v for k, v in os.environ.items() if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    env.update(PATH=f"{stubs}{os.pathsep}{env['PATH']}", STUBS=str(stubs), TESTS_RC=str(tests_rc))
    make = [shutil.which("make"), "--no-print-directory", "-C", str(work), "test", f"VENV={stubs / 'venv'}"]
    proc = subprocess.Popen(make, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env)
    lines = []
    for line in proc.stdout:
        lines.append(line.rstrip("\n"))
        if "[tests] tests started" in lines and "[book] book started" in lines:
            for job in ("tests", "book"):
                (stubs / f"release-{job}").touch()
    return proc.wait(timeout=60), lines


def _report(lines):
    """The lines of the phase report, from the first phase to the total."""
    start = lines.index("make test, time by phase (tests and smoke book side by side):") + 1
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("total "))
    return lines[start:end + 1]


def test_make_test_shows_both_jobs_output_as_it_comes(tmp_path):
    rc, lines = _make_test(tmp_path, tests_rc=0)
    assert rc == 0, "\n".join(lines)
    for job in ("tests", "book"):  # each line marked with its job, and printed while the job runs
        assert [line for line in lines if line.startswith(f"[{job}] ")] == \
            [f"[{job}] {job} started", f"[{job}] released", f"[{job}] {job} ended"], "\n".join(lines)
    report = _report(lines)
    phases = [line.split("  ")[0] for line in report]
    assert phases[:2] == ["lint", "assets"] and sorted(phases[2:4]) == ["smoke-book", "tests"], phases
    assert phases[4:] == ["tests | book", "render-checks", "total"], phases
    assert "failed" not in "\n".join(report)


def test_make_test_prints_phase_times_when_a_phase_fails(tmp_path):
    rc, lines = _make_test(tmp_path, tests_rc=3)
    assert rc != 0
    text = "\n".join(lines)
    assert "[book] book ended" in lines and "render checks ran" not in text  # stops after the failing phase
    report = _report(lines)
    phases = {line.split()[0]: line for line in report if not line.startswith("tests |")}
    assert "(failed: exit 3)" in phases["tests"] and "failed" not in phases["smoke-book"], text
    assert next(line for line in report if line.startswith("tests |")).endswith("(failed: exit 2)"), text
    assert report[-1].startswith("total") and report[-1].endswith("(make test failed)"), text


def test_prefixed_keeps_the_exit_status_and_a_last_line_without_newline():
    script = str(ROOT / "scripts" / "prefixed.sh")
    out = subprocess.run([script, "job", "sh", "-c", "echo one; echo two >&2; printf three; exit 4"],
                         capture_output=True, text=True)
    assert out.returncode == 4 and out.stdout.splitlines() == ["[job] one", "[job] two", "[job] three"]


STUB_PYTHON3 = """#!/usr/bin/env bash
# stands for the GPU machine's python3
case "$*" in
    *"-m pytest"*) echo "CUDA tests ran"; exit "$PYTEST_RC" ;;
    *"-m pihlib.reproduction compute"*) echo "runs started" ;;
    *"-c "*) echo "torch (stand-in)" ;;
esac
"""


@pytest.mark.parametrize("pytest_rc", [0, 5, 1, 2])
def test_offline_gpu_run_stops_when_the_cuda_tests_fail(tmp_path, pytest_rc):
    stubs = tmp_path / "stubs"
    stubs.mkdir()
    (stubs / "python3").write_text(STUB_PYTHON3)
    (stubs / "python3").chmod(0o755)
    bundle = tmp_path / "bundle"
    (bundle / "core").mkdir(parents=True)
    (bundle / "core" / "git-commit").write_text("0" * 40 + "\n")
    (bundle / "core" / "data-name").write_text("data.tar.gz\n")
    env = {**os.environ, "PATH": f"{stubs}{os.pathsep}{os.environ['PATH']}", "PYTEST_RC": str(pytest_rc),
           "PIH_DEVICE": "cpu"}
    out = subprocess.run([str(ROOT / "scripts" / "offline_gpu_run.sh"), "run", "bundle", "out", "0"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=60)
    text = out.stdout + out.stderr
    assert "CUDA tests ran" in text
    if pytest_rc in (0, 5):  # passed or skipped (no GPU: exit 0), or no test selected (exit 5, said so)
        assert out.returncode == 0 and "runs started" in text, text
        assert ("no CUDA test matched" in text) == (pytest_rc == 5), text
    else:
        assert out.returncode == 1 and "runs started" not in text, text
        assert f"the CUDA tests failed (pytest exit {pytest_rc}): no run started" in text, text


@pytest.fixture(scope="module")
def smoke_bundle(tmp_path_factory, cifar_npz) -> Path:
    """`offline_gpu_run.sh bundle` of the lossless test images, without wheels (the one step that
    needs the package index) and without a JPEG copy; the metric study's weights in pieces as usual."""
    bundle = tmp_path_factory.mktemp("offline") / "bundle"
    env = {**os.environ, "PIH_CIFAR10": str(cifar_npz), "PIH_CIFAR10_JPEG": "", "PIH_BUNDLE_WHEELS": "0",
           "PIH_SHARED": str(cifar_npz.parents[1]), "PYTHON": sys.executable}
    out = subprocess.run([str(ROOT / "scripts" / "offline_gpu_run.sh"), "bundle", str(bundle)], cwd=ROOT,
                         capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "core" in out.stdout and "extra-1" in out.stdout  # the sizes, printed
    return bundle


def _offline_run(bundle: Path, out: Path, budget: str, *args: str) -> tuple[int, str]:
    env = {**os.environ, "PIH_DEVICE": "cpu", "PIH_PRESET": "smoke",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}  # python3: this one
    done = subprocess.run([str(ROOT / "scripts" / "offline_gpu_run.sh"), "run", str(bundle), str(out), budget,
                           *args], cwd=ROOT, capture_output=True, text=True, env=env, timeout=180)
    assert (out / "log").exists()
    return done.returncode, done.stdout + done.stderr


def test_offline_gpu_run_dry_run_leaves_what_does_not_fit(smoke_bundle, tmp_path):
    """The same path as on the GPU at smoke sizes on the CPU: a budget of 0 s starts nothing (every
    task is left, exit code 3, no archive); without every piece of the metric study's weights, the
    metric study is left out and said so."""
    piece = smoke_bundle / "extra-2"
    piece.rename(tmp_path / "aside")
    try:
        rc, text = _offline_run(smoke_bundle, tmp_path / "out", "0")
    finally:
        (tmp_path / "aside").rename(piece)
    assert rc == 3, text
    assert "the metric study (its VGG16 and FID Inception weights) is left out" in text, text
    assert "left for the next call: scrambling" in text and "0 task(s) computed" in text, text
    assert "metric_study" not in text.split("preset smoke, shard")[1], text  # never planned
    assert "no smoke results yet" in text and not (tmp_path / "out" / "results-smoke.tgz").exists()


def test_offline_gpu_run_dry_run_computes_what_fits(smoke_bundle, tmp_path):
    """A budget of 3 s: the scrambling check (expected well under a second) is computed and packed,
    the rest (expected seconds to minutes each) left for the next call: exit code 3."""
    rc, text = _offline_run(smoke_bundle, tmp_path / "out", "3")
    assert rc == 3, text
    assert "joined the 3 pieces" in text, text
    assert "starting scrambling" in text and "computed scramblers in" in text, text
    assert "left for the next call: hiding" in text and "left for the next call: metric_study" in text, text
    assert "1 task(s) computed" in text and "Each finished record is cached: run again" in text, text
    with tarfile.open(tmp_path / "out" / "results-smoke.tgz") as archive:
        assert [n for n in archive.getnames() if n.endswith(".json")] == ["results/smoke/scramblers.json"]
    assert "results-smoke.tgz: 1 records" in (tmp_path / "out" / "log").read_text()


def test_tests_find_the_shared_folder_only_through_conftest():
    """PIH_SHARED moves the shared folder for every test: only conftest.py computes where it lies."""
    hardcoded = re.compile(r"[\"']shared[\"']|\.\./shared")
    offenders = [p.name for p in (ROOT / "tests").rglob("*.py")
                 if p.name != "conftest.py" and hardcoded.search(p.read_text())]
    assert offenders == []
