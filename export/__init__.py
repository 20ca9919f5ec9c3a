"""``python -m export`` from the repository root: the same command as ``python -m tracker.export``."""
