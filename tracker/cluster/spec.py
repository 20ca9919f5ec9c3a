"""The spec of a cluster run: which streams, which targets, which outputs, how many actors.

A spec is YAML (or the same mapping in Python), read strictly: an unknown key, a wrong type
or a value out of range is a ``ValueError`` that names the key (``streams[2].boxes[0]``)
and says what is accepted. See ``docs/cluster.md`` for the format::

    model: weights/box_mobilenet_v2.int8.onnx      # optional: the shipped default, as tracker.run
    actors: 2                                      # optional: as many as the cluster's CPUs hold
    outputs: {folder: out, boxes: csv, video: false}
    streams:
      - name: lobby
        source: rtsp://camera-7/stream              # file, image folder, camera index or URL
        boxes: [[120, 80, 40, 90], [300, 60, 35, 80]]

Nothing here imports Ray or a network runtime.
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass, field
from typing import Any, Dict, Mapping, Optional, Sequence, Tuple, Union

import yaml

from ..boxes import Box
from ..video import parse_box, parse_source

BOX_FILE_FORMATS = ("csv", "json")
# A stream's name becomes its output files' names: keep it to characters every file system takes.
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


@dataclass(frozen=True)
class StreamSpec:
    """One video source and the targets on its first frame (0-based ``x, y, w, h`` pixels)."""

    name: str
    source: Union[int, str]  # camera index, file, image folder or URL (as tracker.run's SOURCE)
    boxes: Tuple[Box, ...]
    max_frames: Optional[int] = None  # stop after this many frames (frame 0 included)

    @property
    def live(self) -> bool:
        """A camera or a URL: frames come when they come, and cannot be read again."""
        return isinstance(self.source, int) or "://" in self.source


@dataclass(frozen=True)
class OutputSpec:
    """Where each stream's outputs go: ``<folder>/<stream name>.csv`` (or ``.json``) and ``.mp4``."""

    folder: Optional[str] = None  # None: nothing is written (rows reach only ``on_chunk``)
    boxes: Optional[str] = "csv"  # "csv", "json" or None: tracker.run's --boxes rows
    video: bool = False  # annotated video, as tracker.run's --out

    def boxes_path(self, stream: str) -> Optional[str]:
        if self.folder is None or self.boxes is None:
            return None
        return os.path.join(self.folder, f"{stream}.{self.boxes}")

    def video_path(self, stream: str) -> Optional[str]:
        if self.folder is None or not self.video:
            return None
        return os.path.join(self.folder, f"{stream}.mp4")


@dataclass(frozen=True)
class ClusterSpec:
    """Streams, outputs, the model, and how the streams are spread over Ray actors."""

    streams: Tuple[StreamSpec, ...]
    outputs: OutputSpec = field(default_factory=OutputSpec)
    model: Optional[str] = None  # a model file (X.int8.onnx, X.onnx, X.pt); None: the shipped default
    runtime: Optional[str] = None  # ONNX models: auto, onnxruntime or openvino (tracker.run's --runtime)
    actors: Optional[int] = None  # None: as many as the cluster's CPUs hold, at most one per stream
    cpus_per_actor: int = 1  # Ray CPUs reserved per actor; also the network's threads unless ``threads``
    threads: Optional[int] = None  # intra-op threads of each actor's network
    max_restarts: int = 3  # per actor: how often Ray restarts one that dies before its streams fail
    chunk_frames: int = 8  # ticks per call: rows reach the driver (and the checkpoint moves) this often
    timeout: float = 30.0  # live sources: seconds to wait for the source to open and for each frame

    def __post_init__(self) -> None:
        check_spec(self)


_TOP_KEYS = ("streams", "outputs", "model", "runtime", "actors", "cpus_per_actor", "threads", "max_restarts",
             "chunk_frames", "timeout")
_STREAM_KEYS = ("name", "source", "boxes", "max_frames")
_OUTPUT_KEYS = ("folder", "boxes", "video")


