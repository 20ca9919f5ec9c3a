"""Backbones: the shared-weight embedding of the twin network, and their registry.

A backbone maps a ``(N, 3, H, W)`` float tensor of BGR pixel values in ``[0, 255]`` to
a feature map; any input normalisation a backbone wants happens inside it, so export
and every runtime share one preprocessing contract. Adding a backbone is one entry in
``BACKBONES``.
"""
from __future__ import annotations

from typing import Callable, Dict

import torch
from torch import nn


def _conv_bn_relu(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1):
    return [
        nn.Conv2d(in_channels, out_channels, kernel, stride, groups=groups),
        # SiamFC-pytorch's eps/momentum: stable statistics with small batches of pairs.
        nn.BatchNorm2d(out_channels, eps=1e-6, momentum=0.05),
        nn.ReLU(inplace=True),
    ]


class AlexNet(nn.Module):
    """SiamFC's AlexNet: no padding, total stride 8; 127 -> 6x6x256 and 255 -> 22x22x256."""

    total_stride = 8
    out_channels = 256

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(
            *_conv_bn_relu(3, 96, 11, stride=2),
            nn.MaxPool2d(3, 2),
            *_conv_bn_relu(96, 256, 5, groups=2),
            nn.MaxPool2d(3, 2),
            *_conv_bn_relu(256, 384, 3),
            *_conv_bn_relu(384, 384, 3, groups=2),
            # The last layer is linear: the correlation needs signed features.
            nn.Conv2d(384, 256, 3, groups=2),
        )

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.features(images)


BACKBONES: Dict[str, Callable[[], nn.Module]] = {
    "alexnet": AlexNet,
}


def build_backbone(name: str) -> nn.Module:
    """Instantiate the backbone registered under ``name``."""
    try:
        factory = BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone '{name}'; registered backbones: {', '.join(sorted(BACKBONES))}") from None
    return factory()
