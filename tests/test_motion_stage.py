"""Motion episodes through the real pipeline: one event per episode, with a snapshot, on time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import av
import numpy as np

from koopsuz.analytics.motion_stage import MotionStage
from koopsuz.analytics.pipeline import CameraInfo, Pipeline
from koopsuz.domain.events import Event
from koopsuz.video.media import MediaStore
from koopsuz.video.worker import DecodedFrame
from koopsuz.vision.motion import MotionConfig, MotionDetector

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=UTC)


def frames(fps: int = 15, seconds: float = 10.0, visible: tuple[float, float] = (2.0, 4.0)):
    rng = np.random.default_rng(0)
    bg = rng.integers(50, 110, (360, 640), dtype=np.uint8)
    for i in range(int(fps * seconds)):
        t = i / fps
        y = bg.copy()
        if visible[0] <= t < visible[1]:
            x = int(100 + (t - visible[0]) * 120)
            y[150:260, x : x + 40] = 235  # a person-sized bright shape walking right
        img = np.dstack([y, y, y])
        vf = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
        yield DecodedFrame(vf, T0 + timedelta(seconds=t), i + 1)


def test_one_walk_through_is_one_episode_with_snapshot(tmp_path: Path) -> None:
    events: list[Event] = []
    media = MediaStore(tmp_path)
    stage = MotionStage(MotionDetector(MotionConfig()), media.save_snapshot, cooldown_s=2.0)
    p = Pipeline(CameraInfo("cam-1", "KG-Y", "site-1"), [stage], events.append, analysis_fps=8)
    for f in frames():
        p.feed(f)
    kinds = [e.kind for e in events]
    assert kinds == ["motion", "motion_end"]
    start, end = events
    delay = (start.ts - T0).total_seconds() - 2.0
    assert 0 <= delay <= 0.4, delay  # two analysed frames at 8 fps
    assert start.region == "KG-Y" and start.camera == "cam-1" and start.site == "site-1"
    assert start.payload["boxes"] and 0 < start.payload["area"] < 0.1
    snap = media.path(start.media["snapshot"])
    assert snap.read_bytes()[:2] == b"\xff\xd8"
    assert end.payload["start_event"] == start.id
    assert 1.5 <= end.payload["duration_s"] <= 2.2
    assert p.processed < 10 * 15 * 0.6  # sampled to the analysis rate, not every frame


def test_full_disk_loses_the_snapshot_not_the_event(tmp_path: Path) -> None:
    events: list[Event] = []

    def full_disk(*_a) -> str:
        raise OSError(28, "No space left on device")

    stage = MotionStage(MotionDetector(MotionConfig()), full_disk, cooldown_s=2.0)
    p = Pipeline(CameraInfo("cam-1", "KG-Y", None), [stage], events.append, analysis_fps=8)
    for f in frames():
        p.feed(f)
    assert events[0].kind == "motion" and events[0].media == {}
    assert "No space" in events[0].payload["snapshot_error"]
