"""The box head's training targets and losses, against numbers worked out by hand."""
import os

import numpy as np
import pytest
import torch

from tracker import Tracker
from tracker.train.augment import warp_patch
from tracker.train.labels import box_targets
from tracker.train.losses import balanced_bce_loss, box_head_loss, focal_loss, giou_loss, iou_loss


def test_box_targets_by_hand():
    # 4x4 map, stride 16: cell offsets -24, -8, 8, 24. A 40x20 box centred at (8, -8).
    targets = box_targets((8.0, -8.0, 40.0, 20.0), 4, 16, positive_fraction=0.5)
    inside = targets["inside"]
    # x in (-12, 28): columns -8, 8, 24; y in (-18, 2): row -8 only.
    assert inside.tolist() == [[0, 0, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]]
    # central half: |x - 8| <= 10 and |y + 8| <= 5: the cell (8, -8) only
    assert targets["cls"].tolist() == [[0, 0, 0, 0], [0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 0]]
    # cell (-8, -8): l = -8 - (-12) = 4, t = -8 - (-18) = 10, r = 28 - (-8) = 36, b = 2 - (-8) = 10
    assert targets["edges"][:, 1, 1].tolist() == [4.0, 10.0, 36.0, 10.0]
    assert targets["centerness"][1, 1] == pytest.approx(np.sqrt(4 / 36 * 10 / 10))
    assert targets["centerness"][1, 2] == pytest.approx(np.sqrt(20 / 20 * 10 / 10))
    assert targets["centerness"][0, 0] == 0.0


def test_a_tiny_target_still_has_one_positive_cell():
    targets = box_targets((3.0, -2.0, 4.0, 4.0), 4, 16)
    assert targets["cls"].sum() == 1 and targets["cls"][1, 2] == 1  # nearest cell to (3, -2) is (8, -8)


def test_giou_loss_by_hand():
    target = torch.tensor([10.0, 10.0, 10.0, 10.0]).view(1, 4, 1, 1)
    weights = torch.ones(1, 1, 1)
    assert giou_loss(target.clone(), target, weights).item() == pytest.approx(0.0, abs=1e-6)
    # predicted 20x20 box centred on the same cell as the target's 20x20, but shifted 10 right:
    # l=0, r=20 -> overlap 10x20 = 200, union 600, enclosing 30x20 = 600: GIoU = 1/3.
    shifted = torch.tensor([0.0, 10.0, 20.0, 10.0]).view(1, 4, 1, 1)
    assert giou_loss(shifted, target, weights).item() == pytest.approx(1 - 1 / 3, abs=1e-6)


def test_iou_loss_by_hand():
    target = torch.tensor([10.0, 10.0, 10.0, 10.0]).view(1, 4, 1, 1)
    weights = torch.ones(1, 1, 1)
    shifted = torch.tensor([0.0, 10.0, 20.0, 10.0]).view(1, 4, 1, 1)  # IoU 200 / 600, as above
    assert iou_loss(shifted, target, weights).item() == pytest.approx(1 - 1 / 3, abs=1e-6)
    # Disjoint boxes: IoU 0 (loss 1), GIoU below 0 (loss above 1).
    apart = torch.tensor([-30.0, 10.0, 50.0, 10.0]).view(1, 4, 1, 1)  # spans x 30..50 vs target -10..10
    assert iou_loss(apart, target, weights).item() == pytest.approx(1.0, abs=1e-6)
    assert giou_loss(apart, target, weights).item() == pytest.approx(1 + 20 / 60, abs=1e-6)


def test_balanced_bce_gives_positives_and_negatives_half_each():
    labels = torch.tensor([[1.0, 0.0, 0.0, 0.0]])
    logits = torch.zeros(1, 4)
    # every cell's BCE is ln 2 at logit 0; weights 1/2 and 3 x 1/6 sum to 1
    assert balanced_bce_loss(logits, labels).item() == pytest.approx(np.log(2.0), rel=1e-6)
    # only the positive wrong (logit -2 on it): half the weight on ln(1 + e^2)
    wrong = torch.tensor([[-2.0, 0.0, 0.0, 0.0]])
    assert balanced_bce_loss(wrong, labels).item() == pytest.approx(0.5 * np.log1p(np.exp(2.0)) + 0.5 * np.log(2.0), rel=1e-6)
    assert balanced_bce_loss(logits, torch.zeros(1, 4)).item() == pytest.approx(np.log(2.0), rel=1e-6)


