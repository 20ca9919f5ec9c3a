"""The tracking math against numbers worked out by hand (see each test's comment)."""
import numpy as np
import pytest

from tracker import geometry


def test_context_crop_sizes_rectangle():
    # w=100, h=50, context 0.5: padding 0.5*(150)=75 -> sqrt(175*125) = sqrt(21875) = 147.902;
    # search = 147.902 * 255/127 = 296.969.
    template, search = geometry.context_crop_sizes((100, 50), 0.5, 127, 255)
    assert template == pytest.approx(147.9020, abs=1e-4)
    assert search == pytest.approx(296.9686, abs=1e-4)


def test_context_crop_sizes_square():
    # 10x10: padding 10 -> 20x20 -> 20; search 20 * 255/127 = 40.157.
    template, search = geometry.context_crop_sizes((10, 10), 0.5, 127, 255)
    assert template == pytest.approx(20.0)
    assert search == pytest.approx(40.1575, abs=1e-4)


def _ramp_frame():
    # Pixel value = 10 * column in every row and channel: [0, 10, 20, 30].
    return np.tile((np.arange(4, dtype=np.uint8) * 10)[None, :, None], (4, 1, 3))


def test_crop_and_resize_identity_when_crop_is_the_frame():
    frame = _ramp_frame()
    crop = geometry.crop_and_resize(frame, (2.0, 2.0), 4.0, 4, (0, 0, 0))
    np.testing.assert_array_equal(crop, frame)


def test_crop_and_resize_subwindow():
    frame = np.arange(16, dtype=np.uint8).reshape(4, 4)[:, :, None].repeat(3, axis=2)
    # Centre (1, 1), side 2 -> pixels 0..1 in both axes.
    crop = geometry.crop_and_resize(frame, (1.0, 1.0), 2.0, 2, (0, 0, 0))
    np.testing.assert_array_equal(crop[:, :, 0], [[0, 1], [4, 5]])


def test_crop_and_resize_downscale_averages_neighbours():
    # Side 4 -> 2 pixels: output pixel 0 samples input x=0.5, halfway between 0 and 10 -> 5;
    # output pixel 1 samples x=2.5 -> 25.
    crop = geometry.crop_and_resize(_ramp_frame(), (2.0, 2.0), 4.0, 2, (0, 0, 0))
    np.testing.assert_array_equal(crop[0, :, 0], [5, 25])


def test_crop_and_resize_pads_with_fill_colour_partly_outside():
    frame = np.full((4, 4, 3), 100, dtype=np.uint8)
    # Centre on the frame's corner, side 2: only output pixel (1, 1) is frame pixel (0, 0).
    crop = geometry.crop_and_resize(frame, (0.0, 0.0), 2.0, 2, (7, 8, 9))
    np.testing.assert_array_equal(crop[1, 1], [100, 100, 100])
    np.testing.assert_array_equal(crop[0, 0], [7, 8, 9])
    np.testing.assert_array_equal(crop[0, 1], [7, 8, 9])


def test_crop_and_resize_wholly_outside_is_all_fill():
    frame = np.full((4, 4, 3), 100, dtype=np.uint8)
    crop = geometry.crop_and_resize(frame, (-50.0, 80.0), 6.0, 3, (1, 2, 3))
    assert (crop == np.array([1, 2, 3], dtype=np.uint8)).all()


def test_crop_scales_stacks_one_crop_per_size():
    frame = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    sizes = [10.0, 20.0, 30.0]
    crops = geometry.crop_scales(frame, (25.0, 20.0), sizes, 8, (0, 0, 0))
    assert crops.shape == (3, 8, 8, 3) and crops.dtype == np.uint8
    for crop, size in zip(crops, sizes):
        np.testing.assert_array_equal(crop, geometry.crop_and_resize(frame, (25.0, 20.0), size, 8, (0, 0, 0)))


def test_scale_factors_three_and_five():
    np.testing.assert_allclose(geometry.scale_factors(3, 1.0375), [0.963855, 1.0, 1.0375], atol=1e-6)
    np.testing.assert_allclose(
        geometry.scale_factors(5, 1.0255), [0.950886, 0.975134, 1.0, 1.0255, 1.051650], atol=1e-6
    )
    np.testing.assert_allclose(geometry.scale_factors(1, 1.0375), [1.0])


def test_scale_penalties():
    np.testing.assert_allclose(geometry.scale_penalties(3, 0.9745), [0.9745, 1.0, 0.9745])
    np.testing.assert_allclose(geometry.scale_penalties(5, 0.962), [0.962, 0.962, 1.0, 0.962, 0.962])


def test_upsample_constant_stays_constant_and_shape():
    responses = np.full((3, 17, 17), 2.5, dtype=np.float32)
    up = geometry.upsample_responses(responses, 16)
    assert up.shape == (3, 272, 272) and up.flags["C_CONTIGUOUS"]
    np.testing.assert_allclose(up, 2.5, atol=1e-5)


def test_upsample_keeps_peak_at_cell_centre_per_scale():
    # Cell c's centre lands at upsampled coordinate (c + 0.5) * 16 - 0.5: for c=8 that is
    # 135.5, so the maximum is shared by 135 and 136; for c=10 by 167 and 168.
    responses = np.zeros((2, 17, 17), dtype=np.float32)
    responses[0, 8, 8] = 1.0
    responses[1, 10, 3] = 1.0
    up = geometry.upsample_responses(responses, 16)
    assert geometry.peak_location(up[0]) in {(135, 135), (135, 136), (136, 135), (136, 136)}
    assert up[0, 135, 135] == pytest.approx(up[0, 136, 136], abs=1e-6)
    row, col = geometry.peak_location(up[1])
    assert row in (167, 168) and col in (55, 56)


