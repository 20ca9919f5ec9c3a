"""Configuration: nested frozen dataclasses loaded from YAML.

The hyper-parameters keep the SiamFC paper's meaning under self-explaining names.
Unknown keys and wrong value types are errors that name the key and what is valid:
a typo in a config must never be silently ignored.
"""
from __future__ import annotations

import dataclasses
import math
import os
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

import yaml


CONFIDENCE_MEASURES = ("normalised_peak", "psr", "sigmoid", "box_score")
HEAD_SIMILARITIES = ("xcorr", "cosine")


@dataclass(frozen=True)
class ModelConfig:
    """The network: what a weights file must match."""

    backbone: str = "alexnet"
    # The head family (tracker.heads.HEADS): "correlation" is SiamFC's response map (head_scale,
    # head_bias and head_similarity are its settings); "box" regresses boxes (head_channels).
    head: str = "correlation"
    head_channels: int = 96
    # SiamFC multiplies the cross-correlation by a fixed 0.001 so that logits start in a
    # sensible range for the logistic loss; it is not learned.
    head_scale: float = 0.001
    head_bias: bool = False
    # "xcorr" (SiamFC) or "cosine" (normalised correlation, for contrastive/triplet training).
    head_similarity: str = "xcorr"
    exemplar_size: int = 127
    search_size: int = 255
    total_stride: int = 8
    response_size: int = 17
    # Central cells of the template's feature map used as the correlation kernel; 0 uses
    # all. Padded backbones need it: border cells see the padding, not the image.
    template_feature_crop: int = 0


@dataclass(frozen=True)
class TrackingConfig:
    """The tracking loop (SiamFC-3s defaults)."""

    context: float = 0.5
    scale_count: int = 3
    scale_step: float = 1.0375
    scale_penalty: float = 0.9745
    scale_lr: float = 0.59
    # Box head only (SiamRPN/SiamFC++): penalty on size and aspect changes, exp(-(r_c s_c - 1) k).
    penalty_k: float = 0.04
    window_influence: float = 0.176
    response_upsample: int = 16
    # The target may shrink to min_scale or grow to max_scale times its first size.
    min_scale: float = 0.2
    max_scale: float = 5.0
    # Smallest target side in pixels, so a shrinking box never collapses to nothing.
    min_size: float = 4.0
    # The score of an update (``confidence``): "normalised_peak" (the peak over the
    # template's peak on its own first frame, in [0, 1]), "psr" (peak-to-sidelobe ratio)
    # or "sigmoid" (the logistic of the peak logit); for the box head "box_score" (its
    # classification times quality probability at the chosen cell, in [0, 1]).
    confidence: str = "normalised_peak"
    # Hysteresis: tracking turns lost when the score falls below lost_threshold and found
    # again only when it climbs to found_threshold; while lost the box stays at the last
    # good estimate instead of following noise.
    lost_threshold: float = 0.5
    found_threshold: float = 0.6
    # Only this many low-score updates in a row make the target lost: fast deformation or
    # motion blur dips the score for a frame or two while the peak is still on the target.
    lost_after_frames: int = 1
    # While lost, spend the update's crops on one search at the last position plus tiles
    # that sweep the whole frame, nearest first (same crop count, so the same latency).
    redetect: bool = True
    # A match far from the last position must score at least this much to be taken: a
    # distractor (another car, another player) often scores about found_threshold.
    redetect_threshold: float = 0.6
    # Box head only: the regressed width and height are multiplied by these before they are
    # blended into the size. Where it holds a target, a box model's tracked boxes can sit
    # systematically wider or taller than it (runs/box_sqrt70 epoch 8: +10% and +6%); the
    # bias is the model's, so it is measured on train-split sequences and set in its config.
    box_width_scale: float = 1.0
    box_height_scale: float = 1.0


