"""``python -m tools.bench_runtime``'s pure helpers, and ``python -m tools.bench`` on a box-head config."""
import pytest

from tools.bench_runtime import grid_boxes, multi_ratio


def test_multi_ratio_is_the_ratio_of_median_frame_times():
    times = {("box", 8): [0.05, 0.04, 0.06], ("siamfc", 8): [0.2, 0.3, 0.1]}
    # medians 0.05 s and 0.2 s per frame for the same 8 targets: 4x the target-updates/s
    assert multi_ratio(times, "box", "siamfc", 8) == pytest.approx(4.0)
    assert multi_ratio(times, "siamfc", "siamfc", 8) == pytest.approx(1.0)


def test_grid_boxes_keeps_the_first_box_and_stays_inside_the_frame():
    boxes = grid_boxes((10, 20, 30, 40), 4, 100, 80)
    assert boxes[0] == (10, 20, 30, 40)
    # a 2x2 grid: cell centres (75, 20), (25, 60), (75, 60), each box clamped into 100x80
    assert boxes[1:] == [(60.0, 0.0, 30, 40), (10.0, 40.0, 30, 40), (60.0, 40.0, 30, 40)]


def test_the_stage_bench_times_a_box_head_config(capsys):
    """``python -m tools.bench --config box_mobilenet_v2.yaml --scales 1`` runs the box head's own loop."""
    from tools import bench
    from tracker.config import config_path

    bench.main(["--config", config_path("box_mobilenet_v2"), "--scales", "1", "--precisions", "fp32",
                "--device", "cpu", "--updates", "2"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 1 | fp32 | cpu |")]
    assert len(rows) == 1
