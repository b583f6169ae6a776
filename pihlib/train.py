"""Training a classifier (with its adaptation network) on scrambled CIFAR-10, top to bottom.

Every batch: augment the PLAIN images (translation, horizontal flip, optionally cutout) on the
device, then scramble them with the key. Flips and shifts do not commute with a key, so scrambled
images are never augmented directly; test-time augmentation likewise makes its views of the plain
test image and scrambles each (a client would send the server several scrambled views).

Two recipes, each a set of hyper-parameters named once in ``RECIPES``:

- ``"airbench"`` (the fast presets'): airbench95's recipe (Keller Jordan's ``airbench`` package, whose
  layers, whitening initialisation, look-ahead state and hyper-parameters are used as they are):
  decoupled SGD (learning rate and weight decay per 1024 examples, BatchNorm biases at 64x the
  learning rate), a triangular schedule, label smoothing 0.2, a look-ahead average of the weights
  every 5 steps, a frozen whitening first layer, reflect-padded translation by 2 px, alternating
  flips, test-time augmentation (mirror + translate). What scrambling changes is written here: the
  whitening is computed from what the first layer really sees (scrambled images for PE, the
  adaptation network's output for LE, ELE and EtC), augmentation and TTA views are made in the plain
  domain, and the network takes 16 channels behind an adaptation network.
- ``"classic"``: SGD with Nesterov momentum and coupled weight decay, warm-up then linear decay (or the
  paper's steps), zero-padded random crops and random flips; FastNet, ResNet-18 or the paper's
  ShakeDrop PyramidNet-110.

Mixed precision (bf16 autocast) and channels-last on GPU by default (``mixed_precision``; it runs on
CPU too, where the tests exercise it); in float32 on CPU a run is deterministic for a seed. A
checkpoint is written atomically after every epoch, and a run that finds one with the same
configuration resumes from it. Each epoch's record holds its cumulative training time (evaluation
left out), from which the time to a target accuracy is read.

One run over several processes (``torchrun``, one GPU each; gloo on CPU): every process draws the
same order and augmentation of each global batch, takes its share (``tensor_split``), scrambles and
trains on it, and ``DistributedDataParallel`` averages the gradients; the loss is scaled so that the
average is the one-process gradient of the global batch. BatchNorm statistics stay per process (as
in torchvision's reference scripts): this is where a run over G processes differs from one process.
The key and configuration must be the same in every process (checked); rank 0 alone writes the
checkpoint, and every process resumes from it.
"""

from __future__ import annotations

import copy
import hashlib
import io
import json
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from airbench.lib_airbench95 import hyp as AIRBENCH95
from airbench.utils import CIFAR_MEAN, CIFAR_STD, LookaheadState
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from ._io import atomic_write_bytes
from .errors import PihError
from .keys import Key, fingerprint
from .models import AirbenchNet, FastNet, PyramidNetShakeDrop, ResNet18, adapter_for
from .runtime import default_device, device_name, rank, world_size
from .scramblers import METHODS, scramble

# Part of every checkpoint's identity: raise it when a change to the networks or losses makes old
# checkpoints wrong to resume (2: the authors' smoothness term and initialisation of U; 3: each epoch's
# training time in the history; 4: the airbench recipe, input normalisation inside the model).
CHECKPOINT_VERSION = 4

CLASSIFIERS = {"airbench": AirbenchNet, "fast": FastNet, "resnet18": ResNet18,
               "pyramidnet": PyramidNetShakeDrop}
SCHEDULES = ("triangle", "linear", "steps")
FLIPS = ("alternate", "random", "none")
_OPT, _AUG, _NET = AIRBENCH95["opt"], AIRBENCH95["aug"], AIRBENCH95["net"]
RECIPES: dict[str, dict] = {
    "airbench": {"classifier": "airbench", "epochs": int(_OPT["train_epochs"]),
                 "batch_size": _OPT["batch_size"], "lr": _OPT["lr"], "momentum": _OPT["momentum"],
                 "weight_decay": _OPT["weight_decay"],
                 "bias_scaler": _OPT["bias_scaler"], "label_smoothing": _OPT["label_smoothing"],
                 "whiten": True, "whiten_bias_epochs": _OPT["whiten_bias_epochs"], "schedule": "triangle",
                 "warmup_epochs": 0.0, "lookahead": True, "translate": _AUG["translate"],
                 "reflect": True, "flip": "alternate", "cutout": 0, "tta": _NET["tta_level"]},
    "classic": {"classifier": "fast", "epochs": 10, "batch_size": 256, "lr": 0.1, "momentum": 0.9,
                "weight_decay": 5e-4, "bias_scaler": 1.0, "label_smoothing": 0.0, "whiten": False,
                "whiten_bias_epochs": 0, "schedule": "linear", "warmup_epochs": 1.0, "lookahead": False,
                "translate": 4, "reflect": False, "flip": "random", "cutout": 0, "tta": 0},
}
# Fixed by airbench's train() rather than its hyper-parameters: the triangular schedule's start, end
# and peak (fractions of the learning rate and of the run), the look-ahead period and decay, and the
# number of training images the whitening is computed from.
TRIANGLE = (0.2, 0.07, 0.23)
LOOKAHEAD_EVERY, LOOKAHEAD_DECAY = 5, 0.95**5
WHITEN_IMAGES = 5000
# Input normalisation: airbench's CIFAR statistics; the classic recipe centres [0, 1] at 0.
NORMALISATION = {"airbench": (CIFAR_MEAN.tolist(), CIFAR_STD.tolist()), "classic": ([0.5] * 3, [1.0] * 3)}
CUTOUT_FILL = 128  # mid-grey in the plain domain (airbench fills its normalised images with 0, the mean)


