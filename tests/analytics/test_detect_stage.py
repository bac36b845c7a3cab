"""The detection stage in the pipeline: a walk-through is one track with events; load sheds frames."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from koopsuz.analytics.detect_stage import DetectStage
from koopsuz.analytics.pipeline import CameraInfo, Pipeline
from koopsuz.config import Settings
from koopsuz.vision.detections import CLASS_INDEX, Detections
from koopsuz.vision.detectors import ModelError

from .conftest import Clip, Run

pytestmark = pytest.mark.timeout(240)


def truth_speed(clip: Clip, actor: int = 0) -> float:
    """Mean speed of the actor's box centre while fully in view, sub-stream px/s."""
    pts = [(f, x + w / 2) for f, x, _, w, _ in clip.truth["actors"][actor]["boxes_sub"] if x > 0 and x + w < 640]
    (f0, x0), (f1, x1) = pts[0], pts[-1]
    return abs(x1 - x0) / ((f1 - f0) / clip.fps)


def test_a_walk_through_is_one_person_track_with_events(runs: dict[tuple[str, bool], Run]) -> None:
    run = runs["w-1", True]
    tracks = [e for e in run.events if e.kind.startswith("track_")]
    assert [e.kind for e in tracks] == ["track_appeared", "track_left"], run.events
    appeared, left = tracks
    assert appeared.payload["class"] == left.payload["class"] == "person"
    assert appeared.payload["track"] == left.payload["track"] == appeared.id
    assert appeared.camera == "w-1" and appeared.region == "KG-Y" and appeared.site == "test-site"
    visit = run.clip.truth["actors"][0]["visits"][0]
    shown = (visit[1] - visit[0]) / run.clip.fps
    assert left.payload["duration_s"] >= 0.6 * shown, (left.payload, shown)
    # capture-time stamps inside the truth visit
    first = (appeared.ts - run.clip.decoded()[0].captured_at).total_seconds()
    assert visit[0] / run.clip.fps <= first <= visit[0] / run.clip.fps + 2.0
    speed = truth_speed(run.clip)
    assert left.payload["speed_px_s"] == pytest.approx(speed, rel=0.25), (left.payload["speed_px_s"], speed)
    xs = [x for _, x, _ in left.payload["path"]]
    assert xs == sorted(xs) and xs[-1] - xs[0] > 0.5  # walking left to right, most of the way
    assert 0.55 < left.payload["path"][0][2] < 1.0  # foot points on the pavement
    for event in (appeared, left):
        jpeg = run.media.path(event.media["snapshot"]).read_bytes()
        assert jpeg[:2] == b"\xff\xd8"
    assert run.stats["tracks"] == 1 and run.stats["skipped"] == 0


def test_tracks_in_context_for_later_stages(runs: dict[tuple[str, bool], Run]) -> None:
    run = runs["d-2", True]
    with_dets = [d for _, d in run.frames if d is not None and len(d)]
    assert with_dets and all(isinstance(d, Detections) for d in with_dets)
    assert all(d.xyxy.min() >= 0 and d.xyxy[:, 2].max() <= 640 and d.xyxy[:, 3].max() <= 360 for d in with_dets)


class SlowDetector:
    """Takes ``cost`` seconds of a fake clock per call and finds one person in the middle."""

    name = "slow"
    input_size = (300, 300)

    def __init__(self, clock: list[float], cost: float) -> None:
        self.clock, self.cost, self.calls = clock, cost, 0

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        self.calls += 1
        self.clock[0] += self.cost
        return [Detections.from_arrays([[10, 10, 50, 150]], [0.9], [CLASS_INDEX["person"]]) for _ in images]


def feed_live(
    clip: Clip, cost: float, seconds: float = 6.0, look_lag_s: float | None = None
) -> tuple[DetectStage, list[float]]:
    """Frames arrive in real time on a fake clock; the detector costs ``cost`` s per frame."""
    clock = [0.0]
    stage = DetectStage(SlowDetector(clock, cost), None, max_lag_s=0.5, look_lag_s=look_lag_s, clock=lambda: clock[0])
    lags: list[float] = []

    class Lag:
        name = "lag"

        def process(self, ctx: Any, emit: Any) -> None:
            lags.append(clock[0] - (ctx.ts - start).total_seconds())

    pipeline = Pipeline(CameraInfo("c", "KG-Y", None), [stage, Lag()], lambda e: None, analysis_fps=8)
    frames = clip.decoded()[: int(seconds * clip.fps)]
    start = frames[0].captured_at
    for f in frames:
        arrival = (f.captured_at - start).total_seconds()
        clock[0] = max(clock[0], arrival)  # a frame cannot be handled before it arrives
        pipeline.feed(f)
    return stage, lags


