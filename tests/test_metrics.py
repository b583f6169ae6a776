"""The nine metrics, with the real weights, against the official values and the reference packages."""

from __future__ import annotations

import csv
import warnings

import numpy as np
import pytest
import torch
from PIL import Image

import pihlib
from pihlib.metrics import LPIPS

from .conftest import SHARED

IQA = SHARED / "iqa-reference"
PAIRS = ("I04", "I08")

# Tolerances against the official values in shared/iqa-reference (pyiqa's calibration set: the
# original MATLAB code on TID2013 pairs), per image, measured on a fresh machine (empty cache):
# - LPIPS: 1e-3, as asked; we agree to 5e-5.
# - PSNR: the official values are given to 0.01 dB; SSIM to 1e-4 (computed on MATLAB rgb2gray images
#   without downsampling, which is how the official value was made: on RGB, I04 gives 0.93).
# - BRISQUE (0-100 scale): I04 agrees to 3e-7 (with the official pipeline's %f / %g text roundings,
#   see nr_iqa.brisque_score). I08 differs by 0.160: the residue is I08's, not BRISQUE's. NIQE,
#   which shares only the grey conversion, the MSCN and the resizing with BRISQUE, agrees on I04 to
#   float32 precision (1e-8) and differs on I08 too (by 0.0185), and pyiqa's own MATLAB-calibrated
#   port differs from the same official values on I08 alone as well (BRISQUE by 0.217, NIQE by
#   0.024; its ResultsCalibra table): the official I08 values were computed from input that neither
#   port sees. BRISQUE's SVR (C = 1024) magnifies that residue most.
# - NIQE: I04 1e-6 (it agrees to the float32 output's precision), I08 0.02 (measured 0.0185, as above).
# - PIQE (0-100 scale): 0.006; the official values are given to 0.01 and we agree to 0.005.
TOLERANCE = {"lpips": 1e-3, "psnr": 0.006, "ssim": 6e-5, "brisque": {"I04": 1e-5, "I08": 0.17},
             "niqe": {"I04": 1e-6, "I08": 0.02}, "piqe": 0.006}


def _official() -> dict[str, dict[str, float]]:
    with open(IQA / "official_values.csv") as f:
        return {row["metric"]: {p: float(row[p]) for p in PAIRS} for row in csv.DictReader(f)}


def _png(path) -> torch.Tensor:
    with Image.open(path) as im:
        return torch.from_numpy(np.array(im.convert("RGB"))).permute(2, 0, 1)[None]


@pytest.fixture(scope="module")
def pairs():
    return {p: (_png(IQA / f"{p}_ref.png"), _png(IQA / f"{p}_dist.png")) for p in PAIRS}


@pytest.mark.parametrize("name", sorted(TOLERANCE))
def test_official_values(name, pairs):
    m = pihlib.metric(name)
    want = _official()[name]
    for p, (ref, dist) in pairs.items():
        got = m(ref, dist).item()
        tol = TOLERANCE[name][p] if isinstance(TOLERANCE[name], dict) else TOLERANCE[name]
        assert abs(got - want[p]) <= tol, (name, p, got, want[p])


def test_registry_knows_each_metric():
    names = pihlib.metric_names()
    assert names == ["mse", "psnr", "ssim", "brisque", "niqe", "piqe", "vgg", "fid", "lpips"]
    info = {n: pihlib.metric(n).info for n in names}
    assert {n for n in names if not info[n].reference} == {"brisque", "niqe", "piqe"}
    assert {n for n in names if not info[n].higher_hides_more} == {"psnr", "ssim"}
    assert [n for n in names if not info[n].per_image] == ["fid"]
    assert info["lpips"].assets == ("alexnet",) and info["vgg"].assets == ("vgg16",)
    assert "upsampled" in info["niqe"].input_size and "224" in info["vgg"].input_size


@pytest.mark.parametrize("convention", ["lpips", "authors"])
def test_lpips_agrees_with_the_lpips_package(convention, cifar_images):
    import lpips

    ours = LPIPS("alex", convention)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    ref.net.load_state_dict(ours.model.net.state_dict())
    x = cifar_images.float() / 255
    y = pihlib.scramble(cifar_images, pihlib.keygen("ELE", seed=1)).float() / 255
    with torch.no_grad():
        want = ref(x, y, normalize=convention == "lpips").flatten()
    got = pihlib.metric("lpips", convention=convention)(x, y)
    assert torch.allclose(got, want, atol=1e-5)
    assert (got > 0.05).all()


