"""Box conventions, in one place.

Inside the library every box is ``(x, y, w, h)``: 0-based pixel coordinates of the
top-left corner, width and height, as floats. The continuous coordinate system puts
pixel ``i`` on the interval ``[i, i + 1)``, so a box covering exactly pixels 0..9 is
``(0, 0, 10, 10)`` and its centre is ``(5, 5)``.

Dataset-specific conventions (OTB's 1-based files) are converted here, at the edge,
by the loaders that read them; nothing else in the library sees them.
"""
from __future__ import annotations

import math
from typing import Sequence, Tuple

import numpy as np

Box = Tuple[float, float, float, float]


def xywh_to_center_size(box: Sequence[float]) -> Tuple[np.ndarray, np.ndarray]:
    """``(x, y, w, h)`` -> (centre ``[cx, cy]``, size ``[w, h]``)."""
    x, y, w, h = (float(v) for v in box)
    return np.array([x + w / 2.0, y + h / 2.0]), np.array([w, h])


def center_size_to_xywh(center: Sequence[float], size: Sequence[float]) -> Box:
    """Centre ``[cx, cy]`` and size ``[w, h]`` -> ``(x, y, w, h)``."""
    cx, cy = (float(v) for v in center)
    w, h = (float(v) for v in size)
    return (cx - w / 2.0, cy - h / 2.0, w, h)


def xywh_to_corners(box: Sequence[float]) -> Box:
    """``(x, y, w, h)`` -> ``(x0, y0, x1, y1)`` with ``x1 = x + w`` (exclusive edge)."""
    x, y, w, h = (float(v) for v in box)
    return (x, y, x + w, y + h)


def corners_to_xywh(corners: Sequence[float]) -> Box:
    """``(x0, y0, x1, y1)`` -> ``(x, y, w, h)``."""
    x0, y0, x1, y1 = (float(v) for v in corners)
    return (x0, y0, x1 - x0, y1 - y0)


def one_based_to_zero_based(box: Sequence[float]) -> Box:
    """An OTB-style 1-based ``(x, y, w, h)`` -> the library's 0-based box."""
    x, y, w, h = (float(v) for v in box)
    return (x - 1.0, y - 1.0, w, h)


def zero_based_to_one_based(box: Sequence[float]) -> Box:
    """The library's 0-based box -> OTB-style 1-based ``(x, y, w, h)``."""
    x, y, w, h = (float(v) for v in box)
    return (x + 1.0, y + 1.0, w, h)


def clip_to_frame(box: Sequence[float], frame_width: int, frame_height: int) -> Box:
    """The part of ``box`` inside a ``frame_width`` x ``frame_height`` frame (may be empty)."""
    x0, y0, x1, y1 = xywh_to_corners(box)
    x0, x1 = min(max(x0, 0.0), frame_width), min(max(x1, 0.0), frame_width)
    y0, y1 = min(max(y0, 0.0), frame_height), min(max(y1, 0.0), frame_height)
    return corners_to_xywh((x0, y0, x1, y1))


# Limits that keep the crop arithmetic (products of sides, image-to-crop scales) finite:
# below a hundredth of a pixel a box has no content, and beyond ten frames a side is no
# longer an object in this frame but a number that overflows.
MIN_BOX_SIDE = 0.01
MAX_BOX_FRAMES = 10


def validate_box(box, frame_width: int, frame_height: int) -> Box:
    """Check a user's box against a frame; return it as a tuple of 4 floats.

    Raises ``TypeError`` when it is not four numbers (strings and booleans are not
    numbers here) and ``ValueError`` when a value is not finite, the width or height is
    not positive, a side is under ``MIN_BOX_SIDE`` pixels or over ``MAX_BOX_FRAMES``
    times the frame's, or the box lies entirely outside the frame. A box partly outside
    the frame is accepted.
    """
    accepted = "box must be four numbers (x, y, w, h) in 0-based pixels"
    if isinstance(box, (str, bytes)):
        raise TypeError(f"{accepted}, got the string {box!r}; parse it first (e.g. tracker.video.parse_box)")
    try:
        items = list(box)
    except TypeError:
        raise TypeError(f"{accepted}, got {box!r}") from None
    if len(items) != 4:
        raise TypeError(f"{accepted}, got {len(items)} values: {box!r}")
    if any(isinstance(v, (str, bytes, bool, np.bool_)) for v in items):
        raise TypeError(f"{accepted}, got {box!r} (strings and booleans are not accepted)")
    try:
        values = tuple(float(v) for v in items)
    except (TypeError, ValueError):
        raise TypeError(f"{accepted}, got {box!r}") from None
    if not all(math.isfinite(v) for v in values):
        raise ValueError(f"box values must be finite numbers, got {values} (NaN or inf)")
    x, y, w, h = values
    if w <= 0 or h <= 0:
        raise ValueError(f"box width and height must be > 0 pixels, got w={w}, h={h}")
    if w < MIN_BOX_SIDE or h < MIN_BOX_SIDE:
        raise ValueError(f"box width and height must be at least {MIN_BOX_SIDE} pixels, got w={w}, h={h}")
    if w > MAX_BOX_FRAMES * frame_width or h > MAX_BOX_FRAMES * frame_height:
        raise ValueError(
            f"box {values} is too large for the {frame_width}x{frame_height} frame; "
            f"width and height may be at most {MAX_BOX_FRAMES} times the frame's"
        )
    if x >= frame_width or y >= frame_height or x + w <= 0 or y + h <= 0:
        raise ValueError(
            f"box {values} lies entirely outside the {frame_width}x{frame_height} frame; "
            "it must overlap the frame (0 <= x < width, 0 <= y < height after adding w, h)"
        )
    return values
