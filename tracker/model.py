"""The twin network: one backbone with shared weights, and a head from ``tracker.heads.HEADS``."""
from __future__ import annotations

import copy
import os
import warnings
from typing import Dict, List, Optional, Tuple

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from .backbones import build_backbone
from .config import ModelConfig
from .heads import build_head
from .weights import load_weights


class UntrainedWarning(UserWarning):
    """The network was built without weights: fine for tests and benchmarks, useless for tracking."""


class SiamFC(nn.Module):
    """Embeds a template and scores search crops against it.

    The template's features are returned by :meth:`embed` and passed back to
    :meth:`score`; the module keeps no per-target state, so one model serves any number
    of targets and threads.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.backbone = build_backbone(config.backbone)
        self.head = build_head(config)

    @property
    def outputs(self) -> Tuple[str, ...]:
        """The names of :meth:`score`'s outputs, in the head's order."""
        return tuple(self.head.OUTPUTS)

    def embed(self, template: torch.Tensor) -> torch.Tensor:
        """(N, 3, 127, 127) BGR in [0, 255] -> template features (N, C, h, w), e.g. (1, 256, 6, 6) for AlexNet."""
        features = self.backbone(template)
        crop = self.config.template_feature_crop
        if crop:
            start = (features.shape[-1] - crop) // 2
            features = features[:, :, start : start + crop, start : start + crop]
        return features

    def score(self, z_feat: torch.Tensor, search: torch.Tensor) -> Dict[str, torch.Tensor]:
        """N targets' template features and their (N*S, 3, 255, 255) search crops (target n's
        crops are rows n*S..n*S+S-1) -> the head's named outputs, e.g. ``{"response": (N*S, 1, 17, 17)}``."""
        return self.head(z_feat, self.backbone(search))

    def forward(self, template: torch.Tensor, search: torch.Tensor) -> torch.Tensor:
        """Training form: N template/search pairs -> (N, 1, 17, 17)."""
        return self.head.forward_pairs(self.embed(template), self.backbone(search))


def int8_float_modules(model: nn.Module) -> List[str]:
    """Paths of the submodules of ``model`` that int8 export keeps in fp32: those whose class
    sets ``int8_float = True`` (the correlation head) and those a module lists in its
    ``int8_float_children`` (MobileNetV2's first blocks; see ``docs/int8.md``)."""
    paths = []
    for name, module in model.named_modules():
        if getattr(module, "int8_float", False):
            paths.append(name)
        paths += [f"{name}.{child}" if name else child for child in getattr(module, "int8_float_children", ())]
    return paths


def initialise_weights(model: nn.Module) -> None:
    """SiamFC's from-scratch initialisation: Kaiming-normal convolutions, unit BatchNorm."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)
    for module in model.modules():
        if hasattr(module, "reset_prior"):
            module.reset_prior()


def build_model(config: ModelConfig, weights_path: Optional[str | os.PathLike] = None, payload: Optional[dict] = None) -> SiamFC:
    """A :class:`SiamFC` with the weights at ``weights_path`` (strict), or random ones and a warning.

    ``payload``: the file as ``tracker.weights.read_weights_file`` already read it (saves a second read)."""
    model = SiamFC(config)
    if weights_path is None:
        initialise_weights(model)
        warnings.warn(
            "no weights file given: the network has random weights and will not track real objects "
            "(fine for tests and benchmarks); pass a file from weights/",
            UntrainedWarning,
            stacklevel=2,
        )
    else:
        model.training_record = load_weights(model, weights_path, config, payload=payload)
    return model.eval()


def fuse_batchnorm(model: nn.Module) -> nn.Module:
    """An inference copy of ``model`` with every Conv2d -> BatchNorm2d pair in a Sequential folded
    into one convolution (same outputs in eval mode, ~20% faster on CPU)."""
    model = copy.deepcopy(model).eval()
    for module in list(model.modules()):
        if not isinstance(module, nn.Sequential):
            continue
        layers = list(module)
        folded, index = [], 0
        while index < len(layers):
            layer = layers[index]
            following = layers[index + 1] if index + 1 < len(layers) else None
            if isinstance(layer, nn.Conv2d) and isinstance(following, nn.BatchNorm2d):
                folded.append(fuse_conv_bn_eval(layer, following))
                index += 2
            else:
                folded.append(layer)
                index += 1
        for name in list(module._modules):
            del module._modules[name]
        for position, layer in enumerate(folded):
            module.add_module(str(position), layer)
    return model
