"""The box head's tracking math against numbers worked out by hand."""
import numpy as np
import pytest

from tracker.box_geometry import cell_offsets, change_penalty, choose_cell, decode_boxes, padded_size


def test_cell_offsets_are_centred_on_the_crop():
    assert cell_offsets(4, 16).tolist() == [-24.0, -8.0, 8.0, 24.0]
    assert cell_offsets(3, 8).tolist() == [-8.0, 0.0, 8.0]


def test_decode_boxes_by_hand():
    edges = np.zeros((4, 3, 3))
    edges[:, 1, 2] = [10.0, 4.0, 6.0, 8.0]  # cell at x = +8, y = 0 (stride 8)
    cx, cy, w, h = decode_boxes(edges, 8)[:, 1, 2]
    # x1 = 8 - 10 = -2, x2 = 8 + 6 = 14 -> cx 6, w 16; y1 = -4, y2 = 8 -> cy 2, h 12
    assert (cx, cy, w, h) == (6.0, 2.0, 16.0, 12.0)


def test_change_penalty_by_hand():
    assert padded_size(10.0, 30.0) == pytest.approx(np.sqrt(30.0 * 50.0))
    same = change_penalty(np.array([10.0]), np.array([30.0]), (10.0, 30.0), 0.1)
    assert same[0] == pytest.approx(1.0)
    # twice the size, same aspect: s_c = 2, r_c = 1 -> exp(-(2 - 1) * 0.1)
    double = change_penalty(np.array([20.0]), np.array([60.0]), (10.0, 30.0), 0.1)
    assert double[0] == pytest.approx(np.exp(-0.1))
    # same padded size, aspect 1:3 -> 3:1 would change r by 9: check only that it is penalised more than no change
    flipped = change_penalty(np.array([30.0]), np.array([10.0]), (10.0, 30.0), 0.1)
    assert flipped[0] == pytest.approx(np.exp(-(9.0 - 1.0) * 0.1))


def test_choose_cell_mixes_penalised_score_and_window():
    score = np.zeros((3, 3))
    score[0, 0], score[1, 1] = 0.9, 0.6
    window = np.outer(np.hanning(3), np.hanning(3))  # 1 at the centre only
    penalty = np.ones((3, 3))
    assert choose_cell(score, penalty, window, 0.0) == (0, 0)
    assert choose_cell(score, penalty, window, 0.3) == (1, 1)  # 0.7*0.6 + 0.3 = 0.72 > 0.63
    penalty[1, 1] = 0.1
    assert choose_cell(score, penalty, window, 0.0) == (0, 0)
