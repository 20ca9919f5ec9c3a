"""Running trackers over sequences: one-pass evaluation with a result cache, and a speed benchmark.

A tracker is any object with ``init(frame, box)`` and ``update(frame)``. ``update`` may
return an object with a ``.box`` (this project's ``TrackResult``), OpenCV's ``(ok, box)``
pair, a plain 4-tuple box, or None / a NaN box for "no box this frame".

Each sequence's frames are decoded once and the same arrays are given to every tracker;
only ``update`` is timed (not decoding, not ``init``, not converting its answer).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import time
from dataclasses import dataclass
from typing import Callable, Dict, List, Mapping, Optional, Sequence as SequenceOf, Tuple

import numpy as np

from ..datasets import Sequence
from .trackers import TrackerSpec

NO_BOX = (float("nan"),) * 4
WARMUP_FRAMES = 6


def box_of(result) -> Tuple[float, float, float, float]:
    """The box in whatever ``update`` returned (see the module docstring); NaN box for none."""
    if result is None:
        return NO_BOX
    if hasattr(result, "box"):
        result = result.box
    if isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], (bool, np.bool_)):
        ok, box = result
        if not ok:
            return NO_BOX
        result = box
    try:
        values = tuple(float(v) for v in result)
    except (TypeError, ValueError):
        raise TypeError(f"update() must return a box (x, y, w, h), an (ok, box) pair or an object with .box; got {result!r}") from None
    if len(values) != 4:
        raise TypeError(f"update() returned {len(values)} values; a box is (x, y, w, h): {result!r}")
    return values


def run_sequence(tracker, frames: SequenceOf[np.ndarray], init_box) -> Tuple[np.ndarray, np.ndarray]:
    """Track through ``frames`` from ``init_box`` on the first one.

    Returns ``(boxes, times)``: ``boxes`` is ``(len(frames), 4)`` with row 0 the initial box
    (OTB counts the first frame with the given box), ``times`` is ``(len(frames) - 1,)``
    seconds spent in each ``update`` call.
    """
    if len(frames) < 1:
        raise ValueError("run_sequence needs at least one frame")
    init_box = tuple(float(v) for v in init_box)
    if len(init_box) != 4 or not np.isfinite(init_box).all():
        raise ValueError(f"init_box must be four finite numbers (x, y, w, h), got {init_box}")
    boxes = np.empty((len(frames), 4), dtype=np.float64)
    times = np.empty(len(frames) - 1, dtype=np.float64)
    tracker.init(frames[0], init_box)
    boxes[0] = init_box
    clock = time.perf_counter
    for index in range(1, len(frames)):
        start = clock()
        result = tracker.update(frames[index])
        times[index - 1] = clock() - start
        boxes[index] = box_of(result)
    return boxes, times


@dataclass(frozen=True, eq=False)
class RunRecord:
    """One tracker's pass over one sequence."""

    tracker: str
    sequence: str
    boxes: np.ndarray
    update_seconds: np.ndarray
    cached: bool = False
    created: str = ""

    @property
    def fps(self) -> float:
        """Updates per second of ``update`` time (NaN for a one-frame sequence)."""
        total = float(np.sum(self.update_seconds))
        return len(self.update_seconds) / total if total > 0 else float("nan")


def sequence_key(sequence: Sequence) -> str:
    """Changes when the sequence's frames (count, names, file sizes) or boxes change."""
    digest = hashlib.sha256()
    digest.update(sequence.name.encode())
    digest.update(np.ascontiguousarray(sequence.boxes).tobytes())
    paths = sequence.frame_paths or (sequence.video_path,)
    for path in paths:
        digest.update(f"{os.path.basename(path)}:{os.path.getsize(path)};".encode())
    return digest.hexdigest()


def _cache_path(cache_dir: str, tracker: str, sequence: str, key: str) -> str:
    # The key in the name keeps a --max-frames run from replacing the full run's entry.
    return os.path.join(cache_dir, tracker, f"{sequence}-{key[:12]}.json")


def _nan_to_none(array: np.ndarray):
    return [[None if not np.isfinite(v) else float(v) for v in row] for row in array]


def load_cached(cache_dir: str, spec: TrackerSpec, sequence: Sequence, key: str) -> Optional[RunRecord]:
    """The cached run of ``spec`` on ``sequence``, or None when absent or made by another tracker/sequence version."""
    path = _cache_path(cache_dir, spec.name, sequence.name, key)
    try:
        with open(path, encoding="utf-8") as handle:
            stored = json.load(handle)
    except (OSError, ValueError):
        return None
    if stored.get("fingerprint") != spec.fingerprint or stored.get("sequence_key") != key:
        return None
    boxes = np.array([[np.nan if v is None else v for v in row] for row in stored["boxes"]], dtype=np.float64).reshape(-1, 4)
    if len(boxes) != len(sequence):
        return None
    return RunRecord(spec.name, sequence.name, boxes, np.array(stored["update_seconds"], dtype=np.float64), True, stored.get("created", ""))


