"""Scores per record, OVERALL rows, text table, CSV/JSON and the two plots."""
import csv
import json

import numpy as np
import pytest

from tracker.eval import report
from tracker.datasets import Sequence
from tracker.eval.runner import RunRecord, SpeedRecord

TRUTH = np.array([[0, 0, 10, 10], [5, 0, 10, 10], [20, 20, 10, 10], [np.nan] * 4], dtype=float)


def _sequences():
    return [Sequence("s1", TRUTH, video_path="unused.avi"), Sequence("s2", TRUTH[:3], video_path="unused.avi")]


def _records():
    constant = np.array([[0, 0, 10, 10]] * 4, dtype=float)
    return [
        RunRecord("perfect", "s1", TRUTH.copy(), np.array([0.1, 0.1, 0.1])),
        RunRecord("constant", "s1", constant, np.array([0.2, 0.2, 0.2])),
        RunRecord("perfect", "s2", TRUTH[:3].copy(), np.array([0.1, 0.3])),
        RunRecord("constant", "s2", constant[:3], np.array([0.5, 0.5])),
    ]


def test_scores_and_overall_rows():
    rows = report.score_records(_records(), _sequences())
    cell = {(r["tracker"], r["sequence"]): r for r in rows}
    assert cell["perfect", "s1"]["auc"] == 1.0 and cell["perfect", "s1"]["frames"] == 3
    assert cell["constant", "s1"]["auc"] == pytest.approx(28 / 63)
    assert cell["constant", "s1"]["precision_20"] == pytest.approx(2 / 3)
    assert cell["constant", "s1"]["fps"] == pytest.approx(5.0)
    # GOT-10k: first frame skipped, IoUs 1/3 and 0.
    assert cell["constant", "s1"]["ao"] == pytest.approx(1 / 6) and cell["constant", "s1"]["sr_50"] == 0.0
    overall = {r["tracker"]: r for r in report.overall_rows(rows)}
    assert overall["perfect"]["auc"] == 1.0 and overall["perfect"]["precision_20"] == 1.0
    assert overall["constant"]["auc"] == pytest.approx(28 / 63)
    assert overall["perfect"]["fps"] == pytest.approx(5 / 0.7)  # all updates / all update time
    assert overall["constant"]["frames"] == 6


def test_table_csv_json_and_plots(tmp_path):
    rows = report.score_records(_records(), _sequences())
    rows += report.overall_rows(rows)
    text = report.format_table(rows, {"perfect": "Perfect", "constant": "Constant box"})
    lines = text.splitlines()
    assert "Perfect" in lines[0] and "Constant box" in lines[0] and "AUC" in lines[1] and "P@20" in lines[1]
    assert lines[-1].startswith("OVERALL") and "1.000" in lines[-1] and "0.444" in lines[-1]

    with open(report.write_csv(rows, str(tmp_path / "t.csv")), newline="") as handle:
        table = list(csv.DictReader(handle))
    assert tuple(table[0]) == report.TABLE_FIELDS and len(table) == 6
    assert float(table[1]["auc"]) == pytest.approx(28 / 63, abs=1e-6)

    with open(report.write_json(rows, str(tmp_path / "t.json"), {"note": "x"})) as handle:
        document = json.load(handle)
    assert document["meta"] == {"note": "x"} and len(document["thresholds"]["success"]) == 21
    assert len(document["rows"][0]["success_curve"]) == 21

    overall = [r for r in rows if r["sequence"] == report.OVERALL]
    for plot, name in ((report.plot_success, "success.png"), (report.plot_precision, "precision.png")):
        path = plot({r["tracker"]: r[name.split(".")[0] + "_curve"] for r in overall}, str(tmp_path / name))
        with open(path, "rb") as handle:
            assert handle.read(8) == b"\x89PNG\r\n\x1a\n"


def test_speed_rows_ratios():
    records = [
        SpeedRecord("a", "s1", 10, (1.0, 1.0)),
        SpeedRecord("b", "s1", 10, (0.5, 0.5)),
        SpeedRecord("a", "s2", 10, (2.0, 2.0)),
        SpeedRecord("b", "s2", 10, (1.0, 3.0)),
    ]
    rows = report.speed_rows(records)
    cell = {(r["tracker"], r["sequence"]): r for r in rows}
    assert cell["b", "s1"]["fps"] == pytest.approx(20.0) and cell["b", "s1"]["ratio_to_a"] == pytest.approx(2.0)
    assert cell["a", report.OVERALL]["fps"] == pytest.approx(40 / 6)
    assert cell["b", report.OVERALL]["ratio_to_a"] == pytest.approx((40 / 5) / (40 / 6))
    text = report.format_speed_table(rows)
    assert text.splitlines()[-1].startswith("OVERALL")