def load_spec(spec: Union[str, os.PathLike, Mapping[str, Any], ClusterSpec]) -> ClusterSpec:
    """A :class:`ClusterSpec` from a YAML file's path, a mapping of the same shape, or a spec (returned as is)."""
    if isinstance(spec, ClusterSpec):
        return spec
    if isinstance(spec, Mapping):
        return spec_from_dict(spec)
    if not isinstance(spec, (str, os.PathLike)):
        raise TypeError(f"a cluster spec is a YAML file's path, a mapping or a ClusterSpec, got {type(spec).__name__}")
    path = os.fspath(spec)
    if not os.path.isfile(path):
        raise ValueError(f"spec file not found: {path}")
    with open(path, "r", encoding="utf-8") as handle:
        try:
            data = yaml.safe_load(handle)
        except yaml.YAMLError as error:
            raise ValueError(f"{path} is not valid YAML: {str(error).splitlines()[0]}") from None
    try:
        return spec_from_dict(data)
    except ValueError as error:
        raise ValueError(f"{path}: {error}") from None


def spec_from_dict(data: Any) -> ClusterSpec:
    """A :class:`ClusterSpec` from the mapping a spec file holds; a ValueError names what is wrong."""
    _check_keys(data, _TOP_KEYS, "the spec")
    if "streams" not in data:
        raise ValueError("the spec has no 'streams': list at least one stream with its source and boxes")
    streams = data["streams"]
    if not isinstance(streams, list) or not streams:
        raise ValueError(f"'streams' must be a non-empty list of streams (each with source and boxes), got {streams!r}")
    options = {key: data[key] for key in _TOP_KEYS if key in data and key not in ("streams", "outputs")}
    for key in ("model", "runtime"):
        if key in options and options[key] is not None and not isinstance(options[key], str):
            raise ValueError(f"'{key}' must be a string, got {options[key]!r}")
    for key in ("actors", "cpus_per_actor", "threads", "max_restarts", "chunk_frames"):
        if key in options and options[key] is not None:
            options[key] = _integer(options[key], key)
    if "timeout" in options:
        options["timeout"] = _number(options["timeout"], "timeout")
    outputs = _outputs_from_dict(data.get("outputs")) if data.get("outputs") is not None else OutputSpec()
    return ClusterSpec(streams=tuple(_stream_from_dict(item, index) for index, item in enumerate(streams)),
                       outputs=outputs, **options)


def _stream_from_dict(data: Any, index: int) -> StreamSpec:
    where = f"streams[{index}]"
    _check_keys(data, _STREAM_KEYS, where)
    for key in ("source", "boxes"):
        if key not in data:
            raise ValueError(f"{where} has no '{key}' (a stream needs source and boxes; name and max_frames are optional)")
    name = data.get("name", f"stream-{index}")
    if not isinstance(name, str):
        raise ValueError(f"{where}.name must be a string, got {name!r}")
    source = data["source"]
    if isinstance(source, bool) or not isinstance(source, (int, str)) or source == "":
        raise ValueError(f"{where}.source must be a video file, an image folder, a camera index or a URL, got {source!r}")
    boxes = data["boxes"]
    if isinstance(boxes, str) or (isinstance(boxes, list) and boxes and isinstance(boxes[0], (int, float))):
        boxes = [boxes]  # one box, as [x, y, w, h] or "x,y,w,h"
    if not isinstance(boxes, list) or not boxes:
        raise ValueError(f"{where}.boxes must list at least one box [x, y, w, h] (0-based pixels), got {data['boxes']!r}")
    parsed = tuple(_box(box, f"{where}.boxes[{number}]") for number, box in enumerate(boxes))
    max_frames = data.get("max_frames")
    if max_frames is not None:
        max_frames = _integer(max_frames, f"{where}.max_frames")
    return StreamSpec(name=name, source=parse_source(source), boxes=parsed, max_frames=max_frames)


