"""Plates on passing vehicles: read on the main stream, tracked by their text, one ``plate_read`` each.

A plate camera's sub stream (640x360) shows a plate a few pixels high; the main stream (1280x720)
is needed. A passing car is in view for a couple of seconds, so a plate camera gets a second
worker decoding its *whole* main stream, handing each frame to ``offer``; the stage looks at most
``read_fps`` times a second. Like a dedicated ANPR camera it does not depend on the object
detector seeing the car: it reads where things move (the motion stage's boxes) and where vehicle
tracks are, moved to the main frame's moment and scale. Reads are tracked *by plate*: a read
joins the open plate whose text is within ``max_edit`` characters and whose last read is recent,
else opens a new one. The vehicle's plate is the vote over its reads (``domain.plates.vote``),
emitted once: as soon as ``early_reads`` reads agree confidently (a hotlist hit must not wait for
the car to leave), else when no read has joined it for ``gap_s``. The event carries the plate,
its format and region, the confidence, the vehicle's class (from a vehicle track around the
plate, when there is one), colour and direction, and the best read's crops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np

from koopsuz.analytics.motion_stage import SnapshotWriter
from koopsuz.analytics.pipeline import CameraInfo, EventSink, FrameContext
from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.domain.plates import Plate, edit_distance, vote
from koopsuz.video.worker import DecodedFrame
from koopsuz.vision.colour import vehicle_colour
from koopsuz.vision.tracker import Track

log = logging.getLogger(__name__)
VEHICLES = frozenset({"car", "bus", "truck", "motorcycle"})
Reader = Callable[[np.ndarray, tuple[float, float, float, float]], list[Any]]  # PlateReader.read
Box = tuple[float, float, float, float]


@dataclass(slots=True)
class _Vehicle:
    """One plate being followed across frames."""

    key: str  # the compact text of its latest read
    uid: str | None = None  # the vehicle track's event id, when a track carries it
    cls: str = "vehicle"
    reads: list[tuple[Plate, float]] = field(default_factory=list)
    best: tuple[float, bytes, bytes, str | None] | None = None  # confidence, vehicle jpeg, plate jpeg, colour
    path: list[tuple[float, float, float]] = field(default_factory=list)  # (t, plate centre x, y), main px
    last_t: float = 0.0
    emitted: bool = False


class PlateStage:
    name = "plates"

    def __init__(
        self,
        read: Reader,
        save: SnapshotWriter | None,
        *,
        read_fps: float = 4.0,
        early_reads: int = 3,
        early_confidence: float = 0.6,
        min_confidence: float = 0.3,
        max_skew_s: float = 0.3,
        motion_skew_s: float = 1.0,
        max_edit: int = 2,
        gap_s: float = 2.5,
        max_regions: int = 4,
        timing_line: float = 0.6,
    ) -> None:
        self._read = read
        self._save = save
        self._interval = 1.0 / read_fps
        self._early_reads = early_reads
        self._early_confidence = early_confidence
        self._min_conf = min_confidence
        self._skew = max_skew_s
        self._motion_skew = motion_skew_s
        self._max_edit = max_edit
        self._gap = gap_s
        self._line = timing_line
        self._main_h = 0
        self._max_regions = max_regions
        self._frame: DecodedFrame | None = None
        self._used_seq = -1
        self._last_look = -1e18
        self._open: list[_Vehicle] = []
        self.frames = 0
        self.looks = 0
        self.attempts = 0
        self.reads = 0
        self.emitted = 0
        self.partial = 0
        self.ms = 0.0

    def offer(self, decoded: DecodedFrame) -> None:
        """A main-stream frame (from the main-stream worker's thread): one reference swap."""
        self._frame = decoded
        self.frames += 1

    def stats(self) -> dict[str, Any]:
        return {
            "main_frames": self.frames,
            "looks": self.looks,
            "attempts": self.attempts,
            "reads": self.reads,
            "plates": self.emitted,
            "partial_dropped": self.partial,
            "open": len(self._open),
            "ms_per_look": round(self.ms / self.looks, 1) if self.looks else None,
        }

    def process(self, ctx: FrameContext, emit: EventSink) -> None:
        frame = self._frame
        now_t = ctx.ts.timestamp()
        self._close_idle(ctx.camera, now_t, emit)
        if frame is None or frame.seq == self._used_seq:
            return
        ft = frame.captured_at.timestamp()
        if ft - self._last_look < self._interval:
            return
        sub = ctx.decoded.frame
        regions = self._regions(ctx, ft, sub.width, sub.height)
        if not regions:
            return
        self._used_seq, self._last_look = frame.seq, ft
        started = time.perf_counter()
        self.looks += 1
        image = frame.bgr()
        self._main_h = image.shape[0]
        sx, sy = image.shape[1] / sub.width, image.shape[0] / sub.height
        seen: set[str] = set()
        for region, track, uid in regions:
            box = _scaled(region, sx, sy, image.shape)
            if box is None:
                continue
            self.attempts += 1
            try:
                found = [r for r in self._read(image, box) if r.confidence >= self._min_conf]
            except ValueError:
                continue
            for r in found[:2]:
                key = r.plate.compact
                if key in seen:
                    continue  # the same plate seen through two overlapping regions
                seen.add(key)
                self.reads += 1
                self._add(ctx.camera, emit, image, box, r, ft, track, uid)
        self.ms += 1000 * (time.perf_counter() - started)

    def close(self, camera: CameraInfo, emit: EventSink) -> None:
        """The camera stops: every plate still followed gets its read."""
        for v in list(self._open):
            self._finish(camera, v, emit)
        self._open.clear()

    # -- helpers -------------------------------------------------------------------------------
    def _regions(self, ctx: FrameContext, ft: float, w: int, h: int) -> list[tuple[Box, Track | None, str | None]]:
        """Where to read, in sub-stream pixels: vehicle tracks near the frame's moment, then motion."""
        out: list[tuple[Box, Track | None, str | None]] = []
        uids: dict[int, str] = ctx.results.get("track_uids") or {}
        for tr in ctx.results.get("tracks") or ():
            if tr.class_name in VEHICLES and abs(ft - tr.last_t) <= self._skew:
                dt = ft - tr.last_t
                x0, y0, x1, y1 = (float(c) for c in tr.box)
                dx, dy = float(tr.velocity[0]) * dt, float(tr.velocity[1]) * dt
                out.append(((x0 + dx, y0 + dy, x1 + dx, y1 + dy), tr, uids.get(tr.id)))
        motion = ctx.results.get("motion")
        skew = abs(ft - ctx.ts.timestamp())
        if motion is not None and motion.boxes and skew <= self._motion_skew:
            # the moving areas of the sub frame, grown by how far things move in ``skew`` (the two
            # streams are decoded apart and drift a little under load)
            grow = 0.15 + 0.5 * skew
            for x, y, bw, bh in sorted(motion.boxes, key=lambda b: -b[2] * b[3]):
                box = (
                    max(0.0, (x - grow * bw) * w),
                    max(0.0, (y - grow * bh) * h),
                    min(float(w), (x + bw * (1 + grow)) * w),
                    min(float(h), (y + bh * (1 + grow)) * h),
                )
                if not any(_inside(box, r[0]) for r in out):
                    out.append((box, None, None))
        return out[: self._max_regions]

    def _add(
        self, camera: CameraInfo, emit: EventSink, image: np.ndarray, box: Box, r: Any, t: float,
        track: Track | None, uid: str | None,
    ) -> None:
        key = r.plate.compact
        cx, cy = (r.box[0] + r.box[2]) / 2, (r.box[1] + r.box[3]) / 2
        v = next((o for o in self._open if edit_distance(o.key, key, limit=self._max_edit) <= self._max_edit), None)
        if v is None:  # a partial read of a plate already followed: as near as one look's travel
            reach = 0.15 * image.shape[1]
            near = [o for o in self._open if o.path and t - o.path[-1][0] <= 2 * self._interval + 0.1]
            near = [o for o in near if np.hypot(o.path[-1][1] - cx, o.path[-1][2] - cy) <= reach]
            v = min(near, key=lambda o: np.hypot(o.path[-1][1] - cx, o.path[-1][2] - cy), default=None)
        if v is None:
            v = _Vehicle(key)
            self._open.append(v)
        v.key, v.last_t = key, t
        if track is not None:
            v.cls, v.uid = track.class_name, v.uid or uid
        v.reads.append((r.plate, r.confidence))
        v.path.append((t, cx, cy))
        if v.best is None or r.confidence > v.best[0]:
            x0, y0, x1, y1 = (round(c) for c in box)
            v.best = (r.confidence, *_crops(image, box, r.box), vehicle_colour(image[y0:y1, x0:x1]))
        # early (a hotlist hit must not wait for the car to leave), once the plate has crossed the
        # timing line, so the read's time is the crossing's and average speed can be measured
        if not v.emitted and len(v.reads) >= self._early_reads and self._crossing(v) is not None:
            decided = vote(v.reads)
            if decided is not None and decided.confidence >= self._early_confidence:
                self._emit(camera, v, emit)

    def _close_idle(self, camera: CameraInfo, now_t: float, emit: EventSink) -> None:
        for v in [o for o in self._open if now_t - o.last_t > self._gap]:
            self._open.remove(v)
            self._finish(camera, v, emit)

    def _finish(self, camera: CameraInfo, v: _Vehicle, emit: EventSink) -> None:
        if not v.reads or v.emitted:
            return
        decided = vote(v.reads)
        if decided is not None and decided.plate.format == "free" and decided.reads < self._early_reads:
            self.partial += 1  # a fragment no format explains, seen too few times to be a plate
            return
        self._emit(camera, v, emit)

    def _crossing(self, v: _Vehicle) -> float | None:
        """When the plate's centre crossed the timing line (a fixed image row), interpolated between
        the two reads either side of it (or extrapolated back at most a second before the first
        read, when the plate became readable just past the line); None before it has."""
        y_line = self._line * self._main_h
        for (t1, _x1, y1), (t2, _x2, y2) in zip(v.path, v.path[1:], strict=False):
            if (y1 - y_line) * (y2 - y_line) <= 0 and y1 != y2:
                return t1 + (y_line - y1) / (y2 - y1) * (t2 - t1)
        # first read just past the line (the plate became readable there): the crossing is extrapolated
        # back along the first two reads, if it lies within a second of the first read
        if len(v.path) >= 2:
            (t1, _x1, y1), (t2, _x2, y2) = v.path[0], v.path[1]
            if y1 != y2 and t2 > t1 and (y2 - y1) * (y1 - y_line) > 0:
                t = t1 + (y_line - y1) / (y2 - y1) * (t2 - t1)
                if t1 - 1.0 <= t <= t1:
                    return t
        return None

    def _emit(self, camera: CameraInfo, v: _Vehicle, emit: EventSink) -> None:
        decided = vote(v.reads)
        if decided is None:
            return
        crossing = self._crossing(v)
        v.emitted = True
        self.emitted += 1
        p = decided.plate
        event = Event(
            id=new_id(),
            kind="plate_read",
            region=camera.region,
            camera=camera.id,
            site=camera.site,
            ts=datetime.fromtimestamp(crossing if crossing is not None else v.path[0][0], UTC),
            severity=Severity.INFO,
            payload={
                "text": p.text,
                "compact": p.compact,
                "format": p.format,
                "plate_region": p.region,
                "country": p.country or None,
                "foreign": p.foreign,
                "confidence": decided.confidence,
                "reads": decided.reads,
                "agreement": list(decided.agreement),
                "vehicle": v.cls,
                "colour": v.best[3] if v.best else None,
                "direction": _direction(v.path),
                "track": v.uid,
                # which instant ts is: the timing-line crossing (what average speed uses) or, for a
                # plate never seen crossing it, the first read (less exact; flagged for evidence)
                "timing": "line" if crossing is not None else "first_read",
            },
        )
        if self._save is not None and v.best is not None:
            try:
                event.media["snapshot"] = self._save(camera.id, event.id, event.ts, v.best[1])
                event.media["plate"] = self._save(camera.id, f"{event.id}-plate", event.ts, v.best[2])
            except OSError as exc:  # a full disk costs the pictures, never the read
                event.payload["snapshot_error"] = str(exc)
        emit(event)


def _inside(a: Box, b: Box) -> bool:
    """Whether box ``a`` lies mostly (>= 60 %) inside box ``b``."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    return ix * iy >= 0.6 * max(1.0, (a[2] - a[0]) * (a[3] - a[1]))


def _scaled(box: Box, sx: float, sy: float, shape: tuple[int, ...]) -> Box | None:
    """A sub-stream box in main-stream pixels, padded a little (plates sit at the bumper's edge)."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    H, W = shape[:2]
    x0, x1 = max(0.0, (x0 - 0.08 * w) * sx), min(float(W), (x1 + 0.08 * w) * sx)
    y0, y1 = max(0.0, (y0 - 0.05 * h) * sy), min(float(H), (y1 + 0.12 * h) * sy)
    return None if x1 - x0 < 16 or y1 - y0 < 8 else (x0, y0, x1, y1)


def _crops(
    image: np.ndarray, vehicle: tuple[float, float, float, float], plate: tuple[int, int, int, int]
) -> tuple[bytes, bytes]:
    """The vehicle with its plate boxed (for the operator) and the plate alone (for evidence)."""
    x0, y0, x1, y1 = (round(c) for c in vehicle)
    car = image[y0:y1, x0:x1].copy()
    px0, py0, px1, py1 = plate
    cv2.rectangle(car, (px0 - x0, py0 - y0), (px1 - x0, py1 - y0), (0, 200, 255), 2)
    m = max(2, (py1 - py0) // 4)
    plate_img = image[max(0, py0 - m) : py1 + m, max(0, px0 - m) : px1 + m]
    if plate_img.shape[0] < 48:
        f = 48 / max(1, plate_img.shape[0])
        plate_img = cv2.resize(plate_img, (round(plate_img.shape[1] * f), 48), interpolation=cv2.INTER_CUBIC)
    return _jpeg(car), _jpeg(plate_img)


def _jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("crop encoding failed")
    return buf.tobytes()


def _direction(path: list[tuple[float, float, float]]) -> str | None:
    """Which way the plate moved in the picture over its reads (main-stream pixels)."""
    if len(path) < 2:
        return None
    dx, dy = path[-1][1] - path[0][1], path[-1][2] - path[0][2]
    if abs(dx) < 4 and abs(dy) < 4:
        return None
    if abs(dy) >= abs(dx):
        return "towards" if dy > 0 else "away"
    return "left_to_right" if dx > 0 else "right_to_left"
