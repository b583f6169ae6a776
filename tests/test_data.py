from __future__ import annotations

import tarfile
import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

import pihlib
from pihlib.data import CIFAR10_CLASSES, load_paired_copy, paired_copy

from .conftest import NPZ_SHA256, TAR_SHA256


def test_npz_both_splits_are_real_cifar10(cifar_npz):
    train = pihlib.load_cifar10("train", cifar_npz)
    test = pihlib.load_cifar10("test", cifar_npz)
    assert train.images.shape == (2000, 3, 32, 32) and train.images.dtype == torch.uint8
    assert test.images.shape == (1000, 3, 32, 32)
    assert train.labels.dtype == torch.int64 and set(train.labels.tolist()) == set(range(10))
    # the official order: the first training images are a frog, two trucks, a deer, an automobile
    assert train.labels[:5].tolist() == [6, 9, 9, 4, 1]
    assert test.labels[:5].tolist() == [3, 8, 8, 0, 6]  # cat, ship, ship, airplane, frog
    src = train.source
    assert (src.kind, src.sha256, src.lossless, src.count, src.split, src.order) == (
        "npz", NPZ_SHA256, True, 2000, "train", "official")
    assert set(src.as_dict()) == {"kind", "path", "sha256", "lossless", "count", "split", "order"}


def test_count_and_environment_variable(cifar_npz, monkeypatch):
    monkeypatch.setenv("PIH_CIFAR10", str(cifar_npz))
    d = pihlib.load_cifar10("test", count=10)
    assert len(d) == 10 and d.source.count == 10 and d.source.path == str(cifar_npz)
    with pytest.raises(pihlib.PihError, match="asked for 5000 test images but .* holds 1000"):
        pihlib.load_cifar10("test", count=5000)


def test_jpeg_archive_is_loaded_and_recorded_as_lossy(cifar_tar, cifar_npz):
    d = pihlib.load_cifar10("test", cifar_tar)
    assert d.images.shape == (10000, 3, 32, 32)
    assert (d.source.kind, d.source.sha256, d.source.lossless, d.source.order) == (
        "tar", TAR_SHA256, False, "class-interleaved")
    assert d.labels[:20].tolist() == list(range(10)) * 2
    assert torch.bincount(d.labels).tolist() == [1000] * 10
    # the JPEGs are the real images, lossy: the first cat of the archive is the first cat of the set
    exact = pihlib.load_cifar10("test", cifar_npz)
    first_cat = exact.images[exact.labels == 3][0].float()
    psnr = 10 * torch.log10(255**2 / ((d.images[3].float() - first_cat) ** 2).mean())
    assert 25 < psnr < 40


def _write_folder(root, images, labels, split="train", fmt="png"):
    for i, (img, lab) in enumerate(zip(images, labels, strict=True)):
        folder = root / split / CIFAR10_CLASSES[lab]
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{i:04d}.{fmt}")


def test_png_folder_is_lossless_and_class_interleaved(tmp_path, cifar_npz):
    exact = pihlib.load_cifar10("train", cifar_npz, count=60)
    _write_folder(tmp_path, exact.images, exact.labels.tolist())
    d = pihlib.load_cifar10("train", tmp_path)
    assert d.source.kind == "folder" and d.source.lossless and len(d) == 60
    for c in range(10):  # the same images, per class in the original order
        assert torch.equal(d.images[d.labels == c], exact.images[exact.labels == c])
    assert d.labels[:10].tolist() == sorted(set(exact.labels.tolist()))[:10]
    flat = pihlib.load_cifar10("train", tmp_path / "train")  # class folders directly
    assert torch.equal(flat.images, d.images)


def test_png_tar_archive(tmp_path, cifar_npz):
    exact = pihlib.load_cifar10("test", cifar_npz, count=30)
    _write_folder(tmp_path / "src", exact.images, exact.labels.tolist(), split="test")
    with tarfile.open(tmp_path / "c.tar", "w") as tf:
        tf.add(tmp_path / "src" / "test", arcname="test")
    d = pihlib.load_cifar10("test", tmp_path / "c.tar")
    assert d.source.kind == "tar" and d.source.lossless and len(d) == 30
    with pytest.raises(pihlib.PihError, match="holds no train images"):
        pihlib.load_cifar10("train", tmp_path / "c.tar")


def test_missing_source_says_how_to_provide_data(tmp_path):
    with pytest.raises(pihlib.PihError, match="does not exist.*PIH_CIFAR10"):
        pihlib.load_cifar10("train", tmp_path / "nowhere.npz")


def test_failed_official_download_says_how_to_provide_data(monkeypatch, tmp_path):
    import torchvision.datasets

    def offline(*args, **kwargs):
        raise urllib.error.URLError("Name or service not known")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(pihlib.PihError, match="could not download the official CIFAR-10.*PIH_CIFAR10"):
        pihlib.load_cifar10("train", "official", cache_dir=tmp_path)


def test_damaged_npz(tmp_path, cifar_npz):
    bad = tmp_path / "cut.npz"
    bad.write_bytes(cifar_npz.read_bytes()[:100_000])
    with pytest.raises(pihlib.PihError, match="damaged or not an .npz"):
        pihlib.load_cifar10("train", bad)


def _npz(path, **arrays):
    base = {"train_images": np.zeros((4, 32, 32, 3), np.uint8), "train_labels": np.arange(4),
            "classes": np.array(CIFAR10_CLASSES)}
    base.update(arrays)
    np.savez(path, **{k: v for k, v in base.items() if v is not None})
    return path


