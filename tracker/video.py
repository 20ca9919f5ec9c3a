"""Video in and out for the demo and command-line tools.

Sources are camera indices, video files, image folders or stream URLs (whatever OpenCV
opens); a stream that sends nothing for ``timeout`` seconds is given up on. A video file
that stops before the frame count its header announces is told apart: cut short (kept up
to where it ends), damaged at a known frame (stopped there), or damaged at an unknown
place (an error, since frame numbers after the damage would be wrong).

Output never overwrites an existing file unless asked, and never one of the inputs, even
through a link. It is written under a temporary name of its own
(``<stem>.<pid>-<random>.partial<ext>``, so two runs never share one) and moved into place
when complete, so an error, Ctrl-C or SIGTERM leaves no half-written file. A run killed
outright cannot clean up; the next run that writes the same output removes such leftovers
(see :func:`remove_stale_partials`).
"""
from __future__ import annotations

import argparse
import contextlib
import os
import re
import signal
import struct
import sys
import threading
import time
import uuid
from typing import Iterator, List, Optional, Sequence, Tuple, Union

import cv2
import numpy as np

from .boxes import Box
from .datasets import read_image
from .errors import MissingFileError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")
# What AtomicVideoWriter's mp4v writer can produce. Others either fail to open or, like
# .png (FFmpeg's image writer), silently write something that is not a video.
VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".m4v")
# The mp4v (MPEG-4 Part 2) encoder takes at most this many pixels a side.
MAX_VIDEO_SIDE = 8191
DEFAULT_STREAM_TIMEOUT = 30.0  # seconds; OpenCV's own default for FFmpeg streams
# After a failed read before the announced end, how many more reads try to get past the damage.
DAMAGE_PROBE_READS = 25
# A partial file unmodified this long is removed by the next run of its output even when its
# writer's pid is in use (pids are reused) or unknown (files from before pids were in names).
STALE_PARTIAL_SECONDS = 24 * 3600


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
    """Frames from a camera, a video file, an image folder or a URL; iterate to read BGR frames.

    ``timeout`` (seconds, streams only) bounds how long opening and each read may wait for
    data. When a source stops early, :attr:`note` says why (None when it ended normally).
    """

    def __init__(self, source: Union[int, str], timeout: Optional[float] = None) -> None:
        self.source = parse_source(source)
        self.timeout = DEFAULT_STREAM_TIMEOUT if timeout is None else float(timeout)
        if not self.timeout > 0:
            raise ValueError(f"timeout must be > 0 seconds, got {timeout!r}")
        self.note: Optional[str] = None
        self.frames_read = 0
        self._finished = False
        self._images: Optional[list] = None
        self._capture = None
        self._announced: Optional[int] = None
        if isinstance(self.source, str) and os.path.isdir(self.source):
            self._images = sorted(
                os.path.join(self.source, name)
                for name in os.listdir(self.source)
                if name.lower().endswith(IMAGE_EXTENSIONS)
            )
            if not self._images:
                raise ValueError(f"image folder {self.source} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
            self._announced = len(self._images)
            return
        if isinstance(self.source, int) and sys.platform.startswith("linux") and not os.path.exists(f"/dev/video{self.source}"):
            # Asking OpenCV for a missing camera prints several lines of backend errors.
            raise ValueError(f"could not open camera {self.source} (no /dev/video{self.source} device)")
        if isinstance(self.source, str) and not self.is_stream and not os.path.exists(self.source):
            raise MissingFileError(f"video source not found: {self.source}")
        started = time.monotonic()
        if self.is_stream:
            milliseconds = int(round(self.timeout * 1000))
            self._capture = cv2.VideoCapture(self.source, cv2.CAP_ANY, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, milliseconds,
                                                                        cv2.CAP_PROP_READ_TIMEOUT_MSEC, milliseconds])
        else:
            self._capture = cv2.VideoCapture(self.source)
        if not self._capture.isOpened():
            if self.is_stream and time.monotonic() - started >= 0.9 * self.timeout:
                raise ValueError(f"no answer from video source {self.source!r} within {self.timeout:g} s "
                                 "(the connection was made, or is still being made, but no video came)")
            kind = "camera" if isinstance(self.source, int) else "video source"
            raise ValueError(f"could not open {kind} {self.source!r} (OpenCV cannot read it)")
        if not self.is_camera and not self.is_stream:
            count = int(self._capture.get(cv2.CAP_PROP_FRAME_COUNT))
            self._announced = count if count > 0 else None

    @property
    def is_camera(self) -> bool:
        return isinstance(self.source, int)

    @property
    def is_stream(self) -> bool:
        """A URL (rtsp://, http://, ...): live, with no frame count."""
        return isinstance(self.source, str) and "://" in self.source

    @property
    def frame_count(self) -> Optional[int]:
        """Number of frames for files (as their header announces it) and folders; None for cameras and streams."""
        return self._announced

    @property
    def fps(self) -> float:
        if self._capture is not None:
            fps = self._capture.get(cv2.CAP_PROP_FPS)
            if fps and 1.0 <= fps <= 240.0:
                return float(fps)
        return 25.0

    def read(self) -> Optional[np.ndarray]:
        """The next frame, or None at the end (or when a stream stops delivering; see :attr:`note`).

        A video file whose frames stop before the announced count at a place that cannot be
        found (frames dropped inside the file) raises ValueError: the frames read so far
        would carry wrong numbers after the damage.
        """
        if self._finished:
            return None
        if self._images is not None:
            if not self._images:
                self._finished = True
                return None
            frame = read_image(self._images.pop(0))
            self.frames_read += 1
            return frame
        started = time.monotonic()
        frame = self._decode()
        if frame is not None:
            self.frames_read += 1
            return frame
        self._finished = True
        self._explain_end(time.monotonic() - started)
        return None

    def _decode(self) -> Optional[np.ndarray]:
        ok, frame = self._capture.read()
        return frame if ok and frame is not None and frame.size else None

    def _explain_end(self, seconds_waited: float) -> None:
        """Set :attr:`note` (or raise) for a source that stopped giving frames."""
        if self.is_stream:
            if seconds_waited >= 0.9 * self.timeout:
                self.note = f"the stream sent no frame for {self.timeout:g} s; stopped there"
            return
        announced, read = self._announced, self.frames_read
        if self.is_camera or not announced or read >= announced:
            return
        # OpenCV says only "no frame". Reading on tells a damaged frame (later ones decode)
        # from the end of the data.
        for _ in range(min(announced - read, DAMAGE_PROBE_READS)):
            if self._decode() is not None:
                self.note = (f"frame {read} of {self.source} cannot be decoded though later frames can (the video is "
                             f"damaged there; its header announces {announced} frames); stopped at the damage, so the "
                             f"{read} frames tracked keep their true numbers")
                return
        cut = container_cut_short(self.source)
        if cut is False:
            raise ValueError(
                f"video {self.source} is damaged: {read} of the {announced} frames its header announces could be "
                "decoded and the file is not cut short, so frames were dropped inside it without a trace and the "
                "frames after that place would get wrong numbers; nothing written (re-encode the video to track "
                "what is left of it)")
        reason = ("the file is cut short: truncated" if cut else
                  "truncated, or damaged inside, in which case frames after the damage are numbered too low; "
                  "only AVI and MP4/MOV files can be told apart")
        self.note = f"the source ended after {read} frames; its header announced {announced} ({reason})"

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


