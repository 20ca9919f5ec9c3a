"""Annotated sequences: OTB and GOT-10k folder layouts, and a video file with a box file.

Every loader returns a :class:`Sequence` whose boxes are already the library's 0-based
``(x, y, w, h)``: dataset conventions are converted here and nowhere else. Frames are
read lazily; :meth:`Sequence.read_frames` decodes them all once, so a runner can reuse
the list across trackers.

Layouts:

* **OTB** ``<seq>/img/0001.jpg ...`` + ``<seq>/groundtruth_rect.txt``: 1-based ``x,y,w,h``,
  separated by commas, tabs or spaces; ``NaN`` rows mean the target is not visible. An
  optional ``frame_range=(first, last)`` selects frames by their 1-based file number
  (OTB's ``startFrame``/``endFrame``); the box file then has one line per selected frame.
* **GOT-10k** ``<seq>/00000001.jpg ...`` + ``<seq>/groundtruth.txt``, plus
  ``absence.label`` (1 = target absent, its box becomes NaN) and ``cover.label``
  (visible share 0..8) when present. GOT-10k boxes are taken as 0-based, as
  got10k-toolkit and pytracking read them (no shift).
* **Video** any file OpenCV decodes + a box file (default: same name, ``.txt``), 0-based
  unless ``one_based=True``.

The split of a sequence (``train``/``eval``) is not a property of its folder: it comes
from the data folder's README table (:func:`read_splits`).
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import cv2
import numpy as np

from ..boxes import Box
from ..errors import MissingFileError

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
OTB_BOXES = "groundtruth_rect.txt"
GOT10K_BOXES = "groundtruth.txt"
DATA_ENV = "SIAMTRACK_DATA"
_SEPARATORS = re.compile(r"[,\s;]+")


def repository_root() -> str:
    """The folder holding the ``tracker`` package (the repository root in a checkout)."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def default_data_root() -> str:
    """``$SIAMTRACK_DATA`` when set, else ``../shared/data`` relative to the repository root."""
    return os.environ.get(DATA_ENV) or os.path.normpath(os.path.join(repository_root(), "..", "shared", "data"))


@dataclass(frozen=True, eq=False)
class Sequence:
    """One annotated sequence.

    ``boxes`` is ``(N, 4)`` float64, 0-based ``(x, y, w, h)``, a NaN row where the target is
    absent or unannotated. Frames come from ``frame_paths`` (one image per row) or from
    ``video_path``. ``cover`` is GOT-10k's per-frame visible share (0..8) or None.
    """

    name: str
    boxes: np.ndarray
    frame_paths: Tuple[str, ...] = ()
    video_path: Optional[str] = None
    cover: Optional[np.ndarray] = None
    layout: str = "otb"

    def __post_init__(self) -> None:
        boxes = np.asarray(self.boxes, dtype=np.float64)
        if boxes.ndim != 2 or boxes.shape[1] != 4:
            raise ValueError(f"{self.name}: boxes must be an (N, 4) array, got shape {boxes.shape}")
        object.__setattr__(self, "boxes", boxes)
        object.__setattr__(self, "frame_paths", tuple(self.frame_paths))
        if (not self.frame_paths) == (self.video_path is None):
            raise ValueError(f"{self.name}: give either frame_paths or video_path, not both or neither")
        if self.frame_paths and len(self.frame_paths) != len(boxes):
            raise ValueError(f"{self.name}: {len(boxes)} boxes for {len(self.frame_paths)} frames; the box file needs one line per frame")
        if self.cover is not None and len(self.cover) != len(boxes):
            raise ValueError(f"{self.name}: cover.label has {len(self.cover)} lines for {len(boxes)} frames")

    def __len__(self) -> int:
        return len(self.boxes)

    def __repr__(self) -> str:
        return f"Sequence({self.name!r}, {len(self)} frames, layout={self.layout!r})"

    @property
    def init_box(self) -> Box:
        """The first frame's box, which a tracker is initialised with."""
        box = self.boxes[0]
        if not np.isfinite(box).all():
            raise ValueError(f"{self.name}: the first frame has no ground-truth box, so no tracker can be initialised")
        return tuple(float(v) for v in box)

    @property
    def visible(self) -> np.ndarray:
        """``(N,)`` bool: the frame has a box and (GOT-10k) the target is not fully covered."""
        visible = np.isfinite(self.boxes).all(axis=1)
        if self.cover is not None:
            visible &= np.asarray(self.cover) > 0
        return visible

    def frame(self, index: int) -> np.ndarray:
        """Frame ``index`` (0-based) as BGR uint8, read from disk now."""
        if not 0 <= index < len(self):
            raise IndexError(f"{self.name} has frames 0..{len(self) - 1}, asked for {index}")
        if self.frame_paths:
            return _read_image(self.frame_paths[index])
        return self.read_frames(index + 1)[index]

    def read_frames(self, max_frames: Optional[int] = None) -> List[np.ndarray]:
        """The first ``max_frames`` (default all) frames, decoded once, as BGR uint8 arrays."""
        count = len(self) if max_frames is None else min(int(max_frames), len(self))
        if self.frame_paths:
            return [_read_image(path) for path in self.frame_paths[:count]]
        capture = cv2.VideoCapture(self.video_path)
        frames = []
        try:
            while len(frames) < count:
                ok, frame = capture.read()
                if not ok or frame is None:
                    break
                frames.append(frame)
        finally:
            capture.release()
        if len(frames) < count:
            raise ValueError(f"{self.name}: {self.video_path} decoded to {len(frames)} frames, but its box file has {len(self)} lines")
        return frames

    def head(self, max_frames: int) -> "Sequence":
        """The same sequence cut to its first ``max_frames`` frames (for quick runs)."""
        count = min(int(max_frames), len(self))
        if count < 1:
            raise ValueError(f"max_frames must be >= 1, got {max_frames}")
        return Sequence(
            self.name,
            self.boxes[:count],
            self.frame_paths[:count],
            None if self.frame_paths else self.video_path,
            None if self.cover is None else self.cover[:count],
            self.layout,
        )