def test_slow_inference_looks_only_at_fresh_frames_and_lag_stays_bounded(clips: dict[str, Clip]) -> None:
    """0.4 s per look at 8 analysed frames a second: past the look lag (0.25 s) frames are carried
    without a look, the camera catches up, and no frame is shed; the lag never grows."""
    stage, lags = feed_live(clips["w-1"], cost=0.4)
    st = stage.stats()
    assert st["stale"] > 0 and st["rationed"] >= st["stale"] and st["skipped"] == 0, st
    assert st["detect_frames"] > 0  # it still looks, on fresh frames
    assert max(lags) <= 0.25 + 0.4 + 0.2, max(lags)  # look lag + one inference, never growing
    assert lags[-1] <= 0.25 + 0.4 + 0.2
    fast, fast_lags = feed_live(clips["w-1"], cost=0.02)
    assert fast.skipped == 0 and fast.stale == 0 and max(fast_lags) < 0.1


def test_past_the_max_lag_frames_are_shed_and_lag_stays_bounded(clips: dict[str, Clip]) -> None:
    """With looks allowed up to the max lag itself, the last resort works: frames are shed."""
    stage, lags = feed_live(clips["w-1"], cost=0.4, look_lag_s=10.0)
    assert stage.skipped > 0 and stage.stats()["skipped"] == stage.skipped
    assert max(lags) <= 0.5 + 0.4 + 0.2, max(lags)  # max_lag + one inference, never growing
    assert lags[-1] <= 0.5 + 0.4 + 0.2


def test_ingest_adds_detection_for_non_motion_profiles(settings: Settings, tmp_path: Path) -> None:
    from koopsuz.system import System

    cams = [
        {
            "id": f"cam-{profile}",
            "name": profile,
            "site": "s-1",
            "main_url": "rtsp://127.0.0.1:9/x/main",
            "sub_url": "rtsp://127.0.0.1:9/x/sub",
            "lat": 42.49,
            "lon": 78.39,
            "profile": profile,
        }
        for profile in ("motion", "people")
    ]
    site = {"id": "s-1", "name": "S", "type": "street", "region": "KG-Y", "lat": 42.49, "lon": 78.39}
    deployment = tmp_path / "d.yaml"
    deployment.write_text(yaml.safe_dump({"name": "t", "sites": [site], "cameras": cams}))
    system = System(settings)
    try:
        system.load_deployment(deployment)
        system.ingest.reconcile()
        stats = system.ingest.stats()
        assert "detect" not in stats["cam-motion"]
        assert stats["cam-people"]["detect"]["skipped"] == 0
        system.ingest.stop()
        broken = settings.model_copy(update={"detector_model": tmp_path / "missing.pb"})
        other = System(broken)
        try:
            other.load_deployment(deployment)
            with pytest.raises(ModelError, match=r"missing\.pb"):
                other.ingest.reconcile()
        finally:
            other.ingest.stop()
            other.stop()
    finally:
        system.ingest.stop()
        system.stop()


def test_payload_path_is_bounded() -> None:
    """A long track's path is thinned to at most 65 points in its event."""
    from koopsuz.vision.tracker import Tracker

    tracker = Tracker()
    for i in range(400):
        tracker.update(Detections.from_arrays([[i, 100, i + 40, 200]], [0.9], [0]), i / 8, i, (640, 360))
    (track,) = tracker.finish()
    events: list[Any] = []
    stage = DetectStage(SlowDetector([0.0], 0.0), None)
    stage._uids[track.id] = "uid"
    stage._left(CameraInfo("c", "KG-Y", None), track, (640, 360), events.append)
    path = events[0].payload["path"]
    assert len(path) <= 65 and path[-1][0] == pytest.approx(399 / 8 - track.first_t, abs=0.2)
    assert events[0].payload["duration_s"] == pytest.approx(399 / 8, abs=0.01)


def test_stopping_a_camera_closes_its_open_tracks(clips: dict[str, Clip]) -> None:
    """A person still in view when the camera stops gets a ``track_left`` with the same track id."""
    clock = [0.0]
    events: list[Any] = []
    stage = DetectStage(SlowDetector(clock, 0.0), None, clock=lambda: clock[0])
    pipeline = Pipeline(CameraInfo("c", "KG-Y", "s"), [stage], events.append, analysis_fps=8)
    pipeline.close()  # nothing seen yet: nothing to close
    assert events == []
    frames = clips["w-1"].decoded()[:30]
    start = frames[0].captured_at
    for f in frames:
        clock[0] = (f.captured_at - start).total_seconds()
        pipeline.feed(f)
    assert [e.kind for e in events] == ["track_appeared"]
    pipeline.close()
    assert [e.kind for e in events] == ["track_appeared", "track_left"]
    appeared, left = events
    assert left.payload["track"] == appeared.id and left.camera == "c" and left.site == "s"
    assert left.ts <= frames[-1].captured_at and left.payload["duration_s"] > 1.0
    pipeline.close()  # idempotent: the tracks are gone
    assert len(events) == 2
