"""The SiamFC tracking math, as pure functions.

Each function does one step of the paper's update and depends only on its arguments,
so it can be tested against numbers worked out by hand. Coordinates follow
``tracker.boxes``: continuous pixel coordinates where pixel ``i`` spans ``[i, i + 1)``.
Points and sizes are ``(x, y)`` / ``(w, h)`` pairs; response-map locations are
``(row, col)`` like numpy indices.
"""
from __future__ import annotations

from typing import Sequence, Tuple

import cv2
import numpy as np


def context_crop_sizes(
    target_size: Sequence[float], context: float, exemplar_size: int, search_size: int
) -> Tuple[float, float]:
    """Side lengths in image pixels of the square template and search crops.

    The template crop adds ``context * (w + h)`` to each side of the target and takes the
    square of the same area: ``sqrt((w + p) * (h + p))``. The search crop is that, scaled
    by ``search_size / exemplar_size`` so both crops share one image-to-crop scale.
    """
    w, h = (float(v) for v in target_size)
    padding = context * (w + h)
    template_crop = float(np.sqrt((w + padding) * (h + padding)))
    return template_crop, template_crop * search_size / exemplar_size


def crop_and_resize(
    frame: np.ndarray,
    center: Sequence[float],
    crop_size: float,
    output_size: int,
    fill_color: Sequence[float],
) -> np.ndarray:
    """Cut the square of side ``crop_size`` centred on ``center`` and resize it to ``output_size``.

    One ``cv2.warpAffine`` call does both; pixels outside the frame take ``fill_color``
    (SiamFC pads with the frame's mean colour), so boxes partly or wholly outside the
    frame are fine.
    """
    cx, cy = (float(v) for v in center)
    scale = output_size / float(crop_size)
    # Output pixel centre (i + 0.5) maps to the input point cx - crop_size/2 + (i + 0.5)/scale;
    # subtracting 0.5 on both sides turns centres into the pixel indices warpAffine uses.
    shift_x = scale * (crop_size / 2.0 - cx + 0.5) - 0.5
    shift_y = scale * (crop_size / 2.0 - cy + 0.5) - 0.5
    matrix = np.array([[scale, 0.0, shift_x], [0.0, scale, shift_y]], dtype=np.float64)
    return cv2.warpAffine(
        frame,
        matrix,
        (output_size, output_size),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=tuple(float(c) for c in fill_color),
    )


def crop_scales(
    frame: np.ndarray,
    center: Sequence[float],
    crop_sizes: Sequence[float],
    output_size: int,
    fill_color: Sequence[float],
) -> np.ndarray:
    """Search crops for every scale, stacked as ``(S, output_size, output_size, C)``."""
    crops = np.empty((len(crop_sizes), output_size, output_size, frame.shape[2]), dtype=frame.dtype)
    for index, crop_size in enumerate(crop_sizes):
        crops[index] = crop_and_resize(frame, center, crop_size, output_size, fill_color)
    return crops


def scale_factors(scale_count: int, scale_step: float) -> np.ndarray:
    """``scale_step ** k`` for ``k = -(S//2) .. S//2``: the search pyramid, smallest first."""
    exponents = np.arange(scale_count) - scale_count // 2
    return np.power(float(scale_step), exponents)


