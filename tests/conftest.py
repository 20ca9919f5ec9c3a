import warnings

import pytest

from tracker.config import ModelConfig


@pytest.fixture
def random_model():
    """An AlexNet SiamFC with random weights (seeded), without the untrained warning."""
    import torch

    from tracker.model import build_model

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_model(ModelConfig())
