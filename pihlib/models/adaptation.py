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

References: M. Tanaka, "Learnable Image Encryption", IEEE ICCE-TW 2018 (LE and its adaptation
network); K. Madono, M. Tanaka, M. Onishi, T. Ogawa, "Block-wise Scrambled Image Recognition Using
Adaptation Network", arXiv:2001.07761, 2020 (the block-wise network with U); spectral normalisation:
T. Miyato et al., "Spectral Normalization for Generative Adversarial Networks", ICLR 2018,
arXiv:1802.05957.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import PihError

OUT_PER_PIXEL = 16  # feature channels at full resolution after the pixel shuffle


class LEAdapter(nn.Module):
    """LE's adaptation network: one shared B x B stride-B convolution 3 -> 16 B^2 (no bias),
    BatchNorm, LeakyReLU(0.1), PixelShuffle(B).

    ``forward`` maps float images N x 3 x H x W (H and W multiples of B; the scrambled images as
    the classifier is fed them) to float features N x 16 x H x W.

    Args:
        block_size: B, the scrambler's block side in pixels (4 for CIFAR-10).

    Attributes:
        out_channels: 16, the feature channels the classifier's first layer takes.

    References:
        M. Tanaka, "Learnable Image Encryption", IEEE ICCE-TW 2018.
    """

    def __init__(self, block_size: int = 4):
        super().__init__()
        b = block_size
        self.conv = nn.Conv2d(3, OUT_PER_PIXEL * b * b, b, stride=b, bias=False)
        self.bn = nn.BatchNorm2d(OUT_PER_PIXEL * b * b)
        self.shuffle = nn.PixelShuffle(b)
        self.out_channels = OUT_PER_PIXEL

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Float images N x 3 x H x W -> features N x 16 x H x W (H, W multiples of B)."""
        return self.shuffle(F.leaky_relu(self.bn(self.conv(x)), 0.1))

    def extra_loss(self, features: torch.Tensor) -> torch.Tensor:
        """No extra loss term for LE: a 0-d zero of ``features``' dtype and device."""
        return features.new_zeros(())


class BlockAdapter(nn.Module):
    """Per-block sub-networks and the block-mixing matrix U (ELE, EtC).

    ``forward`` maps float images N x 3 x H x W to features N x 16 x H x W; ``extra_loss(features)``
    is the 0-d loss term 0.001 L_U + 0.1 L_s / N added to the cross-entropy (see the module
    docstring).

    Args:
        shape: (H, W), the image size in pixels (multiples of ``block_size``); it fixes the number of
            blocks n = (H / B)(W / B) and the size of U (n x n).
        block_size: B, the scrambler's block side in pixels.
        power_iterations: power-iteration steps per forward pass of the spectral normalisation.

    Attributes:
        out_channels: 16.
        mix: U, the learnable n x n block-mixing matrix.

    References:
        Madono, Tanaka, Onishi, Ogawa, arXiv:2001.07761, 2020; Miyato et al., arXiv:1802.05957.
    """

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
        ``torch.nn.utils.spectral_norm``, batched over the blocks).

        In training mode the power iteration's vector ``u`` is updated in place.

        Returns:
            torch.Tensor: float32 n x 16 B^2 x 3 B^2, each block's matrix with spectral norm about 1.
        """
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
        """Features of scrambled images.

        Args:
            x: float images N x 3 x H x W with (H, W) the adapter's ``shape``.

        Returns:
            torch.Tensor: features N x 16 x H x W.

        Raises:
            PihError: the images are not of the adapter's size.
        """
        b, (gh, gw) = self.block_size, self.grid
        if tuple(x.shape[-2:]) != (gh * b, gw * b):
            raise PihError(f"this adapter is for {gh * b}x{gw * b} images, got {x.shape[-2]}x{x.shape[-1]}")
        blocks = F.unfold(x, b, stride=b)  # N x (3 b b) x n, block n row-major
        h = torch.einsum("nok,bkn->bon", self.normalised_weight(), blocks)  # N x hidden x n
        h = F.leaky_relu(self.bn(h.transpose(1, 2).reshape(len(x), -1)).view(len(x), self.blocks, -1), 0.2)
        h = torch.einsum("bnc,nm->bcm", h, self.mix)  # mix the blocks with U
        return self.shuffle(h.reshape(len(x), self.hidden, gh, gw))

    def mix_loss(self) -> torch.Tensor:
        """L_U: over the rows and columns of U, the L1 norm minus the L2 norm, summed, over n^2.

        Returns:
            torch.Tensor: a 0-d tensor >= 0, zero exactly when every row and column of U has at
            most one non-zero entry (a scaled permutation, for instance).
        """
        u = self.mix
        rows = u.abs().sum(1) - u.norm(dim=1)
        cols = u.abs().sum(0) - u.norm(dim=0)
        return (rows.sum() + cols.sum()) / self.blocks**2

    @staticmethod
    def smoothness(features: torch.Tensor) -> torch.Tensor:
        """L_s per image: see the module docstring.

        Args:
            features: the adapter's output N x C x H x W (C = 16; the first 3 channels are used).

        Returns:
            torch.Tensor: a 0-d float32 tensor, L_s / N.
        """
        _, c, h, w = features.shape
        first = features[:, :3].float()  # a sum of many squares: float32 also under mixed precision
        f = first[:, :, :-1, :]
        corner = f[..., :-1]
        tv = ((corner - first[:, :, 1:, :-1]) ** 2 + (corner - f[..., 1:]) ** 2).sum()
        return tv / ((h - 1) * w * c) / len(features)

    def extra_loss(self, features: torch.Tensor) -> torch.Tensor:
        """The loss term added to the cross-entropy: 0.001 L_U + 0.1 L_s / N (a 0-d tensor).

        Args:
            features: the adapter's output N x 16 x H x W for this batch.
        """
        return 0.001 * self.mix_loss() + 0.1 * self.smoothness(features)


class NoAdapter(nn.Module):
    """PE: the classifier sees the scrambled image (``forward`` is the identity, 3 channels)."""

    out_channels = 3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` itself (N x 3 x H x W)."""
        return x

    def extra_loss(self, features: torch.Tensor) -> torch.Tensor:
        """No extra loss term: a 0-d zero of ``features``' dtype and device."""
        return features.new_zeros(())


def adapter_for(method: str, shape: tuple[int, int] = (32, 32), block_size: int = 4) -> nn.Module:
    """The adaptation network the authors used for ``method``.

    Args:
        method: ``"LE"``, ``"ELE"``, ``"EtC"``, ``"PE"``, ``"PE-IIR"`` or ``"plain"``.
        shape: (H, W), the image size in pixels (used by ELE and EtC).
        block_size: the scrambler's block side in pixels (LE, ELE, EtC).

    Returns:
        nn.Module: ``LEAdapter`` (LE), ``BlockAdapter`` (ELE, EtC) or ``NoAdapter`` (PE, PE-IIR,
        plain), each with ``out_channels`` and ``extra_loss(features)``.

    Raises:
        PihError: ``method`` is none of these.
    """
    if method == "LE":
        return LEAdapter(block_size)
    if method in ("ELE", "EtC"):
        return BlockAdapter(shape, block_size)
    if method in ("PE", "PE-IIR", "plain"):
        return NoAdapter()
    raise PihError(f"no adaptation network for {method!r}")
