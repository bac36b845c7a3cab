"""Spot speed from one calibrated camera, checked against the simulator's own geometry and ground truth.

The simulator's road camera is a pinhole over a flat road (``sim.scene.Geometry``): its ``to_ground`` gives,
for four picture points, where they lie on the road in metres: the calibration a surveyor would make with
four marks and a tape. A car drives at a constant speed on the ground (``sim.actors``); its plate is drawn
``plate_v`` of the car's height above the road. The plate's centre, frame by frame (rounded to whole
pixels, as a measurement is), mapped back onto the road, must give the car's speed.
"""

from __future__ import annotations

import math

import pytest

from koopsuz.domain.road import Section
from koopsuz.domain.spot_speed import Calibration, CalibrationError, apply, homography, spot_speed
from koopsuz.sim.actors import SIZES, plan_camera
from koopsuz.sim.scenario import Scenario
from koopsuz.sim.scene import GEOMETRY, H, W

ROAD = GEOMETRY["road"]
MARKS = ((0.30, 0.55), (0.70, 0.55), (0.10, 0.95), (0.90, 0.95))  # four points painted on the road
PLATE_V = {"car": 0.14, "bus": 0.1, "truck": 0.1}  # sim/draw.py: the plate's bottom, share of the height


def plate_centre_m(kind: str, scale: float) -> float:
    """How high the simulator draws the plate's centre above the road: its bottom at ``plate_v`` of the
    vehicle's height, and half of its 112 mm (0.52 m wide plates, all of them drawn ``scale`` times)."""
    return (PLATE_V[kind] * SIZES[kind][0] + 0.056) * scale


def calibration(kind: str, scale: float) -> Calibration:
    road = tuple(ROAD.to_ground(x, y) for x, y in MARKS)
    return Calibration(MARKS, road, ROAD.camera_height_m, plate_centre_m(kind, scale))  # type: ignore[arg-type]


def drive(kind: str, path: list[list[float]], duration: float, scale: float) -> tuple[list, float]:  # type: ignore[type-arg]
    """The plate's centre per frame while readable (0..1, whole pixels) and the true speed, km/h."""
    scen = Scenario.model_validate(
        {"seed": 1, "fps": 10, "loop_seconds": 12, "cameras": [{"id": "road-1", "scene": "road", "schedule": [
            {"id": "v", "at": 0.0, "kind": kind, "path": path, "duration": duration, "scale": scale,
             "plate": "01 234 BSZ"}]}]}
    )  # fmt: skip
    (actor,) = plan_camera(scen, scen.cameras[0], []).actors
    pts = []
    for f in range(actor.start, actor.start + len(actor.feet)):
        x, y, w, h = actor.box(f)  # type: ignore[misc]
        plate_w = 0.52 / (1.8 if kind == "car" else 2.5) * w  # sim/draw.py
        px, py = x + w / 2, y + h - PLATE_V[kind] * h - plate_w * 112 / 520 / 2
        if plate_w >= 30 and 0 <= py < H and 0 <= px < W:  # readable: a plate 30 px wide or more, in view
            pts.append((f / 10, round(px) / W, round(py) / H))
    a, b = (ROAD.to_ground(*p) for p in path)
    return pts, math.dist(a, b) / ((len(actor.feet) - 1) / 10) * 3.6


@pytest.mark.parametrize(
    ("kind", "path", "duration", "scale"),
    [
        ("car", [[0.47, 0.36], [0.22, 1.25]], 5.0, 1.3),  # the live test's car: ~52 km/h
        ("car", [[0.47, 0.36], [0.22, 1.25]], 3.0, 1.0),  # ~85 km/h
        ("truck", [[0.45, 0.36], [0.30, 1.25]], 4.0, 1.0),
        ("car", [[0.80, 1.25], [0.55, 0.36]], 3.5, 1.0),  # driving away
    ],
)
def test_spot_speed_matches_the_simulators_truth(
    kind: str, path: list[list[float]], duration: float, scale: float
) -> None:
    pts, truth = drive(kind, path, duration, scale)
    assert len(pts) >= 4
    m = spot_speed(calibration(kind, scale), pts)
    assert m is not None and m.points == len(pts)
    assert m.speed_kmh == pytest.approx(truth, abs=1.0), (m, truth)
    assert m.rms_m < 0.3  # a straight, steady drive fits a straight line


