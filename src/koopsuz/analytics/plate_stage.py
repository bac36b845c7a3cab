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
the car to leave), else when no read has joined it for ``gap_s``. Before that, the moment one read
is sure (two alike, or one uncorrected and scored very high: SURE_SINGLE, SURE_PAIR), a
``plate_provisional`` goes out, timed at that read's capture: a hotlist hit is raised on it at once
and confirmed or taken back by the decided read (same ``sighting``). The decided read also carries
``plate_path``, the plate's centre in every frame it was read or followed in: a calibrated camera's
spot speed (``domain/spot_speed.py``). The event carries the plate,
its format and region, the confidence, the vehicle's class (from a vehicle track around the
plate, when there is one), colour and direction, and the best read's crops.

**Timing** (what average speed is computed from): the read's time is the moment the plate's centre
crossed a fixed image row, interpolated between two sightings either side of it. Looks are sparse
(at most ``read_fps`` a second, fewer under load), so the stage keeps the last ``buffer_s`` of
main-stream frames (references to the decoded frames, never copies; bounded in time and count) and,
when the sightings around the line are further apart than ``fine_gap_s`` or the plate was first read
already past it, goes back through those frames: a cheap read of a small window where the plate
should be, binary search towards the two frames straddling the line. A plate that cannot be timed
so (never readable before the line, frames gone) keeps its first read's time, flagged
``first_read``, and no fine is issued on it. A plate followed out of the picture is finished at
once: no read of it can come any more. Every main-stream frame also feeds the camera's
``CameraClock``: a read near a clock jump is marked ``clock_trusted: false``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np

from koopsuz.analytics.motion_stage import SnapshotWriter
from koopsuz.analytics.pipeline import CameraInfo, EventSink, FrameContext
from koopsuz.domain.camera_clock import CameraClock
from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.domain.plates import Plate, edit_distance, vote
from koopsuz.domain.registry import Lane
from koopsuz.domain.rules import point_in_polygon
from koopsuz.video.worker import DecodedFrame
from koopsuz.vision.colour import vehicle_colour
from koopsuz.vision.tracker import Track

log = logging.getLogger(__name__)
VEHICLES = frozenset({"car", "bus", "truck", "motorcycle"})
Reader = Callable[[np.ndarray, tuple[float, float, float, float]], list[Any]]  # PlateReader.read
Box = tuple[float, float, float, float]
Point = tuple[float, float, float, float, float]  # (t, plate centre x, y, plate width, height), main px
# A provisional read is acted on (a hotlist hit at once) when it is whole, uncorrected and scored at least
# SURE_SINGLE by the recogniser, or read alike twice at SURE_PAIR or more each. From 410 single reads (30
# simulator passes by day, dusk and night at det side 640, and the generated set's five formats at 10-20 px
# with tilt, blur and noise; `bench/plates.py --sure`, docs/architecture.md): uncorrected reads of a
# known format at >= 0.95 were wrong 1 time in 162 (a 10 px Russian plate at night, 78 read as 73 at 0.99:
# no threshold removes it), 0 of 49 on the road video; but a road car's 08 read as 06 at 0.9496 sits just
# below, and at >= 0.9 9 of 243 were wrong: the recogniser's score alone separates poorly, so one read
# counts only when very high. Two reads alike at >= 0.6 within one pass: 30 of 30 right, none wrong. A
# wrong provisional hit needs the wrong text to be a listed plate, and is taken back when the decided read
# differs (road_watch: hotlist_unconfirmed).
SURE_SINGLE = 0.95
MAX_POINTS = 60  # followed places kept per plate (6 s at 10 fps): the spot speed's material
SURE_PAIR = 0.6
SECOND_LOOK_S = 0.25  # a first read is read again in the buffered frame at most this much older


