"""Objects where motion is: detection on crops of the sub stream, tracking, track events.

Runs after ``MotionStage`` in the same pipeline and reads ``ctx.results["motion"]``:

* no motion and no live track: nothing runs, not even a colour conversion (a quiet camera costs
  the motion stage only);
* motion: crops around the moving areas (``vision.regions``), one batched inference, boxes mapped
  back to frame pixels; live tracks are re-checked once per ``recheck_s`` even without motion, so
  a person who stops (and fades into the motion background) keeps its track;
* motion that lies only on objects already tracked: they are looked at again every ``follow_s``
  (4 times a second), not on every analysed frame; the tracker carries them in between
  (``ctx.results["followed"]``). Motion anywhere else is looked at at once, so a newcomer is not
  delayed. On a busy scene this halves the inferences, which is the whole cost on a CPU;
* the tracker turns detections into tracks; a confirmed track emits ``track_appeared`` (with a
  snapshot), an ended one ``track_left`` (class, path, duration, speed, best snapshot).

On a busy scene the detector cannot look at every analysed frame of every camera; a shared
``LookBudget`` gives each camera a fair share of looks and refuses the rest (counted as
``rationed``): the frame is treated like a followed one, so motion, tracking and rules still see
it and the alert for a look comes one look after the capture, not a queue later.

Detection must never make ingest fall behind without bound. The stage runs in the camera's
decode thread, so it measures how far capture time has fallen behind the wall clock since it was
last on pace. Past ``look_lag_s`` (half ``max_lag_s`` by default) it looks at no frame (counted as
``stale`` among the rationed): carrying is cheap, the thread catches up, and the next look is on a
fresh frame, so an alert is never a look's queue late. Past ``max_lag_s`` it skips frames
altogether (counted as ``skipped``, i.e. shed) until decode catches up.
Results: ``ctx.results["detections"]`` (frame pixels), ``ctx.results["tracks"]`` (confirmed, live),
``ctx.results["tracks_ended"]`` and ``ctx.results["track_uids"]`` (track number -> the id its
events carry), for later stages such as ``RuleStage``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import cv2
import numpy as np

from koopsuz.analytics.look_budget import LookBudget
from koopsuz.analytics.motion_stage import SnapshotWriter
from koopsuz.analytics.pipeline import CameraInfo, EventSink, FrameContext
from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.vision.detections import Detections
from koopsuz.vision.detectors import Detector
from koopsuz.vision.motion import MotionResult
from koopsuz.vision.regions import RegionConfig, plan_regions
from koopsuz.vision.tracker import Track, Tracker, TrackerConfig

PATH_POINTS = 64  # at most this many path points in a track_left event


class DetectStage:
    name = "detect"

    def __init__(
        self,
        detector: Detector,
        save_snapshot: SnapshotWriter | None,
        *,
        tracker: TrackerConfig | None = None,
        regions: RegionConfig | None = None,
        max_lag_s: float = 1.0,
        look_lag_s: float | None = None,
        recheck_s: float = 1.0,
        follow_s: float = 0.25,
        budget: LookBudget | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.detector = detector
        self.tracker = Tracker(tracker or TrackerConfig())
        self._save = save_snapshot
        self._regions = regions or RegionConfig()
        self._max_lag = max_lag_s
        self._look_lag = max_lag_s / 2 if look_lag_s is None else look_lag_s
        self._recheck = recheck_s
        self._follow = follow_s
        self._budget = budget
        self._last_detect = -1e18
        self._clock = clock
        self._anchor: tuple[float, float] | None = None  # (capture t, wall t) when last on pace
        self._last_check = -1e18
        self._uids: dict[int, str] = {}
        self._best: dict[int, np.ndarray] = {}  # track id -> the BGR frame of its best view
        self.frames = 0
        self.detect_frames = 0
        self.inferences = 0
        self.whole_frames = 0
        self.skipped = 0
        self.followed = 0
        self.rationed = 0
        self.stale = 0  # of the rationed: frames already late, not looked at so the camera catches up
        self.inference_s = 0.0
        self.tracks_started = 0
        self.detections = 0
        self._size: tuple[int, int] | None = None

    def stats(self) -> dict[str, Any]:
        return {
            "frames": self.frames,
            "detect_frames": self.detect_frames,
            "crops": self.inferences,
            "detections": self.detections,
            "whole_frames": self.whole_frames,
            "skipped": self.skipped,
            "followed": self.followed,
            "rationed": self.rationed,
            "stale": self.stale,
            "ms_per_frame": round(1000 * self.inference_s / self.detect_frames, 1) if self.detect_frames else None,
            "tracks": self.tracks_started,
            "active_tracks": len(self.tracker.active),
        }

    def behind(self, t: float) -> float:
        """Seconds the capture clock has fallen behind the wall clock since the stage was on pace.

        Input faster than real time (a file, a test) re-anchors instead of banking credit; a
        reconnect jumps capture time forward and so re-anchors too.
        """
        now = self._clock()
        if self._anchor is None:
            self._anchor = (t, now)
            return 0.0
        lag = (now - self._anchor[1]) - (t - self._anchor[0])
        if lag <= 0:
            self._anchor = (t, now)
            return 0.0
        return lag

    def process(self, ctx: FrameContext, emit: EventSink) -> None:
        t = ctx.ts.timestamp()
        self.frames += 1
        lag = self.behind(t)
        if lag > self._max_lag:
            self.skipped += 1
            return
        frame = ctx.decoded.frame
        size = self._size = (frame.width, frame.height)
        motion = ctx.results.get("motion")
        if motion is not None and t - self._last_detect < self._follow and self._only_tracked(motion, size):
            # every moving area is an object already tracked: the tracker carries it until the
            # next look, a ``follow_s`` later; new motion anywhere is looked at at once
            self.followed += 1
            self._carry(ctx, motion, size, t, move=False)  # a look is due soon: mark, do not move
            return
        boxes, recheck = self._where(motion, size, t)
        regions = plan_regions(boxes, size, self.detector.input_size[0] / self.detector.input_size[1], self._regions)
        if regions and lag > self._look_lag:
            # a look on a late frame makes a late alert and the next frames later still: carried
            # like a rationed frame (cheap), the camera catches up and looks at a fresh one
            self.rationed += 1
            self.stale += 1
            self._carry(ctx, motion, size, t)
            return
        if regions and self._budget is not None and not self._budget.request(ctx.camera.id):
            # this camera has had its share of the detector for now: carried like a followed frame
            self.rationed += 1
            self._carry(ctx, motion, size, t)
            return
        if recheck:
            self._last_check = t
        dets = Detections.empty()
        if regions:
            started = time.perf_counter()
            bgr = ctx.bgr
            crops = [np.ascontiguousarray(bgr[y0:y1, x0:x1]) for x0, y0, x1, y1 in regions]
            found = self.detector.detect_batch(crops)
            dets = Detections.merge(d.shifted(r[0], r[1]) for d, r in zip(found, regions, strict=True))
            dets = dets.clipped(*size).nms(0.5)
            self.inference_s += time.perf_counter() - started
            self._last_detect = t
            self.detect_frames += 1
            self.inferences += len(regions)
            self.whole_frames += regions == [(0, 0, *size)]
            self.detections += len(dets)
        update = self.tracker.update(dets, t, ctx.decoded.seq, size, looked=bool(regions))
        if regions:
            for tr in self.tracker.live:
                if tr.best is not None and tr.best.frame == ctx.decoded.seq:
                    self._best[tr.id] = ctx.bgr  # a reference: the frame is not copied
        ctx.results["detections"] = dets
        ctx.results["tracks"] = update.tracks
        ctx.results["tracks_ended"] = update.ended
        for tr in update.ended:
            self._left(ctx.camera, tr, size, emit)
        for tr in update.started:
            self._appeared(ctx, tr, size, emit)
        ctx.results["track_uids"] = dict(self._uids)
        live = {tr.id for tr in self.tracker.live}
        for tid in [k for k in self._best if k not in live]:
            del self._best[tid]

    def _carry(
        self, ctx: FrameContext, motion: MotionResult | None, size: tuple[int, int], t: float, move: bool = True
    ) -> None:
        """No look on this frame: the tracker carries the live tracks along their own moving areas
        (``Tracker.follow_motion``); nothing starts or ends."""
        if motion is not None and motion.boxes:
            w, h = size
            boxes = np.array([(x * w, y * h, (x + bw) * w, (y + bh) * h) for x, y, bw, bh in motion.boxes])
            self.tracker.follow_motion(boxes, t, move=move)
        ctx.results["detections"] = Detections.empty()
        ctx.results["tracks"] = self.tracker.active
        ctx.results["tracks_ended"] = []
        ctx.results["track_uids"] = dict(self._uids)
        ctx.results["followed"] = True

    def _only_tracked(self, motion: MotionResult, size: tuple[int, int]) -> bool:
        """True when there are live tracks and each moving area lies mostly inside one of them."""
        live = self.tracker.active
        if not live:
            return False
        w, h = size
        for x, y, bw, bh in motion.boxes:
            x0, y0, x1, y1 = x * w, y * h, (x + bw) * w, (y + bh) * h
            area = max(1.0, (x1 - x0) * (y1 - y0))
            best = 0.0
            for tr in live:
                tx0, ty0, tx1, ty1 = (float(v) for v in tr.box)
                pad_x, pad_y = 0.25 * (tx1 - tx0), 0.25 * (ty1 - ty0)  # it moved on since its last box
                ix = max(0.0, min(x1, tx1 + pad_x) - max(x0, tx0 - pad_x))
                iy = max(0.0, min(y1, ty1 + pad_y) - max(y0, ty0 - pad_y))
                best = max(best, ix * iy / area)
            if best < 0.5:
                return False
        return True

    def _where(
        self, motion: MotionResult | None, size: tuple[int, int], t: float
    ) -> tuple[list[tuple[float, ...]], bool]:
        """Boxes (frame pixels) worth a look: moving areas, plus live tracks now and then.

        The flag says the live tracks were added for their periodic re-check, which counts as
        done only if the look is granted.
        """
        w, h = size
        if motion is None:  # no motion stage on this camera: every analysed frame, whole
            return [(0.0, 0.0, float(w), float(h))], False
        boxes: list[tuple[float, ...]] = [(x * w, y * h, (x + bw) * w, (y + bh) * h) for x, y, bw, bh in motion.boxes]
        recheck = bool(self.tracker.active) and (bool(boxes) or t - self._last_check >= self._recheck)
        if recheck:
            boxes += [tuple(float(v) for v in tr.box) for tr in self.tracker.active]
        return boxes, recheck

    # -- events ------------------------------------------------------------------------------
    def _appeared(self, ctx: FrameContext, tr: Track, size: tuple[int, int], emit: EventSink) -> None:
        self.tracks_started += 1
        uid = self._uids[tr.id] = new_id()
        media, problem = self._snapshot(ctx.camera, uid, ctx.ts, self._best.get(tr.id), tr.box, tr.class_name)
        emit(
            Event(
                id=uid,
                kind="track_appeared",
                region=ctx.camera.region,
                camera=ctx.camera.id,
                site=ctx.camera.site,
                ts=ctx.ts,
                payload={
                    "track": uid,
                    "track_no": tr.id,
                    "class": tr.class_name,
                    "confidence": round(tr.confidence, 3),
                    "box": _norm(tr.box, size),
                    "first_seen": _dt(tr.first_t).isoformat(),
                    "frame_size": list(size),
                    **({"snapshot_error": problem} if problem else {}),
                },
                media=media,
                severity=Severity.INFO,
            )
        )

    def close(self, camera: CameraInfo, emit: EventSink) -> None:
        """The camera stops: every open track ends here, so each ``appeared`` gets its ``left``.

        Called by the pipeline's owner after the decode thread has stopped, never beside it.
        """
        if self._budget is not None:
            self._budget.forget(camera.id)
        if self._size is None:
            return
        for tr in self.tracker.finish():
            self._left(camera, tr, self._size, emit)
        self._best.clear()

    def _left(self, camera: CameraInfo, tr: Track, size: tuple[int, int], emit: EventSink) -> None:
        uid = self._uids.pop(tr.id, None) or new_id()
        best = tr.best
        last = _dt(tr.last_t)
        event_id = new_id()
        media, problem = {}, None
        if best is not None:
            frame = self._best.pop(tr.id, None)
            media, problem = self._snapshot(camera, event_id, last, frame, best.box, tr.class_name)
        path = tr.path[:: -(-len(tr.path) // PATH_POINTS) or 1]
        if tr.path and path[-1] != tr.path[-1]:
            path.append(tr.path[-1])
        w, h = size
        emit(
            Event(
                id=event_id,
                kind="track_left",
                region=camera.region,
                camera=camera.id,
                site=camera.site,
                ts=last,
                payload={
                    "track": uid,
                    "track_no": tr.id,
                    "class": tr.class_name,
                    "first_seen": _dt(tr.first_t).isoformat(),
                    "duration_s": round(tr.duration, 2),
                    "speed_px_s": round(tr.mean_speed, 1),
                    "path": [[round(pt - tr.first_t, 2), round(x / w, 4), round(y / h, 4)] for pt, x, y in path],
                    "box": _norm(tr.box, size),
                    "best_box": _norm(best.box, size) if best else None,
                    "hits": tr.hits,
                    "frame_size": list(size),
                    **({"snapshot_error": problem} if problem else {}),
                },
                media=media,
                severity=Severity.INFO,
            )
        )

    def _snapshot(
        self, camera: CameraInfo, event_id: str, ts: datetime, bgr: np.ndarray | None, box: Any, label: str
    ) -> tuple[dict[str, str], str | None]:
        if self._save is None or bgr is None:
            return {}, None
        try:
            return {"snapshot": self._save(camera.id, event_id, ts, _annotated(bgr, box, label))}, None
        except OSError as exc:  # a full disk costs the picture, never the event
            return {}, str(exc)


def _annotated(bgr: np.ndarray, box: Any, label: str) -> bytes:
    img = bgr.copy()
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 200, 255), 2)
    cv2.putText(img, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 200, 255), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("snapshot encoding failed")
    return buf.tobytes()


def _norm(box: Any, size: tuple[int, int]) -> list[float]:
    x0, y0, x1, y1 = (float(v) for v in box)
    w, h = size
    x0, y0, x1, y1 = max(0.0, x0), max(0.0, y0), min(float(w), x1), min(float(h), y1)
    return [round(x0 / w, 4), round(y0 / h, 4), round(max(0.0, x1 - x0) / w, 4), round(max(0.0, y1 - y0) / h, 4)]


def _dt(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)