def test_every_configurable_box_loss_exists():
    from tracker.train.config import BOX_CLASSIFICATIONS, BOX_REGRESSIONS
    from tracker.train.losses import BOX_CLASSIFICATION_LOSSES, BOX_REGRESSION_LOSSES

    assert set(BOX_CLASSIFICATIONS) == set(BOX_CLASSIFICATION_LOSSES) and set(BOX_REGRESSIONS) == set(BOX_REGRESSION_LOSSES)


def test_focal_loss_is_small_for_confident_right_answers():
    labels = torch.tensor([[1.0, 0.0, 0.0]])
    right = focal_loss(torch.tensor([[6.0, -6.0, -6.0]]), labels)
    wrong = focal_loss(torch.tensor([[-6.0, 6.0, 6.0]]), labels)
    assert right.item() < 1e-4 < 1.0 < wrong.item()


def test_box_head_loss_combines_the_three_parts():
    targets = {k: torch.from_numpy(v)[None] for k, v in box_targets((0.0, 0.0, 40.0, 40.0), 4, 16).items()}
    outputs = {"cls": torch.zeros(1, 1, 4, 4), "quality": torch.zeros(1, 1, 4, 4), "box": torch.full((1, 4, 4, 4), 16.0)}
    total, parts = box_head_loss(outputs, targets)
    assert total.item() == pytest.approx(parts["cls"] + 3 * parts["box"] + parts["quality"], rel=1e-6)
    perfect = dict(outputs, box=targets["edges"].clone())
    assert box_head_loss(perfect, targets)[1]["box"] == pytest.approx(0.0, abs=1e-6)
    swapped, parts = box_head_loss(outputs, targets, box_weight=1.0, classification="bce", regression="iou")
    assert parts["cls"] == pytest.approx(np.log(2.0), rel=1e-6)  # logits 0: every cell ln 2
    assert swapped.item() == pytest.approx(parts["cls"] + parts["box"] + parts["quality"], rel=1e-6)


def test_anisotropic_warp_stretches_one_axis():
    patch = np.zeros((101, 101, 3), np.uint8)
    patch[40:61, 45:56] = 255  # 11 wide, 21 tall, centred
    out = warp_patch(patch, 101, (2.0, 1.0), (0.0, 0.0), False)
    columns = np.flatnonzero(out[50, :, 0] > 127)
    rows = np.flatnonzero(out[:, 50, 0] > 127)
    assert abs(len(columns) - 22) <= 1 and abs(len(rows) - 21) <= 1


def test_the_box_model_trains_on_a_moving_texture(tmp_path):
    """A few steps of the real training loop on a synthetic clip: the loss goes down."""
    import dataclasses

    from tools.synthetic import moving_texture_clip
    from tracker.train.config import load_train_config
    from tracker.train.data import TrainingSequence
    from tracker.train.loop import train
    import cv2

    frames, boxes = moving_texture_clip(frame_count=12, width=320, height=240, seed=2)
    folder = tmp_path / "clip"
    folder.mkdir()
    paths = []
    for index, frame in enumerate(frames):
        paths.append(str(folder / f"{index:04d}.png"))
        cv2.imwrite(paths[-1], frame)
    sequence = TrainingSequence("clip", paths, np.array(boxes, dtype=np.float64))
    config = load_train_config("tracker/configs/train_box_mobilenet_v2.yaml")
    config = dataclasses.replace(
        config, pretrained=False, device="cpu",
        data=dataclasses.replace(config.data, cache_dir=str(tmp_path / "cache")),
        optim=dataclasses.replace(config.optim, epochs=2, pairs_per_epoch=32, batch_size=8, warmup_epochs=0, lr_start=0.005),
    )
    record = train(config, [sequence], str(tmp_path / "run"), progress=False)
    assert record["loss"] == "box" and len(record["epochs"]) == 2
    assert all(np.isfinite(e["loss"]) for e in record["epochs"])
    assert (tmp_path / "run" / "weights.pt").exists()
    tracker = Tracker.from_model(tmp_path / "run" / "weights.pt", device="cpu")
    tracker.init(frames[0], boxes[0])
    assert np.isfinite(tracker.update(frames[1]).box).all()


