"""The plate stage's timing: a plate first read well past the timing line is timed at the line all the same.

A car comes towards a camera (perspective: the plate grows and speeds up in the picture as it nears),
drawn into real decoded-frame objects (PyAV, YUV 4:2:0) at 10 fps. The stage is looked at once, on
the last frame, where the plate is far past the line, as happens when a loaded machine skips looks:
it must follow the plate back through its buffered frames to the two frames straddling the line and
time the read at the crossing. Without buffered frames the read keeps its first read's time,
flagged ``first_read``. The camera clock's jumps are judged on the frames' own timestamps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import av
import cv2
import numpy as np
import pytest

from koopsuz.analytics.pipeline import CameraInfo, FrameContext
from koopsuz.analytics.plate_stage import PlateStage
from koopsuz.domain.camera_clock import CameraClock
from koopsuz.domain.events import Event
from koopsuz.domain.plates import parse_plate
from koopsuz.video.source import SourceOptions
from koopsuz.video.worker import CameraWorker, DecodedFrame

W, H, FPS = 640, 360, 10
Y_HORIZON, FOCAL = 80.0, 1000.0
T0 = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
CAM = CameraInfo("r-1", "KG-Y", "a363")
PLATE = parse_plate("01 234 BSZ")


def distance_m(t: float) -> float:
    return 20.0 - 10.0 * t  # 10 m/s towards the camera


def plate_box(t: float) -> tuple[int, int, int, int]:
    z = distance_m(t)
    cy, w = Y_HORIZON + FOCAL / z, 600.0 / z
    h, cx = w / 4.7, 300.0 + 40.0 / z
    return round(cx - w / 2), round(cy - h / 2), round(cx + w / 2), round(cy + h / 2)


def true_crossing(line_y: float) -> float:
    return (20.0 - FOCAL / (line_y - Y_HORIZON)) / 10.0


BACKGROUND = cv2.GaussianBlur(np.random.default_rng(7).integers(60, 140, (H, W, 3), dtype=np.uint8), (5, 5), 0)


def picture(t: float) -> np.ndarray:
    img = BACKGROUND.copy()
    x0, y0, x1, y1 = plate_box(t)
    w, h = x1 - x0, y1 - y0
    cv2.rectangle(img, (x0 - w, y0 - 3 * h), (x1 + w, y1 + h), (40, 40, 120), -1)  # the car's front
    cv2.rectangle(img, (x0, y0), (x1, y1), (235, 235, 235), -1)
    cv2.putText(
        img,
        "01 234 BSZ",
        (x0 + 2, y1 - max(1, h // 5)),
        cv2.FONT_HERSHEY_SIMPLEX,
        h / 34,
        (10, 10, 10),
        max(1, h // 10),
    )
    return img


def frames(n: int) -> list[DecodedFrame]:
    out = []
    for i in range(n):
        img = picture(i / FPS)
        f = av.VideoFrame.from_ndarray(img, format="bgr24").reformat(format="yuv420p")
        f.pts, f.time_base = i * 9000, Fraction(1, 90000)  # the camera's clock: 10 fps, smooth
        d = DecodedFrame(f, T0 + timedelta(seconds=i / FPS), i + 1)
        d._bgr = img  # the same picture the reader sees
        out.append(d)
    return out


@dataclass
class Read:
    plate: Any
    confidence: float
    box: tuple[int, int, int, int]


class Reader:
    """Reads the plate only in the pictures listed (the stage's looks): the rest must be followed."""

    def __init__(self, readable: set[int]) -> None:
        self.readable = readable
        self.truth: dict[int, tuple[int, int, int, int]] = {}

    def __call__(self, image: np.ndarray, box: tuple[float, float, float, float]) -> list[Read]:
        b = self.truth.get(id(image))
        if b is None or id(image) not in self.readable:
            return []
        cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
        return [Read(PLATE, 0.9, b)] if box[0] <= cx <= box[2] and box[1] <= cy <= box[3] else []


def run(stage: PlateStage, reader: Reader, fs: list[DecodedFrame], look: int) -> list[Event]:
    for i, f in enumerate(fs):
        reader.truth[id(f.bgr())] = plate_box(i / FPS)
    for f in fs[: look + 1]:
        stage.offer(f)
    x0, y0, x1, y1 = plate_box(look / FPS)
    motion = SimpleNamespace(boxes=[((x0 - 40) / W, (y0 - 60) / H, (x1 - x0 + 80) / W, (y1 - y0 + 80) / H)])
    out: list[Event] = []
    stage.process(FrameContext(CAM, fs[look], {"motion": motion}), out.append)
    stage.close(CAM, out.append)
    return out


def test_a_plate_first_read_past_the_line_is_followed_back_to_its_crossing() -> None:
    fs = frames(16)
    look = 15  # 1.5 s: the plate is far below the line (at 0.6 of the height, crossed at ~1.26 s)
    reader = Reader({id(fs[look].bgr())})
    stage = PlateStage(reader, None)
    (read,) = run(stage, reader, fs, look)
    line = 0.6 * H
    assert plate_box(look / FPS)[1] > line + 40
    assert read.payload["timing"] == "line" and read.payload["timing_gap_s"] == pytest.approx(0.1, abs=0.01)
    crossed = (read.ts - T0).total_seconds()
    assert crossed == pytest.approx(true_crossing(line), abs=0.02)
    assert read.payload["clock_trusted"] is False  # the stream began 1.5 s before: its anchor is still settling
    s = stage.stats()
    assert s["line_timed"] == 1 and s["timing_steps"] >= 2 and 0 < s["ring_frames"] <= 16 and s["ring_mb"] > 0


def test_without_buffered_frames_the_read_keeps_its_first_time_and_says_so() -> None:
    fs = frames(16)
    look = 15
    reader = Reader({id(fs[look].bgr())})
    stage = PlateStage(reader, None, max_buffer_frames=1)  # nothing older than the look is kept
    (read,) = run(stage, reader, fs, look)
    assert read.payload["timing"] == "first_read" and read.ts == T0 + timedelta(seconds=1.5)
    assert stage.stats()["first_read"] == 1


def test_the_camera_clock_is_distrusted_around_a_jump() -> None:
    clock = CameraClock(settle_s=2.0, distrust_s=30.0)
    assert clock.trusted(0.0) is None  # nothing seen: no data, no verdict
    for i in range(600):  # a minute at 10 fps, delivered 40 ms after capture
        clock.observe(i / 10, 1000.0 + i / 10, 1000.04 + i / 10)
    assert clock.trusted(1001.0) is False  # the anchor was still settling
    assert clock.trusted(1030.0) is True and clock.jumps == 0
    assert clock.offset_s == pytest.approx(0.04)
    clock.observe(12.0, 1060.0, 1060.04)  # the camera's clock went back 48 s (a reboot, a re-sync)
    clock.observe(12.1, 1060.1, 1060.14)
    assert clock.jumps == 1 and clock.trusted(1045.0) is False and clock.trusted(1061.0) is False
    assert clock.trusted(1020.0) is True and clock.trusted(1095.0) is True
    clock.observe(12.2, 1060.7, 1060.74)  # re-anchored 0.5 s while the camera's clock moved 0.1 s: a step
    assert clock.jumps == 2
    clock.observe(17.2, 1065.7, 1065.74)  # 5 s with no frames (a network stall): both clocks moved, no jump
    assert clock.jumps == 2
    untimed = CameraClock()
    untimed.observe(None, 5.0, 5.0)
    assert untimed.trusted(5.0) is False  # a stream without timestamps: nothing to check its clock by


def test_a_plate_followed_out_of_the_picture_is_emitted_at_once() -> None:
    fs = frames(19)  # the plate leaves the bottom edge at ~1.65 s
    look = 12  # read once, at 1.2 s, just before the line
    reader = Reader({id(fs[look].bgr())})
    stage = PlateStage(reader, None, gap_s=2.5)
    for i, f in enumerate(fs):
        reader.truth[id(f.bgr())] = plate_box(i / FPS)
    out: list[Event] = []
    for i, f in enumerate(fs):
        stage.offer(f)
        if i == look:
            x0, y0, x1, y1 = plate_box(look / FPS)
            motion = SimpleNamespace(boxes=[((x0 - 40) / W, (y0 - 60) / H, (x1 - x0 + 80) / W, (y1 - y0 + 80) / H)])
            stage.process(FrameContext(CAM, f, {"motion": motion}), out.append)
        elif i > look:
            stage.process(FrameContext(CAM, f, {}), out.append)  # nothing moves where it looks: no reads
    # emitted within the 1.8 s of frames, long before the 2.5 s without reads that closes a plate otherwise
    (read,) = out
    assert read.payload["timing"] == "line"
    assert (read.ts - T0).total_seconds() == pytest.approx(true_crossing(0.6 * H), abs=0.02)


def _ts_part(path: Path, start_ms: int, n: int) -> bytes:
    with av.open(str(path), "w", format="mpegts") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = 160, 96, "yuv420p"
        s.options = {"bframes": "0", "g": "5"}
        for i in range(n):
            f = av.VideoFrame.from_ndarray(np.full((96, 160, 3), 40 + i, np.uint8), format="bgr24")
            f.pts, f.time_base = start_ms + i * 100, Fraction(1, 1000)
            for p in s.encode(f):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
    return path.read_bytes()


def test_a_camera_clock_going_back_reanchors_the_worker_and_is_a_jump(tmp_path: Path) -> None:
    """A camera rebooting mid-stream: its timestamps go back 27 s. Capture times must stay at the
    wall clock (not 27 s in the past) and the camera's clock must be seen to jump."""
    stream = tmp_path / "reboot.ts"
    stream.write_bytes(_ts_part(tmp_path / "a.ts", 30_000, 20) + _ts_part(tmp_path / "b.ts", 5_000, 20))
    seen: list[tuple[float | None, float, float]] = []  # (camera time, capture time, wall)

    def on_frame(f: DecodedFrame) -> None:
        if len(seen) < 40:  # the file's one pass (the worker reopens it at its end)
            seen.append((None if f.frame.time is None else float(f.frame.time), f.captured_at.timestamp(), time.time()))

    w = CameraWorker("reboot", f"file:{stream}", on_frame=on_frame, source_options=SourceOptions(open_timeout_s=2))
    w.start()
    try:
        deadline = time.monotonic() + 15
        while len(seen) < 40 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        w.stop()
    assert len(seen) == 40 and seen[19][0] == pytest.approx(31.9) and seen[20][0] == pytest.approx(5.0)
    assert all(abs(wall - cap) < 2.0 for _t, cap, wall in seen), [round(w - c, 1) for _t, c, w in seen]
    clock = CameraClock()
    for cam_t, cap, wall in seen:
        clock.observe(cam_t, cap, wall)
    assert clock.jumps >= 1 and clock.trusted(seen[25][1]) is False  # a file is read faster than real time
