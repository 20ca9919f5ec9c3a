"""The similarity head: cross-correlation of template features over search features."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

SIMILARITIES = ("xcorr", "cosine")


def _window_norms(x_feat: torch.Tensor, height: int, width: int, eps: float) -> torch.Tensor:
    """L2 norm of every (C, height, width) window of ``x_feat``: (N, 1, H-h+1, W-w+1)."""
    ones = torch.ones(1, x_feat.shape[1], height, width, device=x_feat.device, dtype=x_feat.dtype)
    return F.conv2d(x_feat * x_feat, ones).clamp_min(0).sqrt() + eps


def cosine_correlation_pairs(z_feat: torch.Tensor, x_feat: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Cosine similarity of each template (N, C, h, w) with every window of its own search
    features (N, C, H, W): (N, 1, H-h+1, W-w+1) in [-1, 1]."""
    batch, channels, height, width = x_feat.shape
    kernel = z_feat / (z_feat.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + eps)
    dots = F.conv2d(x_feat.reshape(1, batch * channels, height, width), kernel, groups=batch)
    dots = dots.view(batch, 1, dots.shape[-2], dots.shape[-1])
    return dots / _window_norms(x_feat, z_feat.shape[-2], z_feat.shape[-1], eps)


class CrossCorrelation(nn.Module):
    """``score = scale * (z_feat ⋆ x_feat) [+ bias]``.

    One template against a batch of search crops is a plain convolution with the
    template features as the weight, which exports to ONNX with a dynamic batch (a
    grouped convolution over the batch would fix the batch size in the graph).
    ``scale`` is a constant (SiamFC's 0.001), not a parameter. With
    ``similarity="cosine"`` the correlation is divided by the template's and each
    window's norms, which is what the contrastive and triplet losses train.
    """

    def __init__(self, scale: float = 0.001, bias: bool = False, similarity: str = "xcorr") -> None:
        super().__init__()
        if similarity not in SIMILARITIES:
            raise ValueError(f"head similarity must be one of {SIMILARITIES}, got {similarity!r}")
        self.scale = float(scale)
        self.similarity = similarity
        self.bias = nn.Parameter(torch.zeros(1)) if bias else None

    def forward(self, z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
        """``z_feat`` (1, C, h, w), ``x_feat`` (S, C, H, W) -> (S, 1, H-h+1, W-w+1)."""
        if self.similarity == "cosine":
            kernel = z_feat / (z_feat.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + 1e-6)
            out = F.conv2d(x_feat, kernel) / _window_norms(x_feat, z_feat.shape[-2], z_feat.shape[-1], 1e-6)
        else:
            out = F.conv2d(x_feat, z_feat)
        out = out * self.scale
        return out + self.bias if self.bias is not None else out

    def forward_pairs(self, z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
        """Each template against its own search crop, for training: (N, C, h, w), (N, C, H, W) -> (N, 1, ., .)."""
        if self.similarity == "cosine":
            out = cosine_correlation_pairs(z_feat, x_feat)
        else:
            batch, channels, height, width = x_feat.shape
            out = F.conv2d(x_feat.reshape(1, batch * channels, height, width), z_feat, groups=batch)
            out = out.reshape(batch, 1, out.shape[-2], out.shape[-1])
        out = out * self.scale
        return out + self.bias if self.bias is not None else out