def test_the_patch_cache_keeps_every_kth_frame_and_the_target_sizes(tmp_path):
    import cv2

    from tracker.train.data import PatchCache, TrainingSequence, patch_target_size

    paths = []
    for index in range(7):
        paths.append(str(tmp_path / f"{index}.png"))
        cv2.imwrite(paths[-1], np.full((120, 160, 3), 20 * index, np.uint8))
    boxes = np.array([[40.0, 30.0, 20.0 + i, 30.0] for i in range(7)])
    boxes[3] = np.nan  # absent: not a training frame
    sequence = TrainingSequence("seven", paths, boxes)
    every_other = PatchCache(str(tmp_path / "cache"), 0.5, 127, 255, frame_step=2).load(sequence)
    assert every_other["frames"].tolist() == [0, 2, 5]  # valid frames 0, 1, 2, 4, 5, 6 -> every 2nd
    assert every_other["target_sizes"][1] == pytest.approx(patch_target_size(boxes[2], 0.5, 127, 255))
    all_frames = PatchCache(str(tmp_path / "cache"), 0.5, 127, 255).load(sequence)
    assert all_frames["frames"].tolist() == [0, 1, 2, 4, 5, 6]  # a different cache file, not the first one
    # The patch's scale: the 255 search crop spans sqrt((w + p)(h + p)) * 255 / 127 image pixels.
    w, h = 20.0, 30.0
    crop = np.sqrt((w + 25.0) * (h + 25.0)) * 255 / 127
    assert patch_target_size((0, 0, w, h), 0.5, 127, 255) == pytest.approx([w * 255 / crop, h * 255 / crop])
    with pytest.raises(ValueError, match="frame_step must be >= 1"):
        PatchCache(str(tmp_path / "cache"), 0.5, 127, 255, frame_step=0)


def test_the_patch_cache_is_memory_mapped_and_built_by_a_process_pool(tmp_path):
    import cv2

    from tracker.train.data import PatchCache, TrainingSequence

    sequences = []
    for name, shade in (("dark", 40), ("light", 200)):
        paths = []
        for index in range(3):
            paths.append(str(tmp_path / f"{name}{index}.png"))
            cv2.imwrite(paths[-1], np.full((90, 120, 3), shade, np.uint8))
        sequences.append(TrainingSequence(name, paths, np.array([[30.0, 20.0, 30.0, 25.0]] * 3)))
    pooled = PatchCache(str(tmp_path / "pooled"), 0.5, 127, 255)
    pooled.build_all(sequences, workers=2, progress=False)
    alone = PatchCache(str(tmp_path / "alone"), 0.5, 127, 255)
    for sequence in sequences:
        data = pooled.load(sequence)
        # Read from disk page by page, not loaded whole: a corpus's patches outgrow memory.
        assert isinstance(data["targets"], np.memmap) and not data["targets"].flags.writeable
        expected = alone.load(sequence)
        for name in ("frames", "targets", "randoms", "target_sizes", "random_sizes"):
            np.testing.assert_array_equal(data[name], expected[name])
    assert data["targets"].shape == (3, 351, 351, 3) and int(data["targets"][0, 175, 175, 0]) == 200
    # A build that was killed leaves only its .partial folder, which is never read.
    assert not [name for name in os.listdir(tmp_path / "pooled") if name.endswith(".partial")]


def _cached_sequence(brightness: int, frames: int = 3) -> dict:
    """A patch cache's arrays for one sequence: every patch one flat grey level."""
    patch = np.full((frames, 351, 351, 3), brightness, np.uint8)
    sizes = np.full((frames, 2), 64.0, np.float32)
    return {"frames": np.arange(frames), "targets": patch, "randoms": patch, "target_sizes": sizes, "random_sizes": sizes}


@pytest.mark.parametrize("negative_fraction", [0.0, 1.0])
def test_negative_pairs_search_another_sequence_and_have_no_target(negative_fraction):
    from tracker.train.augment import AugmentConfig
    from tracker.train.data import BoxPairBatcher, PairBatcher, PairConfig

    cached = [_cached_sequence(40), _cached_sequence(200)]
    pairs = PairConfig(same_frame_fraction=0.0, negative_fraction=negative_fraction)
    still = AugmentConfig(color_jitter=0.0, grayscale_probability=0.0, blur_probability=0.0, search_shift=0.0)
    box = BoxPairBatcher(cached, 127, 255, 16, 16, pairs, still, seed=3)
    templates, searches, targets = box.batch(8)
    # The centre pixels tell the sequences apart: a negative's search is the other grey.
    different = templates[:, 63, 63, 0].astype(int) != searches[:, 127, 127, 0].astype(int)
    assert different.all() == (negative_fraction == 1.0) and different.any() == (negative_fraction == 1.0)
    positives = targets["cls"].reshape(8, -1).sum(1)
    assert (positives == 0).all() if negative_fraction else (positives > 0).all()
    if negative_fraction:
        assert not targets["inside"].any() and not targets["centerness"].any()

    siamfc = PairBatcher(cached, 127, 255, 17, 8, pairs, still, seed=3)
    _, _, labels, weights = siamfc.batch(4)
    assert (labels.reshape(4, -1).sum(1) == 0).all() == bool(negative_fraction)
    np.testing.assert_allclose(weights.reshape(4, -1).sum(1), 1.0, rtol=1e-5)