def container_cut_short(path: str) -> Optional[bool]:
    """Whether a video file ends before its container says it does: True or False for AVI
    and MP4/MOV (ISO base media) files, None for other formats or an unreadable file.

    An AVI counts as whole when its top-level RIFF chunks end at the end of the file, or
    when it ends with a complete ``idx1`` index (written last, so damage before it does
    not make the file look truncated). An MP4/MOV is whole when its top-level boxes do.
    """
    try:
        size = os.path.getsize(path)
        with open(path, "rb") as handle:
            head = handle.read(12)
            if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
                return _avi_cut_short(handle, size)
            if head[4:8] in (b"ftyp", b"moov", b"mdat", b"free", b"skip", b"wide", b"pnot"):
                return _boxes_cut_short(handle, size)
    except OSError:
        return None
    return None


def _avi_cut_short(handle, size: int) -> bool:
    position = 0
    while position + 8 <= size:  # RIFF 'AVI ', then RIFF 'AVIX' parts of files over 1 GB
        handle.seek(position)
        tag, length = struct.unpack("<4sI", handle.read(8))
        if tag != b"RIFF":
            return False  # trailing bytes after the last RIFF chunk: the chunks themselves are whole
        position += 8 + length + (length & 1)
    if position <= size:
        return False
    tail_start = max(0, size - 16 * 1024 * 1024)
    handle.seek(tail_start)
    tail = handle.read()
    index = tail.rfind(b"idx1")
    while index >= 0:
        if index + 8 <= len(tail):
            (length,) = struct.unpack("<I", tail[index + 4 : index + 8])
            if index + 8 + length in (len(tail), len(tail) - 1):
                return False
        index = tail.rfind(b"idx1", 0, index)
    return True


