"""Detections operations and the crop-region planner: the glue between detectors and tracker."""

from __future__ import annotations

import numpy as np
import pytest

from koopsuz.vision.detections import CLASS_INDEX, Detections, box_iou
from koopsuz.vision.regions import RegionConfig, plan_regions


def d(boxes: list[list[float]], conf: list[float], names: list[str]) -> Detections:
    return Detections.from_arrays(boxes, conf, [CLASS_INDEX[n] for n in names])


def test_index_filter_merge_and_geometry() -> None:
    a = d([[0, 0, 10, 20], [5, 5, 15, 15], [100, 100, 140, 200]], [0.9, 0.3, 0.6], ["person", "car", "truck"])
    assert len(a) == 3 and a.class_name == ["person", "car", "truck"]
    assert a[1].class_name == ["car"] and len(a[1:]) == 2
    assert a.above(0.5).class_name == ["person", "truck"]
    assert a.with_classes(["car", "truck"]).class_name == ["car", "truck"]
    np.testing.assert_allclose(a.area, [200, 100, 4000])
    np.testing.assert_allclose(a.foot[2], [120, 200])
    moved = a.scaled(2, 0.5).shifted(10, 1)
    np.testing.assert_allclose(moved.xyxy[0], [10, 1, 30, 11])
    np.testing.assert_allclose(a.normalized(200, 400)[2], [0.5, 0.25, 0.2, 0.25])
    np.testing.assert_allclose(d([[-5, -5, 650, 20]], [1], ["bus"]).clipped(640, 360).xyxy[0], [0, 0, 640, 20])
    both = Detections.merge([a, Detections.empty(), a[0]])
    assert len(both) == 4 and both.class_name[-1] == "person"
    assert len(Detections.merge([])) == 0


def test_inconsistent_arrays_are_refused() -> None:
    with pytest.raises(ValueError, match="inconsistent"):
        Detections(np.zeros((2, 4), np.float32), np.zeros(3, np.float32), np.zeros(3, np.int32))


def test_nms_merges_per_class_group() -> None:
    # the same van called car and truck in two overlapping crops: one box survives (same group);
    # a person on the van's box is a different group and stays
    dets = d(
        [[100, 100, 200, 160], [104, 102, 203, 161], [110, 90, 140, 160], [400, 100, 450, 200]],
        [0.6, 0.8, 0.7, 0.5],
        ["car", "truck", "person", "person"],
    )
    kept = dets.nms(0.5)
    assert sorted(kept.class_name) == ["person", "person", "truck"]
    assert len(dets.nms(0.1, class_agnostic=True)) == 2  # the person on the van goes too


def test_box_iou() -> None:
    a = np.array([[0, 0, 10, 10], [20, 20, 30, 30]], np.float32)
    b = np.array([[5, 0, 15, 10]], np.float32)
    np.testing.assert_allclose(box_iou(a, b), [[1 / 3], [0]], rtol=1e-5)
    assert box_iou(a, np.zeros((0, 4), np.float32)).shape == (2, 0)


FRAME = (640, 360)


def test_a_person_gets_one_square_padded_crop_inside_the_frame() -> None:
    (r,) = plan_regions([(300, 200, 340, 330)], FRAME)  # 40x130 person
    x0, y0, x1, y1 = r
    assert x1 - x0 == y1 - y0 == round(130 * 1.15)  # square: the SSD's 300x300 input aspect
    assert x0 <= 300 and x1 >= 340 and y0 >= 0 and y1 <= 360


def test_crops_slide_inside_at_the_edges_and_follow_the_aspect() -> None:
    (r,) = plan_regions([(600, 300, 640, 360)], FRAME)
    assert r[2] == 640 and r[3] == 360 and r[2] - r[0] == r[3] - r[1] >= 96
    (wide,) = plan_regions([(100, 100, 140, 140)], FRAME, aspect=16 / 9)
    assert (wide[2] - wide[0]) / (wide[3] - wide[1]) == pytest.approx(16 / 9, rel=0.02)


def test_overlapping_regions_merge_separate_ones_do_not() -> None:
    two = plan_regions([(50, 100, 90, 200), (500, 100, 540, 200)], FRAME)
    assert len(two) == 2
    one = plan_regions([(100, 100, 140, 200), (130, 110, 170, 210)], FRAME)
    assert len(one) == 1
    x0, y0, x1, y1 = one[0]
    assert x0 <= 100 and x1 >= 170 and y0 <= 100 and y1 >= 210


def test_busy_or_huge_motion_means_the_whole_frame() -> None:
    many = [(i * 70, 10, i * 70 + 20, 40) for i in range(6)] + [(i * 70, 300, i * 70 + 20, 330) for i in range(6)]
    assert plan_regions(many, FRAME, config=RegionConfig(max_regions=4)) == [(0, 0, 640, 360)]
    assert plan_regions([(10, 10, 600, 350)], FRAME) == [(0, 0, 640, 360)]
    assert plan_regions([], FRAME) == []
    assert plan_regions([(5, 5, 5, 9)], FRAME) == []  # degenerate boxes are ignored
