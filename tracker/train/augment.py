"""Training-time augmentation of pre-cropped patches: each function takes an explicit RNG."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np


@dataclass(frozen=True)
class AugmentConfig:
    stretch: float = 0.05  # random scale of each crop, +-5%
    template_shift: float = 4.0  # pixels, in the 127 template
    search_shift: float = 8.0  # pixels, in the 255 search crop
    color_jitter: float = 0.2  # brightness/contrast/saturation strength
    grayscale_probability: float = 0.1
    blur_probability: float = 0.15
    flip_probability: float = 0.5  # horizontal flip of both crops together
    # Box head only: the search crop's extra scale (log-uniform, +-) and aspect-ratio change,
    # so that regression sees targets of other sizes and shapes than the tracker's crop gives.
    search_scale_jitter: float = 0.0
    search_aspect_jitter: float = 0.0


def warp_patch(
    patch: np.ndarray, output_size: int, scale, shift: Tuple[float, float], flip: bool
) -> np.ndarray:
    """Crop ``output_size`` pixels around the patch centre moved by ``shift``, magnified by
    ``scale`` (>1 zooms in; a number, or ``(sx, sy)`` to change the aspect ratio too),
    optionally mirrored; one ``cv2.warpAffine``."""
    centre = (patch.shape[1] - 1) / 2.0, (patch.shape[0] - 1) / 2.0
    out_centre = (output_size - 1) / 2.0
    scale_x, scale_y = (float(scale), float(scale)) if np.isscalar(scale) else (float(scale[0]), float(scale[1]))
    # dst = scale * (src - centre - shift) + out_centre, mirrored in x when flipping.
    sign = -1.0 if flip else 1.0
    matrix = np.array(
        [
            [sign * scale_x, 0.0, out_centre - sign * scale_x * (centre[0] + shift[0])],
            [0.0, scale_y, out_centre - scale_y * (centre[1] + shift[1])],
        ]
    )
    fill = tuple(float(c) for c in patch.reshape(-1, 3).mean(axis=0))
    return cv2.warpAffine(patch, matrix, (output_size, output_size), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


def photometric(image: np.ndarray, config: AugmentConfig, rng: np.random.Generator) -> np.ndarray:
    """Colour jitter, occasional grayscale and blur."""
    out = image.astype(np.float32)
    if config.color_jitter > 0:
        brightness = 1.0 + rng.uniform(-config.color_jitter, config.color_jitter)
        contrast = 1.0 + rng.uniform(-config.color_jitter, config.color_jitter)
        saturation = 1.0 + rng.uniform(-config.color_jitter, config.color_jitter)
        mean = out.mean()
        out = (out - mean) * contrast + mean * brightness
        gray = out.mean(axis=2, keepdims=True)
        out = gray + (out - gray) * saturation
    if rng.random() < config.grayscale_probability:
        out = np.repeat(out.mean(axis=2, keepdims=True), 3, axis=2)
    if rng.random() < config.blur_probability:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    return np.clip(out, 0, 255).astype(np.uint8)