@dataclass(slots=True)
class _Vehicle:
    """One plate being followed across frames."""

    key: str  # the compact text of its latest read
    uid: str | None = None  # the vehicle track's event id, when a track carries it
    cls: str = "vehicle"
    reads: list[tuple[Plate, float]] = field(default_factory=list)
    best: tuple[float, bytes, bytes, str | None] | None = None  # confidence, vehicle jpeg, plate jpeg, colour
    path: list[Point] = field(default_factory=list)
    last_t: float = 0.0
    emitted: bool = False
    crossing: float | None = None  # when the plate crossed the timing line
    gap_s: float | None = None  # how far apart the two sightings it was interpolated between were
    timing_done: bool = False  # the crossing was found, or every way of finding it was tried
    follow: _Follow | None = None  # the plate followed frame by frame through the buffered frames
    walked_back: bool = False
    left: bool = False  # followed out of the picture: no read of it can come any more
    points: dict[float, Point] = field(default_factory=dict)  # every place it was seen (reads, follow steps) by time
    sighting: str = field(default_factory=new_id)  # ties the provisional read to the decided one
    provisional: str | None = None  # the plate text sent as provisional (a hotlist may act on it)
    second: tuple[Plate, float] | None = None  # the second look's read of the first read's text (sureness only)


@dataclass(slots=True)
class _Follow:
    """The plate's picture and where it was, to find it in the next (or previous) buffered frame."""

    at: Point
    patch: np.ndarray  # luma around the plate
    off: tuple[float, float] = (0.0, 0.0)  # the plate's centre from the patch's centre, px
    vx: float = 0.0  # px/s, once two places are known
    vy: float = 0.0
    known_v: bool = False
    steps: int = 0  # frames followed since the read it started from
    growth: float | None = None  # how much it grew (or shrank) over the last frame


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
        buffer_s: float = 2.0,
        max_buffer_frames: int = 64,
        fine_gap_s: float = 0.15,
        max_line_gap_s: float = 0.5,
        max_extrapolate_s: float = 0.12,
        max_probes: int = 4,
        min_match: float = 0.7,
        clock: CameraClock | None = None,
        sure_single: float = SURE_SINGLE,
        sure_pair: float = SURE_PAIR,
        node: str | None = None,
        lanes: Sequence[Lane] = (),
    ) -> None:
        # ``lanes``: the camera's lanes (0..1 polygons); a read then names the lane its plate was in
        self._lanes = [(lane.name, list(lane.zone)) for lane in lanes]
        # ``node``: the process that reads this camera (a scale-out worker's id), carried in every read so
        # the road watch of exactly that process acts on it, even if the camera's lease moves meanwhile
        self._node = node
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
        self._buffer_s = buffer_s
        self._fine = fine_gap_s
        self._max_gap = max_line_gap_s
        self._max_extrapolate = max_extrapolate_s
        self._max_probes = max_probes
        self._min_match = min_match
        self._sure_single = sure_single
        self._sure_pair = sure_pair
        self._ring: deque[DecodedFrame] = deque(maxlen=max_buffer_frames)
        self._ring_lock = threading.Lock()
        self.clock = clock or CameraClock()
        self._main_h = self._main_w = 0
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
        self.provisional = 0
        self.second_looks = 0
        self.partial = 0
        self.ms = 0.0
        self.probes = 0
        self.steps = 0
        self.step_ms = 0.0
        self.probe_ms = 0.0
        self.line_timed = 0
        self.first_read = 0
        self.ring_peak = 0

    def offer(self, decoded: DecodedFrame) -> None:
        """A main-stream frame (from the main-stream worker's thread): a reference swap, a reference
        kept in the ring for ``buffer_s``, and the camera's clock observed."""
        now = time.time()
        t = decoded.captured_at.timestamp()
        with self._ring_lock:
            self._ring.append(decoded)
            while self._ring and not 0.0 <= t - self._ring[0].captured_at.timestamp() <= self._buffer_s:
                self._ring.popleft()  # older than the buffer (or from before a clock step back)
            self.ring_peak = max(self.ring_peak, len(self._ring))
        camera_t = getattr(decoded.frame, "time", None)
        self.clock.observe(None if camera_t is None else float(camera_t), t, now)
        self._frame = decoded
        self.frames += 1

    def ring_bytes(self) -> int:
        """What the buffered frames hold: the decoded pictures (YUV 4:2:0) and any BGR made of them."""
        with self._ring_lock:
            frames = list(self._ring)
        total = 0
        for f in frames:
            total += int(f.frame.width * f.frame.height * 1.5)
            bgr = f._bgr
            total += 0 if bgr is None else int(bgr.nbytes)
        return total

    def stats(self) -> dict[str, Any]:
        return {
            "main_frames": self.frames,
            "looks": self.looks,
            "attempts": self.attempts,
            "reads": self.reads,
            "plates": self.emitted,
            "provisional": self.provisional,
            "second_looks": self.second_looks,
            "partial_dropped": self.partial,
            "open": len(self._open),
            "ms_per_look": round(self.ms / self.looks, 1) if self.looks else None,
            "line_timed": self.line_timed,
            "first_read": self.first_read,
            "timing_steps": self.steps,
            "ms_per_step": round(self.step_ms / self.steps, 2) if self.steps else None,
            "timing_probes": self.probes,
            "ms_per_probe": round(self.probe_ms / self.probes, 1) if self.probes else None,
            "ring_frames": len(self._ring),
            "ring_peak": self.ring_peak,
            "ring_mb": round(self.ring_bytes() / 1e6, 1),
        } | self.clock.stats()

    def process(self, ctx: FrameContext, emit: EventSink) -> None:
        frame = self._frame
        now_t = ctx.ts.timestamp()
        self._close_idle(ctx.camera, now_t, emit)
        self._follow_open()
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
        self._main_h, self._main_w = image.shape[:2]
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
                self._add(ctx.camera, emit, frame, box, r, track, uid)
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
        self,
        camera: CameraInfo,
        emit: EventSink,
        frame: DecodedFrame,
        box: Box,
        r: Any,
        track: Track | None,
        uid: str | None,
    ) -> None:
        image, t = frame.bgr(), frame.captured_at.timestamp()
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
        v.path.append((t, cx, cy, float(r.box[2] - r.box[0]), float(r.box[3] - r.box[1])))
        v.points[t] = v.path[-1]
        if v.best is None or r.confidence > v.best[0]:
            x0, y0, x1, y1 = (round(c) for c in box)
            v.best = (r.confidence, *_crops(image, box, r.box), vehicle_colour(image[y0:y1, x0:x1]))
        # not decided yet, but sure enough for a hotlist to act on now (the decided read follows): before
        # the timing work below, which may read several buffered frames (each as dear as a look's region)
        if not v.emitted and v.provisional is None:
            sure = self._sure(v)
            if sure is None and len(v.reads) == 1 and r.plate.format != "free" and r.confidence >= self._sure_pair:
                self._second_look(v, frame)
                sure = self._sure(v, r.plate)
            if sure is not None:
                self._emit_provisional(camera, v, emit, t, *sure)
        if not v.timing_done:
            self._time(v, frame)
        else:  # followed on from its newest read, to see it leave
            self._seed(v, frame)
        # early (a hotlist hit must not wait for the car to leave), once the plate's crossing of the
        # timing line was looked for, so the read's time is the crossing's when there is one
        if not v.emitted and len(v.reads) >= self._early_reads and v.timing_done:
            decided = vote(v.reads)
            if decided is not None and decided.confidence >= self._early_confidence:
                self._emit(camera, v, emit)

    def _sure(self, v: _Vehicle, plate: Plate | None = None) -> tuple[Plate, float, str] | None:
        """The newest read's plate when it is certain enough to act on before the vote: a whole plate of
        a known format (never free text) read as it stands (no grammar corrections) with a recogniser
        score of at least ``sure_single``, or read the same twice, each at least ``sure_pair``. See
        SURE_SINGLE for the data behind the thresholds."""
        p, c = v.reads[-1]
        if plate is not None:  # the plate of a given read (another, e.g. a second look's, came after it)
            p, c = next((pc for pc in v.reads if pc[0] == plate), (p, c))
        if p.format == "free":
            return None
        if p.corrections == 0 and c >= self._sure_single:
            return p, c, "single"
        reads = v.reads if v.second is None else [*v.reads, v.second]
        same = [cc for pp, cc in reads if pp.compact == p.compact and cc >= self._sure_pair]
        if c >= self._sure_pair and len(same) >= 2:
            return p, min(same), "agree"
        return None

    def _close_idle(self, camera: CameraInfo, now_t: float, emit: EventSink) -> None:
        # a plate followed out of the picture is finished at once (its hotlist hit must not wait)
        for v in [o for o in self._open if o.left or now_t - o.last_t > self._gap]:
            self._open.remove(v)
            self._finish(camera, v, emit)

    def _finish(self, camera: CameraInfo, v: _Vehicle, emit: EventSink) -> None:
        if not v.reads or v.emitted:
            return
        decided = vote(v.reads)
        fragment = decided is not None and decided.plate.format == "free" and decided.reads < self._early_reads
        if fragment and v.provisional is None:  # (after a provisional read its decision must come, to settle it)
            self.partial += 1  # a fragment no format explains, seen too few times to be a plate
            return
        self._emit(camera, v, emit)

    # -- timing ------------------------------------------------------------------------------------
    def _time(self, v: _Vehicle, frame: DecodedFrame) -> None:
        """After a read: two reads either side of the line close enough in time settle it; else the
        plate is followed from this read through the buffered frames (back once, from its first
        read; forward as frames come, see ``_follow_open``) until a step crosses the line."""
        y_line = self._line * self._main_h
        for a, b in zip(v.path, v.path[1:], strict=False):
            if (a[2] - y_line) * (b[2] - y_line) <= 0 and a[2] != b[2] and b[0] - a[0] <= self._fine:
                self._settle(v, a, b)
                return
        follow = self._seed(v, frame)
        seed = follow.at
        if not v.walked_back:
            v.walked_back = True
            self._walk(v, _Follow(seed, follow.patch, follow.off), back=True)
            if v.timing_done:
                return
        self._walk(v, v.follow, back=False)
        if not v.timing_done and v.follow is None:
            self._fallback(v)

    def _seed(self, v: _Vehicle, frame: DecodedFrame) -> _Follow:
        """Follow the plate on from its newest read (its picture there; the motion known so far)."""
        seed = v.path[-1]
        follow = _Follow(seed, *_patch(_luma(frame), seed))
        if v.follow is not None and v.follow.known_v:
            follow.vx, follow.vy, follow.known_v, follow.growth = v.follow.vx, v.follow.vy, True, v.follow.growth
        v.follow = follow
        return follow

    def _follow_open(self) -> None:
        """Each open plate is followed into the frames decoded since: to its crossing, then out."""
        for v in self._open:
            if v.follow is not None:
                self._walk(v, v.follow, back=False)
                if not v.timing_done and v.follow is None:
                    self._fallback(v)

    def _walk(self, v: _Vehicle, follow: _Follow, *, back: bool) -> None:
        """Follow the plate frame by frame (back or forward from ``follow.at``) by its picture until it
        crosses the line (timing found), is lost (``v.follow`` dropped when going forward) or the
        buffered frames end."""
        y_line = self._line * self._main_h
        t0 = follow.at[0]
        ring = self._buffered()
        frames = [f for f in ring if (f.captured_at.timestamp() < t0) == back and f.captured_at.timestamp() != t0]
        if back:
            frames.reverse()
        prev_f = next((f for f in ring if f.captured_at.timestamp() == t0), None)
        for f in frames:
            prev = follow.at
            p = self._step(f, follow)
            if p is None:
                if not back:
                    v.follow, v.left = None, self._at_edge(follow)
                return
            if len(v.points) < MAX_POINTS:
                v.points.setdefault(p[0], p)  # a read's place (the reader's box) wins over a followed one
            if v.timing_done:
                continue  # followed only to see it leave
            if (p[2] - y_line) * (prev[2] - y_line) <= 0 and p[2] != prev[2]:
                a, b = (p, prev) if back else (prev, p)
                fa, fb = (f, prev_f) if back else (prev_f, f)
                # a few frames from a read the follower is within a pixel or two; further, read the two
                # frames (each read costs what a look's region does: the reader is shared, keep it rare)
                self._settle(v, *(self._confirm(v, a, b, fa, fb) if follow.steps > 3 else (a, b)))
                return
            prev_f = f

    def _at_edge(self, follow: _Follow) -> bool:
        """Whether the plate was last seen within a frame's travel of the picture's edge (so it left)."""
        _t, cx, cy, pw, ph = follow.at
        mx, my = pw + 0.2 * abs(follow.vx), 1.5 * ph + 0.2 * abs(follow.vy)
        return cy + my >= self._main_h or cx - mx <= 0 or cx + mx >= self._main_w

    def _confirm(
        self, v: _Vehicle, a: Point, b: Point, fa: DecodedFrame | None, fb: DecodedFrame | None
    ) -> tuple[Point, Point]:
        """The two followed places either side of the line, read where possible: a read's plate box
        is where the reads put the plate (following drifts a few pixels over many frames)."""
        out = []
        for p, f in ((a, fa), (b, fb)):
            q = self._probe(v, f, p, p) if f is not None else None  # a small window around the followed plate
            out.append(q if q is not None and abs(q[0] - p[0]) < 1e-6 else p)
        y_line = self._line * self._main_h
        return (out[0], out[1]) if (out[0][2] - y_line) * (out[1][2] - y_line) <= 0 else (a, b)

    def _step(self, f: DecodedFrame, follow: _Follow) -> Point | None:
        """Where the plate is in frame ``f`` (normalised cross-correlation of its picture near where its
        motion puts it); None when nothing there looks like it. ``follow`` moves to the new place."""
        t = f.captured_at.timestamp()
        at = follow.at
        dt = t - at[0]
        px, py = at[1] + follow.vx * dt, at[2] + follow.vy * dt
        ph, pw = follow.patch.shape[:2]
        # the plate grows (or shrinks) fast as the car nears (or leaves): around its last growth, once known
        scales = _SCALES if follow.growth is None else sorted({round(follow.growth * k, 3) for k in _AROUND} | {1.0})
        big = max(scales)
        mx = 12 + (0.5 * abs(follow.vx * dt) if follow.known_v else 0.6 * pw) + (big - 1) * pw / 2
        my = 10 + (0.5 * abs(follow.vy * dt) if follow.known_v else 2.5 * at[4]) + (big - 1) * ph / 2
        luma = _luma(f)
        H, W = luma.shape[:2]
        x0, y0 = max(0, int(px - pw / 2 - mx)), max(0, int(py - ph / 2 - my))
        x1, y1 = min(W, int(px + pw / 2 + mx) + 1), min(H, int(py + ph / 2 + my) + 1)
        if x1 - x0 <= pw or y1 - y0 <= ph:
            return None  # the plate leaves the picture
        self.steps += 1
        started = time.perf_counter()
        region = luma[y0:y1, x0:x1]
        best: tuple[float, float, float, float] | None = None  # score, centre x, y, scale
        for scale in scales:
            tw, th = round(pw * scale), round(ph * scale)
            if tw < 8 or th < 4 or tw >= region.shape[1] or th >= region.shape[0]:
                continue
            tmpl = follow.patch if scale == 1.0 else cv2.resize(follow.patch, (tw, th), interpolation=cv2.INTER_LINEAR)
            res = cv2.matchTemplate(region, tmpl, cv2.TM_CCOEFF_NORMED)
            _lo, score, _lo_at, (bx, by) = cv2.minMaxLoc(res)
            if best is None or score > best[0]:  # the plate's centre: the window's, moved by the patch's offset
                ox, oy = follow.off
                best = (score, x0 + bx + (tw - 1) / 2 + ox * scale, y0 + by + (th - 1) / 2 + oy * scale, scale)
        self.step_ms += 1000 * (time.perf_counter() - started)
        if best is None or best[0] < self._min_match:
            return None
        _score, cx, cy, scale = best
        follow.growth = scale
        p = (t, cx, cy, at[3] * scale, at[4] * scale)
        if dt != 0:
            follow.vx, follow.vy, follow.known_v = (cx - at[1]) / dt, (cy - at[2]) / dt, True
        follow.at = p
        follow.steps += 1
        patch, off = _patch(luma, p)
        if min(patch.shape[:2]) >= 4 and patch.shape[0] >= 0.8 * ph * scale:  # at the edge the old one is kept
            follow.patch, follow.off = patch, off
        return p

    def _fallback(self, v: _Vehicle) -> None:
        """Following lost the plate before it crossed: two reads either side of the line, narrowed by
        reading the buffered frames between them, or no line timing at all."""
        y_line = self._line * self._main_h
        for a, b in zip(v.path, v.path[1:], strict=False):
            if (a[2] - y_line) * (b[2] - y_line) <= 0 and a[2] != b[2]:
                self._settle(v, *self._narrow(v, a, b))
                return
        # every read on one side: on the far side of the line and moving away, it will not cross it
        # again; else a later read may still bring it over
        first, last = v.path[0], v.path[-1]
        if len(v.path) >= 2 and (last[2] - first[2]) * (first[2] - y_line) > 0:
            v.timing_done = True

    def _settle(self, v: _Vehicle, a: Point, b: Point) -> None:
        """The crossing between sightings ``a`` and ``b`` either side of the line, when they are close
        enough in time for interpolation to be honest."""
        v.timing_done = True
        y_line = self._line * self._main_h
        if b[0] - a[0] <= self._max_gap and a[2] != b[2]:
            v.crossing = a[0] + (y_line - a[2]) / (b[2] - a[2]) * (b[0] - a[0])
            v.gap_s = b[0] - a[0]

    def _narrow(self, v: _Vehicle, a: Point, b: Point) -> tuple[Point, Point]:
        """Binary search over the buffered frames between sightings ``a`` and ``b`` (either side of
        the line) for two sightings at most ``fine_gap_s`` apart; a frame where the plate cannot be
        read is skipped."""
        y_line = self._line * self._main_h
        frames = [f for f in self._buffered() if a[0] < f.captured_at.timestamp() < b[0]]
        probes = 0
        while frames and b[0] - a[0] > self._fine and probes < self._max_probes:
            i = len(frames) // 2
            probes += 1
            p = self._probe(v, frames[i], a, b)
            if p is None:
                frames.pop(i)
            elif (p[2] - y_line) * (a[2] - y_line) > 0:
                a, frames = p, frames[i + 1 :]
            else:
                b, frames = p, frames[:i]
        return a, b

    def _probe(self, v: _Vehicle, f: DecodedFrame, a: Point, b: Point) -> Point | None:
        """The plate in buffered frame ``f``: read a small window where motion from ``a`` to ``b`` puts
        it (grown for perspective's curve); None when it is not read there."""
        found = self._probe_read(v, f, a, b)
        return None if found is None else found[0]

    def _probe_read(self, v: _Vehicle, f: DecodedFrame, a: Point, b: Point) -> tuple[Point, Any] | None:
        """``_probe``, with the read it found."""
        t = f.captured_at.timestamp()
        u = (t - a[0]) / (b[0] - a[0]) if b[0] != a[0] else 0.0
        px, py = a[1] + u * (b[1] - a[1]), a[2] + u * (b[2] - a[2])
        pw, ph = max(a[3], b[3]), max(a[4], b[4])
        reach = max(1.0, abs(u)) * 0.35
        ux = 1.2 * pw + reach * abs(b[1] - a[1]) + 16
        uy = 2.5 * ph + reach * abs(b[2] - a[2]) + 8
        started = time.perf_counter()
        self.probes += 1
        image = f.bgr()
        H, W = image.shape[:2]
        box = (max(0.0, px - ux), max(0.0, py - uy), min(float(W), px + ux), min(float(H), py + uy))
        try:
            found = [r for r in self._read(image, box) if r.confidence >= self._min_conf]
        except ValueError:
            found = []
        finally:
            self.probe_ms += 1000 * (time.perf_counter() - started)
        same = [r for r in found if edit_distance(v.key, r.plate.compact, limit=self._max_edit) <= self._max_edit]
        if not same:
            return None
        r = min(same, key=lambda r: np.hypot((r.box[0] + r.box[2]) / 2 - px, (r.box[1] + r.box[3]) / 2 - py))
        cx, cy = (r.box[0] + r.box[2]) / 2, (r.box[1] + r.box[3]) / 2
        return (t, cx, cy, float(r.box[2] - r.box[0]), float(r.box[3] - r.box[1])), r

    def _second_look(self, v: _Vehicle, frame: DecodedFrame) -> None:
        """A plate's first read, good but not sure alone: read it again at once in the buffered frame just
        before (a small window, as dear as one region of a look) rather than wait for the next look, which
        under load comes a second or more later. The same text there makes the pair that is sure; it
        never joins the vote."""
        t = frame.captured_at.timestamp()
        before = [f for f in self._buffered() if 0 < t - f.captured_at.timestamp() <= SECOND_LOOK_S]
        if not before:
            return
        self.second_looks += 1
        found = self._probe_read(v, before[-1], v.path[-1], v.path[-1])
        if found is None:
            return
        _p, r = found
        if r.plate.compact == v.reads[0][0].compact:
            # counted for sureness only, never in the vote: two frames 0.1 s apart share their blur and angle,
            # so a misread can repeat there, and a vote with it twice could outweigh the later, larger reads
            # that get it right (one live run with it in the vote decided 09 508 KGD as 06 506 KGD)
            v.second = (r.plate, r.confidence)

    def _buffered(self) -> list[DecodedFrame]:
        with self._ring_lock:
            return sorted(self._ring, key=lambda f: f.captured_at)

    def _plate_path(self, v: _Vehicle, ts: float) -> list[list[float]]:
        if not self._main_w or not self._main_h:
            return []
        pts = [v.points[t] for t in sorted(v.points)]
        # the centre, not the bottom edge: a reader's box is the text's, and its height varies from read to read
        return [
            [round(t - ts, 3), round(cx / self._main_w, 5), round(cy / self._main_h, 5)] for t, cx, cy, _w, _h in pts
        ]

    def _emit_provisional(
        self, camera: CameraInfo, v: _Vehicle, emit: EventSink, t: float, p: Plate, confidence: float, basis: str
    ) -> None:
        """A ``plate_provisional`` event, timed at the capture of the read that made the plate sure: what a
        hotlist hit is raised on at once. The decided ``plate_read`` (same ``sighting``) follows; the road
        watch confirms the hit with it, or says it was not confirmed."""
        v.provisional = p.text
        self.provisional += 1
        event = _plate_event(
            "plate_provisional",
            camera,
            v,
            t,
            p,
            {
                "confidence": round(confidence, 4),
                "basis": basis,  # "single": one uncorrected read; "agree": two reads alike
                "reads": len(v.reads),
                "timing": "read",  # ts is the read's capture, not a timing-line crossing: never for speed
            }
            | self._lane_of(v, t),
            self._node,
        )
        self._save_pictures(camera, v, event)
        emit(event)

    def _lane_of(self, v: _Vehicle, t: float) -> dict[str, Any]:
        """``{"lane": name}`` where the plate was at ``t`` (its nearest known place), None outside every
        lane; nothing on a camera without lanes. The plate sits on the vehicle's front or back, so its
        centre lies in the lane the vehicle drives in, where a box's centre could lean into the next."""
        if not self._lanes:
            return {}
        if not v.points or not self._main_w or not self._main_h:
            return {"lane": None}
        _t, cx, cy, *_ = v.points[min(v.points, key=lambda k: abs(k - t))]
        at = (cx / self._main_w, cy / self._main_h)
        return {"lane": next((name for name, zone in self._lanes if point_in_polygon(at, zone)), None)}

    def _save_pictures(self, camera: CameraInfo, v: _Vehicle, event: Event) -> None:
        if self._save is not None and v.best is not None:
            try:
                event.media["snapshot"] = self._save(camera.id, event.id, event.ts, v.best[1])
                event.media["plate"] = self._save(camera.id, f"{event.id}-plate", event.ts, v.best[2])
            except OSError as exc:  # a full disk costs the pictures, never the read
                event.payload["snapshot_error"] = str(exc)

    def _emit(self, camera: CameraInfo, v: _Vehicle, emit: EventSink) -> None:
        decided = vote(v.reads)
        if decided is None:
            return
        crossing = v.crossing
        ts = crossing if crossing is not None else v.path[0][0]
        v.emitted = True
        if crossing is not None:
            self.line_timed += 1
        else:
            self.first_read += 1
        self.emitted += 1
        p = decided.plate
        event = _plate_event(
            "plate_read",
            camera,
            v,
            ts,
            p,
            {
                "confidence": decided.confidence,
                "reads": decided.reads,
                "agreement": list(decided.agreement),
                # which instant ts is: the timing-line crossing (what average speed uses) or, for a
                # plate never seen crossing it, the first read (less exact; flagged for evidence)
                "timing": "line" if crossing is not None else "first_read",
                "timing_gap_s": None if v.gap_s is None else round(v.gap_s, 3),
                # whether the camera's clock ran smoothly around that instant (see CameraClock): a
                # fine is never issued on a time near a clock jump
                "clock_trusted": self.clock.trusted(ts),
                "clock_offset_s": None if self.clock.offset_s is None else round(self.clock.offset_s, 3),
                # the provisional read of the same vehicle, if one went out (a hotlist hit confirmed or not)
                "provisional": v.provisional,
                # where the plate's centre was, frame by frame (s from ts, 0..1 of the picture): what a
                # calibrated camera's spot speed is measured from (domain/spot_speed.py)
                "plate_path": self._plate_path(v, ts),
            }
            | self._lane_of(v, ts),
            self._node,
        )
        self._save_pictures(camera, v, event)
        emit(event)


