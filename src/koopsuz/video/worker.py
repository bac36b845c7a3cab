"""One supervised task per camera: connect, decode, hand frames on, reconnect with backoff.

A worker owns one thread and one connection; it never touches another camera, so a dead or slow
camera cannot stall the rest. It keeps only a reference to the newest decoded frame (no copy, no
colour conversion) for live view; a JPEG is made only when someone is watching.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import av
import cv2
import numpy as np

from koopsuz.video.health import CameraHealth, State
from koopsuz.video.source import SourceError, SourceOptions, StreamSource
from koopsuz.vision.privacy import Polygon, masked_copy, masks_key

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Backoff:
    initial_s: float = 1.0
    max_s: float = 15.0
    factor: float = 2.0
    jitter: float = 0.3

    def delay(self, attempt: int, rng: random.Random) -> float:
        base = min(self.max_s, self.initial_s * self.factor ** max(0, attempt - 1))
        return base * (1.0 + rng.uniform(-self.jitter, self.jitter))


@dataclass(slots=True)
class DecodedFrame:
    """A decoded frame with its capture time; the AV frame is shared, never copied.

    Several threads may want the frame in BGR (the pipeline for detection, the live view for its
    JPEG). libswscale must not convert one AVFrame from two threads at once (it crashed the
    process), so the conversion happens once, under the frame's lock, and the array is shared.
    """

    frame: av.VideoFrame
    captured_at: datetime
    seq: int
    _bgr: np.ndarray | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def bgr(self) -> np.ndarray:
        """The frame as a BGR array, converted at most once (treat it as read-only)."""
        with self._lock:
            if self._bgr is None:
                self._bgr = self.frame.to_ndarray(format="bgr24")
            return self._bgr

    def ndarray(self, format: str) -> np.ndarray:
        """Any other conversion, serialised with ``bgr`` on the same lock."""
        with self._lock:
            return self.frame.to_ndarray(format=format)


FrameHandler = Callable[[DecodedFrame], None]
HealthHandler = Callable[[str, State, CameraHealth], None]


class CameraWorker:
    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        on_frame: FrameHandler | None = None,
        on_health: HealthHandler | None = None,
        source_options: SourceOptions | None = None,
        backoff: Backoff | None = None,
    ) -> None:
        self.camera_id = camera_id
        self.url = url
        self.health = CameraHealth(since=datetime.now(UTC))
        self._on_frame = on_frame
        self._on_health = on_health
        self._opts = source_options or SourceOptions()
        self._backoff = backoff or Backoff()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"cam-{camera_id}", daemon=True)
        self._latest: DecodedFrame | None = None
        self._latest_cond = threading.Condition()
        self._jpeg: tuple[int, bytes] | None = None
        self._masked_jpeg: tuple[int, tuple, bytes] | None = None  # (seq, masks key, JPEG): privacy-masked
        self._rng = random.Random(hash(camera_id))
        self._source: StreamSource | None = None

    # -- lifecycle ------------------------------------------------------------
    def start(self) -> None:
        self._thread.start()

    def request_stop(self) -> None:
        """Ask the worker to stop without waiting (stop many cameras in parallel, then join)."""
        self._stop.set()
        with self._latest_cond:
            self._latest_cond.notify_all()

    def stop(self, timeout: float = 10.0) -> None:
        self.request_stop()
        self._thread.join(timeout)
        if self._thread.is_alive():
            log.warning("camera %s: worker did not stop within %.0fs", self.camera_id, timeout)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    # -- live view ------------------------------------------------------------
    def latest(self) -> DecodedFrame | None:
        return self._latest

    def wait_frame(self, after_seq: int, timeout: float) -> DecodedFrame | None:
        with self._latest_cond:
            self._latest_cond.wait_for(
                lambda: self._stop.is_set() or (self._latest is not None and self._latest.seq > after_seq),
                timeout,
            )
        f = self._latest
        return f if f is not None and f.seq > after_seq else None

    def jpeg(self, frame: DecodedFrame, quality: int = 75) -> bytes:
        """JPEG of a frame, encoded once however many viewers ask for it."""
        cached = self._jpeg
        if cached is not None and cached[0] == frame.seq:
            return cached[1]
        ok, buf = cv2.imencode(".jpg", frame.bgr(), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        data = buf.tobytes()
        self._jpeg = (frame.seq, data)
        return data

    def masked_jpeg(self, frame: DecodedFrame, masks: Sequence[Polygon], quality: int = 75) -> bytes:
        """JPEG of a frame with its privacy masks filled, encoded once per frame for every masked viewer.

        The shared BGR array is never written: the masks are drawn on a copy.
        """
        if not masks:
            return self.jpeg(frame, quality)
        key = masks_key(masks)
        cached = self._masked_jpeg
        if cached is not None and cached[0] == frame.seq and cached[1] == key:
            return cached[2]
        ok, buf = cv2.imencode(".jpg", masked_copy(frame.bgr(), masks), [cv2.IMWRITE_JPEG_QUALITY, quality])
        if not ok:
            raise RuntimeError("JPEG encoding failed")
        data = buf.tobytes()
        self._masked_jpeg = (frame.seq, key, data)
        return data

    # -- the loop -------------------------------------------------------------
    def _set_state(self, state: State, error: str | None = None) -> None:
        h = self.health
        old = h.state
        h.error = error
        if state != old:
            h.state = state
            h.since = datetime.now(UTC)
            if state != State.ONLINE:
                h.fps = 0.0
            if self._on_health is not None:
                try:
                    self._on_health(self.camera_id, old, h)
                except Exception:
                    log.exception("camera %s: health handler failed", self.camera_id)

    def _run(self) -> None:
        attempt = 0
        seq = 0
        while not self._stop.is_set():
            source = StreamSource(self.url, self._opts)
            self._source = source
            try:
                source.open()
                attempt = 0
                seq = self._pump(source, seq)
            except SourceError as exc:
                if not self._stop.is_set():
                    self._set_state(State.OFFLINE, str(exc))
            except Exception as exc:  # a bug in a stage must not kill the camera for good
                log.exception("camera %s: unexpected failure", self.camera_id)
                self._set_state(State.OFFLINE, f"internal error: {exc}")
            finally:
                self.health.decode_errors += source.decode_errors
                source.close()
                self._source = None
            if self._stop.is_set():
                break
            attempt += 1
            self.health.reconnects += 1
            self._stop.wait(self._backoff.delay(attempt, self._rng))

    def _pump(self, source: StreamSource, seq: int) -> int:
        wall0: float | None = None
        t0 = 0.0
        prev_t: float | None = None
        prev_now = 0.0
        fps_t, fps_n = time.monotonic(), 0
        h = self.health
        for frame in source.frames():
            if self._stop.is_set():
                break
            now = time.time()
            t = float(frame.time) if frame.time is not None else None
            # the camera's clock went back, or leapt ahead of the time that passed here (a reboot, a
            # re-sync; a network stall moves both): the old anchor no longer holds, re-anchor (the plate
            # stage's CameraClock sees the jump and distrusts times near it)
            leapt = t is not None and prev_t is not None and (t < prev_t or (t - prev_t) - (now - prev_now) > 3.0)
            prev_t, prev_now = t, now
            if wall0 is None or t is None or leapt:
                wall0, t0 = now, (t or 0.0)
            captured = wall0 + ((t - t0) if t is not None else 0.0)
            if captured > now:  # the stream clock ran ahead: re-anchor
                wall0, t0, captured = now, t or 0.0, now
            seq += 1
            df = DecodedFrame(frame, datetime.fromtimestamp(captured, UTC), seq)
            h.frames += 1
            h.last_frame_at = df.captured_at
            h.lag_s = max(0.0, now - captured)
            h.width, h.height = frame.width, frame.height
            fps_n += 1
            mono = time.monotonic()
            if mono - fps_t >= 2.0:
                h.fps = fps_n / (mono - fps_t)
                fps_t, fps_n = mono, 0
            if h.state != State.ONLINE:
                self._set_state(State.ONLINE)
            with self._latest_cond:
                self._latest = df
                self._latest_cond.notify_all()
            if self._on_frame is not None:
                self._on_frame(df)
        return seq
