import os
import socket
import threading
import warnings

import cv2
import pytest

from tracker.config import ModelConfig
from tools.synthetic import moving_texture_clip


@pytest.fixture
def random_model():
    """An AlexNet SiamFC with random weights (seeded), without the untrained warning."""
    import torch

    from tracker.model import build_model

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return build_model(ModelConfig())


@pytest.fixture
def data_root(tmp_path):
    """A data folder of three short synthetic OTB sequences: alpha and beta (eval split), gamma (train)."""
    root = tmp_path / "data"
    rows = []
    for seed, (name, split) in enumerate((("alpha", "eval"), ("beta", "eval"), ("gamma", "train"))):
        frames, boxes = moving_texture_clip(frame_count=6, width=160, height=120, target_size=(32, 32), step=2.0, seed=seed)
        os.makedirs(root / name / "img")
        for index, frame in enumerate(frames, start=1):
            cv2.imwrite(str(root / name / "img" / f"{index:04d}.jpg"), frame)
        with open(root / name / "groundtruth_rect.txt", "w") as handle:
            handle.writelines(f"{x + 1},{y + 1},{w},{h}\n" for x, y, w, h in boxes)  # OTB files are 1-based
        rows.append(f"| {name} | 6 | {split} |")
    with open(root / "README.md", "w") as handle:
        handle.write("| name | frames | SPLIT |\n|---|---|---|\n" + "\n".join(rows) + "\n")
    return str(root)


@pytest.fixture
def silent_server():
    """A TCP server that accepts connections and never sends a byte; yields its port."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(4)
    held = []

    def accept():
        while True:
            try:
                held.append(server.accept()[0])
            except OSError:
                return

    threading.Thread(target=accept, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for connection in held:
        connection.close()