def _read_image(path: str) -> np.ndarray:
    frame = cv2.imread(path, cv2.IMREAD_COLOR)
    if frame is None:
        raise ValueError(f"could not decode image {path}")
    return frame


def read_box_file(path: str, one_based: bool) -> np.ndarray:
    """An ``(N, 4)`` array of 0-based ``x, y, w, h`` from a text file, one box per line.

    Values may be separated by commas, tabs, spaces or semicolons; blank lines are
    skipped. A line with any NaN (or other non-finite value) becomes a NaN row.
    ``one_based=True`` shifts ``x, y`` by -1 (OTB); otherwise the values are kept.
    """
    if not os.path.isfile(path):
        raise MissingFileError(f"box file not found: {path}")
    rows = []
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            text = line.strip()
            if not text:
                continue
            tokens = [t for t in _SEPARATORS.split(text) if t]
            try:
                values = [float(t) for t in tokens]
            except ValueError:
                values = []
            if len(values) != 4:
                raise ValueError(
                    f"{path} line {number}: expected four numbers x,y,w,h separated by commas, tabs or spaces, got {text!r}"
                )
            rows.append(values if np.isfinite(values).all() else [np.nan] * 4)
    boxes = np.array(rows, dtype=np.float64).reshape(-1, 4)
    if one_based:
        boxes[:, :2] -= 1.0
    return boxes


def _numbered_images(folder: str) -> List[Tuple[int, str]]:
    numbered = []
    for path in glob.glob(os.path.join(glob.escape(folder), "*")):
        stem, extension = os.path.splitext(os.path.basename(path))
        if extension.lower() in IMAGE_EXTENSIONS and stem.isdigit():
            numbered.append((int(stem), path))
    return sorted(numbered)


def _require_folder(folder: str) -> None:
    if not os.path.isdir(folder):
        raise MissingFileError(f"sequence folder not found: {folder}")