def test_lpips_vgg_and_uint8_inputs(cifar_images):
    m = pihlib.metric("lpips", net="vgg")
    y = pihlib.scramble(cifar_images[:8], pihlib.keygen("LE", seed=0))
    a = m(cifar_images[:8], y)
    assert torch.allclose(a, m(cifar_images[:8].float() / 255, y.float() / 255), atol=1e-6)
    assert torch.allclose(m(cifar_images[:8], cifar_images[:8]), torch.zeros(8), atol=1e-6)


def test_every_metric_on_real_cifar(cifar_images):
    x = cifar_images[:16]
    y = pihlib.scramble(x, pihlib.keygen("PE-IIR", seed=0, inverted=1536))
    for name in pihlib.metric_names():
        if name == "fid":
            continue
        m = pihlib.metric(name)
        v = m(x, y)
        assert v.shape == (16,) and torch.isfinite(v).all(), name
        if m.info.reference and name != "ssim":
            same = m(x, x)
            worse = v > same if m.info.higher_hides_more else v < same
            assert worse.all(), name  # scrambling moves every image away from itself


def test_nr_metrics_see_the_scrambling(cifar_images):
    x = cifar_images[:32]
    y = pihlib.scramble(x, pihlib.keygen("PE-IIR", seed=0, inverted=1536))
    for name in ("brisque", "piqe"):
        m = pihlib.metric(name)
        assert m(y).mean() > m(x).mean(), name  # half the values inverted: noise-like, worse quality


def test_fid_between_sets(cifar_images):
    from pihlib.metrics import frechet_distance

    fid = pihlib.metric("fid")
    a, b = cifar_images[:24], cifar_images[24:48]
    scrambled = pihlib.scramble(a, pihlib.keygen("PE", seed=0))
    acts = {name: fid.activations(s.float() / 255) for name, s in (("a", a), ("b", b), ("s", scrambled))}
    assert acts["a"].shape == (24, 2048)
    real, hidden = frechet_distance(acts["a"], acts["b"]), frechet_distance(acts["a"], acts["s"])
    assert frechet_distance(acts["a"], acts["a"]).abs() < 1e-2  # round-off of a rank-23 covariance
    assert hidden > real > 0
    got = fid(a, b)
    assert got.shape == () and abs(got.item() - real.item()) < 1e-6 * real.item()


def test_frechet_distance_matches_the_closed_form():
    from pihlib.metrics import frechet_distance

    g = torch.Generator().manual_seed(0)
    a = torch.randn(400, 6, generator=g, dtype=torch.float64) * torch.tensor([1, 2, 3, 1, 1, 1.0])
    b = torch.randn(400, 6, generator=g, dtype=torch.float64) + 1
    ca, cb = torch.cov(a.T), torch.cov(b.T)
    # the general square root, by eigendecomposition of the (diagonalisable) product
    w, v = torch.linalg.eig(ca @ cb)
    root = (v @ torch.diag(w.sqrt()) @ torch.linalg.inv(v)).real
    want = ((a.mean(0) - b.mean(0)) ** 2).sum() + ca.trace() + cb.trace() - 2 * root.trace()
    assert abs(frechet_distance(a, b).item() - want.item()) < 1e-9


@pytest.mark.parametrize("call, message", [
    (lambda: pihlib.metric("fsim"), "unknown metric 'fsim'"),
    (lambda: pihlib.metric("lpips", net="squeeze"), "net must be 'alex' or 'vgg'"),
    (lambda: pihlib.metric("lpips", convention="wrong"), "convention must be one of"),
    (lambda: pihlib.metric("psnr", colour=1), "bad options for metric psnr"),
    (lambda: pihlib.metric("psnr")(torch.zeros(2, 3, 8, 8)), "compares two images"),
    (lambda: pihlib.metric("psnr")(torch.zeros(2, 3, 8, 8), torch.zeros(3, 3, 8, 8)), "same shape"),
    (lambda: pihlib.metric("mse")(torch.zeros(2, 1, 8, 8), torch.zeros(2, 1, 8, 8)), "N x 3 x H x W"),
    (lambda: pihlib.metric("mse")(torch.full((1, 3, 8, 8), 3.0), torch.zeros(1, 3, 8, 8)), r"\[0, 1\]"),
    (lambda: pihlib.metric("mse")(torch.zeros(1, 3, 8, 8, dtype=torch.int64),
                                  torch.zeros(1, 3, 8, 8)), "dtype"),
    (lambda: pihlib.metric("lpips")(torch.zeros(1, 3, 16, 16), torch.zeros(1, 3, 16, 16)), "at least 32x32"),
    (lambda: pihlib.metric("ssim")(torch.zeros(1, 3, 8, 8), torch.zeros(1, 3, 8, 8)), "at least 11x11"),
    (lambda: pihlib.metric("fid")(torch.zeros(1, 3, 32, 32), torch.zeros(3, 3, 32, 32)), "at least 2"),
    (lambda: pihlib.metric("mse").against(torch.zeros(2, 3, 8, 8))(torch.zeros(2, 3, 4, 4)), "same shape"),
    (lambda: pihlib.metric("lpips").against(torch.zeros(2, 3, 32, 32))(torch.zeros(3, 3, 32, 32)),
     "same shape"),
])
def test_bad_metric_calls(call, message):
    with pytest.raises(pihlib.PihError, match=message):
        call()


