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


def correlate_taps(z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
    """``F.conv2d(x_feat, z_feat)`` for one template (1, C, h, w) over crops (S, C, H, W), faster on CPU.

    A convolution with a single output channel runs on CPU as a matrix-vector product over
    a large im2col matrix (4.8 ms for three MobileNetV2 crops, 128 x 32 x 32 against 8 x 8,
    measured). Here every template tap (u, v) is dotted with every feature pixel in one
    matrix product, ``P[v, u, y, x]``, and the response ``sum_{u,v} P[v, u, i+u, j+v]`` is
    gathered by two "skew" steps: padding a flattened axis by one row's worth turns the
    diagonal ``P[u, i+u]`` into column ``i`` of a reshaped view, which a sum adds up
    (1.3 ms for the same crops). The ONNX export writes the same steps
    (``tracker/onnx_export.py``). Result: (S, 1, H-h+1, W-w+1).
    """
    _, channels, height, width = z_feat.shape
    crops, _, rows, cols = x_feat.shape
    out_rows, out_cols = rows - height + 1, cols - width + 1
    taps = z_feat[0].permute(2, 1, 0).reshape(width * height, channels)  # tap (v, u) is row v*height + u
    products = torch.matmul(taps, x_feat.reshape(crops, channels, rows * cols))  # (S, w*h, H*W)
    # Sum over u of P[v, u, i+u, x] -> (S, w, out_rows*W).
    skewed = F.pad(products.reshape(crops, width, height * rows * cols), (0, height * cols))
    row_sums = skewed.reshape(crops, width, height, rows * cols + cols)[..., : out_rows * cols].sum(2)
    # Sum over v of Q[v, i, j+v] -> (S, out_rows, out_cols).
    skewed = F.pad(row_sums.reshape(crops, width * out_rows * cols), (0, width))
    windows = skewed.reshape(crops, width, out_rows * cols + 1)[..., : out_rows * cols]
    return windows.reshape(crops, width, out_rows, cols)[..., :out_cols].sum(1).unsqueeze(1)


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
            out = correlate_taps(kernel, x_feat) / _window_norms(x_feat, z_feat.shape[-2], z_feat.shape[-1], 1e-6)
        else:
            out = correlate_taps(z_feat, x_feat)
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
