"""Loitering, after hours (Bishkek clock), crowds, stopped vehicles and the site-type defaults."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from pydantic import ValidationError

from koopsuz.domain.default_rules import WHOLE_FRAME, default_rules
from koopsuz.domain.rules import Observation, Rule, RuleEngine
from koopsuz.domain.schedule import TZ, is_open

SQUARE = ((0.2, 0.2), (0.6, 0.2), (0.6, 0.6), (0.2, 0.6))
SCHOOL = {"mon": ["07:30-18:00"], "tue": ["07:30-18:00"]}


def local(y: int, mo: int, d: int, h: int, mi: int = 0) -> float:
    return datetime(y, mo, d, h, mi, tzinfo=TZ).timestamp()


def stay(engine: RuleEngine, track: str, points: list[tuple[float, float]], t0: float, dt: float = 1.0, cls="person"):
    hits = []
    for i, p in enumerate(points):
        hits += engine.step(t0 + i * dt, [Observation(track, cls, p, 0.3)])
    return hits


def test_new_kinds_are_validated() -> None:
    with pytest.raises(ValidationError, match="needs seconds"):
        Rule(id="l1", name="l", kind="loitering", zone=SQUARE)
    with pytest.raises(ValidationError, match="needs count"):
        Rule(id="c1", name="c", kind="crowd", zone=SQUARE)
    with pytest.raises(ValidationError, match="needs a zone"):
        Rule(id="a1", name="a", kind="after_hours")
    with pytest.raises(ValidationError, match="xyz"):
        Rule(id="a1", name="a", kind="after_hours", zone=SQUARE, hours={"xyz": []})
    with pytest.raises(ValidationError, match="ends after"):
        Rule(id="a1", name="a", kind="after_hours", zone=SQUARE, hours={"mon": ["18:00-07:00"]})


def test_loitering_fires_once_per_stay_and_alerts_once_per_track() -> None:
    rule = Rule(id="loiter", name="l", kind="loitering", zone=SQUARE, seconds=10)
    engine = RuleEngine([rule])
    inside = [(0.4, 0.4)] * 15
    hits = stay(engine, "t1", inside, 0.0)
    assert len(hits) == 1 and hits[0].dwell_s == 10.0 and hits[0].alert
    assert stay(engine, "t2", [(0.4, 0.4)] * 9, 0.0) == []  # 8 s: not yet
    again = stay(engine, "t1", [(0.8, 0.8), *inside], 100.0)  # out and back: a new stay, no new alert
    assert len(again) == 1 and not again[0].alert


def test_after_hours_on_bishkek_time() -> None:
    # 17:59 local (11:59 UTC) Monday is open; 18:00 local is closed, though UTC says noon
    assert is_open(SCHOOL, local(2026, 11, 23, 17, 59)) and not is_open(SCHOOL, local(2026, 11, 23, 18, 0))
    assert not is_open(SCHOOL, local(2026, 11, 29, 12, 0))  # Sunday: no hours at all
    rule = Rule(id="ah", name="after hours", kind="after_hours", zone=WHOLE_FRAME, classes=("person",))
    engine = RuleEngine([rule], hours=SCHOOL)
    assert stay(engine, "pupil", [(0.5, 0.5)] * 5, local(2026, 11, 23, 10, 0)) == []
    late = stay(engine, "intruder", [(0.5, 0.5)] * 5, local(2026, 11, 23, 22, 30))
    assert len(late) == 1 and late[0].alert
    # a person who stays past closing time fires when the school closes
    staying = stay(engine, "janitor", [(0.5, 0.5)] * 4, local(2026, 11, 23, 17, 58), dt=60)
    assert [round(h.t - local(2026, 11, 23, 18, 0)) for h in staying] == [0]
    assert stay(RuleEngine([rule]), "x", [(0.5, 0.5)], local(2026, 11, 23, 22, 0)) == []  # no hours known
    assert stay(engine, "car", [(0.5, 0.5)], local(2026, 11, 23, 22, 0), cls="car") == []


def test_crowd_larger_than_n_once_per_crowd() -> None:
    rule = Rule(id="crowd", name="c", kind="crowd", zone=SQUARE, count=3, classes=("person",))
    engine = RuleEngine([rule])
    people = [Observation(f"p{i}", "person", (0.3 + 0.05 * i, 0.4), 0.2) for i in range(5)]
    car = Observation("c1", "car", (0.3, 0.3), 0.2)
    assert engine.step(0.0, [*people[:3], car]) == []  # 3 people (a car does not count): not more than 3
    hits = engine.step(1.0, people[:4])
    assert len(hits) == 1 and hits[0].tracks == ("p0", "p1", "p2", "p3")
    assert engine.step(2.0, people) == []  # the same crowd
    assert engine.step(3.0, people[:2]) == []
    assert len(engine.step(4.0, people)) == 1  # a new crowd


def test_stopped_vehicle_needs_stillness_inside_the_zone() -> None:
    rule = Rule(id="nostop", name="s", kind="stopped_vehicle", zone=SQUARE, seconds=30, classes=("car", "bus"))
    engine = RuleEngine([rule])
    creeping = [(0.21 + 0.012 * i, 0.4) for i in range(31)]  # 1.2% of the frame a second: moving
    assert stay(engine, "c1", creeping, 0.0, cls="car") == []
    parked = [(0.4 + (0.004 if i % 2 else 0), 0.4) for i in range(40)]  # box jitter only
    hits = stay(engine, "c2", parked, 0.0, cls="car")
    assert len(hits) == 1 and hits[0].dwell_s == 30.0
    assert stay(engine, "p1", parked, 0.0, cls="person") == []
    assert stay(engine, "c3", [(0.8, 0.8)] * 40, 0.0, cls="car") == []  # outside the zone


def test_defaults_by_site_type() -> None:
    assert [r.kind for r in default_rules("school")] == ["after_hours"]
    assert default_rules("kindergarten")[0].hours is None  # the site's own opening hours
    beach = default_rules("tourist_area")[0]
    engine = RuleEngine([beach])
    assert stay(engine, "day", [(0.5, 0.5)], local(2026, 7, 1, 14, 0)) == []
    assert len(stay(engine, "night", [(0.5, 0.5)], local(2026, 7, 1, 23, 0))) == 1
    assert default_rules("road")[0].kind == "stopped_vehicle" and "person" not in default_rules("road")[0].classes
    assert default_rules("street") == [] and default_rules(None) == []


# -- vehicle cases on simulator clips, scored against the simulator's ground truth ------------------
VEHICLES = ("car", "bus", "truck")
ROAD = ((0, 0.5), (1, 0.5), (1, 0.75), (0, 0.75))  # the street scene's carriageway
SCHOOL_ROAD = ((0, 0.8), (1, 0.8), (1, 1), (0, 1))  # the school's drive, in front of the camera


@pytest.mark.parametrize(("camera", "zone"), [("d-1", ROAD), ("d-2", SCHOOL_ROAD)])
def test_zone_entry_of_a_car_on_simulator_clips_matches_truth(clips: dict, ssd: Any, camera: str, zone: Any) -> None:
    """A car drives across the zone, side-on (d-1) and close by (d-2): one entry, one alert, as a
    vehicle; the person on the same clip is not one (the rule is for vehicles only)."""
    from .test_rule_stage import run_clip, truth_hits

    rule = Rule(id="road", name="Road", kind="zone_entry", zone=zone, classes=VEHICLES, severity="low")
    clip = clips[camera]
    assert truth_hits(clip, rule) == [("car", None)]  # the scenario says what should happen
    events = run_clip(clip, ssd, [rule])
    entered = [e.payload["class"] for e in events if e.kind == "track_entered"]
    alerts = [e.payload["class"] for e in events if e.kind == "alert"]
    assert entered == ["car"] and alerts == ["car"], (entered, alerts)


def test_stopped_vehicle_on_a_simulator_clip_matches_truth(vehicle_clips: dict, clips: dict, ssd: Any) -> None:
    """sv-1: a car drives in and stands still for 9 s, two loops: one alert per stop, no earlier
    than the truth's (5 s of stillness after the car stopped) and at most 1 s after it. Measured
    (SSD, gated, 8 fps): 0.27 s and 0.40 s after. It was 1.6 s and 2.4 s while stillness was judged on
    the tracker's filtered box, which ran on 3% of the frame past a car braking from 0.45 frame widths a
    second and came back over a second and a half; now on the detections themselves (rule_stage
    ``_observation``). d-1's car drives through without stopping: nothing."""
    from .test_rule_stage import run_clip, truth_hits

    rule = Rule(id="nostop", name="No stopping", kind="stopped_vehicle", zone=ROAD, seconds=5, classes=VEHICLES)
    clip = vehicle_clips["sv-1"]
    assert truth_hits(clip, rule) == [("car", None)]
    loop_s = clip.truth["frames"] / clip.fps
    parked = next(a for a in clip.truth["actors"] if a["id"] == "v2")
    due = [parked["enter_frame"] / clip.fps + 5.0 + k * loop_s for k in range(2)]  # truth: 5 s after stopping
    events = run_clip(clip, ssd, [rule], loops=2)
    t0 = clip.decoded()[0].captured_at
    alerts = [((e.ts - t0).total_seconds(), e.payload["class"]) for e in events if e.kind == "alert"]
    assert [c for _, c in alerts] == ["car", "car"], alerts
    for (t, _), want in zip(alerts, due, strict=True):
        assert -0.2 <= t - want <= 1.0, (alerts, due)
    assert truth_hits(clips["d-1"], rule) == []
    assert [e for e in run_clip(clips["d-1"], ssd, [rule]) if e.kind == "alert"] == []
