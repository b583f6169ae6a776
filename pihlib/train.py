"""Training a classifier (with its adaptation network) on scrambled CIFAR-10, top to bottom.

Every batch: augment the PLAIN images (random crop with 4 px of padding, horizontal flip) on the
device, then scramble them with the key. Flips and shifts do not commute with a key, so scrambled
images are never augmented directly. Mixed precision (bf16) and channels-last on GPU; on CPU the run
is deterministic for a seed. A checkpoint is written atomically after every epoch, and a run that
finds one with the same configuration resumes from it.
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
from .models import FastNet, PyramidNetShakeDrop, adapter_for
from .results import device_name
from .scramblers import scramble

# Part of every checkpoint's identity: raise it when a change to the networks or losses makes old
# checkpoints wrong to resume (2: the authors' smoothness term and initialisation of U).
CODE_VERSION = 2


@dataclass(frozen=True)
class TrainConfig:
    method: str  # "PE", "EtC", "LE", "ELE", or "plain" (no scrambling)
    classifier: str = "fast"  # "fast" (airbench-style) or "pyramidnet" (ShakeDrop PyramidNet-110, alpha 270)
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

    def digest(self) -> str:
        doc = {**asdict(self), "code_version": CODE_VERSION}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class TrainResult:
    config: TrainConfig
    test_accuracy: float
    history: list[dict] = field(default_factory=list)  # per epoch: loss, train accuracy, test accuracy
    wall_time_s: float = 0.0
    images_per_s: float = 0.0
    device: str = ""
    resumed_from_epoch: int = 0
    model: nn.Module | None = None  # the trained network (not part of any record)


class ScrambledClassifier(nn.Module):
    """Adaptation network, then classifier."""

    def __init__(self, config: TrainConfig, shape: tuple[int, int] = (32, 32), block_size: int = 4):
        super().__init__()
        self.adapter = adapter_for(config.method, shape, block_size)
        c = self.adapter.out_channels
        if config.classifier == "fast":
            self.classifier = FastNet(c)
        elif config.classifier == "pyramidnet":
            self.classifier = PyramidNetShakeDrop(c)
        else:
            raise PihError(f"classifier must be 'fast' or 'pyramidnet', got {config.classifier!r}")

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


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, key: Key | None,
             batch_size: int = 1000) -> float:
    model.eval()
    device = next(model.parameters()).device
    correct = 0
    for i in range(0, len(images), batch_size):
        x = model_inputs(images[i:i + batch_size].to(device), key)
        with torch.autocast(device.type, torch.bfloat16, enabled=device.type == "cuda"):
            logits, _ = model(x.contiguous(memory_format=torch.channels_last) if device.type == "cuda" else x)
        correct += (logits.argmax(1) == labels[i:i + batch_size].to(device)).sum().item()
    return correct / len(images)


def train(config: TrainConfig, train_images: torch.Tensor, train_labels: torch.Tensor,
          test_images: torch.Tensor, test_labels: torch.Tensor, key: Key | None = None,
          device: str | torch.device | None = None, checkpoint: str | Path | None = None,
          stop_after_epochs: int | None = None, progress: bool = True) -> TrainResult:
    """Train and evaluate. ``key`` scrambles every batch (None for ``method="plain"``).
    ``stop_after_epochs`` ends the run early (as an interruption would), keeping its checkpoint."""
    if (key is None) != (config.method == "plain"):
        raise PihError("a scrambled method needs its key; method 'plain' takes none")
    if key is not None and key.method != config.method:
        raise PihError(f"the key is for {key.method}, the configuration for {config.method}")
    device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    cuda = device.type == "cuda"
    torch.manual_seed(config.seed)
    generator = torch.Generator(device).manual_seed(config.seed)
    block = key.block_size if key is not None and key.block_size else 4
    model = ScrambledClassifier(config, tuple(train_images.shape[-2:]), block).to(device)
    if cuda:
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
        generator.set_state(state["generator"].cpu() if not cuda else state["generator"])
        torch.set_rng_state(state["torch_rng"].cpu())
        history, start = state["history"], state["epoch"]

    t0, seen = time.perf_counter(), 0

    def seen_epoch(step: int) -> int:
        return min((step + 1) * config.batch_size, len(x_all))

    for epoch in range(start, config.epochs):
        model.train()
        order = torch.randperm(len(x_all), device=device, generator=generator)
        bar = tqdm(range(steps_per_epoch), desc=f"{config.method} epoch {epoch + 1}/{config.epochs}",
                   disable=not progress, leave=False)
        loss_sum, correct = 0.0, 0
        for step in bar:
            idx = order[step * config.batch_size:(step + 1) * config.batch_size]
            x = model_inputs(augment(x_all[idx], config.crop_padding, config.flip, generator), key)
            if cuda:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, torch.bfloat16, enabled=cuda):
                logits, extra = model(x)
                loss = F.cross_entropy(logits.float(), y_all[idx], label_smoothing=config.label_smoothing)
                loss = loss + extra.float()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(idx)
            correct += (logits.argmax(1) == y_all[idx]).sum().item()
            seen += len(idx)
            bar.set_postfix(loss=f"{loss.item():.3f}", acc=f"{correct / seen_epoch(step):.3f}")
        test_acc = evaluate(model, test_images, test_labels, key)
        history.append({"epoch": epoch + 1, "loss": loss_sum / len(x_all),
                        "train_accuracy": correct / len(x_all), "test_accuracy": test_acc})
        if path is not None:
            buf = io.BytesIO()
            torch.save({"config_digest": config.digest(), "model": model.state_dict(),
                        "optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(),
                        "generator": generator.get_state(), "torch_rng": torch.get_rng_state(),
                        "history": history, "epoch": epoch + 1}, buf)
            atomic_write_bytes(path, buf.getvalue())
        if stop_after_epochs is not None and epoch + 1 - start >= stop_after_epochs:
            break
    wall = time.perf_counter() - t0
    return TrainResult(config, history[-1]["test_accuracy"] if history else float("nan"), history, wall,
                       seen / wall if wall > 0 else 0.0, device_name(device), start, model.eval())
