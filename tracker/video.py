"""Video in and out for the demo and command-line tools.

Sources are camera indices, video files, image folders or stream URLs (whatever OpenCV
opens). Output never overwrites an existing file unless asked, and is written under a
temporary name of its own (``<stem>.<random>.partial<ext>``, so two runs never share
one) and moved into place when complete, so an error leaves no half-written file.
"""
from __future__ import annotations

import argparse
import os
import sys
import uuid
from typing import Iterator, Optional, Union

import cv2
import numpy as np

from .boxes import Box
from .datasets import read_image
from .errors import MissingFileError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")


def parse_box(text: str) -> Box:
    """``"x,y,w,h"`` (0-based pixels) -> a tuple of 4 floats."""
    parts = [p.strip() for p in str(text).split(",")]
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    if len(values) != 4:
        raise ValueError(f"box must be four comma-separated numbers x,y,w,h (0-based pixels), got {text!r}")
    return values


def box_argument(text: str) -> Box:
    """argparse type for x,y,w,h: a bad value gives parse_box's message, not argparse's generic one."""
    try:
        return parse_box(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def parse_source(text: Union[str, int]) -> Union[int, str]:
    """A camera index (``"0"``) becomes an int; anything else stays a path or URL."""
    if isinstance(text, int):
        return text
    return int(text) if str(text).strip().isdigit() else str(text)


class FrameSource:
    """Frames from a camera, a video file, an image folder or a URL; iterate to read BGR frames."""

    def __init__(self, source: Union[int, str]) -> None:
        self.source = parse_source(source)
        self._images: Optional[list] = None
        self._capture = None
        if isinstance(self.source, str) and os.path.isdir(self.source):
            self._images = sorted(
                os.path.join(self.source, name)
                for name in os.listdir(self.source)
                if name.lower().endswith(IMAGE_EXTENSIONS)
            )
            if not self._images:
                raise ValueError(f"image folder {self.source} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            return
        if isinstance(self.source, int) and sys.platform.startswith("linux") and not os.path.exists(f"/dev/video{self.source}"):
            # Asking OpenCV for a missing camera prints several lines of backend errors.
            raise ValueError(f"could not open camera {self.source} (no /dev/video{self.source} device)")
        is_url = isinstance(self.source, str) and "://" in self.source
        if isinstance(self.source, str) and not is_url and not os.path.exists(self.source):
            raise MissingFileError(f"video source not found: {self.source}")
        self._capture = cv2.VideoCapture(self.source)
        if not self._capture.isOpened():
            kind = "camera" if isinstance(self.source, int) else "video source"
            raise ValueError(f"could not open {kind} {self.source!r} (OpenCV cannot read it)")

    @property
    def is_camera(self) -> bool:
        return isinstance(self.source, int)

    @property
    def frame_count(self) -> Optional[int]:
        """Number of frames for files and folders; None for cameras and streams."""
        if self._images is not None:
            return len(self._images)
        if self.is_camera or "://" in str(self.source):
            return None
        count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
        return count if count > 0 else None

    @property
    def fps(self) -> float:
        if self._capture is not None:
            fps = self._capture.get(cv2.CAP_PROP_FPS)
            if fps and 1.0 <= fps <= 240.0:
                return float(fps)
        return 25.0

    def read(self) -> Optional[np.ndarray]:
        """The next frame, or None at the end (or when a stream stops delivering)."""
        if self._images is not None:
            if not self._images:
                return None
            return read_image(self._images.pop(0))
        ok, frame = self._capture.read()
        return frame if ok and frame is not None and frame.size else None

    def __iter__(self) -> Iterator[np.ndarray]:
        while True:
            frame = self.read()
            if frame is None:
                return
            yield frame

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()

    def __enter__(self) -> "FrameSource":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def unused_path(path: str) -> str:
    """``path`` if free, else ``stem-1.ext``, ``stem-2.ext``, ...: for default output names."""
    if not os.path.exists(path):
        return path
    stem, ext = os.path.splitext(path)
    index = 1
    while os.path.exists(f"{stem}-{index}{ext}"):
        index += 1
    return f"{stem}-{index}{ext}"


def check_output_path(path: str, overwrite: bool) -> None:
    """Refuse to replace an existing file unless ``overwrite`` (the tools' ``--force``)."""
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another name or pass --force to overwrite it")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MissingFileError(f"output folder does not exist: {directory}")


def partial_path(path: str) -> str:
    """A fresh temporary name next to ``path`` with the same extension: ``<stem>.<random>.partial<ext>``."""
    stem, ext = os.path.splitext(path)
    return f"{stem}.{uuid.uuid4().hex[:8]}.partial{ext}"


def publish(temporary: str, path: str, overwrite: bool) -> None:
    """Move the finished ``temporary`` file to ``path``.

    Without ``overwrite`` an existing ``path`` is never replaced, even one that appeared
    while the output was being written (a hard link cannot replace a file; where the
    file system has none, the check is made just before the rename).
    """
    if overwrite:
        os.replace(temporary, path)
        return
    try:
        os.link(temporary, path)
    except FileExistsError:
        os.remove(temporary)
        raise FileExistsError(
            f"{path} appeared while the output was being written; it was kept and the new output discarded "
            "(pass --force to overwrite)"
        ) from None
    except OSError:  # no hard links on this file system
        if os.path.exists(path):
            os.remove(temporary)
            raise FileExistsError(f"{path} appeared while the output was being written; pass --force to overwrite it") from None
        os.replace(temporary, path)
        return
    os.remove(temporary)


class AtomicVideoWriter:
    """An mp4 writer that appears at ``path`` only when closed after success.

    Frames go to a temporary ``<stem>.<random>.partial<ext>``; ``close()`` moves it into
    place (never over an existing file unless ``overwrite``), and leaving the ``with``
    block on an exception, or ``discard()``, deletes it.
    """

    def __init__(self, path: str, fps: float, overwrite: bool = False) -> None:
        check_output_path(path, overwrite)
        self.path = path
        self.overwrite = overwrite
        stem, ext = os.path.splitext(path)
        self.partial_path = partial_path(stem + (ext or ".mp4"))
        self.fps = fps
        self.frames_written = 0
        self._writer = None

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            height, width = frame.shape[:2]
            self._writer = cv2.VideoWriter(self.partial_path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
            if not self._writer.isOpened():
                self.discard()
                raise ValueError(f"could not open a video writer for {self.path} (is the extension .mp4 or .avi?)")
        self._writer.write(frame)
        self.frames_written += 1

    def close(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
            publish(self.partial_path, self.path, self.overwrite)

    def discard(self) -> None:
        if self._writer is not None:
            self._writer.release()
            self._writer = None
        if os.path.exists(self.partial_path):
            os.remove(self.partial_path)

    def __enter__(self) -> "AtomicVideoWriter":
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.discard()