@pytest.mark.parametrize("arrays, message", [
    ({"classes": np.array(["cat"] * 10)}, "are not CIFAR-10's"),
    ({"train_labels": np.array([0, 1, 2, 10])}, "labels must be class numbers 0..9"),
    ({"train_labels": np.arange(3)}, "4 images but labels"),
    ({"train_images": np.zeros((4, 28, 28, 3), np.uint8)}, r"uint8 \(N, 32, 32, 3\)"),
    ({"train_images": np.zeros((4, 32, 32, 3), np.float32)}, r"uint8 \(N, 32, 32, 3\)"),
    ({"train_labels": None}, "lacks train_labels"),
    ({"train_labels": np.array([0, 1, np.nan, 3])}, "integer class numbers 0..9, got dtype float64"),
    ({"train_labels": np.array([0, 1, 8.1, 3])}, "integer class numbers 0..9, got dtype float64"),
    ({"train_labels": np.array([True, False, True, True])}, "integer class numbers 0..9, got dtype bool"),
    ({"train_images": np.zeros((0, 32, 32, 3), np.uint8), "train_labels": np.zeros(0, np.int64)},
     "holds no images"),
])
def test_mislabelled_npz(tmp_path, arrays, message):
    with pytest.raises(pihlib.PihError, match=message):
        pihlib.load_cifar10("train", _npz(tmp_path / "x.npz", **arrays))


@pytest.mark.parametrize("count", [True, False, 0, -1, 2.0, "3"])
def test_a_count_is_a_positive_integer_not_a_bool(cifar_npz, count):
    with pytest.raises(pihlib.PihError, match="count must be a positive integer"):
        pihlib.load_cifar10("train", cifar_npz, count=count)


def test_mislabelled_or_broken_folders(tmp_path, cifar_npz):
    imgs = pihlib.load_cifar10("train", cifar_npz, count=3)
    _write_folder(tmp_path / "a", imgs.images, [0, 1, 2])
    (tmp_path / "a" / "train" / "kittens").mkdir()
    (tmp_path / "a" / "train" / "kittens" / "0.png").write_bytes(b"")
    with pytest.raises(pihlib.PihError, match=r"\['kittens'\] are not CIFAR-10 classes"):
        pihlib.load_cifar10("train", tmp_path / "a")
    _write_folder(tmp_path / "b", imgs.images, [0, 1, 2])
    (tmp_path / "b" / "train" / "bird" / "notes.txt").write_text("hello")
    with pytest.raises(pihlib.PihError, match="notes.txt is not an image file"):
        pihlib.load_cifar10("train", tmp_path / "b")
    _write_folder(tmp_path / "c", imgs.images, [0, 1, 2])
    (tmp_path / "c" / "train" / "bird" / "fake.png").write_text("not a png")
    with pytest.raises(pihlib.PihError, match="fake.png is not a readable image"):
        pihlib.load_cifar10("train", tmp_path / "c")
    big = tmp_path / "d" / "train" / "cat"
    big.mkdir(parents=True)
    Image.new("RGB", (64, 64)).save(big / "0.png")
    with pytest.raises(pihlib.PihError, match="not an RGB 32x32"):
        pihlib.load_cifar10("train", tmp_path / "d")


def test_damaged_archive_and_unknown_kinds(tmp_path, cifar_tar):
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(cifar_tar.read_bytes()[:50_000])
    with pytest.raises(pihlib.PihError, match="damaged or not a tar archive"):
        pihlib.load_cifar10("test", cut)
    other = tmp_path / "data.csv"
    other.write_text("1,2,3")
    with pytest.raises(pihlib.PihError, match="neither an .npz, a folder nor a .tar"):
        pihlib.load_cifar10("test", other)
    with pytest.raises(pihlib.PihError, match="split must be"):
        pihlib.load_cifar10("validation", cifar_tar)


def test_folder_of_jpegs_is_lossy(tmp_path, cifar_npz):
    imgs = pihlib.load_cifar10("train", cifar_npz, count=4)
    _write_folder(tmp_path, imgs.images, [0, 1, 2, 3], fmt="jpg")
    d = pihlib.load_cifar10("train", tmp_path)
    assert not d.source.lossless and len(d) == 4


def test_the_jpeg_copy_pairs_with_the_lossless_images(cifar_npz, cifar_tar):
    lossless = pihlib.load_cifar10("test", cifar_npz, count=300)
    jpeg = pihlib.load_cifar10("test", cifar_tar)
    paired = paired_copy(lossless, jpeg)
    assert torch.equal(paired.labels, lossless.labels) and not paired.source.lossless
    psnr = pihlib.metric("psnr")(lossless.images, paired.images)
    assert 25 < psnr.mean() < 40 and psnr.min() > 20  # each the same picture, JPEG-compressed
    shifted = pihlib.metric("psnr")(lossless.images[1:], paired.images[:-1])
    assert shifted.mean() < 15  # a wrong pairing is plain to see
    quick = load_paired_copy(lossless, cifar_tar)  # decodes a balanced prefix only
    assert torch.equal(quick.images, paired.images) and quick.source.sha256 == paired.source.sha256
    with pytest.raises(pihlib.PihError, match="official order"):
        paired_copy(jpeg, jpeg)
    with pytest.raises(pihlib.PihError, match="class-folder copy of the test split"):
        paired_copy(lossless, pihlib.load_cifar10("train", cifar_npz, count=10))
