"""The torch backend: CUDA when available, channels_last + inference_mode on CPU."""
from __future__ import annotations

import contextlib
import logging

import numpy as np
import torch

from ..model import SiamFC

log = logging.getLogger(__name__)

PRECISIONS = ("fp32", "bf16")


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU; anything else is passed to torch."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except RuntimeError:
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} asked for, but torch sees no CUDA device; use 'auto' or 'cpu'")
    return resolved


class TorchBackend:
    """Runs a :class:`SiamFC` model. ``precision="bf16"`` uses autocast (fast on CPUs with AMX)."""

    def __init__(self, model: SiamFC, device: str = "auto", precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.device = resolve_device(device)
        self.precision = precision
        self.memory_format = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        self.model = model.eval().to(self.device, memory_format=self.memory_format)

    def _autocast(self):
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def _to_tensor(self, crops: np.ndarray) -> torch.Tensor:
        # NHWC uint8 -> NCHW float; the permuted view already has channels_last strides.
        batch = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device, non_blocking=True)
        return batch.permute(0, 3, 1, 2).float().contiguous(memory_format=self.memory_format)

    @torch.inference_mode()
    def embed(self, template_crop: np.ndarray) -> torch.Tensor:
        with self._autocast():
            z_feat = self.model.embed(self._to_tensor(template_crop[None]))
        # The template becomes a convolution weight: keep it dense and in fp32.
        return z_feat.float().contiguous()

    @torch.inference_mode()
    def score(self, template_features: torch.Tensor, search_crops: np.ndarray) -> np.ndarray:
        with self._autocast():
            responses = self.model.score(template_features, self._to_tensor(search_crops))
        return responses[:, 0].float().cpu().numpy()
