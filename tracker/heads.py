"""Heads: what the twin network computes from template and search features, and their registry.

A head takes the template features of N targets ``(N, C, h, w)`` and the features of their
search crops ``(N*S, C, H, W)`` (target n's crops are rows ``n*S .. n*S+S-1``) and returns
**named outputs**, each ``(N*S, channels, R, R)``: SiamFC's head returns
``{"response": ...}``. The backends, the ONNX export and the trackers pass the mapping
through by name, so a new head (a box-regressing one with ``cls``/``box``/``quality``)
is one class here and one entry in ``HEADS``.

``int8_float`` on a head (or any module) says that int8 export keeps it in fp32: the
correlation multiplies two runtime activations, which int8 rounding would distort.
"""
from __future__ import annotations

from typing import Callable, Dict, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from .config import HEAD_SIMILARITIES, ModelConfig


def _window_norms(x_feat: torch.Tensor, height: int, width: int, eps: float) -> torch.Tensor:
    """L2 norm of every (C, height, width) window of ``x_feat``: (N, 1, H-h+1, W-w+1).

    Squares summed over channels first, then over each window by a constant ones kernel
    (the window's size is fixed, so the kernel exports as a constant)."""
    ones = torch.ones(1, 1, int(height), int(width), device=x_feat.device, dtype=x_feat.dtype)
    return F.conv2d((x_feat * x_feat).sum(1, keepdim=True), ones).clamp_min(0).sqrt() + eps


