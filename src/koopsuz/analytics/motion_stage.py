"""Motion episodes: one ``motion`` event when movement starts, one ``motion_end`` when it stops.

An episode starts after motion in ``confirm_frames`` analysed frames in a row (one noisy frame is
not an event) and ends after ``cooldown_s`` without motion, so a person walking through the view is
one event, not one per frame. The start event carries a snapshot with the moving areas outlined.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

import cv2
import numpy as np

from koopsuz.analytics.pipeline import EventSink, FrameContext
from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.vision.motion import Box, MotionDetector

SnapshotWriter = Callable[[str, str, datetime, bytes], str]  # camera, event id, ts, jpeg -> media ref


class MotionStage:
    name = "motion"

    def __init__(
        self,
        detector: MotionDetector,
        save_snapshot: SnapshotWriter | None,
        *,
        cooldown_s: float = 3.0,
        confirm_frames: int = 2,
    ) -> None:
        self.detector = detector
        self._save = save_snapshot
        self._cooldown = cooldown_s
        self._confirm = confirm_frames
        self._streak = 0
        self._active: tuple[str, datetime] | None = None
        self._last_motion: datetime | None = None
        self._peak = 0.0

    def process(self, ctx: FrameContext, emit: EventSink) -> None:
        result = self.detector.update(ctx.gray)
        ctx.results["motion"] = result
        if result.moving:
            self._streak += 1
            self._last_motion = ctx.ts
            self._peak = max(self._peak, result.area)
        else:
            self._streak = 0
        if self._active is None and self._streak >= self._confirm:
            event_id = new_id()
            media: dict[str, str] = {}
            problem = None
            if self._save is not None:
                try:
                    media["snapshot"] = self._save(ctx.camera.id, event_id, ctx.ts, _snapshot(ctx.bgr, result.boxes))
                except OSError as exc:  # a full disk costs the picture, never the event
                    problem = str(exc)
            self._active = (event_id, ctx.ts)
            self._peak = result.area
            emit(
                Event(
                    id=event_id,
                    kind="motion",
                    region=ctx.camera.region,
                    camera=ctx.camera.id,
                    site=ctx.camera.site,
                    ts=ctx.ts,
                    payload={
                        "boxes": [[round(v, 4) for v in b] for b in result.boxes],
                        "area": result.area,
                        **({"snapshot_error": problem} if problem else {}),
                    },
                    media=media,
                    severity=Severity.INFO,
                )
            )
        elif self._active is not None and self._last_motion is not None:
            quiet = (ctx.ts - self._last_motion).total_seconds()
            if quiet >= self._cooldown:
                start_id, started = self._active
                self._active = None
                emit(
                    Event(
                        kind="motion_end",
                        region=ctx.camera.region,
                        camera=ctx.camera.id,
                        site=ctx.camera.site,
                        ts=self._last_motion,
                        payload={
                            "start_event": start_id,
                            "duration_s": round((self._last_motion - started).total_seconds(), 2),
                            "peak_area": self._peak,
                        },
                    )
                )


def _snapshot(bgr: np.ndarray, boxes: tuple[Box, ...]) -> bytes:
    img = bgr.copy()
    h, w = img.shape[:2]
    for x, y, bw, bh in boxes:
        cv2.rectangle(img, (int(x * w), int(y * h)), (int((x + bw) * w), int((y + bh) * h)), (0, 200, 255), 2)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("snapshot encoding failed")
    return buf.tobytes()
