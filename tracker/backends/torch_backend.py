"""The torch backend: CUDA when available, channels_last + inference_mode on CPU."""
from __future__ import annotations

from typing import Sequence, Tuple

import numpy as np
import torch

from ..model import SiamFC, fuse_batchnorm
from . import Outputs, check_even_split


PRECISIONS = ("fp32", "bf16")
# Search crops per backbone call when several targets are scored on CPU (see score_batch).
CPU_CROPS_PER_CALL = 3


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
    """Runs a :class:`SiamFC` model for inference.

    BatchNorm is folded into the convolutions. ``precision="bf16"`` runs the network in
    bfloat16 (about 2x faster on CPUs with AVX-512 BF16 or AMX; the correlation still
    accumulates in fp32 inside oneDNN), and returns fp32 responses either way.
    """

    def __init__(self, model: SiamFC, device: str = "auto", precision: str = "fp32") -> None:
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        self.device = resolve_device(device)
        self.precision = precision
        self.memory_format = torch.channels_last if self.device.type == "cpu" else torch.contiguous_format
        self.dtype = torch.bfloat16 if precision == "bf16" else torch.float32
        self.model = fuse_batchnorm(model).to(self.device, dtype=self.dtype, memory_format=self.memory_format)

    @property
    def outputs(self) -> Tuple[str, ...]:
        """The names of ``score``'s outputs (the head's)."""
        return self.model.outputs

    def _to_tensor(self, crops: np.ndarray) -> torch.Tensor:
        # NHWC uint8 -> NCHW float; the permuted view already has channels_last strides.
        batch = torch.from_numpy(np.ascontiguousarray(crops)).to(self.device, non_blocking=True)
        return batch.permute(0, 3, 1, 2).to(self.dtype).contiguous(memory_format=self.memory_format)

    @torch.inference_mode()
    def embed(self, template_crop: np.ndarray) -> torch.Tensor:
        # The template features become a convolution weight: keep them dense.
        return self.model.embed(self._to_tensor(template_crop[None])).contiguous()

    def _outputs(self, outputs) -> Outputs:
        return {name: tensor.float().cpu().numpy() for name, tensor in outputs.items()}

    @torch.inference_mode()
    def score(self, template_features: torch.Tensor, search_crops: np.ndarray) -> Outputs:
        return self._outputs(self.model.score(template_features, self._to_tensor(search_crops)))

    @torch.inference_mode()
    def score_batch(self, template_features: Sequence[torch.Tensor], search_crops: np.ndarray) -> Outputs:
        """N targets' features and ``(N*S, X, X, 3)`` crops grouped by target -> named outputs, ``N*S`` rows each.

        One backbone call embeds every crop on a GPU (calls of ``CPU_CROPS_PER_CALL`` crops
        on CPU, which is faster there); the head then scores all targets in one call.
        """
        check_even_split(len(search_crops), len(template_features))
        crops = self._to_tensor(search_crops)
        if self.device.type == "cpu":
            # On CPU a big batch is slower than its parts: MobileNetV2's 128x128 activations for
            # 48 crops (16 targets) are ~300 MB and fall out of cache (timings in docs/int8.md).
            search_features = torch.cat([self.model.backbone(crops[start : start + CPU_CROPS_PER_CALL])
                                         for start in range(0, len(crops), CPU_CROPS_PER_CALL)])
        else:
            search_features = self.model.backbone(crops)
        return self._outputs(self.model.head(torch.cat(list(template_features)), search_features))
