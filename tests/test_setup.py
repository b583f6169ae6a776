"""Set-up on a bare machine: `make test` provides headless Chromium or stops at once with one line."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

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