@dataclass(frozen=True)
class TrainConfig:
    """One training run. Every field left None takes its ``recipe``'s value (``RECIPES``). Under the
    airbench recipe ``lr`` and ``weight_decay`` are per 1024 examples and decoupled (airbench's
    parametrisation); under the classic one they are SGD's own. Each field is described where it is
    declared; ``digest()`` names the configuration (and ``CHECKPOINT_VERSION``) in checkpoints.

    Raises:
        PihError: at construction, a ``recipe``, ``method``, ``classifier``, ``schedule`` or ``flip``
            that is not one of those listed; ``epochs`` or ``batch_size`` not a positive int;
            ``translate``, ``cutout``, ``whiten_bias_epochs`` or ``seed`` not a non-negative int;
            ``tta`` not 0, 1 or 2; ``whiten``, ``lookahead`` or ``reflect`` not a bool; ``lr``,
            ``momentum``, ``weight_decay``, ``bias_scaler``, ``warmup_epochs`` or ``label_smoothing``
            not a non-negative number, ``lr`` 0, ``momentum`` 1 or more; ``whiten`` with a classifier
            other than ``"airbench"``.

    References:
        K. Jordan, "94% on CIFAR-10 in 3.29 Seconds on a Single GPU", arXiv:2404.00498 (airbench: the
        ``"airbench"`` recipe's hyper-parameters, airbench95's); Madono, Tanaka, Onishi, Ogawa,
        "Scrambling Parameter Generation to Improve Perceptual Information Hiding", IS&T Electronic
        Imaging (the methods and the paper's training set-up).
    """

    method: str  # "PE", "EtC", "LE", "ELE", or "plain" (no scrambling)
    recipe: str = "airbench"
    classifier: str | None = None  # "airbench", "fast", "resnet18", "pyramidnet" (ShakeDrop PyramidNet-110)
    epochs: int | None = None
    batch_size: int | None = None
    lr: float | None = None
    momentum: float | None = None  # Nesterov
    weight_decay: float | None = None
    bias_scaler: float | None = None  # BatchNorm biases' learning rate over the others' (airbench)
    label_smoothing: float | None = None
    whiten: bool | None = None  # a frozen whitening first layer (airbench classifier only)
    whiten_bias_epochs: int | None = None  # epochs during which the whitening layer's bias trains
    # "triangle" (airbench), "linear" (warm-up, then linear decay), "steps" (x0.1 at 50 % and 75 %)
    schedule: str | None = None
    warmup_epochs: float | None = None  # "linear" only
    lookahead: bool | None = None  # airbench's look-ahead average of the weights
    translate: int | None = None  # random shifts of up to this many pixels (crop of the padded image)
    reflect: bool | None = None  # reflect padding (else zeros)
    # "alternate" (airbench: a random mirror per image, all flipped every other epoch), "random", "none"
    flip: str | None = None
    cutout: int | None = None  # side of a square filled with mid-grey (0: none)
    tta: int | None = None  # test-time augmentation: 0 none, 1 mirror, 2 mirror + translate
    seed: int = 0

    def __post_init__(self):
        def bad(name: str, want: str) -> PihError:
            return PihError(f"training {name} must be {want}, got {getattr(self, name)!r}")

        if self.recipe not in RECIPES:
            raise bad("recipe", " or ".join(repr(r) for r in RECIPES))
        for name, value in RECIPES[self.recipe].items():
            if getattr(self, name) is None:
                object.__setattr__(self, name, value)
        if self.method not in (*METHODS, "plain"):
            raise bad("method", f"{', '.join(METHODS)} or plain")
        if self.classifier not in CLASSIFIERS:
            raise bad("classifier", "one of " + ", ".join(repr(c) for c in CLASSIFIERS))
        if self.schedule not in SCHEDULES:
            raise bad("schedule", " or ".join(repr(s) for s in SCHEDULES))
        if self.flip not in FLIPS:
            raise bad("flip", " or ".join(repr(s) for s in FLIPS))
        for name in ("epochs", "batch_size"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 1:
                raise bad(name, "a positive integer")
        for name in ("translate", "cutout", "whiten_bias_epochs", "seed"):
            if not _is_int(getattr(self, name)) or getattr(self, name) < 0:
                raise bad(name, "a non-negative integer")
        if self.tta not in (0, 1, 2) or isinstance(self.tta, bool):
            raise bad("tta", "0, 1 or 2")
        for name in ("whiten", "lookahead", "reflect"):
            if not isinstance(getattr(self, name), bool):
                raise bad(name, "True or False")
        for name in ("lr", "momentum", "weight_decay", "bias_scaler", "warmup_epochs", "label_smoothing"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0:
                raise bad(name, "a non-negative number")
        if self.lr == 0:
            raise bad("lr", "positive")
        if self.momentum >= 1:
            raise bad("momentum", "below 1")
        if self.whiten and self.classifier != "airbench":
            raise bad("whiten", "False for a classifier other than 'airbench'")

    def digest(self) -> str:
        doc = {**asdict(self), "code_version": CHECKPOINT_VERSION}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]


TRAIN_FIELDS = tuple(f.name for f in fields(TrainConfig) if f.name not in ("method", "seed"))


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


@dataclass
class TrainResult:
    """What ``train`` returns.

    Attributes:
        config: the run's configuration.
        test_accuracy: the final test accuracy in [0, 1], with test-time augmentation where the
            config asks for it (NaN if no epoch ran).
        history: one record per epoch: ``epoch`` (1-based), ``loss`` (mean training loss),
            ``train_accuracy`` and ``test_accuracy`` in [0, 1], ``time_s`` (cumulative training
            seconds, evaluation left out, across resumes); the last also ``tta_accuracy`` where the
            config asks for test-time augmentation.
        train_time_s: the training time of all epochs in seconds (evaluation left out), across resumes.
        images_per_s: training images a second over all epochs.
        device: the device trained on, in words.
        resumed_from_epoch: the epochs a checkpoint had done when this call started (0: none).
        model: the trained ``ScrambledClassifier`` in eval mode (not part of any record).
    """

    config: TrainConfig
    test_accuracy: float  # with test-time augmentation where the config asks for it
    history: list[dict] = field(default_factory=list)  # per epoch: loss, train and test accuracy, time
    train_time_s: float = 0.0  # training time of all epochs (evaluation left out), across resumes
    images_per_s: float = 0.0  # training images a second over all epochs
    device: str = ""
    resumed_from_epoch: int = 0
    model: nn.Module | None = None  # the trained network (not part of any record)


class ScrambledClassifier(nn.Module):
    """Input normalisation, adaptation network, classifier. Takes images in [0, 1] (scrambled)."""

    def __init__(self, config: TrainConfig, shape: tuple[int, int] = (32, 32), block_size: int = 4):
        super().__init__()
        mean, std = NORMALISATION[config.recipe]
        self.register_buffer("mean", torch.tensor(mean).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(std).view(1, 3, 1, 1))
        self.adapter = adapter_for(config.method, shape, block_size)
        c = self.adapter.out_channels
        options = {"whiten": config.whiten} if config.classifier == "airbench" else {}
        self.classifier = CLASSIFIERS[config.classifier](c, **options)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.adapter((x - self.mean) / self.std)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.features(x)
        return self.classifier(features), self.adapter.extra_loss(features)

    @torch.no_grad()
    def whiten(self, x: torch.Tensor) -> None:
        """Whiten the classifier's first layer on what it sees: the adaptation network's output for
        ``x`` (its BatchNorm in training mode, as during training; its state is left as it was)."""
        if not getattr(self.classifier, "whitened", False):
            return
        state = copy.deepcopy(self.adapter.state_dict())
        self.adapter.train()
        self.classifier.whiten(self.features(x))
        self.adapter.load_state_dict(state)


def _shift_indices(offset: torch.Tensor, size: int, pad: int,
                   reflect: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Source rows (or columns) of a window at ``offset`` in an image padded by ``pad``: N x size
    indices into the unpadded image and a mask of those that fall in it (zero padding)."""
    i = offset[:, None] - pad + torch.arange(size, device=offset.device)
    if reflect:
        i = i.abs()
        i = torch.where(i > size - 1, 2 * (size - 1) - i, i)
    inside = (i >= 0) & (i < size)
    return i.clamp(0, size - 1), inside


def augment(x: torch.Tensor, translate: int, flip: bool | torch.Tensor, generator: torch.Generator, *,
            reflect: bool = False, cutout: int = 0) -> torch.Tensor:
    """Random translations by up to ``translate`` px (a crop of the zero- or reflect-padded image),
    mirrors (``flip``: True draws them, a bool tensor says which images) and cutout squares of side
    ``cutout`` (mid-grey) of uint8 N x 3 x H x W, vectorised, in the plain domain, on any device."""
    n, _, h, w = x.shape
    dev = x.device
    if translate:
        dy = torch.randint(0, 2 * translate + 1, (n,), device=dev, generator=generator)
        dx = torch.randint(0, 2 * translate + 1, (n,), device=dev, generator=generator)
        rows, in_rows = _shift_indices(dy, h, translate, reflect)
        cols, in_cols = _shift_indices(dx, w, translate, reflect)
        images = torch.arange(n, device=dev)[:, None, None, None]
        channels = torch.arange(x.shape[1], device=dev)[None, :, None, None]
        x = x[images, channels, rows[:, None, :, None], cols[:, None, None, :]]
        if not reflect:
            x = x * (in_rows[:, None, :, None] & in_cols[:, None, None, :])
    if isinstance(flip, bool):
        flip = torch.rand(n, device=dev, generator=generator) < 0.5 if flip else None
    if flip is not None:
        x = torch.where(flip.to(dev)[:, None, None, None], x.flip(-1), x)
    if cutout:
        y0 = torch.randint(0, h - cutout + 1, (n, 1, 1, 1), device=dev, generator=generator)
        x0 = torch.randint(0, w - cutout + 1, (n, 1, 1, 1), device=dev, generator=generator)
        r = torch.arange(h, device=dev)[:, None] - y0
        c = torch.arange(w, device=dev)[None, :] - x0
        x = x.masked_fill((r >= 0) & (r < cutout) & (c >= 0) & (c < cutout), CUTOUT_FILL)
    return x


def tta_views(x: torch.Tensor, level: int) -> list[tuple[float, torch.Tensor]]:
    """airbench's test-time augmentation as (weight, plain view) pairs, weights summing to 1: level 0
    the image; 1 the image and its mirror; 2 also the image shifted by one pixel down-right and
    up-left (reflect padding), each with its mirror, at half the weight. The views are made of the
    PLAIN image: each is scrambled before it reaches the network."""
    if level == 0:
        return [(1.0, x)]
    views = [(0.5, x), (0.5, x.flip(-1))]
    if level == 2:
        h, w = x.shape[-2:]
        shifted = []
        for offset in (0, 2):  # windows of the image reflect-padded by 1: down-right, then up-left
            at = torch.tensor([offset], device=x.device)
            rows, _ = _shift_indices(at, h, 1, reflect=True)
            cols, _ = _shift_indices(at, w, 1, reflect=True)
            shifted.append(x[..., rows[0][:, None], cols[0][None, :]])
        views = [(0.5 * wt, v) for wt, v in views] + [(0.125, v) for s in shifted for v in (s, s.flip(-1))]
    return views


def _lr_factor(config: TrainConfig, step: int, steps_per_epoch: int) -> float:
    epoch = step / steps_per_epoch
    if config.schedule == "steps":
        return 0.01 if epoch >= 0.75 * config.epochs else 0.1 if epoch >= 0.5 * config.epochs else 1.0
    if config.schedule == "triangle":  # airbench: from start up to 1 at the peak, then down to end
        start, end, peak = TRIANGLE
        total = config.epochs * steps_per_epoch
        top = int(peak * total)
        if step < top:
            return start + (1 - start) * step / top
        return 1 + (end - 1) * (step - top) / max(total - top, 1)
    warm = config.warmup_epochs
    if epoch < warm:
        return (epoch + 1 / steps_per_epoch) / warm
    return max(0.0, (config.epochs - epoch) / max(config.epochs - warm, 1e-9))


def _optimizer(model: nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """SGD with Nesterov momentum. Airbench's parametrisation: the learning rate and weight decay are
    per 1024 examples and decoupled from momentum and from each other (the loss is summed over the
    batch), BatchNorm biases learn ``bias_scaler`` times faster."""
    if config.recipe == "classic":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, nesterov=True,
                               weight_decay=config.weight_decay)
    kilostep = 1024 * (1 + 1 / (1 - config.momentum))
    lr = config.lr / kilostep
    wd = config.weight_decay * config.batch_size / kilostep
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    biases = [p for n, p in named if "norm" in n]
    others = [p for n, p in named if "norm" not in n]
    lr_biases = lr * config.bias_scaler
    return torch.optim.SGD([{"params": biases, "lr": lr_biases, "weight_decay": wd / lr_biases},
                            {"params": others, "lr": lr, "weight_decay": wd / lr}],
                           momentum=config.momentum, nesterov=True)


def model_inputs(x: torch.Tensor, key: Key | None) -> torch.Tensor:
    """uint8 images -> the network's input: scrambled with ``key`` (if any), in [0, 1]."""
    y = scramble(x, key) if key is not None else x
    return y.float().div_(255)


def _layout(x: torch.Tensor, mixed_precision: bool) -> torch.Tensor:
    return x.contiguous(memory_format=torch.channels_last) if mixed_precision else x


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, key: Key | None, tta: int = 0,
            mixed_precision: bool | None = None) -> torch.Tensor:
    """Logits of ``model`` for plain images: every test-time view is made of the plain image, then
    scrambled with ``key`` and classified; the views' logits are averaged with their weights.

    Args:
        model: a ``ScrambledClassifier`` (or any module that takes float N x 3 x H x W in [0, 1] and
            returns ``(logits, extra_loss)``); put in eval mode.
        images: plain images, uint8 N x 3 x H x W (RGB, levels 0..255), on any device (moved to the
            model's).
        key: the key that scrambles every view; None feeds the plain views (``method="plain"``).
        tta: test-time augmentation, 0 (none), 1 (mirror) or 2 (mirror + translate): see ``tta_views``.
        mixed_precision: bf16 autocast and channels-last; None: on CUDA only.

    Returns:
        torch.Tensor: float32 logits N x C (C = 10 classes for CIFAR-10) on the model's device.

    Raises:
        PihError: ``images`` are not a batch ``scramble`` takes (uint8 N x 3 x H x W of the key's
            H x W), or ``key`` is not a ``Key`` (see ``pihlib.scramble``).

    References:
        K. Jordan, "94% on CIFAR-10 in 3.29 Seconds on a Single GPU", arXiv:2404.00498 (the
        test-time augmentation).
    """
    model.eval()
    device = next(model.parameters()).device
    mp = device.type == "cuda" if mixed_precision is None else mixed_precision
    x = images.to(device)
    logits = 0
    for weight, view in tta_views(x, tta):
        with torch.autocast(device.type, torch.bfloat16, enabled=mp):
            out, _ = model(_layout(model_inputs(view, key), mp))
        logits = logits + weight * out.float()
    return logits


@torch.no_grad()
def evaluate(model: nn.Module, images: torch.Tensor, labels: torch.Tensor, key: Key | None,
             batch_size: int = 1000, mixed_precision: bool | None = None, tta: int = 0) -> float:
    """Accuracy of ``model`` on ``images`` scrambled with ``key``, in batches (see ``predict``).

    Args:
        model: as for ``predict``.
        images: plain images, uint8 N x 3 x H x W (RGB, levels 0..255), on any device.
        labels: their classes, int64 of shape (N,).
        key: the key that scrambles every image; None for ``method="plain"``.
        batch_size: images per forward pass (a positive int); trades memory for speed only.
        mixed_precision: bf16 autocast and channels-last; None: on CUDA only.
        tta: test-time augmentation, 0, 1 or 2 (see ``tta_views``).

    Returns:
        float: the fraction of images whose top logit is their label, in [0, 1].

    Raises:
        PihError: as ``predict``.

    References:
        Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to Improve Perceptual
        Information Hiding", IS&T Electronic Imaging (Table 2: test accuracy on scrambled images).
    """
    device = next(model.parameters()).device
    correct = torch.zeros((), dtype=torch.int64, device=device)
    for i in range(0, len(images), batch_size):
        logits = predict(model, images[i:i + batch_size], key, tta, mixed_precision)
        correct += (logits.argmax(1) == labels[i:i + batch_size].to(device)).sum()
    return correct.item() / len(images)


def train(config: TrainConfig, train_images: torch.Tensor, train_labels: torch.Tensor,
          test_images: torch.Tensor, test_labels: torch.Tensor, key: Key | None = None,
          device: str | torch.device | None = None, checkpoint: str | Path | None = None,
          stop_after_epochs: int | None = None, progress: bool = True,
          mixed_precision: bool | None = None) -> TrainResult:
    """Train a classifier (with its adaptation network) on ``key``-scrambled images and evaluate it.

    Every epoch draws a new order and augmentation of the PLAIN training images, scrambles each batch
    with ``key`` and takes an optimiser step on it, then measures the test accuracy (after the last
    epoch also with test-time augmentation, where ``config.tta`` asks). In float32 on the CPU a run is
    deterministic for ``config.seed``. Inside a process group (``torchrun``) the run is shared by its
    processes (see the module's docstring).

    Args:
        config: the run: method, recipe and hyper-parameters, seed.
        train_images: plain training images, uint8 N x 3 x H x W (RGB, levels 0..255), on any device;
            H x W the size ``key`` was made for (32 x 32 for CIFAR-10).
        train_labels: their classes, int64 of shape (N,) (0..9 for CIFAR-10).
        test_images: plain test images, uint8 M x 3 x H x W.
        test_labels: their classes, int64 of shape (M,).
        key: the key that scrambles every image, made for ``config.method``; None for
            ``method="plain"``.
        device: where to train (a name or ``torch.device``); None: CUDA when there is one, else the CPU.
        checkpoint: a file written atomically after every epoch (by rank 0); a run that finds one
            resumes from it. None: no checkpoint.
        stop_after_epochs: end the run after this many epochs of this call, as an interruption would,
            keeping its checkpoint; None: train up to ``config.epochs``.
        progress: show a progress bar over each epoch's batches (rank 0 only).
        mixed_precision: bf16 autocast and channels-last; None: on CUDA only.

    Returns:
        TrainResult: the final test accuracy in [0, 1] (with test-time augmentation where asked), one
        history record per epoch, the training time in seconds (evaluation left out, across resumes),
        the device, the epoch resumed from, and the trained model (in eval mode, on ``device``).

    Raises:
        PihError: a scrambled method without a key, or ``method="plain"`` with one; a key of another
            method than ``config.method``; a ``device`` torch does not know or this machine lacks; a
            ``checkpoint`` of another configuration (or of another ``CHECKPOINT_VERSION``); in a
            process group, processes that disagree on the configuration, the key or the number of
            training images, or a last batch with fewer images than processes; images ``scramble``
            refuses (see ``pihlib.scramble``).

    References:
        K. Jordan, "94% on CIFAR-10 in 3.29 Seconds on a Single GPU", arXiv:2404.00498 (airbench: the
        ``"airbench"`` recipe); Madono, Tanaka, Onishi, Ogawa, "Scrambling Parameter Generation to
        Improve Perceptual Information Hiding", IS&T Electronic Imaging (Table 2: the accuracy of each
        scrambling method).
    """
    if (key is None) != (config.method == "plain"):
        raise PihError("a scrambled method needs its key; method 'plain' takes none")
    if key is not None and key.method != config.method:
        raise PihError(f"the key is for {key.method}, the configuration for {config.method}")
    device = default_device(device)
    mp = device.type == "cuda" if mixed_precision is None else mixed_precision
    _check_distributed(config, key, train_images)
    progress = progress and rank() == 0
    path = Path(checkpoint) if checkpoint else None
    resuming = path is not None and path.exists()
    run = _setup(config, key, train_images, train_labels, device, mp, whiten=not resuming)
    history, start = _resume(run, path) if resuming else ([], 0)

    for epoch in range(start, config.epochs):
        loss, accuracy, seconds = _train_epoch(run, epoch, progress)
        time_s = (history[-1]["time_s"] if history else 0.0) + seconds  # all epochs', across resumes
        history.append(_evaluate(run, epoch, loss, accuracy, time_s, test_images, test_labels))
        if path is not None and run.rank == 0:
            _save_checkpoint(run, path, history)
        if stop_after_epochs is not None and epoch + 1 - start >= stop_after_epochs:
            break
    return _result(run, history, start)


@dataclass
class _Run:
    """What one training run works with (built by ``_setup``): the model with its optimiser, schedule
    and look-ahead average, the training set on the device, and the generator that draws every
    batch's order and augmentation."""

    config: TrainConfig
    key: Key | None
    device: torch.device
    mp: bool  # bf16 autocast and channels-last
    model: ScrambledClassifier
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LambdaLR
    lookahead: LookaheadState | None
    generator: torch.Generator  # on the device: every epoch's order and augmentation
    images: torch.Tensor  # plain training images, uint8 N x 3 x H x W, on the device
    labels: torch.Tensor  # int64 (N,), on the device
    mirrored: torch.Tensor | None  # bool (N,): each image's mirror under alternating flips
    world: int  # processes sharing the run
    rank: int  # this process's
    net: nn.Module  # what the batches go through: the model, or its DDP wrapper
    trainable: list[bool] | None = None  # which parameters the DDP wrapper was made for

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.images) // self.config.batch_size)

    @property
    def reduction(self) -> str:
        """airbench sums the loss over the batch; the classic recipe averages it."""
        return "sum" if self.config.recipe == "airbench" else "mean"