def _boxes_cut_short(handle, size: int) -> Optional[bool]:
    position = 0
    while position < size:
        handle.seek(position)
        header = handle.read(8)
        if len(header) < 8:
            return True
        length, _ = struct.unpack(">I4s", header)
        if length == 1:
            large = handle.read(8)
            if len(large) < 8:
                return True
            (length,) = struct.unpack(">Q", large)
        elif length == 0:
            return False  # the last box runs to the end of the file
        if length < 8:
            return None  # not a box structure this understands
        position += length
    return position > size


def unused_path(path: str) -> str:
    """``path`` if free, else ``stem-1.ext``, ``stem-2.ext``, ...: for default output names."""
    if not os.path.exists(path):
        return path
    stem, ext = os.path.splitext(path)
    index = 1
    while os.path.exists(f"{stem}-{index}{ext}"):
        index += 1
    return f"{stem}-{index}{ext}"


def same_file(first: str, second: str) -> bool:
    """Whether two paths name one file: the same path once links are resolved, or, for
    files that exist, the same device and inode (a hard link)."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def check_separate(inputs: Sequence[Tuple[str, str]], outputs: Sequence[Tuple[str, str]]) -> None:
    """ValueError when an output is one of the inputs, or another output, under any name.

    ``inputs`` and ``outputs`` are ``(label, path)`` pairs, e.g. ``("--out", "a.mp4")``;
    the labels name the culprits in the message. Checked with or without ``--force``.
    """
    for index, (label, path) in enumerate(outputs):
        for other_label, other in inputs:
            if same_file(path, other):
                raise ValueError(f"{label} {path!r} is the {other_label} itself{_through_link(path, other)}; "
                                 "write the output to another file")
        for other_label, other in outputs[:index]:
            if same_file(path, other):
                raise ValueError(f"{other_label} and {label} must be different files{_through_link(path, other)}")


def _through_link(path: str, other: str) -> str:
    if os.path.abspath(path) == os.path.abspath(other):
        return ""
    if os.path.realpath(path) == os.path.realpath(other):
        return f" (through a link: both are {os.path.realpath(path)})"
    return " (hard links to one file)"


def check_output_path(path: str, overwrite: bool, extensions: Optional[Sequence[str]] = None) -> List[str]:
    """Refuse an output path that cannot be written: an existing file unless ``overwrite``
    (the tools' ``--force``), a folder, a missing or read-only folder, or (with
    ``extensions``) another extension. Meant to run before any work is done.

    Removes the stale partial files of earlier runs of the same output (see
    :func:`remove_stale_partials`) and returns their paths.
    """
    if extensions is not None and os.path.splitext(path)[1].lower() not in extensions:
        raise ValueError(f"{path} must end in {', '.join(extensions)}")
    if os.path.isdir(path):
        raise ValueError(f"{path} is a folder; name a file to write (even with --force, a folder is never replaced)")
    if os.path.lexists(path) and not overwrite:
        raise FileExistsError(f"{path} already exists; choose another name or pass --force to overwrite it")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise MissingFileError(f"output folder does not exist: {directory}")
    if not os.access(directory, os.W_OK | os.X_OK):
        raise ValueError(f"cannot write to the output folder {directory} (permission denied)")
    return remove_stale_partials(path)


def partial_path(path: str) -> str:
    """A fresh temporary name next to ``path`` with the same extension:
    ``<stem>.<pid>-<random>.partial<ext>``; the pid tells a later run whether its writer is gone."""
    stem, ext = os.path.splitext(path)
    return f"{stem}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial{ext}"


def _process_running(pid: int) -> bool:
    if os.name != "posix":
        return True  # no safe existence check (os.kill ends a process on Windows): age decides
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # e.g. another user's process
        return True
    return True


def remove_stale_partials(path: str, now: Optional[float] = None) -> List[str]:
    """Remove the partial files an interrupted run left for ``path``; returns their paths.

    A partial of ``path`` is a file next to it named ``<stem>.<pid>-<8 hex>.partial<ext>``
    (or ``<stem>.<8 hex>.partial<ext>`` from before pids were in the names). It is stale,
    and removed, when the process ``pid`` is not running on this machine, or when it has
    not been modified for ``STALE_PARTIAL_SECONDS`` (a day: pids are reused, and the old
    names carry none). A partial another running process is writing is left alone, so this
    assumes writers of the same output share one machine (one pid namespace).
    """
    folder = os.path.dirname(os.path.abspath(path))
    stem, ext = os.path.splitext(os.path.basename(path))
    pattern = re.compile(re.escape(stem) + r"\.(?:(\d+)-)?[0-9a-f]{8}\.partial" + re.escape(ext) + "$")
    now = time.time() if now is None else now
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        match = pattern.match(name)
        if not match:
            continue
        candidate = os.path.join(folder, name)
        try:
            age = now - os.lstat(candidate).st_mtime
            pid = int(match.group(1)) if match.group(1) else None
            if age > STALE_PARTIAL_SECONDS or (pid is not None and pid != os.getpid() and not _process_running(pid)):
                os.remove(candidate)
                removed.append(candidate)
        except OSError:
            continue  # gone meanwhile, or not ours to remove
    return sorted(removed)


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


@contextlib.contextmanager
def written_atomically(path: str, overwrite: bool) -> Iterator[str]:
    """A temporary path (see :func:`partial_path`) to write ``path``'s content to: published
    to ``path`` when the block ends (see :func:`publish`), removed when it raises."""
    temporary = partial_path(path)
    try:
        yield temporary
        publish(temporary, path, overwrite)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise


class AtomicVideoWriter:
    """An mp4v video writer whose file appears at ``path`` only when closed after success.

    Frames go to a temporary ``<stem>.<pid>-<random>.partial<ext>``; ``close()`` moves it
    into place (never over an existing file unless ``overwrite``), and leaving the ``with``
    block on an exception, or ``discard()``, deletes it. ``path`` must end in one of
    ``VIDEO_EXTENSIONS``.
    """

    def __init__(self, path: str, fps: float, overwrite: bool = False) -> None:
        check_output_path(path, overwrite, VIDEO_EXTENSIONS)
        self.path = path
        self.overwrite = overwrite
        self.partial_path = partial_path(path)
        self.fps = fps
        self.frames_written = 0
        self._writer = None

    def write(self, frame: np.ndarray) -> None:
        if self._writer is None:
            height, width = frame.shape[:2]
            if max(width, height) > MAX_VIDEO_SIDE:
                raise ValueError(f"frames of {width}x{height} are too large for the video writer of {self.path} (mp4v takes "
                                 f"at most {MAX_VIDEO_SIDE} pixels a side); resize the source, or write only the boxes")
            self._writer = cv2.VideoWriter(self.partial_path, cv2.VideoWriter_fourcc(*"mp4v"), self.fps, (width, height))
            if not self._writer.isOpened():
                self.discard()
                raise ValueError(f"could not open an mp4v video writer for {self.path} at {width}x{height} "
                                 "(OpenCV's writer refused it; is its FFmpeg support installed?)")
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


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt, so that the same clean-up runs."""


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises :class:`Terminated` (a KeyboardInterrupt).

    The first SIGTERM raises; a second one while cleaning up ends the process at once (the
    default action), as a second Ctrl-C would be expected to. Outside the main thread,
    where handlers cannot be set, the block runs unchanged.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        raise Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