def test_against_equals_the_direct_call(cifar_images):
    x, y = cifar_images[:16], pihlib.scramble(cifar_images[:16], pihlib.keygen("ELE", seed=2))
    for name in ("mse", "lpips", "piqe"):
        m = pihlib.metric(name)
        assert torch.allclose(m.against(x)(y), m(x, y), atol=1e-6), name


def _degenerate(size: int) -> dict[str, torch.Tensor]:
    """Images without texture, uint8 1 x 3 x size x size: flat grey, black, and black/white halves."""
    flat = torch.full((1, 3, size, size), 128, dtype=torch.uint8)
    halves = torch.zeros((1, 3, size, size), dtype=torch.uint8)
    halves[..., size // 2:] = 255
    return {"flat": flat, "black": torch.zeros_like(flat), "halves": halves}


@pytest.mark.parametrize("size", [32, 96, 200])
def test_nss_metrics_on_images_without_texture(size, cifar_images):
    """BRISQUE and NIQE: nan for that image alone, at every size; PIQE: MATLAB's 100."""
    real = torch.nn.functional.interpolate(cifar_images[:2].float(), size=(size, size), mode="bilinear")
    real = real.round().to(torch.uint8)
    for name in ("brisque", "niqe", "piqe"):
        m = pihlib.metric(name)
        alone = m(real)
        assert torch.isfinite(alone).all(), name
        for kind, image in _degenerate(size).items():
            got = m(torch.cat([real[:1], image, real[1:]]))
            assert torch.equal(got[[0, 2]], alone), (name, kind)  # the others' scores untouched
            if name == "piqe":
                assert got[1].item() == 100.0, (kind, got[1])
            else:
                assert torch.isnan(got[1]), (name, kind, got[1])


def test_niqe_of_an_upsampled_flat_image_is_not_rounding_noise():
    flat = torch.full((3, 3, 32, 32), 77, dtype=torch.uint8)
    assert torch.isnan(pihlib.metric("niqe")(flat)).all()


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_metrics_take_every_float_dtype_that_holds_8_bit_levels(dtype, cifar_images):
    x, y = cifar_images[:4], pihlib.scramble(cifar_images[:4], pihlib.keygen("LE", seed=0))
    for name in ("psnr", "brisque"):
        m = pihlib.metric(name)
        want = m(x, y)
        got = m((x / 255).to(dtype), (y / 255).to(dtype))
        assert torch.allclose(got, want, atol=1e-3), (name, dtype)


def test_a_float_dtype_too_coarse_for_8_bit_levels_is_refused_by_name(cifar_images):
    x = (cifar_images[:2] / 255).to(torch.float8_e4m3fn)
    with pytest.raises(pihlib.PihError, match="float8_e4m3fn"):
        pihlib.metric("psnr")(x, x)


@pytest.mark.parametrize("shape", [(5, 7), (1, 1), (16, 3), (40, 37)])
def test_piqe_pads_any_side_as_matlab_does(shape):
    """MATLAB pads to a multiple of 16 with 'symmetric', mirroring again past a side shorter than the
    pad (numpy's 'symmetric' mode): a 5 x 7 image is scored as its mirrored 16 x 16 extension."""
    from pihlib.nr_iqa import PIQE_BLOCK, piqe_score

    h, w = shape
    img = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 1, h, w)).astype(np.float64))
    pad = ((0, 0), (0, 0), (0, (-h) % PIQE_BLOCK), (0, (-w) % PIQE_BLOCK))
    padded = np.pad(img.numpy(), pad, mode="symmetric")
    assert torch.equal(piqe_score(img), piqe_score(torch.from_numpy(padded)))
    assert torch.isfinite(piqe_score(img)).all()
