"""Image files and video files to BGR uint8 frames: the one reader every dataset uses.

A frame that cannot be decoded is a ``ValueError`` naming the file, never a ``None``
that fails later inside a crop.
"""
from __future__ import annotations

import glob
import os
import re
from typing import List, Optional, Tuple

import cv2
import numpy as np

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")


def read_image(path: str) -> np.ndarray:
    """The image at ``path`` as an ``(H, W, 3)`` BGR uint8 array (grey images are expanded)."""
    frame = cv2.imread(path, cv2.IMREAD_COLOR)
    if frame is None:
        raise ValueError(f"could not decode image {path} (missing, empty, damaged or not an image format OpenCV reads)")
    return frame


def read_video_frames(path: str, max_frames: int) -> List[np.ndarray]:
    """Up to ``max_frames`` frames from the start of a video file (fewer when it ends sooner)."""
    capture = cv2.VideoCapture(path)
    frames = []
    try:
        while len(frames) < max_frames:
            ok, frame = capture.read()
            if not ok or frame is None:
                break
            frames.append(frame)
    finally:
        capture.release()
    return frames


def video_frame_count(path: str) -> int:
    """The frame count a video's container states; 0 when it states none. ValueError when OpenCV cannot open it."""
    capture = cv2.VideoCapture(path)
    try:
        if not capture.isOpened():
            raise ValueError(f"could not open video {path} (OpenCV cannot read it)")
        return int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()


def numbered_images(folder: str, prefix: str = "") -> List[Tuple[int, str]]:
    """``(number, path)`` of the images in ``folder`` named by a number (``0001.jpg``), sorted by number.

    With ``prefix`` the names are that prefix and a number (``img00001.jpg`` for ``prefix="img"``).
    """
    numbered = []
    for path in glob.glob(os.path.join(glob.escape(folder), "*")):
        stem, extension = os.path.splitext(os.path.basename(path))
        digits = stem[len(prefix):]
        if extension.lower() in IMAGE_EXTENSIONS and stem.startswith(prefix) and digits.isdigit():
            numbered.append((int(digits), path))
    return sorted(numbered)


_PREFIXED_NUMBER = re.compile(r"^(\D*)(\d+)$")


def frame_name_prefix(folder: str) -> Optional[str]:
    """The text before the number that every image in ``folder`` shares (``""`` for ``0001.jpg``,
    ``"img"`` for ``img00001.jpg``); None when the folder has no images or their names disagree."""
    prefixes = set()
    for path in glob.glob(os.path.join(glob.escape(folder), "*")):
        stem, extension = os.path.splitext(os.path.basename(path))
        if extension.lower() not in IMAGE_EXTENSIONS:
            continue
        match = _PREFIXED_NUMBER.match(stem)
        if match is None:
            return None
        prefixes.add(match.group(1))
    return prefixes.pop() if len(prefixes) == 1 else None


def select_frame_range(numbered: List[Tuple[int, str]], frame_range: Optional[Tuple[int, int]]) -> List[Tuple[int, str]]:
    """The frames whose number lies in ``frame_range`` (1-based ``(first, last)``, both included); all when None."""
    if frame_range is None:
        return list(numbered)
    try:
        first, last = (int(v) for v in frame_range)
    except (TypeError, ValueError):
        raise ValueError(f"frame_range must be (first, last) 1-based frame numbers, got {frame_range!r}") from None
    if first < 1 or last < first:
        raise ValueError(f"frame_range must be (first, last) 1-based frame numbers with first <= last, got {frame_range}")
    return [(n, p) for n, p in numbered if first <= n <= last]