def load_otb_sequence(
    folder: str,
    frame_range: Optional[Tuple[int, int]] = None,
    boxes_file: str = OTB_BOXES,
    name: Optional[str] = None,
) -> Sequence:
    """An OTB-layout sequence: ``img/NNNN.jpg`` and a 1-based ``groundtruth_rect.txt``."""
    _require_folder(folder)
    image_folder = os.path.join(folder, "img")
    if not os.path.isdir(image_folder):
        raise ValueError(f"{folder} is not an OTB sequence: it has no img/ folder of numbered frames")
    numbered = _numbered_images(image_folder)
    if frame_range is not None:
        first, last = (int(v) for v in frame_range)
        if first < 1 or last < first:
            raise ValueError(f"frame_range must be (first, last) 1-based frame numbers with first <= last, got {frame_range}")
        numbered = [(n, p) for n, p in numbered if first <= n <= last]
    if not numbered:
        raise ValueError(f"{image_folder} holds no numbered frames ({', '.join(IMAGE_EXTENSIONS)})" + (f" in range {frame_range}" if frame_range else ""))
    boxes = read_box_file(os.path.join(folder, boxes_file), one_based=True)
    if len(boxes) != len(numbered):
        raise ValueError(
            f"{folder}: {boxes_file} has {len(boxes)} boxes for {len(numbered)} frames"
            + (f" in range {frame_range}" if frame_range else "")
            + "; it needs exactly one line per frame"
        )
    return Sequence(name or os.path.basename(os.path.normpath(folder)), boxes, [p for _, p in numbered], layout="otb")


def _read_labels(path: str, count: int) -> Optional[np.ndarray]:
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        try:
            labels = np.array([int(float(line)) for line in handle if line.strip()], dtype=np.int64)
        except ValueError:
            raise ValueError(f"{path}: expected one integer per line") from None
    if len(labels) != count:
        raise ValueError(f"{path} has {len(labels)} lines for {count} frames; it needs one per frame")
    return labels


def load_got10k_sequence(folder: str, name: Optional[str] = None) -> Sequence:
    """A GOT-10k-layout sequence: ``NNNNNNNN.jpg``, ``groundtruth.txt``, optional labels.

    Frames marked in ``absence.label`` get a NaN box; ``cover.label`` is kept as
    :attr:`Sequence.cover` (frames with cover 0 are not scored by the GOT-10k metrics).
    """
    _require_folder(folder)
    numbered = _numbered_images(folder)
    if not numbered:
        raise ValueError(f"{folder} is not a GOT-10k sequence: it has no numbered frames ({', '.join(IMAGE_EXTENSIONS)})")
    boxes = read_box_file(os.path.join(folder, GOT10K_BOXES), one_based=False)
    if len(boxes) != len(numbered):
        raise ValueError(
            f"{folder}: {GOT10K_BOXES} has {len(boxes)} boxes for {len(numbered)} frames; it needs one line per frame "
            "(the GOT-10k test split ships only the first box and cannot be scored here)"
        )
    absence = _read_labels(os.path.join(folder, "absence.label"), len(boxes))
    if absence is not None:
        boxes[absence.astype(bool)] = np.nan
    cover = _read_labels(os.path.join(folder, "cover.label"), len(boxes))
    return Sequence(name or os.path.basename(os.path.normpath(folder)), boxes, [p for _, p in numbered], cover=cover, layout="got10k")


def load_video_sequence(
    video_path: str,
    boxes_path: Optional[str] = None,
    one_based: bool = False,
    name: Optional[str] = None,
) -> Sequence:
    """A video file and a box file with one line per frame (default ``<video stem>.txt``)."""
    if not os.path.isfile(video_path):
        raise MissingFileError(f"video file not found: {video_path}")
    boxes_path = boxes_path or os.path.splitext(video_path)[0] + ".txt"
    boxes = read_box_file(boxes_path, one_based=one_based)
    capture = cv2.VideoCapture(video_path)
    try:
        if not capture.isOpened():
            raise ValueError(f"could not open video {video_path} (OpenCV cannot read it)")
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    # The container's frame count can be missing (0) or approximate; read_frames checks again.
    if count > 0 and count != len(boxes):
        raise ValueError(f"{video_path} has {count} frames but {boxes_path} has {len(boxes)} boxes; it needs one line per frame")
    if len(boxes) == 0:
        raise ValueError(f"{boxes_path} holds no boxes")
    return Sequence(name or os.path.splitext(os.path.basename(video_path))[0], boxes, video_path=video_path, layout="video")


