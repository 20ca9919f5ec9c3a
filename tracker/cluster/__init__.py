"""Many streams on a Ray cluster: ``python -m tracker.cluster SPEC.yaml`` or :func:`run_streams`.

A spec (:mod:`tracker.cluster.spec`) lists streams (a video file, image folder, camera or
URL, and the boxes of its targets on the first frame) and outputs (``tracker.run``'s box
rows per stream, optionally an annotated video). The streams are spread over Ray actors
(:mod:`tracker.cluster.worker`): each owns one model session and tracks the targets of all
its streams with one network call per tick. The driver (:mod:`tracker.cluster.driver`)
writes the rows, keeps each stream's last state as its checkpoint, and resumes the streams
of an actor that died once Ray has restarted it. ``docs/cluster.md`` has the details.

Ray is an optional extra (``pip install -e ".[cluster]"``); importing this package does not
import it.
"""
from .driver import ChunkEvent, ClusterReport, StreamReport, run_streams
from .spec import ClusterSpec, OutputSpec, StreamSpec, load_spec
from .worker import BoxRow, StreamCheckpoint, StreamGroup

__all__ = [
    "BoxRow",
    "ChunkEvent",
    "ClusterReport",
    "ClusterSpec",
    "OutputSpec",
    "StreamCheckpoint",
    "StreamGroup",
    "StreamReport",
    "StreamSpec",
    "load_spec",
    "run_streams",
]
