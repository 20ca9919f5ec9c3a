"""Weights files: a state dict that carries the config it was trained with.

A file is a ``torch.save`` of ``{"format", "version", "config", "state_dict", "record",
"content_sha256"}``; ``record`` says how the weights were made (data, epochs, metrics) and
``content_sha256`` is a digest of the other four, checked at every load: torch's zip
reader checks no CRC, so a damaged tensor would otherwise load and track the wrong thing.
Loading is strict: the file's model config must match the one asked for, and the state
dict's keys and shapes must match the network exactly.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import warnings
from typing import Any, Dict, Optional

import torch
from torch import nn

from .config import ModelConfig, TrackerConfig, from_dict
from .errors import MissingFileError, UnverifiedModelWarning, WeightsError

FORMAT = "siamtrack-weights"
VERSION = 1
DIGEST_KEY = "content_sha256"


def content_digest(payload: Dict[str, Any]) -> str:
    """sha256 of a weights payload's config, record and every tensor (name, dtype, shape, bytes),
    in a fixed order; independent of how torch lays the file out."""
    digest = hashlib.sha256()
    header = {key: payload.get(key) for key in ("format", "version", "config", "record")}
    digest.update(json.dumps(header, sort_keys=True, default=str).encode())
    for name in sorted(payload["state_dict"]):
        tensor = payload["state_dict"][name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()


def write_payload(path: str | os.PathLike, payload: Dict[str, Any]) -> None:
    """Write a weights payload with its content digest; atomic (temp file + rename)."""
    path = os.fspath(path)
    sealed = {key: value for key, value in payload.items() if key != DIGEST_KEY}
    sealed[DIGEST_KEY] = content_digest(sealed)
    temporary = path + ".partial"
    torch.save(sealed, temporary)
    os.replace(temporary, path)


def save_weights(path: str | os.PathLike, model: nn.Module, config: TrackerConfig, record: Optional[dict] = None) -> None:
    """Write ``model``'s weights with ``config`` and a training ``record``; atomic (temp file + rename)."""
    write_payload(path, {
        "format": FORMAT,
        "version": VERSION,
        "config": config.to_dict(),
        "state_dict": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        "record": dict(record or {}),
    })


def read_weights_file(path: str | os.PathLike) -> Dict[str, Any]:
    """Read a weights file and check its envelope; the contents are not yet matched to a model."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise MissingFileError(f"weights file not found: {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    # torch.load fails on damaged files with almost any exception type (EOFError,
    # RuntimeError, UnpicklingError, KeyError, ...); all of them mean the same to a user.
    except Exception as error:  # noqa: BLE001
        raise WeightsError(f"weights file {path} could not be read: {_load_failure(error)}") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise WeightsError(
            f"{path} is not a {FORMAT} file (expected a dict with format={FORMAT!r}, "
            f"config and state_dict; save one with tracker.weights.save_weights)"
        )
    if payload.get("version") != VERSION:
        raise WeightsError(f"{path} has format version {payload.get('version')}; this library reads version {VERSION}")
    if not isinstance(payload.get("state_dict"), dict):
        raise WeightsError(f"{path} holds no state_dict; save one with tracker.weights.save_weights")
    carried = payload.get(DIGEST_KEY)
    if carried is None:
        warnings.warn(f"{path} carries no digest of its content (written before files had one), so damage to it "
                      f"cannot be detected; add one with: python -m tracker.export.seal {path}", UnverifiedModelWarning, stacklevel=2)
    elif carried != content_digest(payload):
        raise WeightsError(f"weights file {path} is damaged: its content no longer matches the sha256 digest it carries; "
                           "restore it from where it came from (the shipped files: git checkout weights/)")
    return payload


def _load_failure(error: Exception) -> str:
    """torch.load's many-line complaint (whose advice, weights_only=False, is unsafe), in one line."""
    text = str(error)
    found = re.search(r"unsupported GLOBAL ([\w.]+)", text)
    if found:
        return (f"it holds Python objects other than tensors and plain data ({found.group(1)}), "
                "refused because loading them could run code")
    if "Weights only load failed" in text:
        return "truncated, corrupt, or not a torch file (unpickling failed)"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return f"truncated, corrupt, or not a torch file ({lines[0] if lines else type(error).__name__})"


def load_weights(model: nn.Module, path: str | os.PathLike, model_config: ModelConfig, payload: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Load ``path`` into ``model`` strictly; return the file's training record.

    ``payload``: the file as :func:`read_weights_file` already read it, if it has been."""
    if payload is None:
        payload = read_weights_file(path)
    try:
        # Keys added to ModelConfig after a file was written take their defaults.
        stored = dataclasses.asdict(from_dict(ModelConfig, payload.get("config", {}).get("model", {}), prefix="model."))
    except ValueError as error:
        raise WeightsError(f"weights file {os.fspath(path)} carries a model config this version cannot read: {error}") from None
    expected = dataclasses.asdict(model_config)
    differences = {k: (stored.get(k), v) for k, v in expected.items() if stored.get(k) != v}
    if differences:
        listed = "; ".join(f"{k}: file has {a!r}, config asks for {b!r}" for k, (a, b) in differences.items())
        raise WeightsError(f"weights file {os.fspath(path)} is for another architecture: {listed}")
    state_dict = payload["state_dict"]
    own = model.state_dict()
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = sorted(k for k in set(own) & set(state_dict) if tuple(own[k].shape) != tuple(state_dict[k].shape))
    if missing or unexpected or mismatched:
        parts = []
        if missing:
            parts.append(f"missing keys: {', '.join(missing)}")
        if unexpected:
            parts.append(f"unexpected keys: {', '.join(unexpected)}")
        if mismatched:
            parts.append(
                "shape mismatch: "
                + ", ".join(f"{k} file {tuple(state_dict[k].shape)} vs model {tuple(own[k].shape)}" for k in mismatched)
            )
        raise WeightsError(f"weights file {os.fspath(path)} does not match the network: {'; '.join(parts)}")
    model.load_state_dict(state_dict, strict=True)
    return dict(payload.get("record", {}))