def _unit_templates(z_feat: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    return z_feat / (z_feat.flatten(1).norm(dim=1).view(-1, 1, 1, 1) + eps)


def cosine_correlation_pairs(z_feat: torch.Tensor, x_feat: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """Cosine similarity of each template (N, C, h, w) with every window of its own search
    features (N, C, H, W): (N, 1, H-h+1, W-w+1) in [-1, 1]."""
    batch, channels, height, width = x_feat.shape
    dots = F.conv2d(x_feat.reshape(1, batch * channels, height, width), _unit_templates(z_feat, eps), groups=batch)
    dots = dots.view(batch, 1, dots.shape[-2], dots.shape[-1])
    return dots / _window_norms(x_feat, z_feat.shape[-2], z_feat.shape[-1], eps)


def pixelwise_correlation(z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
    """Every template cell's dot product with every search cell: N templates ``(N, C, h, w)``
    over their own crops ``(N*S, C, H, W)`` -> ``(N*S, w*h, H, W)``, channel ``v*h + u`` for
    template cell (row u, column v). One batched matrix product; only N and S are dynamic."""
    channels, height, width = (int(v) for v in z_feat.shape[1:])
    rows, cols = (int(v) for v in x_feat.shape[2:])
    taps = z_feat.permute(0, 3, 2, 1).reshape(-1, 1, width * height, channels)  # tap (v, u) is row v*height + u
    per_target = x_feat.reshape(z_feat.shape[0], -1, channels, rows * cols)  # (N, S, C, H*W)
    # The crops' count from x_feat itself, not -1, so that shape inference on the exported
    # graph can match it with the search features' (int8's preprocessing needs that).
    return torch.matmul(taps, per_target).reshape(x_feat.shape[0], width * height, rows, cols)


def correlate_taps(z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
    """Each of N templates ``(N, C, h, w)`` correlated over its own crops ``(N*S, C, H, W)``.

    Equal to ``F.conv2d(crops of target n, z_feat[n:n+1])`` for every target, but about
    4x faster on CPU and exportable with a dynamic N: a convolution with a single output
    channel runs on CPU as a matrix-vector product over a large im2col matrix, and a
    convolution whose kernel has a dynamic batch cannot be exported at all. Here every
    template tap (u, v) is dotted with every feature pixel of its target's crops in one
    batched matrix product, ``P[v, u, y, x]``, and the response ``sum_{u,v} P[v, u, i+u, j+v]``
    is gathered by two "skew" steps: padding a flattened axis by one row's worth turns the
    diagonal ``P[u, i+u]`` into column ``i`` of a reshaped view, which a sum adds up
    (timings in docs/int8.md). Matmul, pad, reshape, slice and sum all export to ONNX.
    Result: (N*S, 1, H-h+1, W-w+1).
    """
    # Only the numbers of targets and crops vary between calls; the other sizes are read as
    # plain ints (constants in an exported graph) and the crops' count is left to -1.
    height, width = (int(v) for v in z_feat.shape[2:])
    rows, cols = (int(v) for v in x_feat.shape[2:])
    out_rows, out_cols = rows - height + 1, cols - width + 1
    products = pixelwise_correlation(z_feat, x_feat)  # (N*S, w*h, H, W)
    # Sum over u of P[v, u, i+u, x] -> (N*S, w, out_rows*W).
    skewed = F.pad(products.reshape(-1, width, height * rows * cols), (0, height * cols))
    row_sums = skewed.reshape(-1, width, height, rows * cols + cols)[..., : out_rows * cols].sum(2)
    # Sum over v of Q[v, i, j+v] -> (N*S, out_rows, out_cols).
    skewed = F.pad(row_sums.reshape(-1, width * out_rows * cols), (0, width))
    windows = skewed.reshape(-1, width, out_rows * cols + 1)[..., : out_rows * cols]
    return windows.reshape(-1, width, out_rows, cols)[..., :out_cols].sum(1).unsqueeze(1)


class CorrelationHead(nn.Module):
    """SiamFC's head: ``response = scale * (z_feat ⋆ x_feat) [+ bias]``, one map per crop.

    ``scale`` is a constant (SiamFC's 0.001), not a parameter. With
    ``similarity="cosine"`` the correlation is divided by the template's and each
    window's norms, which is what the contrastive and triplet losses train.
    """

    OUTPUTS: Tuple[str, ...] = ("response",)
    int8_float = True

    def __init__(self, scale: float = 0.001, bias: bool = False, similarity: str = "xcorr") -> None:
        super().__init__()
        if similarity not in HEAD_SIMILARITIES:
            raise ValueError(f"head similarity must be one of {HEAD_SIMILARITIES}, got {similarity!r}")
        self.scale = float(scale)
        self.similarity = similarity
        self.bias = nn.Parameter(torch.zeros(1)) if bias else None

    @classmethod
    def from_config(cls, config: ModelConfig) -> "CorrelationHead":
        return cls(config.head_scale, config.head_bias, config.head_similarity)

    def forward(self, z_feat: torch.Tensor, x_feat: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``z_feat`` (N, C, h, w), ``x_feat`` (N*S, C, H, W) -> ``{"response": (N*S, 1, H-h+1, W-w+1)}``."""
        if self.similarity == "cosine":
            out = correlate_taps(_unit_templates(z_feat), x_feat) / _window_norms(x_feat, z_feat.shape[-2], z_feat.shape[-1], 1e-6)
        else:
            out = correlate_taps(z_feat, x_feat)
        return {"response": self._scaled(out)}

    def forward_pairs(self, z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
        """Each template against its own search crop, for training: (N, C, h, w), (N, C, H, W) -> (N, 1, ., .).

        The same numbers as ``forward`` with one crop per target; a grouped convolution
        is the faster form to differentiate.
        """
        if self.similarity == "cosine":
            out = cosine_correlation_pairs(z_feat, x_feat)
        else:
            batch, channels, height, width = x_feat.shape
            out = F.conv2d(x_feat.reshape(1, batch * channels, height, width), z_feat, groups=batch)
            out = out.reshape(batch, 1, out.shape[-2], out.shape[-1])
        return self._scaled(out)

    def _scaled(self, out: torch.Tensor) -> torch.Tensor:
        out = out * self.scale
        return out + self.bias if self.bias is not None else out


class PixelwiseCorrelation(nn.Module):
    """:func:`pixelwise_correlation` as a module, so that int8 export can keep it fp32 by name
    (it multiplies two runtime activations)."""

    int8_float = True

    def forward(self, z_feat: torch.Tensor, x_feat: torch.Tensor) -> torch.Tensor:
        return pixelwise_correlation(z_feat, x_feat)


def _separable_block(channels: int) -> list:
    """Depthwise 3x3 then pointwise 1x1, each with BatchNorm and ReLU (folded for inference)."""
    return [
        nn.Conv2d(channels, channels, 3, padding=1, groups=channels, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
        nn.Conv2d(channels, channels, 1, bias=False), nn.BatchNorm2d(channels), nn.ReLU(inplace=True),
    ]


class BoxHead(nn.Module):
    """A SiamFC++/NanoTrack-style head: per response cell a classification logit, a quality
    (centerness) logit and the distances from the cell to the box edges.

    The template's cells are correlated pixel-wise with the search features (template
    taps as channels, LightTrack/NanoTrack-v2's correlation), concatenated with the search
    features themselves (the box edges are the search crop's, not the template's), fused
    by a 1x1 convolution, then a classification tower (``cls``, ``quality``) and a
    regression tower (``box``) of depthwise-separable blocks. ``box`` is ``(l, t, r, b)``
    in search-crop pixels, ``total_stride * exp(raw)`` (SiamFC++), so it is positive and
    starts at one cell's size.
    """

    OUTPUTS: Tuple[str, ...] = ("cls", "quality", "box")

    def __init__(self, template_cells: int, search_channels: int, channels: int, total_stride: int, tower_blocks: int = 2) -> None:
        super().__init__()
        self.total_stride = float(total_stride)
        self.correlation = PixelwiseCorrelation()
        self.fuse = nn.Sequential(nn.Conv2d(template_cells + search_channels, channels, 1, bias=False),
                                  nn.BatchNorm2d(channels), nn.ReLU(inplace=True))
        self.cls_tower = nn.Sequential(*[layer for _ in range(tower_blocks) for layer in _separable_block(channels)])
        self.box_tower = nn.Sequential(*[layer for _ in range(tower_blocks) for layer in _separable_block(channels)])
        self.cls = nn.Conv2d(channels, 1, 1)
        self.quality = nn.Conv2d(channels, 1, 1)
        self.box = nn.Conv2d(channels, 4, 1)
        self.reset_prior()

    def reset_prior(self) -> None:
        """The output layers start small (std 0.01, FCOS/SiamFC++) and classification as
        "background everywhere" (a positive cell's prior ~1%, the focal-loss practice);
        called again after any generic re-initialisation, which would make them large."""
        for layer in (self.cls, self.quality, self.box):
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)
        nn.init.constant_(self.cls.bias, -4.6)

    @classmethod
    def from_config(cls, config: ModelConfig) -> "BoxHead":
        from .backbones import BACKBONES

        search_channels = BACKBONES[config.backbone].out_channels
        template_cells = _template_cells(config)
        return cls(template_cells, search_channels, config.head_channels, config.total_stride)

    def forward(self, z_feat: torch.Tensor, x_feat: torch.Tensor) -> Dict[str, torch.Tensor]:
        """``z_feat`` (N, C, h, w), ``x_feat`` (N*S, C, H, W) -> ``cls``/``quality`` (N*S, 1, H, W), ``box`` (N*S, 4, H, W)."""
        fused = self.fuse(torch.cat([self.correlation(z_feat, x_feat), x_feat], dim=1))
        cls_features, box_features = self.cls_tower(fused), self.box_tower(fused)
        box = self.total_stride * torch.exp(self.box(box_features).clamp(-6.0, 6.0))
        return {"cls": self.cls(cls_features), "quality": self.quality(cls_features), "box": box}

    def forward_pairs(self, z_feat: torch.Tensor, x_feat: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Training form: each template against its own crop (one crop per target)."""
        return self(z_feat, x_feat)


def _template_cells(config: ModelConfig) -> int:
    """Cells of the template's feature map (the kernel): the crop if one is set, else the whole map."""
    if config.template_feature_crop:
        return config.template_feature_crop ** 2
    stride = config.total_stride
    side = -(-config.exemplar_size // stride)  # padded trunks: ceil(E / stride)
    return side * side


HEADS: Dict[str, Callable[[ModelConfig], nn.Module]] = {
    "correlation": CorrelationHead.from_config,
    "box": BoxHead.from_config,
}


def build_head(config: ModelConfig) -> nn.Module:
    """Instantiate the head registered under ``config.head``."""
    try:
        factory = HEADS[config.head]
    except KeyError:
        raise ValueError(f"unknown head '{config.head}'; registered heads: {', '.join(sorted(HEADS))}") from None
    return factory(config)
