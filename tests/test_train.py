"""Adaptation networks, classifiers and the training loop, on CPU with real CIFAR-10."""

from __future__ import annotations

import math

import pytest
import torch

import pihlib
from pihlib.models import BlockAdapter, FastNet, LEAdapter, PyramidNetShakeDrop, ResNet18, adapter_for
from pihlib.train import TrainConfig, augment, train


@pytest.fixture(scope="module")
def small(cifar_npz):
    tr = pihlib.load_cifar10("train", cifar_npz, count=192)
    te = pihlib.load_cifar10("test", cifar_npz, count=128)
    return tr.images, tr.labels, te.images, te.labels


def test_adapter_shapes_and_parameters():
    x = torch.rand(4, 3, 32, 32)
    le = LEAdapter()
    assert le(x).shape == (4, 16, 32, 32)
    assert le.conv.weight.shape == (256, 3, 4, 4) and le.conv.bias is None
    block = BlockAdapter()
    assert block(x).shape == (4, 16, 32, 32)
    assert block.weight.shape == (64, 256, 48) and block.mix.shape == (64, 64)
    assert adapter_for("PE")(x) is x
    with pytest.raises(pihlib.PihError, match="for 32x32 images"):
        block(torch.rand(1, 3, 64, 64))


def test_block_adapter_loss_terms():
    a = BlockAdapter().eval()
    with torch.no_grad():
        a.mix.copy_(torch.eye(64))
    assert a.mix_loss().item() == 0  # a permutation: nothing to push
    with torch.no_grad():
        a.mix.fill_(1 / 64)
    # each row and column: L1 = 1, L2 = 1/8, over 64 x 64
    assert a.mix_loss().item() == pytest.approx(128 * (1 - 1 / 8) / 64**2)
    flat = torch.ones(2, 16, 32, 32)
    assert a.extra_loss(flat).item() == pytest.approx(0.001 * a.mix_loss().item())  # no variation
    step = flat.clone()
    step[:, 0, :, 16:] = 2  # a vertical edge in channel 0
    # squared differences on the top-left 31 x 31 grid: 31 rows cross the edge; over 31 * 32 * 16,
    # then over the batch of 2 (which holds 2 such images)
    want = 2 * 31 / (31 * 32 * 16) / 2
    assert BlockAdapter.smoothness(step).item() == pytest.approx(want)
    step[:, 5] = 7  # channels beyond the first 3 do not count
    assert BlockAdapter.smoothness(step).item() == pytest.approx(want)


def test_spectral_normalisation_of_each_block():
    # block n gets a weight with largest singular value n + 1 and the others at most half of it:
    # every block must come out with spectral norm 1, each divided by its own estimate
    g = torch.Generator().manual_seed(0)
    left, _ = torch.linalg.qr(torch.randn(64, 256, 48, generator=g))
    right, _ = torch.linalg.qr(torch.randn(64, 48, 48, generator=g))
    spectrum = torch.cat([torch.ones(1), torch.linspace(0.5, 0.01, 47)])
    top = torch.arange(1, 65, dtype=torch.float32)[:, None]
    a = BlockAdapter(power_iterations=10).train()
    with torch.no_grad():
        a.weight.copy_(left @ torch.diag_embed(top * spectrum) @ right.transpose(1, 2))
    for _ in range(3):  # as torch's spectral_norm, the estimate carries over from step to step
        w = a.normalised_weight()
    assert torch.allclose(torch.linalg.matrix_norm(w, ord=2), torch.ones(64), atol=1e-4)


def test_classifiers():
    assert FastNet(16)(torch.rand(2, 16, 32, 32)).shape == (2, 10)
    resnet = ResNet18(16)
    assert resnet(torch.rand(2, 16, 32, 32)).shape == (2, 10)
    assert 11.1e6 < sum(p.numel() for p in ResNet18(3).parameters()) < 11.2e6  # the CIFAR ResNet-18
    net = PyramidNetShakeDrop(3)
    assert 28.4e6 < sum(p.numel() for p in net.parameters()) < 28.6e6  # PyramidNet-110, alpha 270
    small = PyramidNetShakeDrop(16, depth=8, alpha=12)
    x = torch.rand(3, 16, 32, 32, requires_grad=True)
    small.train()(x).sum().backward()
    assert x.grad is not None and small.eval()(x).shape == (3, 10)


def test_augmentation_is_crops_and_flips_of_the_plain_image(cifar_images):
    g = torch.Generator().manual_seed(0)
    out = augment(cifar_images[:64], 4, True, g)
    assert out.shape == (64, 3, 32, 32) and out.dtype == torch.uint8
    same = augment(cifar_images[:8], 0, False, g)
    assert torch.equal(same, cifar_images[:8])
    # every output is a shifted (and maybe mirrored) window of its own image
    one = augment(cifar_images[:1].repeat(200, 1, 1, 1), 4, True, g)
    assert len({o.numpy().tobytes() for o in one}) > 20


