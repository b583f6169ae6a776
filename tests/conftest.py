"""Shared fixtures: the real CIFAR-10 files in ../shared/data (CI has them beside the clone)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

SHARED = Path(os.environ.get("PIH_SHARED", Path(__file__).resolve().parents[1].parent / "shared"))
NPZ = SHARED / "data" / "cifar10-lossless-3k.npz"
TAR = SHARED / "data" / "cifar10-jpeg-60k.tar.gz"
NPZ_SHA256 = "ae1c3a91b75dfd2ae582d815fbf1681806f19975bc5c445f4e68d27a891e4cde"
TAR_SHA256 = "fc897400ef01ce39b46eba3705b76660d6de7e7100bfed47663e96fa7f4242be"


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests run on real CIFAR-10. Put the project's shared/ "
                    "folder beside the checkout, or set PIH_SHARED to it.")
    return path


@pytest.fixture(scope="session")
def cifar_npz() -> Path:
    return _require(NPZ)


@pytest.fixture(scope="session")
def cifar_tar() -> Path:
    return _require(TAR)


@pytest.fixture(scope="session")
def cifar_images(cifar_npz) -> torch.Tensor:
    """The first 64 CIFAR-10 test images, uint8 64 x 3 x 32 x 32."""
    with np.load(cifar_npz) as f:
        return torch.from_numpy(f["test_images"][:64].transpose(0, 3, 1, 2).copy())


def write_pngs(folder: Path, images: torch.Tensor) -> Path:
    """uint8 N x 3 x H x W images as PNG files img00.png, img01.png, ... in a new ``folder``."""
    from PIL import Image

    folder.mkdir()
    for i, img in enumerate(images):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"img{i:02d}.png")
    return folder


@pytest.fixture(autouse=True)
def _no_env_sources(monkeypatch, tmp_path):
    """Tests name their data explicitly; assets come from the cache that `make test` fetched; results
    go to a folder of the test's own (never the checkout's results/, which the smoke book that
    `make test` builds at the same time writes)."""
    for name in [n for n in os.environ if n == "PIH_CIFAR10" or n.startswith("PIH_ASSET_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("PIH_RESULTS", str(tmp_path / "results"))


def cache_with_lpips(folder: Path) -> Path:
    """A new cache folder (scores, checkpoints) holding a copy of the fetched LPIPS AlexNet weights,
    so that a test starts from an empty score cache without fetching the weights again."""
    from pihlib.assets import asset_dir, resolve

    weights = resolve("alexnet")  # the cache `make test` fetched (or this call fetches)
    (folder / "assets").mkdir(parents=True)
    for source in (weights, asset_dir() / "alexnet.json"):
        shutil.copy2(source, folder / "assets" / source.name)
    return folder


@pytest.fixture
def lpips_cache(monkeypatch, tmp_path):
    """A cache folder of the test's own, with the LPIPS weights in it (``cache_with_lpips``)."""
    folder = cache_with_lpips(tmp_path / "cache")
    monkeypatch.setenv("PIH_CACHE", str(folder))
    return folder


@pytest.fixture
def isolated_cache(monkeypatch, tmp_path):
    """A cache folder of the test's own, for tests that damage or rebuild cached files."""
    monkeypatch.setenv("PIH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# the attacks' tests (test_attacks, test_jigsaw): 100 real training images and 64 held-out test images
@pytest.fixture(scope="module")
def train(cifar_npz):
    import pihlib

    return pihlib.load_cifar10("train", cifar_npz, count=100).images


@pytest.fixture(scope="module")
def held_out(cifar_npz):
    import pihlib

    return pihlib.load_cifar10("test", cifar_npz, count=64).images
