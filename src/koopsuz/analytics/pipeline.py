"""The per-camera chain of stages.

Ingest hands every decoded frame to ``Pipeline.feed``; the pipeline samples it down to the
analysis rate and runs each stage in order on a ``FrameContext``. Later capabilities (objects,
faces, plates, rules) plug in as more stages without touching ingest. Stages share the context's
lazily computed views, so the luma plane is wrapped once and a BGR image is made only if a stage
(or a snapshot) asks for it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import numpy as np

from koopsuz.domain.events import Event
from koopsuz.video.worker import DecodedFrame

log = logging.getLogger(__name__)
EventSink = Callable[[Event], None]


@dataclass(frozen=True, slots=True)
class CameraInfo:
    id: str
    region: str
    site: str | None


@dataclass(slots=True)
class FrameContext:
    camera: CameraInfo
    decoded: DecodedFrame
    results: dict[str, Any] = field(default_factory=dict)
    _gray: np.ndarray | None = None
    _bgr: np.ndarray | None = None

    @property
    def ts(self) -> datetime:
        return self.decoded.captured_at

    @property
    def gray(self) -> np.ndarray:
        """The Y plane as a strided view of the decoder's buffer: no conversion, no copy."""
        if self._gray is None:
            f = self.decoded.frame
            if f.format.name in ("yuv420p", "yuvj420p", "nv12", "yuv422p", "yuvj422p", "gray"):
                plane = f.planes[0]
                buf = np.frombuffer(plane, np.uint8).reshape(plane.height, plane.line_size)
                self._gray = buf[:, : f.width]
            else:
                self._gray = self.decoded.ndarray("gray")
        return self._gray

    @property
    def bgr(self) -> np.ndarray:
        if self._bgr is None:
            self._bgr = self.decoded.bgr()
        return self._bgr


class Stage(Protocol):
    name: str

    def process(self, ctx: FrameContext, emit: EventSink) -> None: ...


class Pipeline:
    def __init__(self, camera: CameraInfo, stages: Sequence[Stage], emit: EventSink, analysis_fps: float) -> None:
        self.camera = camera
        self.stages = list(stages)
        self._emit = emit
        self._interval = 1.0 / analysis_fps
        self._next_t: float | None = None
        self.processed = 0
        self.failures = 0

    def feed(self, decoded: DecodedFrame) -> None:
        t = decoded.captured_at.timestamp()
        if self._next_t is not None and t < self._next_t:
            return
        # schedule on the capture clock so the rate holds whatever the stream's fps
        self._next_t = (
            t + self._interval if self._next_t is None or t - self._next_t > 1 else self._next_t + self._interval
        )
        ctx = FrameContext(self.camera, decoded)
        self.processed += 1
        for stage in self.stages:
            try:
                stage.process(ctx, self._emit)
            except Exception:
                self.failures += 1
                log.exception("camera %s: stage %s failed on a frame", self.camera.id, stage.name)

    def close(self) -> None:
        """The camera stopped: stages with open state (tracks) close it with events (``track_left``).

        A stage opts in by having ``close(camera, emit)``. Call only once the decode thread has
        ended, so no frame is processed beside it.
        """
        for stage in self.stages:
            close = getattr(stage, "close", None)
            if close is None:
                continue
            try:
                close(self.camera, self._emit)
            except Exception:
                self.failures += 1
                log.exception("camera %s: stage %s failed while closing", self.camera.id, stage.name)