def _outputs_from_dict(data: Any) -> OutputSpec:
    _check_keys(data, _OUTPUT_KEYS, "outputs")
    folder = data.get("folder")
    if folder is None or not isinstance(folder, str) or not folder:
        raise ValueError(f"outputs.folder must name the folder to write the streams' files to, got {folder!r}")
    boxes = data.get("boxes", "csv")
    if boxes is not None and not isinstance(boxes, str):
        raise ValueError(f"outputs.boxes must be one of {', '.join(BOX_FILE_FORMATS)} or null, got {boxes!r}")
    video = data.get("video", False)
    if not isinstance(video, bool):
        raise ValueError(f"outputs.video must be true or false, got {video!r}")
    return OutputSpec(folder=folder, boxes=boxes.lower() if isinstance(boxes, str) else None, video=video)


def _check_keys(data: Any, valid: Sequence[str], where: str) -> None:
    if not isinstance(data, Mapping):
        raise ValueError(f"{where} must be a mapping of keys to values, got {data!r}")
    unknown = sorted(str(key) for key in set(data) - set(valid))
    if unknown:
        raise ValueError(f"unknown key(s) {', '.join(unknown)} in {where}; valid keys: {', '.join(valid)}")


def _integer(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"'{key}' must be an integer, got {value!r}")
    return value


def _number(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"'{key}' must be a finite number, got {value!r}")
    return float(value)


def _box(value: Any, where: str) -> Box:
    if isinstance(value, str):
        try:
            return parse_box(value)
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from None
    if not isinstance(value, (list, tuple)) or len(value) != 4 or any(
        isinstance(v, bool) or not isinstance(v, (int, float)) for v in value
    ):
        raise ValueError(f"{where} must be four numbers [x, y, w, h] (0-based pixels), got {value!r}")
    return tuple(float(v) for v in value)


def check_spec(spec: ClusterSpec) -> None:
    """ValueError when a spec built in Python is inconsistent (a file's spec is checked as it is read)."""
    if not spec.streams:
        raise ValueError("a cluster spec needs at least one stream")
    names: Dict[str, int] = {}
    for index, stream in enumerate(spec.streams):
        where = f"streams[{index}]"
        if not isinstance(stream, StreamSpec):
            raise TypeError(f"{where} must be a StreamSpec, got {type(stream).__name__}")
        if not NAME_PATTERN.match(stream.name):
            raise ValueError(f"{where}.name {stream.name!r} names the stream's output files: use letters, digits, "
                             "'.', '_' and '-' (not first), at most 100 characters")
        if stream.name in names:
            raise ValueError(f"{where}.name {stream.name!r} is also the name of streams[{names[stream.name]}]; "
                             "stream names must be unique (they name the output files)")
        names[stream.name] = index
        if not stream.boxes:
            raise ValueError(f"{where}.boxes must list at least one box")
        for number, box in enumerate(stream.boxes):
            if len(box) != 4 or not all(math.isfinite(v) for v in box) or box[2] <= 0 or box[3] <= 0:
                raise ValueError(f"{where}.boxes[{number}] must be four finite numbers x, y, w, h with w, h > 0, got {box!r}")
        if stream.max_frames is not None and stream.max_frames < 1:
            raise ValueError(f"{where}.max_frames must be >= 1, got {stream.max_frames}")
    if spec.outputs.boxes is not None and spec.outputs.boxes not in BOX_FILE_FORMATS:
        raise ValueError(f"outputs.boxes must be one of {', '.join(BOX_FILE_FORMATS)} or null, got {spec.outputs.boxes!r}")
    for key, low in (("actors", 1), ("cpus_per_actor", 1), ("threads", 1), ("max_restarts", 0), ("chunk_frames", 1)):
        value = getattr(spec, key)
        if value is not None and value < low:
            raise ValueError(f"'{key}' must be >= {low}, got {value}")
    if not spec.timeout > 0:
        raise ValueError(f"'timeout' must be > 0 seconds, got {spec.timeout:g}")
