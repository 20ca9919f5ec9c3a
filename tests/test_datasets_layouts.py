"""The benchmark layouts beyond OTB/GOT-10k/video: UAV123, DTB70, UAVDT, VOT, LaSOT and the
OTB variants, each on a tiny synthetic folder with hand-computed 0-based boxes."""
import os

import cv2
import numpy as np
import pytest

from tracker.datasets import (
    LAYOUTS,
    detect_layout,
    load_dataset,
    load_dtb70_sequence,
    load_lasot_sequence,
    load_otb_variant_sequence,
    load_sequence,
    load_uav123_sequence,
    load_uavdt_sequence,
    load_vot_sequence,
    read_config_seqs,
)
from tracker.datasets.decode import frame_name_prefix, numbered_images


def _frames(folder, names):
    os.makedirs(folder, exist_ok=True)
    for index, name in enumerate(names):
        cv2.imwrite(os.path.join(folder, name), np.full((10, 12, 3), 20 * index, np.uint8))


def _text(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _names(sequence):
    return [os.path.basename(p) for p in sequence.frame_paths]


def test_registry_order_puts_supersets_first():
    assert list(LAYOUTS) == ["otb", "lasot", "vot", "got10k", "otb_variant", "dtb70", "uavdt", "uav123", "video"]


# UAV123 ---------------------------------------------------------------------------------

def test_uav123_sub_sequences_are_cut_by_frame_range_and_share_the_boundary_frame(tmp_path):
    video = tmp_path / "seq" / "group2"
    _frames(str(video), [f"{i:06d}.jpg" for i in range(1, 8)])
    _text(str(tmp_path / "seq" / "group2_1.txt"), "1,1,4,4\n2,3,4,5\n3,4,5,6\n10,20,3,2\n")
    _text(str(tmp_path / "seq" / "group2_2.txt"), "11,21,3,2\nNaN,NaN,NaN,NaN\n5.5,6.5,2,2\n1,1,1,1\n")
    assert detect_layout(str(video)) == "uav123"
    with pytest.raises(ValueError, match="sub-sequences group2_1, group2_2.*frame_range"):
        load_sequence(str(video))
    second = load_uav123_sequence(str(video), name="group2_2", frame_range=(4, 7))
    assert second.name == "group2_2" and second.layout == "uav123"
    assert _names(second) == ["000004.jpg", "000005.jpg", "000006.jpg", "000007.jpg"]
    np.testing.assert_array_equal(second.boxes, [[10, 20, 3, 2], [np.nan] * 4, [4.5, 5.5, 2, 2], [0, 0, 1, 1]])
    first = load_uav123_sequence(str(video), name="group2_1", frame_range=(1, 4))
    assert _names(first)[-1] == _names(second)[0] == "000004.jpg"
    np.testing.assert_array_equal(first.boxes[1], [1, 2, 4, 5])


def test_uav123_official_layout_finds_the_box_file_in_the_matching_anno_folder(tmp_path):
    video = tmp_path / "UAV123_10fps" / "data_seq" / "UAV123_10fps" / "bike1"
    _frames(str(video), ["000001.jpg", "000002.jpg"])
    _text(str(tmp_path / "UAV123_10fps" / "anno" / "UAV123_10fps" / "bike1.txt"), "31,41,20,10\n32,42,20,10\n")
    assert detect_layout(str(video)) == "uav123"
    sequence = load_sequence(str(video))
    assert sequence.name == "bike1" and sequence.init_box == (30.0, 40.0, 20.0, 10.0)


def test_uav123_shortened_folder_needs_a_frame_range(tmp_path):
    video = tmp_path / "truck2" / "img"  # TB-BiCF ships 5 frames, the sequence is frames 1-3
    _frames(str(video), [f"{i:06d}.jpg" for i in range(1, 6)])
    boxes = str(tmp_path / "truck2" / "groundtruth_rect.txt")
    _text(boxes, "1,1,2,2\n2,2,2,2\n3,3,2,2\n")
    with pytest.raises(ValueError, match="3 boxes for 5 frames.*frame_range"):
        load_uav123_sequence(str(video), name="truck2", boxes_path=boxes)
    sequence = load_uav123_sequence(str(video), name="truck2", boxes_path=boxes, frame_range=(1, 3))
    assert len(sequence) == 3 and sequence.boxes[2].tolist() == [2, 2, 2, 2]
    with pytest.raises(ValueError, match="first <= last"):
        load_uav123_sequence(str(video), name="truck2", boxes_path=boxes, frame_range=(3, 1))


def test_read_config_seqs_gives_each_sub_sequence_its_video_and_range():
    text = (
        "seqUAV123_10fps={struct('name','bike1','path',[dataSet '\\bike1\\'],'startFrame',1,'endFrame',1029,'nz',6,'ext','jpg','init_rect',[0,0,0,0]),...\n"
        "        struct('name','group2_2','path',[dataSet '\\group2\\'],'startFrame',303,'endFrame',591,'nz',6,'ext','jpg','init_rect',[0,0,0,0]),...\n"
    )
    assert read_config_seqs(text) == {"bike1": ("bike1", 1, 1029), "group2_2": ("group2", 303, 591)}
    with pytest.raises(ValueError, match="configSeqs"):
        read_config_seqs("nothing here")


# DTB70 ----------------------------------------------------------------------------------

@pytest.mark.parametrize("inside", [True, False])
def test_dtb70_box_file_inside_or_beside_the_folder(tmp_path, inside):
    folder = tmp_path / "seq" / "Gull2"
    _frames(str(folder / "img"), ["00001.jpg", "00002.jpg", "00003.jpg"])
    boxes = folder / "Gull2.txt" if inside else tmp_path / "seq" / "Gull2.txt"
    _text(str(boxes), "101,51,60,50\n102,52,61,49\n103.5,53.5,62,48\n")
    assert detect_layout(str(folder)) == "dtb70"
    sequence = load_sequence(str(folder))
    assert sequence.layout == "dtb70" and sequence.name == "Gull2"
    np.testing.assert_array_equal(sequence.boxes, [[100, 50, 60, 50], [101, 51, 61, 49], [102.5, 52.5, 62, 48]])


def test_dtb70_frame_range_and_official_release_is_otb(tmp_path):
    folder = tmp_path / "BMX3"
    _frames(str(folder / "img"), ["00001.jpg", "00002.jpg", "00003.jpg"])
    _text(str(folder / "BMX3.txt"), "5,6,7,8\n6,7,8,9\n")
    sequence = load_dtb70_sequence(str(folder), frame_range=(2, 3))
    assert _names(sequence) == ["00002.jpg", "00003.jpg"] and sequence.boxes[0].tolist() == [4, 5, 7, 8]
    os.remove(folder / "BMX3.txt")
    _text(str(folder / "groundtruth_rect.txt"), "5,6,7,8\n6,7,8,9\n7,8,9,10\n")
    assert detect_layout(str(folder)) == "otb"  # DTB70's own release is the OTB layout


# UAVDT ----------------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["beside_gt", "anno_up", "beside_plain"])
def test_uavdt_frames_with_img_prefix_and_gt_file(tmp_path, where):
    folder = tmp_path / "seq" / "S1001"
    _frames(str(folder), ["img000001.jpg", "img000002.jpg"])
    boxes = {
        "beside_gt": tmp_path / "seq" / "S1001_gt.txt",
        "anno_up": tmp_path / "anno" / "S1001_gt.txt",
        "beside_plain": tmp_path / "seq" / "S1001.txt",
    }[where]
    _text(str(boxes), "501,201,30,20\n500,200,31,21\n")
    assert detect_layout(str(folder)) == "uavdt"
    sequence = load_uavdt_sequence(str(folder))
    assert sequence.layout == "uavdt" and _names(sequence) == ["img000001.jpg", "img000002.jpg"]
    np.testing.assert_array_equal(sequence.boxes, [[500, 200, 30, 20], [499, 199, 31, 21]])


def test_uavdt_count_mismatch_is_an_error(tmp_path):
    folder = tmp_path / "S0310"
    _frames(str(folder), ["img000001.jpg", "img000002.jpg"])
    _text(str(tmp_path / "S0310_gt.txt"), "1,1,2,2\n")
    with pytest.raises(ValueError, match="1 boxes for 2 frames"):
        load_uavdt_sequence(str(folder))


# VOT ------------------------------------------------------------------------------------

def test_vot_polygons_become_axis_aligned_boxes_and_a_short_copy_uses_the_first_lines(tmp_path):
    folder = tmp_path / "vot15_car1"
    _frames(str(folder / "imgs"), ["00000001.jpg", "00000002.jpg", "00000003.jpg"])
    _text(str(folder / "groundtruth.txt"), (
        "10,20,30,22,28,40,8,38\n"  # rotated: x 8..30, y 20..40
        "1.5,2.5,11.5,2.5,11.5,7.5,1.5,7.5\n"  # axis-aligned polygon
        "nan,nan,nan,nan,nan,nan,nan,nan\n"
        "5,5,6,6,7,7,8,8\n"  # lines past the copy's last frame are not used
    ))
    assert detect_layout(str(folder)) == "vot"
    sequence = load_vot_sequence(str(folder))
    assert sequence.layout == "vot" and len(sequence) == 3
    np.testing.assert_array_equal(sequence.boxes, [[7, 19, 22, 20], [0.5, 1.5, 10, 5], [np.nan] * 4])
    later = load_vot_sequence(str(folder), frame_range=(2, 3))
    np.testing.assert_array_equal(later.boxes[0], [0.5, 1.5, 10, 5])


def test_vot_frames_beside_polygons_are_vot_but_beside_rectangles_are_got10k(tmp_path):
    vot = tmp_path / "bolt"
    _frames(str(vot), ["00000001.jpg", "00000002.jpg"])
    _text(str(vot / "groundtruth.txt"), "1,1,5,1,5,5,1,5\n2,2,6,2,6,6,2,6\n")
    assert detect_layout(str(vot)) == "vot"
    got = tmp_path / "GOT-10k_Train_000001"
    _frames(str(got), ["00000001.jpg", "00000002.jpg"])
    _text(str(got / "groundtruth.txt"), "1,1,4,4\n2,2,4,4\n")
    assert detect_layout(str(got)) == "got10k"
    color = tmp_path / "vot2018_seq"
    _frames(str(color / "color"), ["00000001.jpg"])
    _text(str(color / "groundtruth.txt"), "11,21,30,40\n")
    assert detect_layout(str(color)) == "vot"
    assert load_sequence(str(color)).boxes[0].tolist() == [10, 20, 30, 40]


def test_vot_errors_name_the_problem(tmp_path):
    folder = tmp_path / "seq"
    _frames(str(folder / "color"), ["00000001.jpg", "00000002.jpg"])
    _text(str(folder / "groundtruth.txt"), "1,1,5,1,5,5,1,5\n")
    with pytest.raises(ValueError, match="frame 2 has no line"):
        load_vot_sequence(str(folder))
    _text(str(folder / "groundtruth.txt"), "m1,2,3\n")
    with pytest.raises(ValueError, match="mask regions"):
        load_vot_sequence(str(folder))
    _text(str(folder / "groundtruth.txt"), "1,2,3,4,5\n")
    with pytest.raises(ValueError, match="line 1: expected x,y,w,h or a polygon"):
        load_vot_sequence(str(folder))


# LaSOT ----------------------------------------------------------------------------------

def test_lasot_occluded_and_out_of_view_frames_get_nan_boxes(tmp_path):
    folder = tmp_path / "airplane-1"
    _frames(str(folder / "img"), [f"{i:08d}.jpg" for i in range(1, 6)])
    _text(str(folder / "groundtruth.txt"), "\n".join(f"{10 + i},{20 + i},30,40" for i in range(1, 6)) + "\n")
    _text(str(folder / "full_occlusion.txt"), "0,0,1,0,0")
    _text(str(folder / "out_of_view.txt"), "0,0,0,0,1\n")
    _text(str(folder / "nlp.txt"), "white airplane\n")
    assert detect_layout(str(folder)) == "lasot"
    sequence = load_sequence(str(folder))
    assert sequence.layout == "lasot" and len(sequence) == 5
    np.testing.assert_array_equal(sequence.boxes[:2], [[10, 20, 30, 40], [11, 21, 30, 40]])
    assert list(sequence.visible) == [True, True, False, True, False]
    cut = load_lasot_sequence(str(folder), frame_range=(2, 4))
    assert _names(cut) == ["00000002.jpg", "00000003.jpg", "00000004.jpg"] and list(cut.visible) == [True, False, True]


def test_lasot_flag_files_are_optional_but_must_fit(tmp_path):
    folder = tmp_path / "cat-3"
    _frames(str(folder / "img"), ["00000001.jpg", "00000002.jpg"])
    _text(str(folder / "groundtruth.txt"), "1,1,2,2\n2,2,2,2\n")
    assert load_lasot_sequence(str(folder)).visible.all()
    _text(str(folder / "out_of_view.txt"), "0,0,0\n")
    with pytest.raises(ValueError, match="3 flags for 2 boxes"):
        load_lasot_sequence(str(folder))
    _text(str(folder / "out_of_view.txt"), "0,2\n")
    with pytest.raises(ValueError, match="0/1"):
        load_lasot_sequence(str(folder))


# OTB variants ---------------------------------------------------------------------------

def test_otb_variant_imgs_folder_prefixed_names_and_gt_file(tmp_path):
    folder = tmp_path / "dog1"
    _frames(str(folder / "imgs"), [f"img{i:05d}.jpg" for i in range(1, 5)])
    _text(str(folder / "dog1_gt.txt"), "139\t112\t51\t36\n140 113 51 36\n141,114,51,36\n142,115,51,36\n")
    assert detect_layout(str(folder)) == "otb_variant"
    sequence = load_sequence(str(folder))
    assert sequence.layout == "otb_variant" and _names(sequence)[0] == "img00001.jpg"
    np.testing.assert_array_equal(sequence.boxes[:2], [[138, 111, 51, 36], [139, 112, 51, 36]])
    _text(str(folder / "sub_gt.txt"), "140,113,51,36\n141,114,51,36\n")
    cut = load_otb_variant_sequence(str(folder), frame_range=(2, 3), boxes_path=str(folder / "sub_gt.txt"))
    assert _names(cut) == ["img00002.jpg", "img00003.jpg"] and cut.boxes[1].tolist() == [140, 113, 51, 36]


def test_otb_variant_groundtruth_rect_beside_imgs(tmp_path):
    folder = tmp_path / "ball"
    _frames(str(folder / "imgs"), ["0001.jpg", "0002.jpg"])
    _text(str(folder / "groundtruth_rect.txt"), "2,2,3,3\n3,3,3,3\n")
    assert detect_layout(str(folder)) == "otb_variant"
    assert load_sequence(str(folder)).init_box == (1.0, 1.0, 3.0, 3.0)


def test_frame_names_with_a_prefix(tmp_path):
    _frames(str(tmp_path / "a"), ["img00002.jpg", "img00010.jpg", "notes.txt.jpg"])
    assert frame_name_prefix(str(tmp_path / "a")) is None  # one name is not <prefix><number>
    os.remove(tmp_path / "a" / "notes.txt.jpg")
    assert frame_name_prefix(str(tmp_path / "a")) == "img"
    assert [n for n, _ in numbered_images(str(tmp_path / "a"), "img")] == [2, 10]
    assert numbered_images(str(tmp_path / "a")) == []  # without the prefix nothing is numbered


def test_a_folder_without_split_table_loads_every_layout_it_holds(tmp_path):
    root = tmp_path / "mixed"
    _frames(str(root / "otbseq" / "img"), ["0001.jpg"])
    _text(str(root / "otbseq" / "groundtruth_rect.txt"), "1,1,2,2\n")
    _frames(str(root / "S0101"), ["img000001.jpg"])
    _text(str(root / "S0101_gt.txt"), "1,1,2,2\n")
    _frames(str(root / "plane-2" / "img"), ["00000001.jpg"])
    _text(str(root / "plane-2" / "groundtruth.txt"), "1,1,2,2\n")
    layouts = {s.name: s.layout for s in load_dataset(str(root))}
    assert layouts == {"otbseq": "otb", "S0101": "uavdt", "plane-2": "lasot"}