def save_cached(cache_dir: str, spec: TrackerSpec, record: RunRecord, key: str) -> str:
    path = _cache_path(cache_dir, spec.name, record.sequence, key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    stored = {
        "tracker": spec.name,
        "label": spec.label,
        "fingerprint": spec.fingerprint,
        "sequence": record.sequence,
        "sequence_key": key,
        "created": record.created,
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "boxes": _nan_to_none(record.boxes),
        "update_seconds": [float(t) for t in record.update_seconds],
    }
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        json.dump(stored, handle)
    os.replace(temporary, path)
    return path


def _progress(items, enabled: bool, description: str):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, desc=description, unit="seq")


def _writer(enabled: bool) -> Callable[[str], None]:
    if not enabled:
        return print
    from tqdm import tqdm

    return tqdm.write


def evaluate(
    sequences: SequenceOf[Sequence],
    specs: Mapping[str, TrackerSpec],
    cache_dir: Optional[str] = None,
    progress: bool = True,
    log: Optional[Callable[[str], None]] = None,
) -> List[RunRecord]:
    """Run every tracker on every sequence (one pass, OTB protocol), reusing cached runs.

    With ``cache_dir``, a run whose tracker fingerprint and sequence key match a stored
    one is read instead of recomputed, and new runs are stored. Frames are decoded only
    for sequences that need at least one run. Records come sequence by sequence, in the
    trackers' order.
    """
    log = log or _writer(progress)
    records: List[RunRecord] = []
    warmed = set()
    bar = _progress(sequences, progress, "evaluating")
    for sequence in bar:
        key = sequence_key(sequence) if cache_dir else ""
        frames = None
        for spec in specs.values():
            record = load_cached(cache_dir, spec, sequence, key) if cache_dir else None
            if record is None:
                if progress:
                    bar.set_postfix_str(f"{sequence.name}: {spec.name}")
                if frames is None:
                    frames = sequence.read_frames()
                tracker = spec.create()
                if spec.name not in warmed:
                    # Untimed: lazy model building and first-call allocations would
                    # otherwise land in the first sequence's fps.
                    run_sequence(tracker, frames[:WARMUP_FRAMES], sequence.init_box)
                    warmed.add(spec.name)
                    tracker = spec.create()
                boxes, times = run_sequence(tracker, frames, sequence.init_box)
                record = RunRecord(spec.name, sequence.name, boxes, times, False, datetime.datetime.now().isoformat(timespec="seconds"))
                if cache_dir:
                    save_cached(cache_dir, spec, record, key)
            records.append(record)
    cached = sum(r.cached for r in records)
    if cached:
        log(f"{cached} of {len(records)} tracker x sequence runs read from the cache in {cache_dir} (--no-cache reruns them)")
    return records


@dataclass(frozen=True)
class SpeedRecord:
    """Update times of one tracker on one sequence's frames, one entry per repeat."""

    tracker: str
    sequence: str
    updates: int
    seconds: Tuple[float, ...]

    @property
    def fps(self) -> float:
        """Updates per second over all repeats."""
        return self.updates * len(self.seconds) / sum(self.seconds)


def benchmark(
    sequences: SequenceOf[Sequence],
    specs: Mapping[str, TrackerSpec],
    max_frames: Optional[int] = 100,
    repeats: int = 3,
    progress: bool = True,
) -> List[SpeedRecord]:
    """Time every tracker on the same decoded frames, interleaved, so ratios survive a noisy machine.

    For each sequence the first ``max_frames`` frames (all when None) are decoded once;
    each repeat runs every tracker over them, rotating the order from repeat to repeat.
    Each tracker first tracks 5 untimed frames of the first sequence (warm-up: lazy
    model building, first-call allocations).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    if max_frames is not None and max_frames < 2:
        raise ValueError(f"max_frames must be >= 2 (one init frame and at least one update), got {max_frames}")
    names = list(specs)
    trackers = {name: specs[name].create() for name in names}
    if sequences:
        warmup = sequences[0].read_frames(WARMUP_FRAMES)
        for name in names:
            run_sequence(trackers[name], warmup, sequences[0].init_box)
    records = []
    for sequence in _progress(sequences, progress, "timing"):
        frames = sequence.read_frames(max_frames)
        if len(frames) < 2:
            continue
        seconds: Dict[str, List[float]] = {name: [] for name in names}
        for repeat in range(repeats):
            shift = repeat % len(names)
            for name in names[shift:] + names[:shift]:
                _, times = run_sequence(trackers[name], frames, sequence.init_box)
                seconds[name].append(float(times.sum()))
        records.extend(SpeedRecord(name, sequence.name, len(frames) - 1, tuple(seconds[name])) for name in names)
    return records
