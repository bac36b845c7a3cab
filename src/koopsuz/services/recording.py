"""Records every enabled camera and keeps the index: sessions, segments and gaps.

Like ingest, ``reconcile`` compares what should be recorded (the registry's enabled cameras) with
the recorders running, at start, on every ``camera_config`` message and every ``resync_s``.
Recorders report from their own threads; one indexing thread commits what they report in batches
(SQLite likes one writer), so a slow database never stalls a recorder.

Gaps are facts, never inferred at read time: whenever recording of a camera stops for any reason
a gap row opens at the end of its last segment (cause: stream lost, recorder crashed, disk full,
camera disabled, system stopped...), later failed attempts add to its detail, and the camera's next
segment closes it. At start, a camera whose last segment is older than now and has no open gap
gets one with cause ``system_down``: the process was killed without a chance to say so.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session as DbSession

from koopsuz.bus.base import Bus
from koopsuz.config import Settings
from koopsuz.domain.events import Event, Severity
from koopsuz.domain.registry import Camera
from koopsuz.services.config_follower import ConfigFollower
from koopsuz.services.event_writer import EventWriter
from koopsuz.services.registry import RegistryService
from koopsuz.store.db import Database
from koopsuz.store.recording_repo import RecordingRepo
from koopsuz.store.tables import RecordingGapRow, RecordingSegmentRow, RecordingSessionRow
from koopsuz.video.recorder import Recorder, RecorderConfig, Segment, Session, SessionEnd
from koopsuz.video.recorder_causes import Cause
from koopsuz.video.segment_uploader import SegmentUploader, indexed_files
from koopsuz.video.worker import Backoff

log = logging.getLogger(__name__)
Op = Callable[[DbSession], None]
_STOP = object()


class RecordingService:
    def __init__(
        self,
        settings: Settings,
        registry: RegistryService,
        db: Database,
        writer: EventWriter,
        bus: Bus,
        *,
        resync_s: float = 15.0,
        make_room: Callable[[int], int] | None = None,
        uploader: SegmentUploader | None = None,
    ) -> None:
        self._settings = settings
        self.uploader = uploader  # recordings on S3: moves each finished file from this disk to the bucket
        self._registry = registry
        self._db = db
        self._writer = writer
        self._bus = bus
        self.root = settings.media_dir.resolve()
        self._config = RecorderConfig(
            ffmpeg=settings.ffmpeg_exe(),
            segment_s=settings.recording_segment_s,
            read_timeout_s=settings.ingest_read_timeout_s,
            stall_s=settings.recording_stall_s,
            min_free_bytes=settings.recording_min_free_mb * 2**20,
            backoff=Backoff(settings.recording_backoff_initial_s, settings.recording_backoff_max_s),
            make_room=make_room,  # retention sheds the oldest footage before a full disk stops recording
        )
        self._running: dict[str, tuple[Camera, str, Recorder]] = {}
        self._regions: dict[str, str] = {}
        self._stopping_why: dict[str, Cause] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._ops: queue.Queue[object] = queue.Queue()
        self._indexer = threading.Thread(target=self._index_loop, name="recording-index", daemon=True)
        self._follower = ConfigFollower(bus, self.reconcile, name="recording", resync_s=resync_s)
        self.indexed = 0

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        self._mark_downtime()
        if self.uploader is not None:
            self.uploader.requeue_local(indexed_files(self._db))  # what a stopped or killed run left on disk
            self.uploader.start()
        self._indexer.start()
        self._follower.start()

    def stop(self) -> None:
        self._stop.set()
        self._follower.stop()
        with self._lock:
            running = list(self._running.items())
            self._running.clear()
        for cid, (_c, _r, rec) in running:
            self._stopping_why[cid] = Cause.STOPPED
            rec.request_stop()
        for _cid, (_c, _r, rec) in running:
            rec.stop()
        if self._indexer.is_alive():
            self._ops.put(_STOP)
            self._indexer.join(15)
        if self.uploader is not None:
            self.uploader.stop()  # a few seconds to finish; what is left stays on disk for the next start

    def reconcile(self) -> None:
        desired = {cam.id: (cam, region) for cam, region in self._registry.enabled_cameras()}
        with self._lock:
            for cid in list(self._running):
                cam, region, rec = self._running[cid]
                want = desired.get(cid)
                if want is None or want[0].main_url != cam.main_url or want[1] != region:
                    why = Cause.CAMERA_DISABLED if want is None else Cause.STOPPED
                    log.info("camera %s: stopping its recorder (%s)", cid, why)
                    self._stopping_why[cid] = why
                    rec.stop()
                    del self._running[cid]
            for cid, (cam, region) in desired.items():
                if cid not in self._running:
                    self._regions[cid] = region
                    rec = Recorder(cid, cam.main_url, self.root, self._config, self)
                    self._running[cid] = (cam, region, rec)
                    rec.start()

    # -- what recorders report (their threads) --------------------------------------------
    def session_started(self, camera: str, session: Session) -> None:
        region = self._regions[camera]
        init = session.init
        assert init is not None and session.init_sha256 is not None
        row = RecordingSessionRow(
            id=session.id,
            camera=camera,
            region=region,
            started_at=session.started_at,
            dir=session.rel,
            init_path=f"{session.rel}/init.mp4",
            init_sha256=session.init_sha256,
            codec=init.codec,
            width=init.width,
            height=init.height,
        )
        self._ops.put(lambda s: RecordingRepo(s).add(row))
        if self.uploader is not None:
            init_file = session.dir / "init.mp4"
            self.uploader.add(row.init_path, _size(init_file), session.init_sha256, camera)

    def segment(self, camera: str, seg: Segment) -> None:
        region = self._regions[camera]
        row = RecordingSegmentRow(
            camera=camera,
            region=region,
            session=seg.session,
            seq=seg.seq,
            start=seg.start,
            end=seg.end,
            duration_s=seg.duration_s,
            size=seg.size,
            sha256=seg.sha256,
            path=seg.rel,
            flags=",".join(seg.flags),
        )

        def op(s: DbSession) -> None:
            repo = RecordingRepo(s)
            gap = repo.open_gap(camera)
            if gap is not None:
                gap.end = max(seg.start, _utc(gap.start))
                self._event("recording_resumed", camera, region, seg.start, Severity.INFO, gap.cause, gap.detail)
            repo.add(row)
            self.indexed += 1

        self._ops.put(op)
        if self.uploader is not None:
            self.uploader.add(seg.rel, seg.size, seg.sha256, camera)

    def session_ended(self, camera: str, end: SessionEnd) -> None:
        region = self._regions[camera]
        cause, detail = end.cause, end.detail
        if cause == Cause.STOPPED:
            cause = self._stopping_why.pop(camera, Cause.STOPPED)
            detail = {
                Cause.CAMERA_DISABLED: "recording stopped: camera disabled or removed",
                Cause.STOPPED: "recording stopped: system shutting down or camera reconfigured",
            }.get(cause, detail)
        session = end.session

        def op(s: DbSession) -> None:
            repo = RecordingRepo(s)
            if session is not None:
                row = repo.session(session.id)
                if row is not None:
                    row.ended_at, row.end_cause, row.end_detail = end.at, str(cause), detail[:500]
            gap = repo.open_gap(camera)
            if gap is not None:  # still down: one more failed attempt of the same outage
                gap.detail = gap.detail | {
                    "attempts": int(gap.detail.get("attempts", 1)) + 1,
                    "last": detail,
                    "last_at": end.at.isoformat(),
                }
                return
            start = repo.last_segment_end(camera) or (session.started_at if session else end.at)
            info = {"detail": detail, "attempts": 1, "exit_code": end.exit_code, "since": end.at.isoformat()}
            repo.add(
                RecordingGapRow(camera=camera, region=region, start=start, end=None, cause=str(cause), detail=info)
            )
            self._event("recording_gap", camera, region, start, Severity.MEDIUM, str(cause), info)

        self._ops.put(op)

    def _event(
        self, kind: str, camera: str, region: str, ts: datetime, sev: Severity, cause: str, info: dict[str, Any]
    ) -> None:
        """Tell operators about recording trouble they cannot see otherwise.

        A lost stream is already a ``camera_offline`` event from ingest, and an intended stop is
        no alert: those stay facts in the index. A crashing recorder, a full disk or a stream that
        cannot be recorded while the picture is live are news.
        """
        if cause in (Cause.STOPPED, Cause.CAMERA_DISABLED, Cause.STREAM_LOST, Cause.SYSTEM_DOWN) or self._stop.is_set():
            return
        payload = {"cause": cause, "detail": info.get("detail")}
        self._writer.submit(Event(kind=kind, region=region, camera=camera, ts=ts, payload=payload, severity=sev))

    def _mark_downtime(self) -> None:
        """At start: the time since each camera's last segment was not recorded; say so once."""
        now = datetime.now(UTC)
        with self._db.transaction() as s:
            repo = RecordingRepo(s)
            for camera, region, last_end in repo.cameras_recorded():
                if repo.open_gap(camera) is None and last_end < now:
                    info = {"detail": "not recorded: Koopsuz was not running", "attempts": 1, "since": now.isoformat()}
                    repo.add(
                        RecordingGapRow(
                            camera=camera, region=region, start=last_end, cause=Cause.SYSTEM_DOWN, detail=info
                        )
                    )

    # -- the index writer -----------------------------------------------------------------
    def _index_loop(self) -> None:
        while True:
            item = self._ops.get()
            batch = [item]
            while len(batch) < 200:
                try:
                    batch.append(self._ops.get_nowait())
                except queue.Empty:
                    break
            self._apply([op for op in batch if callable(op)])  # type: ignore[misc]
            for marker in batch:
                if isinstance(marker, threading.Event):
                    marker.set()  # flush(): everything queued before it is committed
            if any(op is _STOP for op in batch):
                return

    def _apply(self, ops: list[Op]) -> None:
        delay = 0.2
        for _attempt in range(6):
            try:
                with self._db.transaction() as s:
                    for op in ops:
                        op(s)
                return
            except Exception as exc:  # a locked or full database must not lose the index
                log.error("recording index: %d change(s) not stored (%s); retrying in %.1fs", len(ops), exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 5.0)
        for op in ops:  # one at a time, so one bad change cannot hold back the rest
            try:
                with self._db.transaction() as s:
                    op(s)
            except Exception:
                log.exception("recording index: change dropped")

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything reported so far is in the store (tests, exports)."""
        done = threading.Event()
        self._ops.put(done)
        done.wait(timeout)

    # -- queries --------------------------------------------------------------------------
    def recorder(self, camera: str) -> Recorder | None:
        with self._lock:
            run = self._running.get(camera)
            return run[2] if run else None

    def health(self, camera: str) -> dict[str, Any]:
        rec = self.recorder(camera)
        if rec is None:
            return {"state": "off" if not self._settings.record else "stopped"}
        return rec.health.to_json()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts
