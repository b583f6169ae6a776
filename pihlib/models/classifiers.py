"""Classifiers: ShakeDrop PyramidNet (the paper's), airbench's 95 % network (the fast presets'), an
older airbench-style network (FastNet), and the CIFAR ResNet-18, a middle ground (about 11M
parameters) for trying other budgets.

All take any number of input channels: 3 for PE (no adaptation network), 16 after the LE, ELE and
EtC adaptation networks. Each maps float inputs N x C x 32 x 32 to logits N x classes (float).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from airbench.lib_airbench95 import Conv, ConvGroup, Flatten, Mul
from airbench.lib_airbench95 import hyp as AIRBENCH95
from airbench.utils import get_patches, get_whitening_parameters
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
    """ShakeDrop on a residual branch (Yamada et al. 2019, arXiv:1802.02375): in training, the gate is
    drawn once per batch (kept with probability 1 - ``p_drop``), alpha ~ U[-1, 1] and beta ~ U[0, 1]
    per sample; in evaluation the branch is scaled by 1 - ``p_drop``.

    Args:
        p_drop: the drop probability of this block, in [0, 1].
    """

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
    block l of L drops with probability 0.5 l / L. Depth 110, alpha 270: about 28.5M parameters.

    The paper's classifier (depth 110, alpha 270). ``forward``: float N x ``in_channels`` x H x W
    (H, W divisible by 4) -> logits N x ``classes``.

    Args:
        in_channels: input channels (3 for images, 16 after an adaptation network).
        depth: 6n + 2 layers, n basic blocks per stage.
        alpha: the total widening over the 3n blocks (channels grow linearly from ``width``).
        classes: output logits.
        width: the stem's channels.

    References:
        D. Han, J. Kim, J. Kim, "Deep Pyramidal Residual Networks", CVPR 2017, arXiv:1610.02915;
        Y. Yamada, M. Iwamura, T. Akiba, K. Kise, "ShakeDrop Regularization for Deep Residual
        Learning", IEEE Access 2019, arXiv:1802.02375.
    """

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
    conv - max-pool - BN - GELU - conv - BN - GELU, global max-pool, a scaled linear head.

    ``forward``: float N x ``in_channels`` x H x W -> logits N x ``classes`` (divided by 9).

    Args:
        in_channels: input channels (3 for images, 16 after an adaptation network).
        widths: the three groups' channels.
        classes: output logits.
    """

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
    of two basic blocks (64, 128, 256, 512 channels).

    ``forward``: float N x ``in_channels`` x H x W -> logits N x ``classes``.

    Args:
        in_channels: input channels (3 for images, 16 after an adaptation network).
        classes: output logits.

    References:
        K. He, X. Zhang, S. Ren, J. Sun, "Deep Residual Learning for Image Recognition", CVPR 2016,
        arXiv:1512.03385.
    """

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


class AirbenchNet(nn.Sequential):
    """airbench95's network (KellerJordan/cifar10-airbench, the ``airbench`` package), built from the
    package's own layers: a frozen 2 x 2 whitening convolution (its bias trains for the first epochs),
    GELU, three conv-pool-BN-GELU-conv-BN-GELU groups (128, 384, 384 channels), max-pool, a linear
    head scaled by 1/9.

    Written here rather than taken from ``airbench.make_net95`` because that function casts to half
    precision, moves to CUDA and takes 3 input channels. Here the network stays float32 on any device
    (mixed precision comes from autocast) and takes ``in_channels`` (16 behind an adaptation network),
    and :meth:`whiten` sets the first layer from the inputs it will really see: scrambled images for
    PE, the adaptation network's output for LE, ELE and EtC (airbench whitens plain images). The first
    layer keeps airbench's width whatever the input: the ``WHITEN_DIRECTIONS`` strongest directions of
    the 2 x 2 patches and their negatives (all 12 of an RGB patch; the 12 strongest of the 64 of a
    16-channel patch, which keeps the network as fast as on RGB images). With ``whiten=False`` the
    first layer is an ordinary trainable convolution of the same shape.

    ``forward``: float N x ``in_channels`` x H x W -> logits N x ``classes``.

    Args:
        in_channels: input channels (3 for images, 16 after an adaptation network).
        classes: output logits.
        widths: the three groups' channels; None: airbench95's (128, 384, 384).
        whiten: a frozen first layer set by ``whiten`` (True), or a trainable one (False).

    References:
        K. Jordan, "94% on CIFAR-10 in 3.29 Seconds on a Single GPU", arXiv:2404.00498, 2024 (the
        airbench networks and recipes; KellerJordan/cifar10-airbench).
    """

    WHITEN_DIRECTIONS = 12  # = 3 x 2 x 2, airbench's on RGB images

    def __init__(self, in_channels: int = 3, classes: int = 10, widths: tuple[int, int, int] | None = None,
                 whiten: bool = True):
        net = AIRBENCH95["net"]
        widths = widths or tuple(net["widths"].values())
        momentum = net["batchnorm_momentum"]
        first = 2 * self.WHITEN_DIRECTIONS
        super().__init__(
            Conv(in_channels, first, 2, padding=0, bias=True), nn.GELU(),
            ConvGroup(first, widths[0], momentum), ConvGroup(widths[0], widths[1], momentum),
            ConvGroup(widths[1], widths[2], momentum), nn.MaxPool2d(3), Flatten(),
            nn.Linear(widths[2], classes, bias=False), Mul(net["scaling_factor"]))
        self.whitened = whiten
        if whiten:
            self[0].weight.requires_grad = False
        else:
            nn.init.kaiming_uniform_(self[0].weight, a=5**0.5)  # undo Conv's identity (dirac) start

    @torch.no_grad()
    def whiten(self, inputs: torch.Tensor, eps: float = 5e-4) -> None:
        """Set the first layer to whiten the strongest directions of the 2 x 2 patches of ``inputs``
        (airbench's ``get_patches`` and ``get_whitening_parameters``, as its ``init_whitening_conv``
        uses them, keeping the leading directions); a no-op for a network built with
        ``whiten=False``.

        Args:
            inputs: what the network will see, float N x ``in_channels`` x H x W (a few thousand
                training inputs: scrambled images, or the adaptation network's output).
            eps: added to the eigenvalues before the inverse square root.
        """
        if not self.whitened:
            return
        patches = get_patches(inputs.float(), patch_shape=self[0].weight.shape[2:])
        eigenvalues, eigenvectors = get_whitening_parameters(patches)  # strongest first
        n = self.WHITEN_DIRECTIONS
        scaled = eigenvectors[:n] / torch.sqrt(eigenvalues[:n] + eps)
        self[0].weight.copy_(torch.cat((scaled, -scaled)))

    @property
    def whitening_bias(self) -> nn.Parameter:
        """The first layer's bias (trainable also when its weight is frozen)."""
        return self[0].bias