@dataclass(frozen=True)
class TrackerConfig:
    model: ModelConfig = field(default_factory=ModelConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def _check_value(cls: type, key_path: str, name: str, expected: Any, value: Any) -> Any:
    if expected is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"config key '{key_path}' must be a number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"config key '{key_path}' must be a finite number, got {value!r}")
        return float(value)
    if expected is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError(f"config key '{key_path}' must be an integer, got {value!r}")
        return value
    if expected is bool:
        if not isinstance(value, bool):
            raise ValueError(f"config key '{key_path}' must be true or false, got {value!r}")
        return value
    if expected is str:
        if not isinstance(value, str):
            raise ValueError(f"config key '{key_path}' must be a string, got {value!r}")
        return value
    if typing.get_origin(expected) is tuple:
        if not isinstance(value, (list, tuple)):
            raise ValueError(f"config key '{key_path}' must be a list, got {value!r}")
        item_type = typing.get_args(expected)[0]
        return tuple(_check_value(cls, f"{key_path}[{i}]", name, item_type, item) for i, item in enumerate(value))
    raise TypeError(f"{cls.__name__}.{name}: unsupported field type {expected!r}")


def from_dict(cls: type, data: Mapping[str, Any], prefix: str = ""):
    """Build dataclass ``cls`` from a mapping, strictly: unknown keys and wrong types raise."""
    if not isinstance(data, Mapping):
        where = f"'{prefix.rstrip('.')}'" if prefix else "the top level"
        raise ValueError(f"config {where} must be a mapping of keys to values, got {data!r}")
    hints = typing.get_type_hints(cls)
    valid = [f.name for f in dataclasses.fields(cls)]
    unknown = sorted(set(data) - set(valid))
    if unknown:
        raise ValueError(
            f"unknown config key(s) {', '.join(prefix + str(k) for k in unknown)}; "
            f"valid keys{' under ' + prefix.rstrip('.') if prefix else ''}: {', '.join(valid)}"
        )
    kwargs = {}
    for name, value in data.items():
        expected = hints[name]
        if dataclasses.is_dataclass(expected):
            kwargs[name] = from_dict(expected, value, prefix=f"{prefix}{name}.")
        else:
            kwargs[name] = _check_value(cls, prefix + name, name, expected, value)
    config = cls(**kwargs)
    _check_ranges(config, prefix)
    return config


def _check_ranges(config, prefix: str) -> None:
    if isinstance(config, TrackingConfig):
        if config.scale_count < 1 or config.scale_count % 2 == 0:
            raise ValueError(f"config key '{prefix}scale_count' must be an odd number >= 1, got {config.scale_count}")
        if config.scale_step < 1.0:
            raise ValueError(f"config key '{prefix}scale_step' must be >= 1, got {config.scale_step}")
        if not 0.0 <= config.window_influence <= 1.0:
            raise ValueError(f"config key '{prefix}window_influence' must be in [0, 1], got {config.window_influence}")
        if config.scale_lr < 0.0:
            raise ValueError(f"config key '{prefix}scale_lr' must be >= 0, got {config.scale_lr}")
        if not 1 <= config.response_upsample <= 64:
            raise ValueError(f"config key '{prefix}response_upsample' must be in 1..64, got {config.response_upsample}")
        if config.context < 0.0:
            raise ValueError(f"config key '{prefix}context' must be >= 0, got {config.context}")
        if config.min_size <= 0.0:
            raise ValueError(f"config key '{prefix}min_size' must be > 0 pixels, got {config.min_size}")
        if not 0.0 < config.scale_penalty <= 1.0:
            raise ValueError(f"config key '{prefix}scale_penalty' must be in (0, 1], got {config.scale_penalty}")
        if config.confidence not in CONFIDENCE_MEASURES:
            raise ValueError(f"config key '{prefix}confidence' must be one of {', '.join(CONFIDENCE_MEASURES)}, got {config.confidence!r}")
        if config.found_threshold < config.lost_threshold:
            raise ValueError(
                f"config keys '{prefix}lost_threshold'/'{prefix}found_threshold' need lost_threshold <= found_threshold, "
                f"got {config.lost_threshold}, {config.found_threshold}"
            )
        if config.penalty_k < 0.0:
            raise ValueError(f"config key '{prefix}penalty_k' must be >= 0, got {config.penalty_k}")
        for name in ("box_width_scale", "box_height_scale"):
            if not 0.5 <= getattr(config, name) <= 2.0:
                raise ValueError(f"config key '{prefix}{name}' must be in [0.5, 2], got {getattr(config, name)}")
        if config.lost_after_frames < 1:
            raise ValueError(f"config key '{prefix}lost_after_frames' must be >= 1, got {config.lost_after_frames}")
        if config.redetect_threshold < config.found_threshold:
            raise ValueError(
                f"config keys '{prefix}found_threshold'/'{prefix}redetect_threshold' need found_threshold <= redetect_threshold, "
                f"got {config.found_threshold}, {config.redetect_threshold}"
            )
        if not 0.0 < config.min_scale <= 1.0 <= config.max_scale:
            raise ValueError(
                f"config keys '{prefix}min_scale'/'{prefix}max_scale' need 0 < min_scale <= 1 <= max_scale, "
                f"got {config.min_scale}, {config.max_scale}"
            )
    if isinstance(config, TrackerConfig) and config.model.head != "box" and config.tracking.scale_lr > 1.0:
        # SiamFC's pyramid damps the scale step by scale_lr itself, so above 1 it overshoots;
        # the box head multiplies it by the penalised score (capped at 1: box_tracker.py),
        # and a head whose scores stay low needs it above 1 to follow a changing size.
        raise ValueError(f"config key '{prefix}tracking.scale_lr' must be in [0, 1] for the {config.model.head!r} head's "
                         f"scale pyramid, got {config.tracking.scale_lr} (only the box head's may exceed 1)")
    if isinstance(config, ModelConfig):
        if config.head_similarity not in HEAD_SIMILARITIES:
            raise ValueError(f"config key '{prefix}head_similarity' must be one of {', '.join(HEAD_SIMILARITIES)}, got {config.head_similarity!r}")
        for name in ("response_size", "total_stride"):
            if getattr(config, name) < 1:
                raise ValueError(f"config key '{prefix}{name}' must be >= 1, got {getattr(config, name)}")
        if config.exemplar_size <= 0 or config.search_size < config.exemplar_size:
            raise ValueError(
                f"config keys '{prefix}exemplar_size'/'{prefix}search_size' need 0 < exemplar_size <= search_size"
            )


def load_config(path: str | os.PathLike) -> TrackerConfig:
    """Load a :class:`TrackerConfig` from a YAML file."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"config file not found: {path}")
    with open(path, "r", encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ValueError(f"config file {path} is not valid YAML: {error}") from None
    try:
        return from_dict(TrackerConfig, data or {})
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def config_path(name: str) -> str:
    """Path of a config shipped in ``tracker/configs`` (``name`` with or without ``.yaml``)."""
    filename = name if name.endswith(".yaml") else name + ".yaml"
    return os.path.join(os.path.dirname(__file__), "configs", filename)