def _plate_event(
    kind: str, camera: CameraInfo, v: _Vehicle, t: float, p: Plate, extra: dict[str, Any], node: str | None = None
) -> Event:
    """A provisional or decided read of vehicle ``v``: the plate and the vehicle as both carry them, plus
    what only one of them says (``extra``: confidence, reads, timing...), and which process read it."""
    payload: dict[str, Any] = {
        "text": p.text,
        "compact": p.compact,
        "format": p.format,
        "plate_region": p.region,
        "country": p.country or None,
        "foreign": p.foreign,
        "vehicle": v.cls,
        "colour": v.best[3] if v.best else None,
        "direction": _direction(v.path),
        "track": v.uid,
        "sighting": v.sighting,
    }
    if node:
        payload["node"] = node
    return Event(
        id=new_id(),
        kind=kind,
        region=camera.region,
        camera=camera.id,
        site=camera.site,
        ts=datetime.fromtimestamp(t, UTC),
        severity=Severity.INFO,
        payload=payload | extra,
    )


_SCALES = (1.0, 0.8, 0.87, 0.93, 1.07, 1.15, 1.25)
_AROUND = (0.9, 0.95, 1.0, 1.05, 1.1)


def _luma(f: DecodedFrame) -> np.ndarray:
    """The frame's brightness, without converting it: the Y plane as decoded (a view, no copy)."""
    fr = f.frame
    if fr.format.name in ("yuv420p", "yuvj420p", "yuv422p", "yuvj422p", "yuv444p", "yuvj444p", "nv12"):
        plane = fr.planes[0]
        return np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)[:, : plane.width]
    return f.ndarray("gray")


def _patch(luma: np.ndarray, p: Point) -> tuple[np.ndarray, tuple[float, float]]:
    """The plate with a little margin (its edges and the bumper around it help the match), a copy, and
    where the plate's centre is from the patch's centre. Whole-pixel cuts (and the picture's edge) put
    the patch's centre up to a pixel off the plate's; without the offset that error adds up step after
    step (measured: 2-3 px after 15 frames followed back, a far plate's position metres off)."""
    _t, cx, cy, w, h = p
    H, W = luma.shape[:2]
    hw, hh = max(8.0, 0.6 * w), max(6.0, 0.8 * h)
    x0, y0 = max(0, int(cx - hw)), max(0, int(cy - hh))
    x1, y1 = min(W, int(cx + hw)), min(H, int(cy + hh))
    return luma[y0:y1, x0:x1].copy(), (cx - (x0 + x1 - 1) / 2, cy - (y0 + y1 - 1) / 2)


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
