"""Training: pair sampling, labels and losses, the training loop, and its CLI (``python -m tracker.train``)."""
