"""Plates on vehicle tracks: read on the main stream, voted per vehicle, one ``plate_read`` each.

A plate camera's sub stream (640x360) shows a plate a few pixels high; the main stream (1280x720)
is needed. Unlike faces (one keyframe a second is enough), a passing car is in view for a couple
of seconds, so a plate camera gets a second worker decoding its *whole* main stream, handing each
frame to ``offer``; the stage looks at most ``read_fps`` times a second. On each look, every
vehicle track measured close to that frame's moment is moved there by its velocity and scaled to
the main stream, and the reader searches its box only. Reads collect per track; the vehicle's
plate is the vote over them (``domain.plates.vote``), emitted once: as soon as ``early_reads``
reads agree confidently (a hotlist hit must not wait for the car to leave), else when the track
ends. The event carries the plate, its format and region, the confidence, the vehicle's class,
colour and direction, and the best read's crops.
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
from koopsuz.domain.plates import Plate, vote
from koopsuz.video.worker import DecodedFrame
from koopsuz.vision.colour import vehicle_colour
from koopsuz.vision.tracker import Track

log = logging.getLogger(__name__)
VEHICLES = frozenset({"car", "bus", "truck", "motorcycle"})
Reader = Callable[[np.ndarray, tuple[float, float, float, float]], list[Any]]  # PlateReader.read


@dataclass(slots=True)
class _Vehicle:
    uid: str | None
    cls: str
    reads: list[tuple[Plate, float]] = field(default_factory=list)
    best: tuple[float, bytes, bytes, str | None] | None = None  # confidence, vehicle jpeg, plate jpeg, colour
    first_t: float = 0.0
    last_t: float = 0.0
    dx: float = 0.0
    dy: float = 0.0
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
        min_vehicle_px: int = 64,
    ) -> None:
        self._read = read
        self._save = save
        self._interval = 1.0 / read_fps
        self._early_reads = early_reads
        self._early_confidence = early_confidence
        self._min_conf = min_confidence
        self._skew = max_skew_s
        self._min_px = min_vehicle_px
        self._frame: DecodedFrame | None = None
        self._used_seq = -1
        self._last_look = -1e18
        self._vehicles: dict[int, _Vehicle] = {}
        self.frames = 0
        self.looks = 0
        self.attempts = 0
        self.reads = 0
        self.emitted = 0
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
            "ms_per_look": round(self.ms / self.looks, 1) if self.looks else None,
        }

    def process(self, ctx: FrameContext, emit: EventSink) -> None:
        for tr in ctx.results.get("tracks_ended") or ():
            self._ended(ctx.camera, tr.id, emit)
        frame = self._frame
        if frame is None or frame.seq == self._used_seq:
            return
        ft = frame.captured_at.timestamp()
        if ft - self._last_look < self._interval:
            return
        vehicles = [
            tr
            for tr in ctx.results.get("tracks") or ()
            if tr.class_name in VEHICLES and abs(ft - tr.last_t) <= self._skew
        ]
        if not vehicles:
            return
        self._used_seq, self._last_look = frame.seq, ft
        started = time.perf_counter()
        self.looks += 1
        image = frame.bgr()
        sub = ctx.decoded.frame
        sx, sy = image.shape[1] / sub.width, image.shape[0] / sub.height
        uids: dict[int, str] = ctx.results.get("track_uids") or {}
        for tr in vehicles:
            box = _main_box(tr, ft - tr.last_t, sx, sy, image.shape)
            if box is None or box[2] - box[0] < self._min_px:
                continue
            self.attempts += 1
            v = self._vehicles.setdefault(tr.id, _Vehicle(uids.get(tr.id), tr.class_name, first_t=ft))
            v.uid = v.uid or uids.get(tr.id)
            v.cls, v.last_t = tr.class_name, ft
            v.dx, v.dy = float(tr.velocity[0]), float(tr.velocity[1])
            try:
                found = self._read(image, box)
            except ValueError:
                continue
            found = [r for r in found if r.confidence >= self._min_conf]
            if not found:
                continue
            best = found[0]
            self.reads += 1
            v.reads.append((best.plate, best.confidence))
            if v.best is None or best.confidence > v.best[0]:
                x0, y0, x1, y1 = (round(c) for c in box)
                v.best = (best.confidence, *_crops(image, box, best.box), vehicle_colour(image[y0:y1, x0:x1]))
            if not v.emitted and len(v.reads) >= self._early_reads:
                decided = vote(v.reads)
                if decided is not None and decided.confidence >= self._early_confidence:
                    self._emit(ctx.camera, v, emit)
        self.ms += 1000 * (time.perf_counter() - started)

    def close(self, camera: CameraInfo, emit: EventSink) -> None:
        """The camera stops: every vehicle still in view gets its read (if any)."""
        for tid in list(self._vehicles):
            self._ended(camera, tid, emit)

    # -- helpers -------------------------------------------------------------------------------
    def _ended(self, camera: CameraInfo, track_id: int, emit: EventSink) -> None:
        v = self._vehicles.pop(track_id, None)
        if v is not None and v.reads and not v.emitted:
            self._emit(camera, v, emit)

    def _emit(self, camera: CameraInfo, v: _Vehicle, emit: EventSink) -> None:
        decided = vote(v.reads)
        if decided is None:
            return
        v.emitted = True
        self.emitted += 1
        p = decided.plate
        colour = v.best[3] if v.best is not None else None
        event = Event(
            id=new_id(),
            kind="plate_read",
            region=camera.region,
            camera=camera.id,
            site=camera.site,
            ts=datetime.fromtimestamp(v.last_t, UTC),
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
                "colour": colour,
                "direction": _direction(v.dx, v.dy),
                "track": v.uid,
            },
        )
        if self._save is not None and v.best is not None:
            try:
                event.media["snapshot"] = self._save(camera.id, event.id, event.ts, v.best[1])
                event.media["plate"] = self._save(camera.id, f"{event.id}-plate", event.ts, v.best[2])
            except OSError as exc:  # a full disk costs the pictures, never the read
                event.payload["snapshot_error"] = str(exc)
        emit(event)


def _main_box(
    tr: Track, dt: float, sx: float, sy: float, shape: tuple[int, ...]
) -> tuple[float, float, float, float] | None:
    """The track's box at the main frame's moment, in main-stream pixels, padded a little."""
    x0, y0, x1, y1 = (float(c) for c in tr.box)
    dx, dy = float(tr.velocity[0]) * dt, float(tr.velocity[1]) * dt
    w, h = x1 - x0, y1 - y0
    x0, x1 = (x0 + dx - 0.08 * w) * sx, (x1 + dx + 0.08 * w) * sx
    y0, y1 = (y0 + dy - 0.05 * h) * sy, (y1 + dy + 0.10 * h) * sy
    H, W = shape[:2]
    x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(W), x1), min(float(H), y1)
    return None if x1 - x0 < 8 or y1 - y0 < 8 else (x0, y0, x1, y1)


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


def _direction(dx: float, dy: float) -> str | None:
    if abs(dx) < 1 and abs(dy) < 1:
        return None
    if abs(dy) >= abs(dx):
        return "towards" if dy > 0 else "away"
    return "left_to_right" if dx > 0 else "right_to_left"
