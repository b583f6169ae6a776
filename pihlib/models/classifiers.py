"""Classifiers: ShakeDrop PyramidNet (the paper's), a fast airbench-style network (the presets'), and
the CIFAR ResNet-18, a common middle ground (about 11M parameters) for trying other budgets.

Both take any number of input channels: 3 for PE (no adaptation network), 16 after the LE, ELE and
EtC adaptation networks.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class _ShakeDropFunction(torch.autograd.Function):
    """Forward x * (b + alpha - b alpha), backward grad * (b + beta - b beta) (Yamada et al. 2019)."""

    @staticmethod
    def forward(ctx, x, gate, alpha, beta):
        ctx.save_for_backward(gate, beta)
        return x * (gate + alpha - gate * alpha)

    @staticmethod
    def backward(ctx, grad):
        gate, beta = ctx.saved_tensors
        return grad * (gate + beta - gate * beta), None, None, None


class ShakeDrop(nn.Module):
    def __init__(self, p_drop: float):
        super().__init__()
        self.p_drop = p_drop

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training:
            return x * (1 - self.p_drop)
        gate = (torch.rand((), device=x.device) > self.p_drop).to(x.dtype)  # once per batch
        shape = (len(x), 1, 1, 1)
        alpha = torch.empty(shape, device=x.device, dtype=x.dtype).uniform_(-1, 1)  # per sample
        beta = torch.empty(shape, device=x.device, dtype=x.dtype).uniform_(0, 1)
        return _ShakeDropFunction.apply(x, gate, alpha, beta)


class _PyramidBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int, p_drop: float):
        super().__init__()
        self.branch = nn.Sequential(
            nn.BatchNorm2d(c_in), nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False), nn.BatchNorm2d(c_out),
            nn.ReLU(inplace=True), nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False), nn.BatchNorm2d(c_out))
        self.shake = ShakeDrop(p_drop)
        self.stride, self.pad = stride, c_out - c_in

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.shake(self.branch(x))
        shortcut = F.avg_pool2d(x, 2) if self.stride == 2 else x
        return h + F.pad(shortcut, (0, 0, 0, 0, 0, self.pad))  # zero-padded channels


class PyramidNetShakeDrop(nn.Module):
    """PyramidNet (Han et al. 2017), basic blocks, depth 6n + 2, widening ``alpha``, with ShakeDrop:
    block l of L drops with probability 0.5 l / L. Depth 110, alpha 270: about 28.5M parameters."""

    def __init__(self, in_channels: int = 3, depth: int = 110, alpha: int = 270, classes: int = 10,
                 width: int = 16):
        super().__init__()
        n = (depth - 2) // 6
        total = 3 * n
        self.stem = nn.Sequential(nn.Conv2d(in_channels, width, 3, 1, 1, bias=False), nn.BatchNorm2d(width))
        blocks, c = [], float(width)
        for i in range(total):
            c_next = c + alpha / total
            stride = 2 if i in (n, 2 * n) else 1
            blocks.append(_PyramidBlock(round(c), round(c_next), stride, 0.5 * (i + 1) / total))
            c = c_next
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Sequential(nn.BatchNorm2d(round(c)), nn.ReLU(inplace=True))
        self.fc = nn.Linear(round(c), classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.head(self.blocks(self.stem(x)))
        return self.fc(F.adaptive_avg_pool2d(h, 1).flatten(1))


class FastNet(nn.Module):
    """An airbench-style network (KellerJordan/cifar10-airbench): a stem and three groups of
    conv - max-pool - BN - GELU - conv - BN - GELU, global max-pool, a scaled linear head."""

    def __init__(self, in_channels: int = 3, widths: tuple[int, int, int] = (64, 256, 256),
                 classes: int = 10):
        super().__init__()
        layers = [nn.Conv2d(in_channels, 32, 3, padding=1, bias=False), nn.BatchNorm2d(32), nn.GELU()]
        c = 32
        for w in widths:
            layers += [nn.Conv2d(c, w, 3, padding=1, bias=False), nn.MaxPool2d(2), nn.BatchNorm2d(w),
                       nn.GELU(), nn.Conv2d(w, w, 3, padding=1, bias=False), nn.BatchNorm2d(w), nn.GELU()]
            c = w
        self.features = nn.Sequential(*layers)
        self.head = nn.Linear(c, classes, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.adaptive_max_pool2d(self.features(x), 1).flatten(1)
        return self.head(h) / 9  # airbench's logit scale


class _BasicBlock(nn.Module):
    def __init__(self, c_in: int, c_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Sequential()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                          nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = F.relu(self.bn1(self.conv1(x)))
        return F.relu(self.bn2(self.conv2(h)) + self.shortcut(x))


class ResNet18(nn.Module):
    """ResNet-18 (He et al. 2016) for 32 x 32 images: a 3 x 3 stem without pooling, then four stages
    of two basic blocks (64, 128, 256, 512 channels)."""

    def __init__(self, in_channels: int = 3, classes: int = 10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, 64, 3, 1, 1, bias=False), nn.BatchNorm2d(64),
                                  nn.ReLU(inplace=True))
        blocks, c = [], 64
        for width, stride in ((64, 1), (128, 2), (256, 2), (512, 2)):
            blocks += [_BasicBlock(c, width, stride), _BasicBlock(width, width, 1)]
            c = width
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(c, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(F.adaptive_avg_pool2d(self.blocks(self.stem(x)), 1).flatten(1))
