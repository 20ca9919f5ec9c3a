"""A real-time Siamese (SiamFC) object tracker.

``from tracker import Tracker``; ``Tracker.default()`` is the shipped model, see README.md.
Importing this package does not import torch: the torch backend is loaded only when a
``.pt`` (or YAML) model is loaded (``tracker.loader``).
"""
from .boxes import Box
from .config import ModelConfig, TrackerConfig, TrackingConfig, config_path, load_config
from .siamese_tracker import Tracker, TrackResult
from .box_tracker import BoxTracker  # registers the box head's tracking loop

__all__ = [
    "Box",
    "BoxTracker",
    "ModelConfig",
    "TrackerConfig",
    "TrackingConfig",
    "TrackResult",
    "Tracker",
    "config_path",
    "load_config",
]
__version__ = "0.1.0"