def detect_layout(path: str) -> str:
    """``otb``, ``got10k`` or ``video`` for a sequence path; ValueError when it is none of them."""
    if os.path.isfile(path):
        return "video"
    _require_folder(path)
    if os.path.isdir(os.path.join(path, "img")) and os.path.isfile(os.path.join(path, OTB_BOXES)):
        return "otb"
    if os.path.isfile(os.path.join(path, GOT10K_BOXES)):
        return "got10k"
    raise ValueError(
        f"{path} is not a sequence: expected OTB (img/ + {OTB_BOXES}), GOT-10k (numbered frames + {GOT10K_BOXES}) or a video file"
    )


def _is_sequence(path: str) -> bool:
    try:
        return os.path.isdir(path) and detect_layout(path) in ("otb", "got10k")
    except ValueError:
        return False


def load_sequence(path: str, name: Optional[str] = None) -> Sequence:
    """Load a sequence of any supported layout, detected from what the path holds."""
    layout = detect_layout(path)
    if layout == "otb":
        return load_otb_sequence(path, name=name)
    if layout == "got10k":
        return load_got10k_sequence(path, name=name)
    return load_video_sequence(path, name=name)


def read_splits(root: str) -> Dict[str, str]:
    """``{sequence name: split}`` from the ``SPLIT`` column of ``root/README.md``'s table.

    ``root`` is the data folder (or the README itself). The first markdown table whose
    header has ``name`` and ``split`` columns (any case) is read; split values are
    lower-cased.
    """
    path = os.path.join(root, "README.md") if os.path.isdir(root) else root
    if not os.path.isfile(path):
        raise MissingFileError(f"{path} not found: the data folder's README.md table gives each sequence's split")
    splits: Dict[str, str] = {}
    header: Optional[List[str]] = None
    with open(path, encoding="utf-8") as handle:
        for line in handle:
            line = line.strip()
            if not line.startswith("|"):
                if header is not None and splits:
                    break
                header = None
                continue
            cells = [c.strip() for c in line.strip("|").split("|")]
            if header is None:
                header = [c.lower() for c in cells]
                continue
            if all(set(c) <= set("-: ") for c in cells) or "name" not in header or "split" not in header:
                continue
            if len(cells) == len(header):
                splits[cells[header.index("name")]] = cells[header.index("split")].lower()
    if not splits:
        raise ValueError(f"{path} has no markdown table with 'name' and 'split' columns")
    return splits


def load_dataset(root: str, split: Optional[str] = None, names: Optional[List[str]] = None) -> List[Sequence]:
    """The sequences of a data folder, sorted by name (case-insensitive).

    ``split`` (``train``, ``eval``, ... or None/``all`` for every one) selects by the README
    table; ``names`` selects by name. Without a README table, ``split`` must be None/``all``
    and every sequence folder is loaded.
    """
    if not os.path.isdir(root):
        raise MissingFileError(f"data folder not found: {root} (pass --data or set ${DATA_ENV})")
    if split in (None, "all"):
        try:
            candidates = sorted(read_splits(root))
        except (MissingFileError, ValueError):
            candidates = sorted(n for n in os.listdir(root) if _is_sequence(os.path.join(root, n)))
    else:
        splits = read_splits(root)
        valid = sorted(set(splits.values()))
        if split not in valid:
            raise ValueError(f"unknown split {split!r}; {root}/README.md has: {', '.join(valid + ['all'])}")
        candidates = sorted(n for n, s in splits.items() if s == split)
    if names:
        unknown = [n for n in names if n not in candidates]
        if unknown:
            raise ValueError(
                f"unknown sequence(s) {', '.join(unknown)}"
                + (f" in split {split!r}" if split not in (None, "all") else "")
                + f"; available: {', '.join(sorted(candidates, key=str.lower))}"
            )
        candidates = list(names)
    missing = [n for n in candidates if not os.path.exists(os.path.join(root, n))]
    if missing:
        raise MissingFileError(f"sequence folder(s) listed in the README but missing from {root}: {', '.join(missing)}")
    sequences = [load_sequence(os.path.join(root, n), name=n) for n in candidates]
    return sorted(sequences, key=lambda s: s.name.lower())