@pytest.mark.parametrize("method", ["LE", "PE"])
def test_cpu_training_lowers_the_loss(method, small):
    key = pihlib.keygen(method, seed=0)
    config = TrainConfig(method, epochs=4, batch_size=64, lr=0.05, warmup_epochs=0.5)
    result = train(config, *small, key=key, device="cpu", progress=False)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert 0 <= result.test_accuracy <= 1 and result.images_per_s > 0


def test_interrupted_training_resumes_to_the_same_state(small, tmp_path):
    key = pihlib.keygen("LE", seed=1)
    config = TrainConfig("LE", epochs=2, batch_size=64, lr=0.05)
    straight = train(config, *small, key=key, device="cpu", checkpoint=tmp_path / "a.pt", progress=False)
    first = train(config, *small, key=key, device="cpu", checkpoint=tmp_path / "b.pt", stop_after_epochs=1,
                  progress=False)
    assert len(first.history) == 1
    resumed = train(config, *small, key=key, device="cpu", checkpoint=tmp_path / "b.pt", progress=False)
    assert resumed.resumed_from_epoch == 1
    def without_times(history):
        return [{k: v for k, v in h.items() if k != "time_s"} for h in history]

    assert without_times(resumed.history) == without_times(straight.history)
    assert 0 < resumed.history[0]["time_s"] < resumed.history[1]["time_s"]  # training time adds up
    done = train(config, *small, key=key, device="cpu", checkpoint=tmp_path / "b.pt", progress=False)
    assert done.resumed_from_epoch == 2 and done.history == resumed.history  # nothing left to train
    assert done.wall_time_s == resumed.history[-1]["time_s"] and done.images_per_s == resumed.images_per_s > 0
    a = torch.load(tmp_path / "a.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = TrainConfig("LE", epochs=3, batch_size=64, lr=0.05)
    with pytest.raises(pihlib.PihError, match="another configuration"):
        train(other, *small, key=key, device="cpu", checkpoint=tmp_path / "b.pt", progress=False)


def test_bad_training_requests(small):
    with pytest.raises(pihlib.PihError, match="needs its key"):
        train(TrainConfig("LE", epochs=1), *small, key=None, device="cpu")
    with pytest.raises(pihlib.PihError, match="the key is for PE"):
        train(TrainConfig("LE", epochs=1), *small, key=pihlib.keygen("PE"), device="cpu")
    with pytest.raises(pihlib.PihError,
                       match="classifier must be one of 'fast', 'resnet18', 'pyramidnet', got 'vit'"):
        TrainConfig("LE", epochs=1, classifier="vit")
    for field, value, message in [("epochs", "many", "a positive integer"), ("batch_size", 0, "positive"),
                                  ("lr", -0.1, "non-negative"), ("lr", 0, "positive"),
                                  ("schedule", "cosine", "'linear' or 'steps'"),
                                  ("method", "XOR", "PE, EtC")]:
        with pytest.raises(pihlib.PihError, match=f"training {field} must be .*{message}"):
            TrainConfig(**{"method": "LE", field: value})


@pytest.mark.parametrize("method", ["ELE", "PE"])
def test_mixed_precision_path_on_cpu(method, small):
    """The GPU's path (bf16 autocast, channels-last) on CPU: it trains, weights stay float32, and the
    spectral normalisation is computed in float32."""
    key = pihlib.keygen(method, seed=0)
    config = TrainConfig(method, epochs=3, batch_size=64, lr=0.05, warmup_epochs=0.5)
    r = train(config, *small, key=key, device="cpu", progress=False, mixed_precision=True)
    losses = [h["loss"] for h in r.history]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert all(p.dtype == torch.float32 for p in r.model.parameters())
    assert r.model.classifier.features[0].weight.is_contiguous(memory_format=torch.channels_last)
    if method == "ELE":
        adapter = r.model.adapter
        assert adapter.u.dtype == torch.float32
        adapter.eval()  # the power iteration's vector stays put: both calls start from the same one
        with torch.autocast("cpu", torch.bfloat16):
            mixed = adapter.normalised_weight()
        assert torch.equal(mixed, adapter.normalised_weight())


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_training_resumes(small, tmp_path):
    key = pihlib.keygen("ELE", seed=0)
    config = TrainConfig("ELE", epochs=2, batch_size=64, lr=0.05)
    first = train(config, *small, key=key, device="cuda", checkpoint=tmp_path / "c.pt", stop_after_epochs=1,
                  progress=False)
    assert first.device.startswith("cuda") and len(first.history) == 1
    resumed = train(config, *small, key=key, device="cuda", checkpoint=tmp_path / "c.pt", progress=False)
    assert resumed.resumed_from_epoch == 1 and len(resumed.history) == 2
    assert all(math.isfinite(h["loss"]) for h in resumed.history)


def test_smoothness_in_float32_under_bf16():
    g = torch.Generator().manual_seed(0)
    features = torch.rand(8, 16, 32, 32, generator=g)
    exact = BlockAdapter.smoothness(features.double())
    rounded = features.bfloat16()  # what the adapter gives under autocast
    assert BlockAdapter.smoothness(rounded).dtype == torch.float32
    assert BlockAdapter.smoothness(rounded).item() == pytest.approx(exact.item(), rel=1e-2)
