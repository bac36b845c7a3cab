"""Scenario files: what is accepted, what is refused (with a message that names the field)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from koopsuz.sim.actors import plan_camera
from koopsuz.sim.plates import check_plate, is_valid_plate, plate_image, random_plate
from koopsuz.sim.scenario import (
    ScenarioError,
    load_scenario,
    parse_scenario,
    quick_scenario,
    scenario_for_cameras,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
seed: 1
loop_seconds: 10
cameras:
  - id: cam-1
    scene: road
    light: night
    schedule:
      - {at: 1, kind: car, path: [[0.5, 0.4], [0.2, 1.2]], duration: 3, plate: "09 123 abc"}
      - {at: 2, kind: person, path: [[0, 0.9], [1, 0.9]], duration: 6, face: obama}
  - {id: cam-2, scene: square, people: 3, vehicles: 0}
"""


def test_good_scenario_parses_and_normalises_plates() -> None:
    s = parse_scenario(GOOD)
    assert s.fps == 15 and s.frames == 150 and s.gop_frames == 15
    assert s.cameras[0].schedule[0].plate == "09 123 ABC"
    assert s.camera("cam-2").people == 3


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("seed: 1\ncameras: []", "cameras"),
        ("cameras: [{id: cam-1}]", "seed"),
        ("seed: 1\ncameras: [{id: Cam 1}]", "cameras[0].id"),
        ("seed: 1\ncameras: [{id: cam-1, scene: moon}]", "cameras[0].scene"),
        ("seed: 1\ncameras: [{id: cam-1}, {id: cam-1}]", "duplicate camera id"),
        ("seed: 1\ncameras: [{id: cam-1, people: 2, schedule: []}]", "either a schedule"),
        (
            "seed: 1\nloop_seconds: 5\ncameras: [{id: cam-1, schedule: "
            "[{at: 4, kind: person, path: [[0,1],[1,1]], duration: 2}]}]",
            "ends after the loop",
        ),
        (
            "seed: 1\ncameras: [{id: cam-1, schedule: [{at: 0, kind: car, path: [[0,1],[1,1]], "
            "duration: 2, plate: 'A 1234 BC'}]}]",
            "not a Kyrgyz 2016 plate",
        ),
        (
            "seed: 1\ncameras: [{id: cam-1, schedule: [{at: 0, kind: bicycle, path: [[0,1],[1,1]], "
            "duration: 2, plate: '09 123 ABC'}]}]",
            "carries no 2016 plate",
        ),
        ("seed: 1\ncameras: [{id: cam-1, schedule: [{at: 0, kind: car, path: [[0,1]], duration: 2}]}]", "path"),
        ("seed: 1\ncameras: [{id: cam-1, colour: red}]", "colour"),
        ("seed: [1\n", "not valid YAML"),
        ("- just a list", "expected a mapping"),
    ],
)
def test_bad_scenarios_name_the_problem(text: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as exc:
        parse_scenario(text, "bad.yaml")
    assert expected in str(exc.value)
    assert "bad.yaml" in str(exc.value)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read scenario"):
        load_scenario(tmp_path / "nope.yaml")


def test_shipped_scenarios_are_valid() -> None:
    assert len(load_scenario(ROOT / "scenarios" / "motion-test.yaml").cameras) == 4
    bench = load_scenario(ROOT / "scenarios" / "bench-16.yaml")
    assert len(bench.cameras) == 16
    assert {c.light for c in bench.cameras} == {"day", "dusk", "night"}


def test_motion_test_has_quiet_gaps_and_staggered_cameras() -> None:
    """Each camera: a person and a car per loop, >= 6 s of stillness between visits, loop included."""
    s = load_scenario(ROOT / "scenarios" / "motion-test.yaml")
    starts = []
    for cam in s.cameras:
        truth = plan_camera(s, cam, []).truth()
        kinds = sorted(a["kind"] for a in truth["actors"])
        assert kinds == ["car", "person"]
        visits = sorted(v for a in truth["actors"] for v in a["visits"])
        assert len(visits) == 2
        (a0, a1), (b0, b1) = visits
        gaps = [(b0 - a1) / s.fps, (a0 + s.frames - b1) / s.fps]
        assert min(gaps) >= 6.0, (cam.id, gaps)
        starts.append(a0)
    assert len(set(starts)) == 4


def test_scenario_for_cameras_follows_site_types() -> None:
    s = scenario_for_cameras(
        [("a-1", "street"), ("a-2", "road"), ("a-3", "tourist_area"), ("a-4", "kindergarten"), ("a-5", "public_place")],
        seed=3,
    )
    assert [c.scene for c in s.cameras] == ["street", "road", "beach", "school", "square"]
    assert all((c.people or 0) + (c.vehicles or 0) > 0 for c in s.cameras)
    assert len(quick_scenario(16, 1).cameras) == 16


def test_random_plates_are_valid_kg_2016_plates() -> None:
    rng = np.random.default_rng(0)
    plates = [random_plate(rng) for _ in range(500)]
    assert all(is_valid_plate(p) for p in plates)
    assert {p[:2] for p in plates} == {f"{i:02d}" for i in range(1, 10)}
    assert all(p.split(" ")[2].isascii() and len(p.split(" ")[2]) == 3 for p in plates)
    assert random_plate(rng, "09").startswith("09 ")


@pytest.mark.parametrize("bad", ["10 123 ABC", "00 123 ABC", "09 12 ABC", "09 123 A", "09 123 АВС", "B 1234 AB"])
def test_plate_validation_refuses_other_formats(bad: str) -> None:
    assert not is_valid_plate(bad)
    with pytest.raises(ValueError, match="NN NNN LLL"):
        check_plate(bad)


def test_plate_image_is_white_with_dark_text_and_red_flag() -> None:
    img = plate_image("09 123 ABC")
    assert img.shape == (112, 520, 3)
    gray = img.mean(axis=2)
    assert (gray > 200).mean() > 0.5  # mostly white field
    assert (gray < 60).mean() > 0.08  # black characters
    flag = img[14:46, 14:62].reshape(-1, 3)
    assert ((flag[:, 2] > 150) & (flag[:, 1] < 80)).mean() > 0.3  # red (BGR) flag field
