"""The similarity head: cross-correlation of template features over search features."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class CrossCorrelation(nn.Module):
    """``score = scale * (z_feat ⋆ x_feat) [+ bias]``.

    One template against a batch of search crops is a plain convolution with the
    template features as the weight, which exports to ONNX with a dynamic batch (a
    grouped convolution over the batch would fix the batch size in the graph).
    ``scale`` is a constant (SiamFC's 0.001), not a parameter.
    """

    def __init__(self, scale: float = 0.001, bias: bool = False) -> None:
        super().__init__()
        self.scale = float(scale)
        self.bias = nn.Parameter(torch.zeros(1)) if bias else None

    def forward(self, z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
        """``z_feat`` (1, C, h, w), ``x_feat`` (S, C, H, W) -> (S, 1, H-h+1, W-w+1)."""
        return F.conv2d(x_feat, z_feat, bias=self.bias) * self.scale

    def forward_pairs(self, z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
        """Each template against its own search crop, for training: (N, C, h, w), (N, C, H, W) -> (N, 1, ., .)."""
        batch, channels, height, width = x_feat.shape
        out = F.conv2d(x_feat.reshape(1, batch * channels, height, width), z_feat, groups=batch)
        out = out.reshape(batch, 1, out.shape[-2], out.shape[-1]) * self.scale
        return out + self.bias if self.bias is not None else out
