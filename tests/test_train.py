"""Adaptation networks, classifiers and the training loop, on CPU with real CIFAR-10."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import pihlib
from pihlib.models import (
    AirbenchNet,
    BlockAdapter,
    FastNet,
    LEAdapter,
    PyramidNetShakeDrop,
    ResNet18,
    adapter_for,
)
from pihlib.train import (
    RECIPES,
    ScrambledClassifier,
    TrainConfig,
    _optimizer,
    augment,
    model_inputs,
    predict,
    train,
    tta_views,
)

CLASSIC = {"recipe": "classic", "lr": 0.05, "warmup_epochs": 0.5}


@pytest.fixture(scope="module")
def small(cifar_npz):
    tr = pihlib.load_cifar10("train", cifar_npz, count=192)
    te = pihlib.load_cifar10("test", cifar_npz, count=64)
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
    air = AirbenchNet(16)
    assert air(torch.rand(2, 16, 32, 32)).shape == (2, 10) and air[0].weight.shape == (24, 16, 2, 2)
    assert 4.60e6 < sum(p.numel() for p in AirbenchNet(3).parameters()) < 4.61e6  # airbench95's network
    assert not air[0].weight.requires_grad and AirbenchNet(16, whiten=False)[0].weight.requires_grad
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
    one = augment(cifar_images[:1].repeat(200, 1, 1, 1), 4, True, g)
    assert len({o.numpy().tobytes() for o in one}) > 20
    # every output is a window of its own padded image (zeros or reflection), maybe mirrored
    for reflect in (False, True):
        x = cifar_images[:16]
        out = augment(x, 2, False, g, reflect=reflect)
        padded = F.pad(x.float(), (2,) * 4, mode="reflect" if reflect else "constant").to(torch.uint8)
        windows = [{padded[i, :, dy:dy + 32, dx:dx + 32].numpy().tobytes()
                    for dy in range(5) for dx in range(5)} for i in range(16)]
        assert all(out[i].numpy().tobytes() in windows[i] for i in range(16))
    which = torch.arange(16) % 3 == 0
    assert torch.equal(augment(cifar_images[:16], 0, which, g),
                       torch.where(which[:, None, None, None], cifar_images[:16].flip(-1), cifar_images[:16]))
    cut = augment(cifar_images[:16], 0, False, g, cutout=8)
    changed = (cut != cifar_images[:16]).any(1)
    assert (cut.permute(0, 2, 3, 1)[changed] == 128).all()
    rows, cols = changed.any(2).sum(1), changed.any(1).sum(1)
    assert (rows <= 8).all() and (cols <= 8).all() and changed.any()


@pytest.mark.parametrize("recipe", ["airbench", "classic"])
@pytest.mark.parametrize("method", ["LE", "PE", "ELE"])
def test_cpu_training_lowers_the_loss(method, recipe, small):
    key = pihlib.keygen(method, seed=0)
    options = CLASSIC if recipe == "classic" else {}
    config = TrainConfig(method, epochs=4, batch_size=64, **options)
    result = train(config, *small, key=key, device="cpu", progress=False)
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 4 and losses[-1] < losses[0]
    assert 0 <= result.test_accuracy <= 1 and result.images_per_s > 0
    if recipe == "airbench":  # the final accuracy is the test-time-augmented one
        assert result.test_accuracy == result.history[-1]["tta_accuracy"]


def test_recipes_fill_what_is_left_open():
    air = TrainConfig("PE")
    assert (air.classifier, air.epochs, air.batch_size, air.lr, air.tta) == ("airbench", 15, 1024, 10.0, 2)
    short = TrainConfig("PE", epochs=3)
    assert short.epochs == 3 and short.lr == RECIPES["airbench"]["lr"]
    classic = TrainConfig("PE", recipe="classic")
    assert (classic.classifier, classic.schedule, classic.whiten, classic.tta) == ("fast", "linear", False, 0)
    assert TrainConfig("PE").digest() == TrainConfig("PE", lr=10.0).digest()
    assert TrainConfig("PE").digest() != TrainConfig("PE", lr=9.0).digest()


def test_airbench_optimizer_is_decoupled(small):
    config = TrainConfig("PE", batch_size=512)
    model = ScrambledClassifier(config)
    groups = _optimizer(model, config).param_groups
    lr = 10.0 / (1024 * (1 + 1 / (1 - 0.85)))
    assert groups[1]["lr"] == pytest.approx(lr) and groups[0]["lr"] == pytest.approx(64 * lr)
    for g in groups:  # weight decay times learning rate: per 1024 examples, whatever the learning rate
        assert g["lr"] * g["weight_decay"] == pytest.approx(0.0153 * 512 / (1024 * (1 + 1 / 0.15)))
    norm_biases = {id(p) for n, p in model.named_parameters() if "norm" in n and p.requires_grad}
    assert {id(p) for p in groups[0]["params"]} == norm_biases
    in_groups = {id(p) for g in groups for p in g["params"]}
    assert id(model.classifier[0].weight) not in in_groups  # the whitening is frozen
    assert id(model.classifier[0].bias) in in_groups


def _patch_covariance(features: torch.Tensor, k: int = 2) -> torch.Tensor:
    c = features.shape[1]
    patches = features.unfold(2, k, 1).unfold(3, k, 1).transpose(1, 3).reshape(-1, c * k * k).double()
    return patches.T @ patches / len(patches)


@pytest.mark.parametrize("method", ["PE", "LE"])
def test_whitening_is_computed_from_what_the_first_layer_sees(method, cifar_images):
    """The first layer's filters answer the patches it sees with uncorrelated, unit-variance responses
    (less for weak directions, by airbench's eps)."""
    key = pihlib.keygen(method, seed=0)
    model = ScrambledClassifier(TrainConfig(method))
    adapter_before = {k: v.clone() for k, v in model.adapter.state_dict().items()}
    x = model_inputs(cifar_images, key)
    model.whiten(x)
    assert all(torch.equal(v, model.adapter.state_dict()[k]) for k, v in adapter_before.items())
    model.adapter.train()
    with torch.no_grad():
        seen = model.features(x)
    assert seen.shape[1] == (3 if method == "PE" else 16)
    n = AirbenchNet.WHITEN_DIRECTIONS  # the 12 strongest directions of the 2 x 2 patches
    w = model.classifier[0].weight[:n].flatten(1).double()  # the filters; the rest are their negatives
    assert torch.equal(model.classifier[0].weight[n:], -model.classifier[0].weight[:n])
    out = w @ _patch_covariance(seen) @ w.T  # covariance of the filters' responses
    off = out - torch.diag(torch.diag(out))
    assert off.abs().max() < 1e-3 and torch.diag(out).max() < 1 + 1e-6
    assert torch.diag(out).max() > 0.9  # the strong directions come out at unit variance
    if method == "PE":  # a whitening of the plain images does not whiten what PE's network sees
        plain = ScrambledClassifier(TrainConfig("plain"))
        plain.whiten(model_inputs(cifar_images, None))
        w_plain = plain.classifier[0].weight[:n].flatten(1).double()
        out_plain = w_plain @ _patch_covariance(seen) @ w_plain.T
        assert (out_plain - torch.diag(torch.diag(out_plain))).abs().max() > 0.1


def test_tta_views_are_plain_views_and_each_is_scrambled_before_the_network(cifar_images):
    x = cifar_images[:8]
    views = tta_views(x, 2)
    assert sum(w for w, _ in views) == pytest.approx(1) and len(views) == 6
    padded = F.pad(x.float(), (1,) * 4, mode="reflect").to(torch.uint8)
    down_right, up_left = padded[..., :32, :32], padded[..., 2:, 2:]  # airbench's two translations
    expected = [x, x.flip(-1), down_right, down_right.flip(-1), up_left, up_left.flip(-1)]
    assert all(torch.equal(v, e) for (_, v), e in zip(views, expected, strict=True))
    assert [w for w, _ in views] == [0.25, 0.25, 0.125, 0.125, 0.125, 0.125]
    assert [len(tta_views(x, level)) for level in (0, 1)] == [1, 2]

    key = pihlib.keygen("PE", seed=3)
    seen = []

    class Recorder(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(()))

        def forward(self, inputs):
            seen.append(inputs.clone())
            return inputs.flatten(1)[:, :10] + self.w, self.w

    logits = predict(Recorder(), x, key, tta=2)
    assert len(seen) == 6
    for got, (_, view) in zip(seen, views, strict=True):
        assert torch.equal(got, model_inputs(view, key))  # the plain view, scrambled
        assert torch.equal(pihlib.unscramble((got * 255).round().to(torch.uint8), key), view)
    want = sum(w * model_inputs(v, key).flatten(1)[:, :10] for w, v in views)
    assert torch.allclose(logits, want)


def test_interrupted_training_resumes_to_the_same_state(small, tmp_path):
    key = pihlib.keygen("LE", seed=1)
    config = TrainConfig("LE", epochs=2, batch_size=64)  # airbench: look-ahead state, alternating flips
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
    assert done.train_time_s == resumed.history[-1]["time_s"]
    assert done.images_per_s == resumed.images_per_s > 0
    a = torch.load(tmp_path / "a.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "b.pt", weights_only=True)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    other = TrainConfig("LE", epochs=3, batch_size=64)
    with pytest.raises(pihlib.PihError, match="another configuration"):
        train(other, *small, key=key, device="cpu", checkpoint=tmp_path / "b.pt", progress=False)


def test_bad_training_requests(small):
    with pytest.raises(pihlib.PihError, match="needs its key"):
        train(TrainConfig("LE", epochs=1), *small, key=None, device="cpu")
    with pytest.raises(pihlib.PihError, match="the key is for PE"):
        train(TrainConfig("LE", epochs=1), *small, key=pihlib.keygen("PE"), device="cpu")
    with pytest.raises(pihlib.PihError, match="classifier must be one of 'airbench', 'fast', 'resnet18', "
                                              "'pyramidnet', got 'vit'"):
        TrainConfig("LE", epochs=1, classifier="vit")
    for field, value, message in [("epochs", "many", "a positive integer"), ("batch_size", 0, "positive"),
                                  ("lr", -0.1, "non-negative"), ("lr", 0, "positive"),
                                  ("schedule", "cosine", "'triangle' or 'linear' or 'steps'"),
                                  ("method", "XOR", "PE, EtC"),
                                  ("recipe", "fancy", "'airbench' or 'classic'"),
                                  ("tta", 3, "0, 1 or 2"), ("flip", "sometimes", "'alternate'"),
                                  ("momentum", 1.0, "below 1"), ("cutout", -1, "non-negative integer"),
                                  ("whiten", "yes", "True or False")]:
        with pytest.raises(pihlib.PihError, match=f"training {field} must be .*{message}"):
            TrainConfig(**{"method": "LE", field: value})
    with pytest.raises(pihlib.PihError, match="whiten must be False for a classifier other than 'airbench'"):
        TrainConfig("LE", classifier="fast")


@pytest.mark.parametrize("method", ["ELE", "PE"])
def test_mixed_precision_path_on_cpu(method, small):
    """The GPU's path (bf16 autocast, channels-last) on CPU: it trains, weights stay float32, and the
    spectral normalisation is computed in float32."""
    key = pihlib.keygen(method, seed=0)
    config = TrainConfig(method, epochs=3, batch_size=64)
    r = train(config, *small, key=key, device="cpu", progress=False, mixed_precision=True)
    losses = [h["loss"] for h in r.history]
    assert all(math.isfinite(v) for v in losses) and losses[-1] < losses[0]
    assert all(p.dtype == torch.float32 for p in r.model.parameters())
    assert r.model.classifier[2].conv1.weight.is_contiguous(memory_format=torch.channels_last)
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
