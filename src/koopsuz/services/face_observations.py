"""Faces seen, kept only as long as the site's policy allows, and searched by investigators.

A camera's ``FaceStage`` hands over the best face of each person track when the track ends (data
minimisation: one face per passage, not one per frame); nothing at all at sites whose policy keeps
no observations (schools and kindergartens). One thread writes them in batches (thumbnail file,
then the row with its embedding and its expiry) and purges what has expired every ``purge_s``:
row and file, whatever the event retention says. Search is exact (every vector in the range is
compared): the set is bounded by the policy (72 hours) and a search must never miss a face the
graph index would have skipped.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import delete, select

from koopsuz.store.db import Database
from koopsuz.store.tables import FaceObservationRow

log = logging.getLogger(__name__)
_STOP = object()
CHUNK = 20_000


@dataclass(frozen=True, slots=True)
class Observation:
    camera: str
    region: str
    ts: datetime
    track: str | None
    embedding: np.ndarray
    quality: float
    jpeg: bytes
    keep_h: float


@dataclass(frozen=True, slots=True)
class ObservationHit:
    id: int
    camera: str
    region: str
    ts: datetime
    similarity: float
    thumb: str
    track: str | None


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class FaceObservations:
    def __init__(self, db: Database, root: Path, *, purge_s: float = 60.0, max_queue: int = 10_000) -> None:
        self._db = db
        self.root = root
        self._purge_s = purge_s
        self._q: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="face-observations", daemon=True)
        self.written = 0
        self.dropped = 0
        self.purged = 0

    def start(self) -> None:
        if not self._thread.is_alive():
            self._thread.start()

    def stop(self) -> None:
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join(10)

    def observe_face(
        self,
        *,
        camera: str,
        region: str,
        ts: datetime,
        track: str | None,
        embedding: np.ndarray,
        quality: float,
        jpeg: bytes,
        keep_h: float,
    ) -> None:
        """The ``FaceStage`` callback: one track's best face."""
        self.observe(Observation(camera, region, ts, track, embedding, quality, jpeg, keep_h))

    def observe(self, obs: Observation) -> None:
        """Queue one face; a full queue drops it (counted) rather than stall a camera's pipeline."""
        if obs.keep_h <= 0:
            return
        try:
            self._q.put_nowait(obs)
        except queue.Full:
            self.dropped += 1

    def flush(self, timeout: float = 10.0) -> None:
        """Wait until everything queued so far is written (tests, shutdown)."""
        done = threading.Event()
        self._q.put(done)
        done.wait(timeout)

    # -- search --------------------------------------------------------------------------------
    def search(
        self, probe: np.ndarray, regions: list[str] | None, start: datetime, end: datetime, threshold: float
    ) -> tuple[list[ObservationHit], int]:
        """Observations in the regions (None: all) and range at or above ``threshold``; and how many were compared."""
        probe = np.asarray(probe, np.float32)
        probe = probe / (np.linalg.norm(probe) or 1.0)
        hits: list[ObservationHit] = []
        compared = 0
        last_id = 0
        while True:
            q = (
                select(FaceObservationRow)
                .where(FaceObservationRow.ts >= start, FaceObservationRow.ts < end, FaceObservationRow.id > last_id)
                .order_by(FaceObservationRow.id)
                .limit(CHUNK)
            )
            if regions is not None:
                q = q.where(FaceObservationRow.region.in_(regions))
            with self._db.session() as s:
                rows = list(s.execute(q).scalars())
            if not rows:
                break
            last_id = rows[-1].id
            now = datetime.now(UTC)
            rows = [r for r in rows if _utc(r.expires_at) > now]  # expired but not yet purged: gone
            if rows:
                vectors = np.stack([np.frombuffer(r.embedding, np.float32) for r in rows])
                sims = vectors @ probe
                compared += len(rows)
                for r, sim in zip(rows, sims, strict=True):
                    if sim >= threshold:
                        hits.append(ObservationHit(r.id, r.camera, r.region, _utc(r.ts), float(sim), r.thumb, r.track))
        hits.sort(key=lambda h: -h.similarity)
        return hits, compared

    def thumb_path(self, rel: str) -> Path:
        path = (self.root / rel).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ValueError("thumbnail outside the observations folder")
        return path

    # -- writer ----------------------------------------------------------------------------------
    def purge(self, now: datetime | None = None) -> int:
        """Delete every observation past its expiry: file first, then row (no row without its file)."""
        now = now or datetime.now(UTC)
        with self._db.session() as s:
            rows = list(
                s.execute(
                    select(FaceObservationRow.id, FaceObservationRow.thumb).where(FaceObservationRow.expires_at <= now)
                ).all()
            )
        for _id, thumb in rows:
            (self.root / thumb).unlink(missing_ok=True)
        if rows:
            ids = [r[0] for r in rows]
            with self._db.transaction() as s:
                for i in range(0, len(ids), 500):
                    s.execute(delete(FaceObservationRow).where(FaceObservationRow.id.in_(ids[i : i + 500])))
            self.purged += len(rows)
            log.info("face observations: %d expired and deleted", len(rows))
        return len(rows)

    def _run(self) -> None:
        next_purge = 0.0
        while True:
            try:
                item = self._q.get(timeout=1.0)
            except queue.Empty:
                item = None
            batch: list[Observation] = []
            waiters: list[threading.Event] = []
            stop = False
            while item is not None:
                if item is _STOP:
                    stop = True
                elif isinstance(item, threading.Event):
                    waiters.append(item)
                elif isinstance(item, Observation):
                    batch.append(item)
                if len(batch) >= 200:
                    break
                try:
                    item = self._q.get_nowait()
                except queue.Empty:
                    item = None
            if batch:
                try:
                    self._write(batch)
                except Exception:
                    log.exception("could not store %d face observation(s)", len(batch))
            for w in waiters:
                w.set()
            if time.monotonic() >= next_purge:
                next_purge = time.monotonic() + self._purge_s
                try:
                    self.purge()
                except Exception:
                    log.exception("face observation purge failed")
            if stop:
                return

    def _write(self, batch: list[Observation]) -> None:
        rows = []
        for o in batch:
            ts = _utc(o.ts)
            rel = Path(o.camera) / ts.strftime("%Y-%m-%d") / f"{ts:%H%M%S%f}-{o.track or 'x'}.jpg"
            path = self.root / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(o.jpeg)
            rows.append(
                FaceObservationRow(
                    camera=o.camera,
                    region=o.region,
                    ts=ts,
                    track=o.track,
                    embedding=np.asarray(o.embedding, np.float32).tobytes(),
                    quality=float(o.quality),
                    thumb=str(rel),
                    expires_at=ts + timedelta(hours=o.keep_h),
                )
            )
        with self._db.transaction() as s:
            s.add_all(rows)
        self.written += len(rows)
