"""Training a classifier (with its adaptation network) on scrambled CIFAR-10, top to bottom.

Every batch: augment the PLAIN images (random crop with 4 px of padding, horizontal flip) on the
device, then scramble them with the key. Flips and shifts do not commute with a key, so scrambled
images are never augmented directly. Mixed precision (bf16 autocast) and channels-last on GPU by
default (``mixed_precision``; it runs on CPU too, where the tests exercise it); in float32 on CPU the
run is deterministic for a seed. A checkpoint is written atomically after every epoch, and a run that
finds one with the same configuration resumes from it. Each epoch's record holds its cumulative
training time (evaluation left out), from which the time to a target accuracy is read.
"""

from __future__ import annotations

import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from ._io import atomic_write_bytes
from .errors import PihError
from .keys import Key
from .models import FastNet, PyramidNetShakeDrop, ResNet18, adapter_for
from .presets import METHODS
from .results import device_name
from .scramblers import scramble

# Part of every checkpoint's identity: raise it when a change to the networks or losses makes old
# checkpoints wrong to resume (2: the authors' smoothness term and initialisation of U; 3: each epoch's
# training time in the history).
CODE_VERSION = 3

CLASSIFIERS = {"fast": FastNet, "resnet18": ResNet18, "pyramidnet": PyramidNetShakeDrop}


