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
    # Box head only: the share of positive pairs whose search crop also gets another
    # sequence's target pasted beside the real one (sized like it, not overlapping it), with
    # background labels: negative pairs teach that a salient object alone is not the
    # template's; this teaches to prefer the template's object when both are in view, the
    # look-alike case.
    distractor_probability: float = 0.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.distractor_probability <= 1.0:
            raise ValueError(f"augment.distractor_probability must lie in [0, 1], got {self.distractor_probability}")


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


def paste_distractor(
    search: np.ndarray, source_patch: np.ndarray, source_size, target_box, rng: np.random.Generator,
    size_jitter: float = 0.3, tries: int = 10,
) -> np.ndarray:
    """``search`` with the object at the centre of ``source_patch`` (``source_size`` = its
    ``(w, h)`` in that patch's pixels) pasted where it does not overlap ``target_box``.

    ``target_box`` is ``(cx, cy, w, h)`` in search-crop pixels relative to the crop centre
    (``box_targets``' convention). The pasted object keeps its own aspect ratio and takes the
    target's area times ``exp(+-size_jitter)``, at most 45% of the crop per side; its edges
    fade over 15% of its shorter side, so that a hard seam does not mark it as pasted. When
    ``tries`` random places all overlap the target, ``search`` comes back unchanged.
    """
    crop = search.shape[0]
    cx, cy, w, h = (float(v) for v in target_box)
    cx, cy = cx + (crop - 1) / 2.0, cy + (crop - 1) / 2.0
    source_w, source_h = (max(float(v), 1.0) for v in source_size)
    area = w * h * np.exp(rng.uniform(-size_jitter, size_jitter))
    aspect = source_w / source_h
    paste_w, paste_h = np.sqrt(area * aspect), np.sqrt(area / aspect)
    shrink = min(1.0, 0.45 * crop / max(paste_w, paste_h))
    paste_w, paste_h = max(int(round(paste_w * shrink)), 4), max(int(round(paste_h * shrink)), 4)
    for _ in range(tries):
        x0 = int(rng.integers(0, crop - paste_w + 1))
        y0 = int(rng.integers(0, crop - paste_h + 1))
        apart_x = x0 + paste_w <= cx - w / 2 or x0 >= cx + w / 2
        apart_y = y0 + paste_h <= cy - h / 2 or y0 >= cy + h / 2
        if apart_x or apart_y:
            break
    else:
        return search
    centre = (source_patch.shape[1] - 1) / 2.0, (source_patch.shape[0] - 1) / 2.0
    sx0, sy0 = int(round(centre[0] - source_w / 2)), int(round(centre[1] - source_h / 2))
    piece = source_patch[max(sy0, 0): sy0 + int(round(source_h)), max(sx0, 0): sx0 + int(round(source_w))]
    piece = cv2.resize(np.ascontiguousarray(piece), (paste_w, paste_h), interpolation=cv2.INTER_LINEAR)
    ramp = max(1.0, 0.15 * min(paste_w, paste_h))
    fade = lambda n: np.minimum(1.0, np.minimum(np.arange(n) + 1, n - np.arange(n)) / ramp)
    alpha = np.minimum.outer(fade(paste_h), fade(paste_w))[..., None]
    out = search.copy()
    region = out[y0: y0 + paste_h, x0: x0 + paste_w].astype(np.float32)
    out[y0: y0 + paste_h, x0: x0 + paste_w] = np.clip(alpha * piece + (1.0 - alpha) * region + 0.5, 0, 255).astype(np.uint8)
    return out


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
