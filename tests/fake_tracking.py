"""Helpers shared by the tests that drive the tracking loop with a fake backend."""
import dataclasses

import numpy as np

from tracker import Tracker, TrackerConfig, TrackingConfig
from tracker.backends.fake import FakeBackend


def make_tracker(respond, **tracking):
    """A tracker on ``FakeBackend(respond)`` with the default config, ``tracking`` keys overridden."""
    config = TrackerConfig(tracking=dataclasses.replace(TrackingConfig(), **tracking))
    return Tracker(FakeBackend(respond), config)


def centre(box):
    x, y, w, h = box
    return np.array([x + w / 2, y + h / 2])