def test_a_plate_taken_for_a_road_point_overstates_the_speed() -> None:
    """Why the plate's height is part of the calibration: on this low camera (2.1 m) ignoring it is ~20 % too fast."""
    pts, truth = drive("car", [[0.47, 0.36], [0.22, 1.25]], 5.0, 1.3)
    cal = calibration("car", 1.3)
    flat = Calibration(cal.image, cal.road, cal.camera_height_m, 0.0)
    m = spot_speed(flat, pts)
    assert m is not None and m.speed_kmh > 1.1 * truth


def test_homography_maps_the_four_points_and_refuses_a_degenerate_set() -> None:
    road = [(0.0, 0.0), (3.5, 0.0), (0.0, 20.0), (3.5, 20.0)]
    m = homography(MARKS, road)
    for p, q in zip(MARKS, road, strict=True):
        assert apply(m, p) == pytest.approx(q, abs=1e-6)
    with pytest.raises(CalibrationError, match="one line"):
        homography(((0.1, 0.5), (0.2, 0.5), (0.3, 0.5), (0.5, 0.9)), road)
    with pytest.raises(CalibrationError, match="plate height"):
        Calibration(MARKS, tuple(road), 1.0, 1.5)  # type: ignore[arg-type]
    assert spot_speed(calibration("car", 1.0), [(0.0, 0.5, 0.6), (0.1, 0.5, 0.62)]) is None  # too few, too short


def test_class_limits_apply_only_when_the_reads_agree_on_the_class() -> None:
    sec = Section("s", "a", "b", 1000, 90, 3, (("bus", 70.0), ("truck", 70.0)))
    assert sec.limit_for("truck", "truck") == (70.0, "truck")
    assert sec.limit_for("truck", "vehicle") == (70.0, "truck")  # one read knows, the other does not
    assert sec.limit_for("truck", "car") == (90.0, None)  # they disagree: the doubt goes to the driver
    assert sec.limit_for("car", None) == (90.0, None)  # no class limit for cars: the general one
    assert sec.limit_for(None, None) == (90.0, None)


def test_the_plate_stage_records_the_path_spot_speed_is_measured_from() -> None:
    """The plate stage's ``plate_path`` (reads and the frames it followed the plate through) of a synthetic car
    coming at 10 m/s: its plate's centre is at 80 + 1000 / z px on a 640x360 picture (tests/road/
    test_line_timing.py), so a calibration of that plane gives 36 km/h."""
    from tests.road.test_early_hits import drive as drive_stage
    from tests.road.test_line_timing import PLATE

    def at(x_m: float, z_m: float) -> tuple[float, float]:
        return (300 + 1000 * x_m / z_m) / 640, (80 + 1000 / z_m) / 360

    road = ((-2.0, 8.0), (2.0, 8.0), (-2.0, 16.0), (2.0, 16.0))
    cal = Calibration(tuple(at(*p) for p in road), road, 1.0, 0.0)  # type: ignore[arg-type]
    decided = next(e for e in drive_stage({4: (0.8, PLATE), 7: (0.8, PLATE)}) if e.kind == "plate_read")
    path = decided.payload["plate_path"]
    assert len(path) >= 6 and all(0 <= x <= 1 and 0 <= y <= 1 for _t, x, y in path)
    m = spot_speed(cal, [tuple(p) for p in path])  # type: ignore[misc]
    assert m is not None and m.speed_kmh == pytest.approx(36.0, abs=1.5), (m, path)