@dataclass(frozen=True)
class TrainConfig:
    method: str  # "PE", "EtC", "LE", "ELE", or "plain" (no scrambling)
    classifier: str = "fast"  # "fast" (airbench-style), "resnet18", "pyramidnet" (ShakeDrop PyramidNet-110)
    epochs: int = 10
    batch_size: int = 256
    lr: float = 0.1
    momentum: float = 0.9  # Nesterov
    weight_decay: float = 5e-4
    schedule: str = "linear"  # "linear": warm-up then linear decay to 0; "steps": x0.1 at 50 % and 75 %
    warmup_epochs: float = 1.0
    label_smoothing: float = 0.0
    crop_padding: int = 4
    flip: bool = True
    seed: int = 0

    def __post_init__(self):
        def bad(name: str, want: str) -> PihError:
            return PihError(f"training {name} must be {want}, got {getattr(self, name)!r}")

        if self.method not in (*METHODS, "plain"):
            raise bad("method", f"{', '.join(METHODS)} or plain")
        if self.classifier not in CLASSIFIERS:
            raise bad("classifier", "one of " + ", ".join(repr(c) for c in CLASSIFIERS))
        if self.schedule not in ("linear", "steps"):
            raise bad("schedule", "'linear' or 'steps'")
        for name in ("epochs", "batch_size"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise bad(name, "a positive integer")
        if not isinstance(self.crop_padding, int) or self.crop_padding < 0:
            raise bad("crop_padding", "a non-negative integer")
        for name in ("lr", "momentum", "weight_decay", "warmup_epochs", "label_smoothing"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
                raise bad(name, "a non-negative number")
        if self.lr == 0:
            raise bad("lr", "positive")

    def digest(self) -> str:
        doc = {**asdict(self), "code_version": CODE_VERSION}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainResult:
    config: TrainConfig
    test_accuracy: float
    history: list[dict] = field(default_factory=list)  # per epoch: loss, train accuracy, test accuracy
    wall_time_s: float = 0.0  # training time of all epochs (evaluation left out), across resumes
    images_per_s: float = 0.0  # training images a second over all epochs
    device: str = ""
    resumed_from_epoch: int = 0
    model: nn.Module | None = None  # the trained network (not part of any record)


class ScrambledClassifier(nn.Module):
    """Adaptation network, then classifier."""

    def __init__(self, config: TrainConfig, shape: tuple[int, int] = (32, 32), block_size: int = 4):
        super().__init__()
        self.adapter = adapter_for(config.method, shape, block_size)
        c = self.adapter.out_channels
        self.classifier = CLASSIFIERS[config.classifier](c)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.adapter(x)
        return self.classifier(features), self.adapter.extra_loss(features)


def augment(x: torch.Tensor, padding: int, flip: bool, generator: torch.Generator) -> torch.Tensor:
    """Random crops (zero padding) and horizontal flips of uint8 N x 3 x H x W, vectorised."""
    n, _, h, w = x.shape
    if padding:
        padded = F.pad(x, (padding,) * 4)
        dy = torch.randint(0, 2 * padding + 1, (n,), device=x.device, generator=generator)
        dx = torch.randint(0, 2 * padding + 1, (n,), device=x.device, generator=generator)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, None, :]
        x = padded[torch.arange(n, device=x.device)[:, None, None, None],
                   torch.arange(3, device=x.device)[None, :, None, None], rows, cols]
    if flip:
        mask = torch.rand(n, device=x.device, generator=generator) < 0.5
        x = torch.where(mask[:, None, None, None], x.flip(-1), x)
    return x


def _lr_factor(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    epoch = step / steps_per_epoch
    if config.schedule == "steps":
        return 0.01 if epoch >= 0.75 * config.epochs else 0.1 if epoch >= 0.5 * config.epochs else 1.0
    warm = config.warmup_epochs
    if epoch < warm:
        return (epoch + 1 / steps_per_epoch) / warm
    return max(0.0, (config.epochs - epoch) / max(config.epochs - warm, 1e-9))


def model_inputs(x: torch.Tensor, key: Key | None) -> torch.Tensor:
    """uint8 images -> the network's input: scrambled with ``key`` (if any), in [-0.5, 0.5]."""
    y = scramble(x, key) if key is not None else x
    return y.float().div_(255).sub_(0.5)


def _layout(x: torch.Tensor, mixed_precision: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if mixed_precision else x


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, key: Key | None,
             batch_size: int = 1000, mixed_precision: bool | None = None) -> float:
    """Test accuracy of ``model`` on ``images`` scrambled with ``key``."""
    model.eval()
    device = next(model.parameters()).device
    mp = device.type == "cuda" if mixed_precision is None else mixed_precision
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for i in range(0, len(images), batch_size):
        x = _layout(model_inputs(images[i:i + batch_size].to(device), key), mp)
        with torch.autocast(device.type, torch.bfloat16, enabled=mp):
            logits, _ = model(x)
        correct += (logits.argmax(1) == labels[i:i + batch_size].to(device)).sum()
    return correct.item() / len(images)


def train(config: TrainConfig, train_images: torch.Tensor, train_labels: torch.Tensor,
          test_images: torch.Tensor, test_labels: torch.Tensor, key: Key | None = None,
          device: str | torch.device | None = None, checkpoint: str | Path | None = None,
          stop_after_epochs: int | None = None, progress: bool = True,
          mixed_precision: bool | None = None) -> TrainResult:
    """Train and evaluate. ``key`` scrambles every batch (None for ``method="plain"``).
    ``stop_after_epochs`` ends the run early (as an interruption would), keeping its checkpoint.
    ``mixed_precision``: bf16 autocast and channels-last; None: on CUDA only."""
    if (key is None) != (config.method == "plain"):
        raise PihError("a scrambled method needs its key; method 'plain' takes none")
    if key is not None and key.method != config.method:
        raise PihError(f"the key is for {key.method}, the configuration for {config.method}")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    mp = cuda if mixed_precision is None else mixed_precision
    if cuda:
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels
    torch.manual_seed(config.seed)
    generator = torch.Generator(device).manual_seed(config.seed)
    block = key.block_size if key is not None and key.block_size else 4
    model = ScrambledClassifier(config, tuple(train_images.shape[-2:]), block).to(device)
    if mp:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True,
                                weight_decay=config.weight_decay)
    steps_per_epoch = -(-len(train_images) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(config, s, steps_per_epoch))
    x_all, y_all = train_images.to(device), train_labels.to(device)
    history, start = [], 0

    path = Path(checkpoint) if checkpoint else None
    if path is not None and path.exists():
        state = torch.load(path, map_location=device, weights_only=True)
        if state["config_digest"] != config.digest():
            raise PihError(f"checkpoint {path} belongs to another configuration; move it away to start anew")
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"].cpu())  # generator states are CPU tensors, CUDA's too
        torch.set_rng_state(state["torch_rng"].cpu())
        if cuda and "cuda_rng" in state:
            torch.cuda.set_rng_state(state["cuda_rng"].cpu(), device)
        history, start = state["history"], state["epoch"]

    for epoch in range(start, config.epochs):
        model.train()
        epoch_start = time.perf_counter()
        order = torch.randperm(len(x_all), device=device, generator=generator)
        bar = tqdm(range(steps_per_epoch), desc=f"{config.method} epoch {epoch + 1}/{config.epochs}",
                   disable=not progress, leave=False)
        # running sums stay on the device: reading them every step would wait for the GPU every step
        loss_sum = torch.zeros((), device=device)
        correct = torch.zeros((), dtype=torch.int64, device=device)
        for step in bar:
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            x = augment(x_all[idx], config.crop_padding, config.flip, generator)
            x = _layout(model_inputs(x, key), mp)
            with torch.autocast(device.type, torch.bfloat16, enabled=mp):
                logits, extra = model(x)
                loss = F.cross_entropy(logits.float(), y_all[idx], label_smoothing=config.label_smoothing)
                loss = loss + extra.float()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.detach() * len(idx)
            correct += (logits.argmax(1) == y_all[idx]).sum()
            if progress and (step % 20 == 0 or step == steps_per_epoch - 1):
                done = min((step + 1) * config.batch_size, len(x_all))
                bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{correct.item() / done:.3f}")
        loss_mean, train_acc = loss_sum.item() / len(x_all), correct.item() / len(x_all)  # waits for the GPU
        elapsed = (history[-1]["time_s"] if history else 0.0) + time.perf_counter() - epoch_start
        test_acc = evaluate(model, test_images, test_labels, key, mixed_precision=mp)
        history.append({"epoch": epoch + 1, "loss": loss_mean, "train_accuracy": train_acc,
                        "test_accuracy": test_acc, "time_s": round(elapsed, 3)})
        if path is not None:
            buf = io.BytesIO()
            torch.save({"config_digest": config.digest(), "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                        **({"cuda_rng": torch.cuda.get_rng_state(device)} if cuda else {}),
                        "history": history, "epoch": epoch + 1}, buf)
            atomic_write_bytes(path, buf.getvalue())
        if stop_after_epochs is not None and epoch + 1 - start >= stop_after_epochs:
            break
    trained = history[-1]["time_s"] if history else float("nan")  # all epochs', those before a resume too
    return TrainResult(config, history[-1]["test_accuracy"] if history else float("nan"), history, trained,
                       len(history) * len(x_all) / trained if trained > 0 else float("nan"),
                       device_name(device), start, model.eval())


def time_to_accuracy(history: list[dict], target: float) -> float | None:
    """Training seconds until the first epoch whose test accuracy reaches ``target`` (None: never)."""
    return next((h["time_s"] for h in history if h["test_accuracy"] >= target and "time_s" in h), None)