def test_a_negative_pair_adds_only_background_classification_loss():
    outputs = {"cls": torch.full((1, 1, 4, 4), -3.0), "quality": torch.zeros(1, 1, 4, 4), "box": torch.full((1, 4, 4, 4), 8.0)}
    empty = {key: torch.zeros(shape) for key, shape in
             (("cls", (1, 4, 4)), ("inside", (1, 4, 4)), ("centerness", (1, 4, 4)), ("edges", (1, 4, 4, 4)))}
    total, parts = box_head_loss(outputs, empty)
    # 16 background cells at p = sigmoid(-3): focal 0.75 * p^2 * -log(1 - p), no positive to divide by.
    p = 1 / (1 + np.exp(3.0))
    assert parts["cls"] == pytest.approx(16 * 0.75 * p ** 2 * -np.log(1 - p), rel=1e-4)
    assert parts["box"] == 0.0 and parts["quality"] == 0.0 and float(total) == pytest.approx(parts["cls"], rel=1e-5)


def test_pair_fractions_outside_zero_to_one_are_refused():
    from tracker.train.data import PairConfig

    with pytest.raises(ValueError, match="negative_fraction"):
        PairConfig(negative_fraction=1.5)


def test_a_negative_seed_offset_is_refused():
    from tracker.train.data import PairConfig

    assert PairConfig(seed_offset=2).seed_offset == 2
    with pytest.raises(ValueError, match="seed_offset"):
        PairConfig(seed_offset=-1)


def test_sequence_weightings_by_hand():
    from tracker.train.data import PairConfig, sequence_weights

    # 100, 400 and 1600 frames: 1/21, 4/21, 16/21; square roots 10, 20, 40 -> 1/7, 2/7, 4/7; uniform 1/3 each
    assert sequence_weights([100, 400, 1600], "frames") == pytest.approx([1 / 21, 4 / 21, 16 / 21])
    assert sequence_weights([100, 400, 1600], "sqrt_frames") == pytest.approx([1 / 7, 2 / 7, 4 / 7])
    assert sequence_weights([100, 400, 1600], "uniform") == pytest.approx([1 / 3] * 3)
    with pytest.raises(ValueError, match="sequence_weighting must be one of frames, sqrt_frames, uniform, got 'videos'"):
        PairConfig(sequence_weighting="videos")


def test_a_pasted_distractor_takes_the_targets_area_its_own_shape_and_a_place_beside_it():
    from tracker.train.augment import paste_distractor

    search = np.zeros((255, 255, 3), np.uint8)
    source = np.zeros((351, 351, 3), np.uint8)
    source[155:196, 165:186] = 255  # a 21 x 41 white object at the source patch's centre (175, 175)
    target = (0.0, 0.0, 60.0, 60.0)  # 60 x 60 at the crop centre: pixels 97..157
    rng = np.random.default_rng(0)
    for _ in range(20):
        out = paste_distractor(search, source, (21, 41), target, rng, size_jitter=0.0)
        ys, xs = np.nonzero(out[..., 0])
        # Area 3,600 at aspect 21/41: 42.9 x 83.8 px; the faded rim is dim, not absent.
        assert xs.max() - xs.min() + 1 == pytest.approx(43, abs=1) and ys.max() - ys.min() + 1 == pytest.approx(84, abs=1)
        assert out[ys.min():ys.max() + 1, xs.min():xs.max() + 1, 0].max() == 255
        apart_x = xs.max() < 97 or xs.min() >= 157
        apart_y = ys.max() < 97 or ys.min() >= 157
        assert apart_x or apart_y
    assert not search.any()  # the input is not written to


def test_a_distractor_that_finds_no_free_place_leaves_the_crop_as_it_was():
    from tracker.train.augment import paste_distractor

    search = np.full((255, 255, 3), 7, np.uint8)
    source = np.full((351, 351, 3), 200, np.uint8)
    out = paste_distractor(search, source, (64, 64), (0.0, 0.0, 250.0, 250.0), np.random.default_rng(0))
    np.testing.assert_array_equal(out, search)