def scale_penalties(scale_count: int, scale_penalty: float) -> np.ndarray:
    """Per-scale multipliers: 1 for the current scale, ``scale_penalty`` for every other."""
    penalties = np.full(scale_count, float(scale_penalty))
    penalties[scale_count // 2] = 1.0
    return penalties


def upsample_responses(responses: np.ndarray, factor: int) -> np.ndarray:
    """Bicubic upsampling of ``(S, n, n)`` response maps to ``(S, n*factor, n*factor)``.

    One ``cv2.resize`` per scale straight into its slice of the result: resizing all
    scales at once as channels needs a transpose back to scale-first afterwards, which
    costs more than the resizes themselves (docs/int8.md, last section).
    """
    scales, rows, cols = responses.shape
    maps = np.ascontiguousarray(responses, dtype=np.float32)
    upsampled = np.empty((scales, rows * factor, cols * factor), dtype=np.float32)
    for index in range(scales):
        cv2.resize(maps[index], (cols * factor, rows * factor), dst=upsampled[index], interpolation=cv2.INTER_CUBIC)
    return upsampled


def select_scale(upsampled: np.ndarray, penalties: np.ndarray) -> int:
    """Index of the scale whose penalised peak is highest."""
    peaks = upsampled.reshape(upsampled.shape[0], -1).max(axis=1) * penalties
    return int(np.argmax(peaks))


def hann_window(size: int) -> np.ndarray:
    """A ``size`` x ``size`` cosine (Hann) window normalised to sum 1."""
    window = np.outer(np.hanning(size), np.hanning(size))
    return window / window.sum()


def apply_window(response: np.ndarray, window: np.ndarray, influence: float) -> np.ndarray:
    """Mix a response with the cosine window: ``(1 - influence) * r + influence * window``.

    The response is first shifted to a minimum of 0 and normalised to sum 1 so that it
    is on the same scale as the window; that makes ``influence`` mean the same thing
    whatever the network's output range.
    """
    shifted = response - response.min()
    shifted = shifted / (shifted.sum() + 1e-16)
    return (1.0 - influence) * shifted + influence * window


def peak_location(response: np.ndarray) -> Tuple[int, int]:
    """``(row, col)`` of the maximum."""
    row, col = np.unravel_index(int(np.argmax(response)), response.shape)
    return int(row), int(col)


def peak_to_displacement(
    peak: Tuple[float, float],
    upsampled_size: int,
    upsample_factor: int,
    total_stride: int,
    search_crop_size: float,
    search_size: int,
) -> np.ndarray:
    """Move ``(dx, dy)`` in image pixels for a peak at ``(row, col)`` of the upsampled response.

    The centre of the map, ``(upsampled_size - 1) / 2``, means "no move"; one response
    cell is ``total_stride`` pixels of the search crop, and the search crop is
    ``search_crop_size / search_size`` image pixels per crop pixel.
    """
    row, col = peak
    centre = (upsampled_size - 1) / 2.0
    in_response = np.array([col - centre, row - centre], dtype=np.float64)
    in_search_crop = in_response * total_stride / upsample_factor
    return in_search_crop * search_crop_size / search_size


def damped_scale(scale_factor: float, scale_lr: float) -> float:
    """Blend the chosen scale with "no change": ``(1 - lr) * 1 + lr * scale_factor``."""
    return (1.0 - scale_lr) + scale_lr * float(scale_factor)


def clamp_target_size(
    target_size: Sequence[float],
    initial_size: Sequence[float],
    min_scale: float,
    max_scale: float,
    min_size: float,
) -> np.ndarray:
    """Keep the target between ``min_scale`` and ``max_scale`` times its first size.

    The scale is clamped as one factor so the box keeps its aspect ratio, and no side
    may fall below ``min_size`` pixels.
    """
    size = np.asarray(target_size, dtype=np.float64)
    initial = np.asarray(initial_size, dtype=np.float64)
    ratio = float(np.sqrt(np.prod(size) / np.prod(initial)))
    clamped_ratio = min(max(ratio, min_scale), max_scale)
    size = size * (clamped_ratio / ratio)
    return np.maximum(size, min_size)


def clamp_center(center: Sequence[float], frame_width: int, frame_height: int) -> np.ndarray:
    """Keep the target centre inside the frame."""
    cx, cy = (float(v) for v in center)
    return np.array([min(max(cx, 0.0), float(frame_width)), min(max(cy, 0.0), float(frame_height))])


def response_confidence(raw_peak: float) -> float:
    """The network's logit at the peak mapped to ``(0, 1)`` by the logistic function.

    SiamFC is trained with a logistic loss on the response, so the sigmoid of a cell is
    the network's estimate that the cell is on the target.
    """
    return float(1.0 / (1.0 + np.exp(-np.clip(raw_peak, -60.0, 60.0))))


def sweep_tile_centers(
    frame_width: int, frame_height: int, tile_size: float, origin: Sequence[float], overlap: float = 0.5
) -> np.ndarray:
    """Centres ``(N, 2)`` of square search tiles of side ``tile_size`` that cover the frame,
    nearest to ``origin`` first.

    Neighbouring tiles overlap by ``overlap`` of their side, so a target anywhere in the
    frame lies in the central part of some tile, where the response map can see it. Ties in
    distance keep row-major order, so the sweep is deterministic.
    """
    step = max(float(tile_size) * (1.0 - overlap), 1.0)
    columns = max(1, int(np.ceil(frame_width / step)))
    rows = max(1, int(np.ceil(frame_height / step)))
    xs = (np.arange(columns) + 0.5) * frame_width / columns
    ys = (np.arange(rows) + 0.5) * frame_height / rows
    centers = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    distances = np.hypot(centers[:, 0] - float(origin[0]), centers[:, 1] - float(origin[1]))
    return centers[np.argsort(distances, kind="stable")]