def test_upsample_factor_one_is_identity():
    responses = np.random.default_rng(1).standard_normal((3, 17, 17)).astype(np.float32)
    np.testing.assert_allclose(geometry.upsample_responses(responses, 1), responses, atol=1e-6)


def test_select_scale_applies_penalty():
    up = np.zeros((3, 4, 4))
    up[0, 1, 1], up[1, 2, 2], up[2, 0, 0] = 1.0, 0.98, 0.5
    # 1.0 * 0.9745 = 0.9745 < 0.98 on the unpenalised middle scale.
    assert geometry.select_scale(up, geometry.scale_penalties(3, 0.9745)) == 1
    assert geometry.select_scale(up, np.ones(3)) == 0


def test_hann_window_hand_values():
    # hanning(5) = [0, .5, 1, .5, 0]; outer product sums to 2 * 2 = 4.
    window = geometry.hann_window(5)
    assert window.sum() == pytest.approx(1.0)
    assert window[2, 2] == pytest.approx(0.25)
    assert window[1, 1] == pytest.approx(0.0625)
    assert window[1, 2] == pytest.approx(0.125)
    assert window[0].sum() == 0.0


def test_apply_window_hand_values():
    # [[1,2],[3,4]] -> shifted [[0,1],[2,3]] / 6; window uniform 0.25; influence 0.5.
    mixed = geometry.apply_window(np.array([[1.0, 2.0], [3.0, 4.0]]), np.full((2, 2), 0.25), 0.5)
    np.testing.assert_allclose(mixed, [[0.125, 0.125 + 1 / 12], [0.125 + 2 / 12, 0.125 + 3 / 12]])


def test_apply_window_influence_zero_keeps_argmax():
    response = np.random.default_rng(2).standard_normal((272, 272))
    mixed = geometry.apply_window(response, geometry.hann_window(272), 0.0)
    assert geometry.peak_location(mixed) == geometry.peak_location(response)


def test_peak_to_displacement_hand_values():
    # Centre of a 272 map is 135.5. Peak (row 151, col 135): (15.5, -0.5) upsampled cells
    # -> x 8/16 -> (7.75, -0.25) search-crop pixels -> x 255/255 image pixels.
    dx, dy = geometry.peak_to_displacement((151, 135), 272, 16, 8, 255.0, 255)
    assert (dx, dy) == pytest.approx((-0.25, 7.75))
    # A search crop twice the network's size: twice the image pixels.
    dx, dy = geometry.peak_to_displacement((151, 135), 272, 16, 8, 510.0, 255)
    assert (dx, dy) == pytest.approx((-0.5, 15.5))


def test_damped_scale_hand_values():
    assert geometry.damped_scale(1.0375, 0.59) == pytest.approx(1.022125)
    assert geometry.damped_scale(1 / 1.0375, 0.34) == pytest.approx(0.987711, abs=1e-6)
    assert geometry.damped_scale(1.0, 0.59) == 1.0


def test_clamp_target_size():
    np.testing.assert_allclose(geometry.clamp_target_size((10, 20), (100, 200), 0.2, 5.0, 4.0), [20, 40])
    np.testing.assert_allclose(geometry.clamp_target_size((1000, 2000), (100, 200), 0.2, 5.0, 4.0), [500, 1000])
    np.testing.assert_allclose(geometry.clamp_target_size((50, 60), (100, 200), 0.2, 5.0, 4.0), [50, 60])
    np.testing.assert_allclose(geometry.clamp_target_size((2, 8), (2, 8), 0.2, 5.0, 4.0), [4, 8])


def test_clamp_center():
    np.testing.assert_allclose(geometry.clamp_center((-5, 700), 640, 480), [0, 480])
    np.testing.assert_allclose(geometry.clamp_center((10.5, 20.25), 640, 480), [10.5, 20.25])


def test_response_confidence():
    assert geometry.response_confidence(0.0) == 0.5
    assert geometry.response_confidence(2.0) == pytest.approx(0.8807971)
    assert geometry.response_confidence(-1e9) == pytest.approx(0.0, abs=1e-20)


def test_sweep_tile_centers_cover_the_frame_nearest_first():
    # 200x100 frame, tiles of 100 overlapping by half: a step of 50, so 4 columns x 2 rows.
    centers = geometry.sweep_tile_centers(200, 100, 100.0, origin=(0.0, 0.0))
    assert centers.tolist()[:3] == [[25.0, 25.0], [75.0, 25.0], [25.0, 75.0]]  # the tie keeps row-major order
    assert sorted(map(tuple, centers.tolist())) == sorted((x, y) for x in (25.0, 75.0, 125.0, 175.0) for y in (25.0, 75.0))
    assert geometry.sweep_tile_centers(200, 100, 100.0, origin=(190.0, 90.0)).tolist()[0] == [175.0, 75.0]


def test_sweep_of_a_frame_smaller_than_a_tile_is_its_centre():
    assert geometry.sweep_tile_centers(30, 20, 500.0, origin=(0.0, 0.0)).tolist() == [[15.0, 10.0]]
