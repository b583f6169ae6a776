"""Adaptation networks, as the authors' code built them (see shared/docs/paper-notes.md).

- LE: one B x B stride-B convolution 3 -> 16 B^2 (no bias), BatchNorm, LeakyReLU(0.1), PixelShuffle(B):
  16 channels at full resolution. One shared convolution fits LE, whose key is the same in every block.
- ELE and EtC: a separate sub-network for every block position (a spectrally normalised B x B
  convolution 3 -> 16 B^2, no bias, BatchNorm, LeakyReLU(0.2)), then a learnable n x n matrix U that
  mixes the n blocks (ELE and EtC move blocks), then PixelShuffle(B). Two extra loss terms:
  0.001 * L_U (for each row and column of U, its L1 norm minus its L2 norm, summed, over n^2: pushes
  U towards a permutation) and 0.1 * L_s / batch size, where L_s, as the authors' code computed it
  (their ``total_variation_norm``), sums the squared vertical and horizontal forward differences of
  the first 3 feature channels over the top-left (H-1) x (W-1) grid and divides by (H-1) * W * C,
  C being all the feature channels (16). U starts as a linear layer's weight would (Kaiming uniform).
- PE: none; the classifier sees the scrambled image (as the authors ran it).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PihError

OUT_PER_PIXEL = 16  # feature channels at full resolution after the pixel shuffle


class LEAdapter(nn.Module):
    def __init__(self, block_size: int = 4):
        super().__init__()
        b = block_size
        self.conv = nn.Conv2d(3, OUT_PER_PIXEL * b * b, b, stride=b, bias=False)
        self.bn = nn.BatchNorm2d(OUT_PER_PIXEL * b * b)
        self.shuffle = nn.PixelShuffle(b)
        self.out_channels = OUT_PER_PIXEL

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.shuffle(F.leaky_relu(self.bn(self.conv(x)), 0.1))

    def extra_loss(self, features: torch.Tensor) -> torch.Tensor:
        return features.new_zeros(())


class BlockAdapter(nn.Module):
    """Per-block sub-networks and the block-mixing matrix U (ELE, EtC)."""

    def __init__(self, shape: tuple[int, int] = (32, 32), block_size: int = 4, power_iterations: int = 1):
        super().__init__()
        b = block_size
        self.grid = (shape[0] // b, shape[1] // b)
        n = self.grid[0] * self.grid[1]
        self.block_size, self.blocks, self.hidden = b, n, OUT_PER_PIXEL * b * b
        # one 4x4x3 -> 256 linear map per block position: a convolution per block, batched
        self.weight = nn.Parameter(torch.empty(n, self.hidden, 3 * b * b))
        for w in self.weight:
            nn.init.kaiming_uniform_(w, a=5**0.5)
        self.register_buffer("u", F.normalize(torch.randn(n, self.hidden), dim=1))
        self.power_iterations = power_iterations
        self.bn = nn.BatchNorm1d(n * self.hidden)
        self.mix = nn.Parameter(torch.empty(n, n))  # U
        nn.init.kaiming_uniform_(self.mix, a=5**0.5)
        self.shuffle = nn.PixelShuffle(b)
        self.out_channels = OUT_PER_PIXEL

    def normalised_weight(self) -> torch.Tensor:
        """Each block's weight divided by its largest singular value (power iteration, as
        ``torch.nn.utils.spectral_norm``, batched over the blocks)."""
        w = self.weight
        with torch.autocast(w.device.type, enabled=False):  # in float32, under mixed precision too
            with torch.no_grad():
                u = self.u[:, :, None]
                for _ in range(self.power_iterations):
                    v = F.normalize(torch.bmm(w.transpose(1, 2), u), dim=1)
                    u = F.normalize(torch.bmm(w, v), dim=1)
                if self.training:
                    self.u.copy_(u[:, :, 0])
            sigma = torch.bmm(u.transpose(1, 2), torch.bmm(w, v)).flatten()
        return w / sigma[:, None, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, (gh, gw) = self.block_size, self.grid
        if tuple(x.shape[-2:]) != (gh * b, gw * b):
            raise PihError(f"this adapter is for {gh * b}x{gw * b} images, got {x.shape[-2]}x{x.shape[-1]}")
        blocks = F.unfold(x, b, stride=b)  # N x (3 b b) x n, block n row-major
        h = torch.einsum("nok,bkn->bon", self.normalised_weight(), blocks)  # N x hidden x n
        h = F.leaky_relu(self.bn(h.transpose(1, 2).reshape(len(x), -1)).view(len(x), self.blocks, -1), 0.2)
        h = torch.einsum("bnc,nm->bcm", h, self.mix)  # mix the blocks with U
        return self.shuffle(h.reshape(len(x), self.hidden, gh, gw))

    def mix_loss(self) -> torch.Tensor:
        u = self.mix
        rows = u.abs().sum(1) - u.norm(dim=1)
        cols = u.abs().sum(0) - u.norm(dim=0)
        return (rows.sum() + cols.sum()) / self.blocks**2

    @staticmethod
    def smoothness(features: torch.Tensor) -> torch.Tensor:
        """L_s per image: see the module docstring."""
        _, c, h, w = features.shape
        first = features[:, :3].float()  # a sum of many squares: float32 also under mixed precision
        f = first[:, :, :-1, :]
        corner = f[..., :-1]
        tv = ((corner - first[:, :, 1:, :-1]) ** 2 + (corner - f[..., 1:]) ** 2).sum()
        return tv / ((h - 1) * w * c) / len(features)

    def extra_loss(self, features: torch.Tensor) -> torch.Tensor:
        return 0.001 * self.mix_loss() + 0.1 * self.smoothness(features)


class NoAdapter(nn.Module):
    """PE: the classifier sees the scrambled image."""

    out_channels = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x

    def extra_loss(self, features: torch.Tensor) -> torch.Tensor:
        return features.new_zeros(())


def adapter_for(method: str, shape: tuple[int, int] = (32, 32), block_size: int = 4) -> nn.Module:
    if method == "LE":
        return LEAdapter(block_size)
    if method in ("ELE", "EtC"):
        return BlockAdapter(shape, block_size)
    if method in ("PE", "PE-IIR", "plain"):
        return NoAdapter()
    raise PihError(f"no adaptation network for {method!r}")
