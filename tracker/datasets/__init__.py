"""Annotated sequences and data folders, for evaluation, training and calibration alike.

Every loader returns a :class:`Sequence` whose boxes are already the library's 0-based
``(x, y, w, h)``: dataset conventions are converted here and nowhere else. Frames are
read lazily with :func:`read_image` (image files) or from a video; :meth:`Sequence.read_frames`
decodes them all once, so a runner can reuse the list across trackers.

Layouts are a registry, :data:`LAYOUTS` (``otb``, ``lasot``, ``vot``, ``got10k``,
``otb_variant``, ``dtb70``, ``uavdt``, ``uav123``, ``video``): a new benchmark layout is one
module with a ``detect``/``load`` pair and one entry there.
:func:`load_sequence` detects the layout of a path; :func:`load_dataset` loads a data
folder, selecting sequences by the split table of :func:`read_splits` (``splits.csv``,
else the folder's README table).

Training data beyond that folder: ``sources.yaml`` lists public repositories that hold
benchmark sequences (:mod:`.manifest`, with the RESERVED names that must never be used), and
``python -m tracker.datasets.ingest`` builds a corpus from the fetched repositories
(:func:`read_corpus` reads its ``corpus.json``).

Imports only numpy, OpenCV and the low ``tracker.boxes``/``tracker.errors`` modules.
"""
from .annotations import read_box_file, read_label_file
from .corpus import CORPUS_FILE, read_corpus
from .decode import IMAGE_EXTENSIONS, read_image, read_video_frames
from .dtb70 import load_dtb70_sequence
from .got10k import load_got10k_sequence
from .lasot import load_lasot_sequence
from .layouts import LAYOUTS, Layout, detect_layout, load_sequence
from .otb import load_otb_sequence
from .otb_variants import load_otb_variant_sequence
from .sequence import Sequence
from .splits import DATA_ENV, SPLITS_FILE, default_data_root, has_split_table, load_dataset, read_splits, repository_root
from .uav123 import load_uav123_sequence, read_config_seqs
from .uavdt import load_uavdt_sequence
from .video import load_video_sequence
from .vot import load_vot_sequence

__all__ = [
    "CORPUS_FILE",
    "DATA_ENV",
    "IMAGE_EXTENSIONS",
    "LAYOUTS",
    "Layout",
    "SPLITS_FILE",
    "Sequence",
    "default_data_root",
    "detect_layout",
    "has_split_table",
    "load_dataset",
    "load_dtb70_sequence",
    "load_got10k_sequence",
    "load_lasot_sequence",
    "load_otb_sequence",
    "load_otb_variant_sequence",
    "load_sequence",
    "load_uav123_sequence",
    "load_uavdt_sequence",
    "load_video_sequence",
    "load_vot_sequence",
    "read_box_file",
    "read_config_seqs",
    "read_corpus",
    "read_image",
    "read_label_file",
    "read_splits",
    "read_video_frames",
    "repository_root",
]
