"""RuleStage: events and alerts from synthetic tracks, and from simulator clips scored against truth."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from koopsuz.analytics.pipeline import CameraInfo, FrameContext
from koopsuz.analytics.rule_stage import RuleStage
from koopsuz.domain.rules import Rule, RuleEngine
from koopsuz.video.media import MediaStore
from koopsuz.video.worker import DecodedFrame
from koopsuz.vision.tracker import Track

from .conftest import T0, Clip

# drawn bottom to top: a walker going +x (rightwards in the picture) crosses left_to_right
MIDDLE = Rule(id="middle", name="Middle line", kind="line_crossing", line=((0.5, 1.0), (0.5, 0.2)), severity="low")
NEAR = Rule(
    id="near", name="Near pavement", kind="zone_entry", zone=((0, 0.7), (1, 0.7), (1, 1), (0, 1)), classes=("person",)
)
WHOLE = ((0, 0), (1, 0), (1, 1), (0, 1))
AFTER_HOURS = Rule(id="ah", name="After hours", kind="after_hours", zone=WHOLE, classes=("person",), hours={})
LOITER = Rule(id="loiter", name="Loitering", kind="loitering", zone=WHOLE, classes=("person",), seconds=2)
CAM = CameraInfo("cam-1", "KG-Y", "site-1")
W, H = 640, 360


def track(no: int, cls: int, box: tuple[float, ...], t: float) -> Track:
    tr = Track(no, np.array(box, np.float32), np.zeros(2, np.float32), t - 1, t, 0.9, confirmed=True)
    tr._votes[cls] = 1.0
    tr.path = [(t - 1, box[0], box[3]), (t, (box[0] + box[2]) / 2, box[3])]
    return tr


def feed(stage: RuleStage, frames: list[list[Track]], ended: list[list[Track]] | None = None) -> list[Any]:
    events: list[Any] = []
    blank = av.VideoFrame.from_ndarray(np.zeros((H, W, 3), np.uint8), format="bgr24")
    for i, tracks in enumerate(frames):
        ts = T0 + timedelta(seconds=i / 4)
        t = ts.timestamp()
        for tr in tracks:
            tr.last_t = t
        ctx = FrameContext(CAM, DecodedFrame(blank, ts, i))
        ctx.results |= {"tracks": tracks, "tracks_ended": (ended or [[]] * len(frames))[i], "track_uids": {}}
        stage.process(ctx, events.append)
    return events


def walker(no: int, xs: list[float], cls: int = 0, y1: float = 340) -> list[Track]:
    return [track(no, cls, (x - 10, y1 - 80, x + 10, y1), 0) for x in xs]


def test_crossing_is_an_observation_and_one_alert_with_snapshot(tmp_path: Path) -> None:
    media = MediaStore(tmp_path)
    stage = RuleStage([MIDDLE, NEAR], None, media.save_snapshot)
    xs = [200, 280, 330, 380, 420, 380, 330, 280]  # right across the line, then back
    events = feed(stage, [[tr] for tr in walker(1, xs)])
    kinds = [e.kind for e in events]
    assert kinds.count("track_entered") == 1 and kinds.count("track_crossed") == 2
    crossed = [e.payload["direction"] for e in events if e.kind == "track_crossed"]
    assert crossed == ["left_to_right", "right_to_left"]
    alerts = [e for e in events if e.kind == "alert"]
    assert sorted(a.payload["rule"] for a in alerts) == ["middle", "near"]  # one per rule and track
    line = next(a for a in alerts if a.payload["rule"] == "middle")
    assert line.severity == "low" and line.payload["class"] == "person" and line.payload["path"]
    assert line.payload["rule_kind"] == "line_crossing" and len(line.payload["box"]) == 4
    jpeg = media.path(line.media["snapshot"]).read_bytes()
    assert jpeg[:2] == b"\xff\xd8"
    assert stage.stats() == {"rules": 2, "alerts": 2, "observations": 3}


def test_a_box_carried_past_the_edge_counts_only_its_visible_part() -> None:
    """A line near the right edge: a car whose carried box runs past the edge has its centre off the
    picture, but what the camera shows of it never reached the line, so no crossing; boxes stay inside."""
    edge = MIDDLE.model_copy(update={"id": "edge", "line": ((0.97, 1.0), (0.97, 0.2)), "classes": ("car",)})
    stage = RuleStage([edge], None, None)
    # 120 px wide; centres 500..650 on a 640 px frame: the last box is 590..710, visible 590..640
    cars = [track(1, 2, (x - 60, 260, x + 60, 340), 0) for x in (500, 560, 600, 650)]
    events = feed(stage, [[tr] for tr in cars])
    assert [e for e in events if e.kind == "track_crossed"] == []  # visible centre 615 < 0.97 * 640
    for e in events:
        x, y, w, h = e.payload["box"]
        assert x >= 0 and x + w <= 1.0001 and y >= 0 and y + h <= 1.0001


def test_info_rules_only_observe_classes_filter_and_ended_tracks_reset() -> None:
    counting = MIDDLE.model_copy(update={"severity": "info", "classes": ("car",)})
    stage = RuleStage([counting], None, None)
    cars = walker(2, [250, 350, 250], cls=2)
    people = walker(3, [250, 350], cls=0)
    events = feed(stage, [[cars[0], people[0]], [cars[1], people[1]], [cars[2]]])
    assert [(e.kind, e.payload["class"]) for e in events] == [("track_crossed", "car")] * 2
    # rules swapped in place: the new engine applies from the next frame
    stage.set_rules([MIDDLE], None)
    assert len(stage.engine.rules) == 1 and stage.engine.rules[0].severity == "low"
    assert feed(stage, [[]]) == []  # no tracks: nothing to do


def test_crowd_alert_names_its_members() -> None:
    crowd = Rule(id="crowd", name="Crowd", kind="crowd", zone=((0, 0), (1, 0), (1, 1), (0, 1)), count=2)
    stage = RuleStage([crowd], None, None)
    group = [track(i, 0, (100 + 50 * i, 200, 130 + 50 * i, 300), 0) for i in range(3)]
    events = feed(stage, [group[:2], group, group])
    assert [e.kind for e in events] == ["alert"] and events[0].payload["count"] == 3


# -- simulator clips, scored against the simulator's ground truth -----------------------------
def run_clip(
    clip: Clip, detector: Any, rules: list[Rule], loops: int = 1, looks_per_s: float | None = None
) -> list[Any]:
    """The clip through motion, detection and rules, as fast as the CPU goes.

    ``looks_per_s``: the detector's share under load, as the look budget would ration a busy
    camera among many (its clock follows capture time, so the share is the same on any CPU).
    """
    from koopsuz.analytics.detect_stage import DetectStage
    from koopsuz.analytics.look_budget import LookBudget
    from koopsuz.analytics.motion_stage import MotionStage
    from koopsuz.analytics.pipeline import Pipeline
    from koopsuz.vision.motion import MotionConfig, MotionDetector

    now = [0.0]
    budget = None
    if looks_per_s is not None:  # one camera wanting, one copy: interval = look_s / utilisation
        budget = LookBudget(1, target_utilisation=1.0, initial_look_s=1 / looks_per_s, clock=lambda: now[0])
    detect = DetectStage(detector, None, max_lag_s=float("inf"), budget=budget)
    stages = [MotionStage(MotionDetector(MotionConfig()), None), detect, RuleStage(rules, None, None)]
    events: list[Any] = []
    pipeline = Pipeline(CameraInfo(clip.camera, "KG-Y", "s"), stages, events.append, analysis_fps=8)
    n = len(clip.frames)
    for loop in range(loops):  # the simulator loops its clip: a later pass is a new pass
        for f in clip.decoded():
            frame = DecodedFrame(f.frame, f.captured_at + timedelta(seconds=loop * n / clip.fps), f.seq + loop * n)
            now[0] = frame.captured_at.timestamp()
            pipeline.feed(frame)
    assert pipeline.failures == 0
    if looks_per_s is not None:
        looks = detect.detect_frames / (loops * n / clip.fps)
        assert detect.rationed > 0 and looks <= looks_per_s * 1.05, (looks, detect.stats())
    return events


def truth_hits(clip: Clip, rule: Rule) -> list[tuple[str, str | None]]:
    """What the rule gives on the truth boxes of every actor: (class, direction) per hit."""
    out = []
    for actor in clip.truth["actors"]:
        engine = RuleEngine([rule])
        cls = "car" if actor["kind"] == "car" else actor["kind"]
        for f, x, y, w, h in actor["boxes_sub"]:
            for hit in engine.step(f / clip.fps, engine_obs(actor["id"], cls, x, y, w, h)):
                out.append((hit.class_name, hit.direction))
    return out


def engine_obs(tid: str, cls: str, x: float, y: float, w: float, h: float) -> list[Any]:
    from koopsuz.domain.rules import Observation

    return [Observation(tid, cls, ((x + w / 2) / W, min(y + h, H) / H), h / H)]


@pytest.mark.parametrize(
    ("camera", "rule", "expected"),
    [
        ("w-1", MIDDLE, [("person", "left_to_right")]),  # one person, left to right
        ("d-2", NEAR, [("person", None)]),  # walks into the near zone (front view)
        ("d-2", AFTER_HOURS, [("person", None)]),  # a school with no open hours: always after hours
        ("w-1", LOITER, [("person", None)]),  # 6 s in view: loiters (2 s) once
    ],
)
def test_rule_stage_on_simulator_clips_matches_ground_truth(
    clips: dict[str, Clip], ssd: Any, camera: str, rule: Rule, expected: list[tuple[str, str | None]]
) -> None:
    clip = clips[camera]
    assert truth_hits(clip, rule) == expected  # the scenario says what should happen
    events = run_clip(clip, ssd, [rule])
    kind = {"line_crossing": "track_crossed", "zone_entry": "track_entered"}.get(rule.kind)
    observed = [(e.payload["class"], e.payload.get("direction")) for e in events if e.kind == kind]
    alerts = [(e.payload["class"], e.payload.get("direction")) for e in events if e.kind == "alert"]
    assert observed == (expected if kind else [])  # exactly one per pass, with its direction
    assert alerts == expected  # one alert per track and rule
    for e in events:
        assert e.ts >= datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture(scope="module")
def motion_test_clips() -> dict[str, Clip]:
    """scenarios/motion-test.yaml: four cameras, each with one person and one car per 20 s loop."""
    from koopsuz.sim.render import render_scenario
    from koopsuz.sim.scenario import parse_scenario

    from .conftest import CACHE, ROOT

    sc = parse_scenario((ROOT / "scenarios" / "motion-test.yaml").read_text(), "scenarios/motion-test.yaml")
    out = {}
    for cam_id, rc in render_scenario(sc, CACHE, ROOT / "var" / "no-faces", workers=1, progress=False).items():
        codec = av.CodecContext.create("h264", "r")
        out[cam_id] = Clip(cam_id, rc.fps, [f for u in rc.sub.units for f in codec.decode(av.Packet(u))], rc.truth)
    return out


@pytest.mark.parametrize(
    ("looks_per_s", "least", "least_cars"),
    [(None, 6, 7), (4.0, 6, 7), (2.0, 4, 7)],
    ids=["every-frame", "rationed-4-looks-per-s", "rationed-2-looks-per-s"],
)
def test_line_crossings_on_the_motion_test_scenario_scored_against_truth(
    motion_test_clips: dict[str, Clip], ssd: Any, looks_per_s: float | None, least: int, least_cars: int
) -> None:
    """Each camera's person crosses x = 0.5 once per 20 s loop (mt-1, mt-3 rightwards, mt-2, mt-4
    leftwards); two loops each. Scored per pass: a crossing counts only with the right class and
    direction; any crossing the truth does not have is a false one. Scored with a look at
    every analysed frame a camera wants (a quiet machine), and rationed to 4 and to 2 looks a
    second, about the share each of five and of ten busy cameras gets on two cores.

    Measured (SSD-MobileNet, gated, 8 fps): 6 of 8 person passes found at every frame, at 4 looks
    a second (and at 3 and 1.5), each exactly once and in the right direction; 4 of 8 at 2 looks a
    second (mt-3's person, whom the SSD finds on one look in five, is then not confirmed on the
    pass); 0 false crossings. What holds it under rationing: a track is carried by its own moving
    area between looks and that counts as a sighting for the rules, and a track confirmed late has
    what it crossed while tentative replayed. The misses are mt-1's person, whom the shipped SSD
    does not detect on that background (a detector limit, not a rule one).

    Each camera's car crosses the line once per loop too (mt-1, mt-4 rightwards, mt-2, mt-3
    leftwards), side-on, 2.5 s in view: scored the same way, as class "car" in the right
    direction. Measured: 8 of 8 car passes at every frame, at 4 and at 2 looks a second, 0 false
    (with the simulator's flat cars of before, the SSD found 2 of 8).
    """
    found = expected = false = cars = 0
    for cam, clip in sorted(motion_test_clips.items()):
        truth = truth_hits(clip, MIDDLE) * 2
        assert [h for h in truth if h[0] == "person"] == [
            ("person", "left_to_right" if cam in ("mt-1", "mt-3") else "right_to_left")
        ] * 2
        assert [h for h in truth if h[0] == "car"] == [
            ("car", "left_to_right" if cam in ("mt-1", "mt-4") else "right_to_left")
        ] * 2
        events = run_clip(clip, ssd, [MIDDLE], loops=2, looks_per_s=looks_per_s)
        crossed = [(e.payload["class"], e.payload["direction"]) for e in events if e.kind == "track_crossed"]
        per_track: dict[str, int] = {}
        for e in events:
            if e.kind == "track_crossed":
                per_track[e.payload["track"]] = per_track.get(e.payload["track"], 0) + 1
        assert all(n == 1 for n in per_track.values()), (cam, per_track)  # one crossing per pass
        left = list(truth)
        for c in crossed:
            if c in left:
                left.remove(c)
                found += c[0] == "person"
                cars += c[0] == "car"
            else:
                false += 1
        expected += sum(1 for h in truth if h[0] == "person")
    assert false == 0
    assert expected == 8 and found >= least, (found, expected)
    assert cars >= least_cars, cars  # of 8 car passes (4 cameras, 2 loops)


CROWD_SCENARIO = """
seed: 5151
fps: 15
loop_seconds: 12
gop_seconds: 1.0
cameras:
  - id: crowd-1
    scene: square
    light: day
    schedule:
      - {id: p1, at: 0.5, kind: person, path: [[-0.06, 0.95], [1.06, 0.95]], duration: 8.0}
      - {id: p2, at: 1.3, kind: person, path: [[-0.06, 0.88], [1.06, 0.88]], duration: 8.0}
      - {id: p3, at: 2.1, kind: person, path: [[-0.06, 0.97], [1.06, 0.97]], duration: 8.0}
"""


def crowd_truth(clip: Clip, more_than: int, loops: int) -> list[float]:
    """Seconds at which the truth's head count in view rises above ``more_than`` (one per episode)."""
    per_frame = [0] * clip.truth["frames"]
    for actor in clip.truth["actors"]:
        for f, x, _y, w, _h in actor["boxes_sub"]:
            per_frame[f] += 0 <= x + w / 2 <= W  # its foot point in the zone (the whole frame)
    starts = [f / clip.fps for f in range(len(per_frame)) if per_frame[f] > more_than >= per_frame[f - 1]]
    n = clip.truth["frames"] / clip.fps
    return [s + loop * n for loop in range(loops) for s in starts]


def test_crowd_alerts_on_a_simulated_group_scored_against_truth(ssd: Any) -> None:
    """Three people cross a square together, once per 12 s loop, two loops.

    Scored per crowd episode of the truth (head count rising above N): exactly one alert per
    episode for N = 1 and N = 2, raised within 1.5 s of the truth's onset and naming at least N+1
    tracks; none for N = 3, which the group never exceeds. Measured (SSD, gated, 8 fps): onsets
    0.8-0.9 s after the truth's (the tracker confirms a person after a few detections).
    """
    from koopsuz.sim.render import render_scenario
    from koopsuz.sim.scenario import parse_scenario

    from .conftest import CACHE, ROOT

    sc = parse_scenario(CROWD_SCENARIO, "crowd scenario")
    (rc,) = render_scenario(sc, CACHE, ROOT / "var" / "no-faces", workers=1, progress=False).values()
    codec = av.CodecContext.create("h264", "r")
    clip = Clip("crowd-1", rc.fps, [f for u in rc.sub.units for f in codec.decode(av.Packet(u))], rc.truth)
    t0 = clip.decoded()[0].captured_at
    for more_than in (1, 2, 3):
        rule = Rule(id="crowd", name="Crowd", kind="crowd", zone=WHOLE, classes=("person",), count=more_than)
        truth = crowd_truth(clip, more_than, loops=2)
        assert len(truth) == (2 if more_than < 3 else 0), truth  # the scenario is what the test says
        alerts = [e for e in run_clip(clip, ssd, [rule], loops=2) if e.kind == "alert"]
        assert len(alerts) == len(truth), (more_than, [a.ts for a in alerts], truth)
        for alert, onset in zip(alerts, truth, strict=True):
            delay = (alert.ts - t0).total_seconds() - onset
            assert -0.2 <= delay <= 1.5, (more_than, delay)
            assert alert.payload["count"] > more_than and len(alert.payload["tracks"]) == alert.payload["count"]