def _same_everywhere(**values: object) -> None:
    """Refuse to train one run over processes that disagree on it (another configuration or key)."""
    gathered: list = [None] * world_size()
    dist.all_gather_object(gathered, values)
    if any(g != values for g in gathered):
        raise PihError("the processes of one distributed run disagree on its configuration or key: "
                       "start every process with the same arguments")


def _check_distributed(config: TrainConfig, key: Key | None, images: torch.Tensor) -> None:
    """Inside a process group: every process has the same configuration, key and number of training
    images, and the last batch has an image for every process (PihError otherwise)."""
    if (world := world_size()) > 1:
        _same_everywhere(config=config.digest(), key=None if key is None else fingerprint(key),
                         images=len(images))
        if 0 < (last := len(images) % config.batch_size) < world:
            raise PihError(f"the last batch of {last} images cannot be shared by {world} processes: "
                           "choose another batch size")


def _setup(config: TrainConfig, key: Key | None, images: torch.Tensor, labels: torch.Tensor,
           device: torch.device, mp: bool, whiten: bool) -> _Run:
    """Seed, build the model (``whiten``: its first layer whitened on the first training images; a
    checkpoint brings its own), its optimiser, schedule and look-ahead average, and move the training
    set to ``device``."""
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed input shapes: let cuDNN pick its fastest kernels
    torch.manual_seed(config.seed)
    generator = torch.Generator(device).manual_seed(config.seed)
    block = key.block_size if key is not None and key.block_size else 4
    model = ScrambledClassifier(config, tuple(images.shape[-2:]), block).to(device)
    x_all, y_all = images.to(device), labels.to(device)
    if whiten:
        model.whiten(model_inputs(x_all[:WHITEN_IMAGES], key))  # before the look-ahead copies the weights
    if mp:
        model = model.to(memory_format=torch.channels_last)
    optimizer = _optimizer(model, config)
    steps_per_epoch = -(-len(x_all) // config.batch_size)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: _lr_factor(config, s, steps_per_epoch))
    lookahead = LookaheadState(model) if config.lookahead else None
    # airbench's alternating flips: each image's mirror is drawn once, then all flip every other epoch
    mirrored = torch.rand(len(x_all), generator=torch.Generator().manual_seed(config.seed)).to(device) < 0.5 \
        if config.flip == "alternate" else None
    return _Run(config, key, device, mp, model, optimizer, scheduler, lookahead, generator, x_all, y_all,
                mirrored, world_size(), rank(), net=model)


def _resume(run: _Run, path: Path) -> tuple[list[dict], int]:
    """Load the checkpoint at ``path`` into ``run`` (weights, optimiser, schedule, look-ahead average,
    random states): the history so far and the number of epochs done (PihError if the checkpoint is
    of another configuration)."""
    state = torch.load(path, map_location=run.device, weights_only=True)
    if state["config_digest"] != run.config.digest():
        raise PihError(f"checkpoint {path} belongs to another configuration; move it away to start anew")
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    if run.lookahead is not None:
        run.lookahead.net_ema = state["lookahead"]
    run.generator.set_state(state["generator"].cpu())  # generator states are CPU tensors, CUDA's too
    torch.set_rng_state(state["torch_rng"].cpu())
    if run.device.type == "cuda" and "cuda_rng" in state:
        torch.cuda.set_rng_state(state["cuda_rng"].cpu(), run.device)
    return state["history"], state["epoch"]


def _set_trainable(run: _Run, epoch: int) -> None:
    """Train mode; the whitening bias trains for its first epochs only; in a process group, a new DDP
    wrapper whenever the set of trained parameters changes (DDP fixes it)."""
    run.model.train()
    if run.config.whiten:
        run.model.classifier.whitening_bias.requires_grad = epoch < run.config.whiten_bias_epochs
    if run.world > 1 and run.trainable != (now := [p.requires_grad for p in run.model.parameters()]):
        run.net, run.trainable = DistributedDataParallel(run.model), now


def _train_epoch(run: _Run, epoch: int, progress: bool) -> tuple[float, float, float]:
    """One epoch (0-based ``epoch``) over the training set in a new random order: its mean loss, its
    training accuracy in [0, 1] (over every process's share) and its wall time in seconds."""
    config = run.config
    _set_trainable(run, epoch)
    epoch_start = time.perf_counter()
    order = torch.randperm(len(run.images), device=run.device, generator=run.generator)
    flips = run.mirrored ^ bool(epoch % 2) if config.flip == "alternate" else config.flip == "random"
    bar = tqdm(range(run.steps_per_epoch), desc=f"{config.method} epoch {epoch + 1}/{config.epochs}",
               disable=not progress, leave=False)
    # running sums stay on the device: reading them every step would wait for the GPU every step
    loss_sum = torch.zeros((), device=run.device)
    correct = torch.zeros((), dtype=torch.int64, device=run.device)
    for step in bar:
        batch = order[step * config.batch_size:(step + 1) * config.batch_size]
        loss, hits = _train_step(run, batch, flips, epoch * run.steps_per_epoch + step + 1)
        loss_sum += loss
        correct += hits
        if progress and (step % 20 == 0 or step == run.steps_per_epoch - 1):
            done = min((step + 1) * config.batch_size, len(run.images)) / run.world  # this process's, roughly
            bar.set_postfix(loss=f"{loss_sum.item() / done:.3f}", acc=f"{correct.item() / done:.3f}")
    if run.world > 1:  # every process's share of the epoch, and rank 0's BatchNorm statistics
        dist.all_reduce(loss_sum)
        dist.all_reduce(correct)
        for b in run.model.buffers():
            dist.broadcast(b, 0)
    n = len(run.images)
    loss_mean, train_acc = loss_sum.item() / n, correct.item() / n  # waits for the GPU
    return loss_mean, train_acc, time.perf_counter() - epoch_start


def _train_step(run: _Run, batch: torch.Tensor, flips: bool | torch.Tensor,
                done_steps: int) -> tuple[torch.Tensor, torch.Tensor]:
    """One optimiser step on the global ``batch`` (int64 indices into the training set), augmented in
    the plain domain, of which this process scrambles and trains on its share; then the schedule and
    the look-ahead average (``done_steps``: steps of the run done with this one) move on. Returns the
    share's summed loss and number of correct predictions (0-d tensors, left on the device)."""
    config, summed = run.config, run.reduction == "sum"
    x = augment(run.images[batch], config.translate, flips if isinstance(flips, bool) else flips[batch],
                run.generator, reflect=config.reflect, cutout=config.cutout)
    x, idx = x.tensor_split(run.world)[run.rank], batch.tensor_split(run.world)[run.rank]  # this share
    x = _layout(model_inputs(x, run.key), run.mp)
    with torch.autocast(run.device.type, torch.bfloat16, enabled=run.mp):
        logits, extra = run.net(x)
        loss = F.cross_entropy(logits.float(), run.labels[idx], label_smoothing=config.label_smoothing,
                               reduction=run.reduction)
        # the extra terms are per batch: weighed against the mean loss, whatever the reduction
        loss = loss + extra.float() * (len(idx) if summed else 1)
    run.optimizer.zero_grad(set_to_none=True)
    # DDP averages the processes' gradients: scaled so that the average is the global batch's
    (loss * (run.world if summed else run.world * len(idx) / len(batch))).backward()
    run.optimizer.step()
    run.scheduler.step()
    total_steps = config.epochs * run.steps_per_epoch
    if run.lookahead is not None and (done_steps % LOOKAHEAD_EVERY == 0 or done_steps == total_steps):
        last = done_steps == total_steps  # the last step takes the average as it is
        decay = 1.0 if last else LOOKAHEAD_DECAY * (done_steps / total_steps) ** 3
        run.lookahead.update(run.model, decay=decay)
    return loss.detach() * (1 if summed else len(idx)), (logits.argmax(1) == run.labels[idx]).sum()


def _evaluate(run: _Run, epoch: int, loss: float, train_acc: float, time_s: float,
              test_images: torch.Tensor, test_labels: torch.Tensor) -> dict:
    """The record of epoch ``epoch`` (0-based): its loss and accuracies, the test accuracy measured
    now (and after the last epoch with test-time augmentation, where the config asks), and the
    training time so far in seconds."""
    config = run.config
    test_acc = evaluate(run.model, test_images, test_labels, run.key, mixed_precision=run.mp)
    record = {"epoch": epoch + 1, "loss": loss, "train_accuracy": train_acc, "test_accuracy": test_acc,
              "time_s": round(time_s, 3)}
    if epoch + 1 == config.epochs and config.tta:
        record["tta_accuracy"] = evaluate(run.model, test_images, test_labels, run.key,
                                          mixed_precision=run.mp, tta=config.tta)
    return record


def _save_checkpoint(run: _Run, path: Path, history: list[dict]) -> None:
    """Write everything a resumed run needs after the last epoch of ``history`` to ``path``,
    atomically: the configuration's digest, weights, optimiser, schedule, look-ahead average, random
    states, the history and the number of epochs done."""
    buf = io.BytesIO()
    cuda = run.device.type == "cuda"
    torch.save({"config_digest": run.config.digest(), "model": run.model.state_dict(),
                "optimizer": run.optimizer.state_dict(), "scheduler": run.scheduler.state_dict(),
                **({"lookahead": run.lookahead.net_ema} if run.lookahead is not None else {}),
                "generator": run.generator.get_state(), "torch_rng": torch.get_rng_state(),
                **({"cuda_rng": torch.cuda.get_rng_state(run.device)} if cuda else {}),
                "history": history, "epoch": history[-1]["epoch"]}, buf)
    atomic_write_bytes(path, buf.getvalue())


def _result(run: _Run, history: list[dict], start: int) -> TrainResult:
    """The run's result: its last accuracy (with test-time augmentation where measured), its training
    time over all epochs (those before a resume too) and the trained model in eval mode."""
    trained = history[-1]["time_s"] if history else float("nan")
    last = history[-1] if history else {}
    return TrainResult(run.config, last.get("tta_accuracy", last.get("test_accuracy", float("nan"))), history,
                       trained, len(history) * len(run.images) / trained if trained > 0 else float("nan"),
                       device_name(run.device), start, run.model.eval())


def time_to_accuracy(history: list[dict], target: float) -> float | None:
    """Training seconds until the first epoch whose test accuracy reaches ``target`` (None: never)."""
    return next((h["time_s"] for h in history if h["test_accuracy"] >= target and "time_s" in h), None)
