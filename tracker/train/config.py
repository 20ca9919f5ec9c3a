"""Training configuration: frozen dataclasses from YAML, strict like the tracker's."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Optional, Tuple

import yaml

from ..config import from_dict
from .augment import AugmentConfig
from .data import PairConfig


@dataclass(frozen=True)
class DataConfig:
    root: str = "../shared/data"  # relative to the working directory; env SIAMTRACK_DATA overrides
    # Training-split sequences held out for the per-epoch validation AUC (never trained on).
    validation_sequences: Tuple[str, ...] = ()
    validation_max_frames: int = 120
    cache_dir: str = ".cache/siamtrack-patches"
    # Cache (and train on) every k-th annotated frame: neighbouring frames of long videos add
    # little. The cache takes ~0.7 MB per frame on disk, read memory-mapped.
    frame_step: int = 1


@dataclass(frozen=True)
class OptimConfig:
    epochs: int = 10
    pairs_per_epoch: int = 1600
    batch_size: int = 16
    lr_start: float = 1e-2
    lr_end: float = 1e-4  # exponential decay from lr_start to lr_end over the run
    warmup_epochs: int = 0
    momentum: float = 0.9
    weight_decay: float = 5e-4
    backbone_lr_scale: float = 0.1  # pretrained layers learn slower
    frozen_backbone_layers: int = 0  # the first N backbone.features layers stay fixed
    # fp32, or bf16 autocast (CUDA, or a CPU with AMX: amx_bf16 in lscpu). On this project's
    # 2-core AMX machine bf16 did not pay: a batch of 16 took 1.02x (SiamFC) and 0.88x (box
    # head) the fp32 time (README, "Training corpus"), hence the fp32 default.
    precision: str = "fp32"


# focal (SiamFC++) | bce (SiamFC's class-balanced BCE); giou | iou: the keys of
# tracker.train.losses.BOX_CLASSIFICATION_LOSSES / BOX_REGRESSION_LOSSES.
BOX_CLASSIFICATIONS = ("focal", "bce")
BOX_REGRESSIONS = ("giou", "iou")


@dataclass(frozen=True)
class LossConfig:
    kind: str = "logistic"  # logistic | contrastive | triplet (SiamFC's head); box (the box head: focal + GIoU + quality BCE)
    margin: float = 0.5  # contrastive and triplet margin, on distances in [0, 2]
    # The box head's parts (README, "The box head", loss ablation): BOX_CLASSIFICATIONS,
    # BOX_REGRESSIONS, and the regression's weight against classification and quality.
    box_classification: str = "focal"
    box_regression: str = "giou"
    box_weight: float = 3.0


@dataclass(frozen=True)
class TrainConfig:
    tracker_config: str = "siamfc_mobilenet_v2"  # a name in tracker/configs or a YAML path
    pretrained: bool = True  # ImageNet-initialise the backbone when a source exists
    # Start from a weights file of the same model (a run's weights.pt) instead: continue a
    # model on more data. Relative paths are from the current directory.
    init_from: str = ""
    # Start the backbone only from a weights file of another model with the same trunk
    # tensors (the box head from a trained SiamFC: backbone mobilenet_v2_s16_embed128 from
    # mobilenet_v2); the head starts fresh. Not with init_from.
    init_backbone_from: str = ""
    # Start from a weights file of a larger model: every tensor this model has, by name and
    # shape (mobilenet_v2_s16_short, whose trunk drops blocks, from a mobilenet_v2_s16
    # model: trunk and head). Not with init_from or init_backbone_from.
    init_shared_from: str = ""
    seed: int = 0
    device: str = "auto"
    data: DataConfig = field(default_factory=DataConfig)
    pairs: PairConfig = field(default_factory=PairConfig)
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    loss: LossConfig = field(default_factory=LossConfig)


def load_train_config(path: str) -> TrainConfig:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"training config not found: {path}")
    with open(path, "r", encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    try:
        config = from_dict(TrainConfig, data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None
    if config.loss.kind not in ("logistic", "contrastive", "triplet", "box"):
        raise ValueError(f"{path}: loss.kind must be logistic, contrastive, triplet or box, got {config.loss.kind!r}")
    starts = [key for key in ("init_from", "init_backbone_from", "init_shared_from") if getattr(config, key)]
    if len(starts) > 1:
        raise ValueError(f"{path}: {' and '.join(starts)} exclude each other (each says where every loaded tensor comes from)")
    if config.loss.box_classification not in BOX_CLASSIFICATIONS:
        raise ValueError(f"{path}: loss.box_classification must be {' or '.join(BOX_CLASSIFICATIONS)}, got {config.loss.box_classification!r}")
    if config.loss.box_regression not in BOX_REGRESSIONS:
        raise ValueError(f"{path}: loss.box_regression must be {' or '.join(BOX_REGRESSIONS)}, got {config.loss.box_regression!r}")
    if config.optim.precision not in ("fp32", "bf16"):
        raise ValueError(f"{path}: optim.precision must be fp32 or bf16, got {config.optim.precision!r}")
    return config