def test_distractor_pairs_keep_the_targets_labels_and_add_the_other_sequence_outside_it():
    from tracker.train.augment import AugmentConfig
    from tracker.train.data import BoxPairBatcher, PairConfig

    cached = [_cached_sequence(40), _cached_sequence(200)]
    pairs = PairConfig(same_frame_fraction=0.0)
    still = dict(color_jitter=0.0, grayscale_probability=0.0, blur_probability=0.0, search_shift=0.0, flip_probability=0.0)
    plain = BoxPairBatcher(cached, 127, 255, 16, 16, pairs, AugmentConfig(**still), seed=5).sample()
    pasted = BoxPairBatcher(cached, 127, 255, 16, 16, pairs, AugmentConfig(distractor_probability=1.0, **still), seed=5).sample()
    for key in plain[2]:
        np.testing.assert_array_equal(plain[2][key], pasted[2][key])
    own = int(plain[0][63, 63, 0])
    other = ({40, 200} - {own}).pop()
    search = pasted[1][..., 0].astype(int)
    # The target (64 x 64 at the centre) is untouched; the other sequence's grey is beside it.
    assert (search[96:159, 96:159] == own).all()
    assert (search == other).sum() > 100
    with pytest.raises(ValueError, match="distractor_probability"):
        AugmentConfig(distractor_probability=1.5)


def test_a_part_of_the_target_is_the_same_sub_box_of_both_frames_zoomed_to_fill_the_crop():
    from tracker.train.data import part_of_target

    (t_offset, t_zoom, t_part), (s_offset, s_zoom, s_part) = part_of_target(
        (40.0, 80.0), (60.0, 120.0), 0.5, np.random.default_rng(1), fraction_range=(0.5, 0.5))
    # Half of each side: the context crop (sqrt((w + p)(h + p)), p = (w + h) / 2) is linear in
    # the size, so the half-size part's crop is half as large and the zoom is exactly 2.
    np.testing.assert_allclose(t_part, [20.0, 40.0]) and np.testing.assert_allclose(s_part, [30.0, 60.0])
    assert t_zoom == pytest.approx(2.0) and s_zoom == pytest.approx(2.0)
    # The same place within each box: offsets in proportion to the boxes, inside a quarter side.
    np.testing.assert_allclose(s_offset, t_offset * 1.5)
    assert (np.abs(t_offset) <= [10.0, 20.0]).all()


def _gradient_sequence() -> dict:
    """Patches whose red and green levels are the pixel's column and row: a colour names a place."""
    rows, cols = np.mgrid[0:351, 0:351]
    patch = np.stack([cols * 255 // 350, rows * 255 // 350, np.full_like(rows, 128)], axis=-1).astype(np.uint8)
    patches = np.repeat(patch[None], 3, axis=0)
    sizes = np.full((3, 2), (80.0, 120.0), np.float32)
    return {"frames": np.arange(3), "targets": patches, "randoms": patches, "target_sizes": sizes, "random_sizes": sizes}


def test_part_pairs_centre_template_and_box_on_the_same_part_of_the_target():
    from tracker.box_geometry import cell_offsets
    from tracker.train.augment import AugmentConfig
    from tracker.train.data import BoxPairBatcher, PairConfig

    still = AugmentConfig(color_jitter=0.0, grayscale_probability=0.0, blur_probability=0.0, flip_probability=0.0,
                          stretch=0.0, template_shift=0.0, search_shift=0.0)
    batcher = BoxPairBatcher([_gradient_sequence()], 127, 255, 16, 16, PairConfig(same_frame_fraction=0.0, part_fraction=1.0),
                             still, seed=2)
    off_centre = 0
    for _ in range(10):
        template, search, targets = batcher.sample()
        # The box's centre is where the centre-ness peaks; its colour is the template centre's.
        row, col = np.unravel_index(np.argmax(targets["centerness"]), targets["centerness"].shape)
        x, y = (cell_offsets(16, 16) + 127)[[col, row]]
        np.testing.assert_allclose(search[int(round(y)), int(round(x)), :2].astype(int), template[63, 63, :2].astype(int), atol=18)
        off_centre += int(np.abs(template[63, 63, :2].astype(int) - 127).max() > 3)
        # Zoomed so that the part fills the crop as the whole 80 x 120 target did.
        inside = np.argwhere(targets["inside"])
        assert 0 < len(inside) < 16 * 16
    assert off_centre >= 5  # the parts are off the target's centre, not the whole target


def test_a_part_fraction_outside_zero_to_one_is_refused():
    from tracker.train.data import PairConfig

    with pytest.raises(ValueError, match="part_fraction"):
        PairConfig(part_fraction=-0.1)
