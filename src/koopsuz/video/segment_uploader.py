"""Moves finished recording files from the recorder's disk to the S3 bucket, losing none.

The recorder hands over each file once it is complete and indexed-to-be (init segment at the
session's first segment, then every media segment). One thread uploads them in order; a file is
removed from the local disk only after the bucket acknowledged it, so while the bucket is away the
disk is the buffer: the thread retries the same file with backoff (0.5 s doubling to 30 s) and
everything behind it waits on disk. Readers find a file locally or in the bucket, whichever holds
it at the moment (``BufferedSegmentStore``).

At start, every file still on the local disk that the index knows is queued again: a process
stopped or killed with uploads pending picks them up where it left off (a file uploaded but not yet
removed is simply uploaded again; keys never change meaning).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from koopsuz.video.segment_store import LocalSegmentStore, S3SegmentStore, SegmentMissing, SegmentStoreError

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Upload:
    rel: str  # media-relative path = key under the bucket prefix
    size: int
    sha256: str | None
    camera: str
    queued_at: float  # time.time()


class SegmentUploader:
    def __init__(
        self,
        local: LocalSegmentStore,
        remote: S3SegmentStore,
        *,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 30.0,
    ) -> None:
        self.local = local
        self.remote = remote
        self._initial, self._max = backoff_initial_s, backoff_max_s
        self._queue: deque[Upload] = deque()
        self._queued: set[str] = set()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.uploaded = 0
        self.uploaded_bytes = 0
        self.failures = 0  # attempts that failed (the same file may fail many times)
        self.lost = 0  # files that vanished from the local disk before they could be uploaded
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.last_upload_at: float | None = None

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="segment-uploader", daemon=True)
        self._thread.start()

    def stop(self, drain_s: float = 5.0) -> None:
        """Give pending uploads ``drain_s`` to finish; whatever is left stays on disk for the next start."""
        deadline = time.monotonic() + drain_s
        while self.pending and time.monotonic() < deadline and self.last_error is None:
            time.sleep(0.05)
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    # -- queueing -------------------------------------------------------------------------
    def add(self, rel: str, size: int, sha256: str | None, camera: str) -> None:
        with self._cond:
            if rel in self._queued:
                return
            self._queued.add(rel)
            self._queue.append(Upload(rel, size, sha256, camera, time.time()))
            self._cond.notify()

    def requeue_local(self, indexed: Callable[[list[str]], dict[str, tuple[str, str]]]) -> int:
        """Queue every indexed file still on the local disk (left by a stopped or killed process).

        ``indexed`` maps media-relative paths to (sha256, camera) for those the index knows;
        files it does not know (quarantine, a segment ffmpeg never finished) stay where they are."""
        base = self.local.root / "recordings"
        if not base.is_dir():
            return 0
        rels = [
            p.relative_to(self.local.root).as_posix()
            for p in base.glob("*/*/*/*")
            if p.is_file() and (p.name == "init.mp4" or p.suffix == ".m4s")
        ]
        n = 0
        for i in range(0, len(rels), 500):
            for rel, (sha, camera) in sorted(indexed(rels[i : i + 500]).items()):
                try:
                    size = (self.local.root / rel).stat().st_size
                except OSError:
                    continue
                self.add(rel, size, sha, camera)
                n += 1
        if n:
            log.info("recordings: %d file(s) left on local disk queued for upload to %s", n, self.remote.url)
        return n

    # -- state ----------------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """Started and not stopped: this process records (an api node builds one but never starts it)."""
        return self._thread is not None and self._thread.is_alive()

    @property
    def pending(self) -> int:
        with self._cond:
            return len(self._queue)

    def stats(self) -> dict[str, Any]:
        with self._cond:
            pending = list(self._queue)
        now = time.time()
        return {
            "target": self.remote.url,
            "pending": len(pending),
            "pending_bytes": sum(u.size for u in pending),
            "oldest_pending_s": round(now - min(u.queued_at for u in pending), 1) if pending else 0.0,
            "uploaded": self.uploaded,
            "uploaded_bytes": self.uploaded_bytes,
            "failures": self.failures,
            "lost": self.lost,
            "last_error": self.last_error,
            "last_upload_age_s": round(now - self.last_upload_at, 1) if self.last_upload_at else None,
        }

    def wait_idle(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.pending and time.monotonic() < deadline:
            time.sleep(0.05)
        return not self.pending

    # -- the thread -----------------------------------------------------------------------
    def _loop(self) -> None:
        delay = self._initial
        while not self._stop.is_set():
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._cond.wait(1.0)
                if self._stop.is_set():
                    return
                item = self._queue[0]
            try:
                self._upload(item)
            except SegmentStoreError as exc:
                self.failures += 1
                if self.last_error is None:  # say it once per outage, not at every retry
                    log.error("recordings: upload paused, %s; keeping files on local disk, retrying", exc)
                self.last_error, self.last_error_at = str(exc), time.time()
                self._stop.wait(delay)
                delay = min(delay * 2, self._max)
                continue
            except Exception:  # never let one odd file stop the thread: log it and keep it on disk
                log.exception("recordings: upload of %s failed", item.rel)
                self.failures += 1
                self._stop.wait(delay)
                delay = min(delay * 2, self._max)
                continue
            if self.last_error is not None:
                log.info("recordings: uploads to %s resumed", self.remote.url)
            self.last_error = None
            delay = self._initial
            with self._cond:
                self._queue.popleft()
                self._queued.discard(item.rel)

    def _upload(self, item: Upload) -> None:
        try:
            path = self.local.path(item.rel)
        except SegmentMissing:
            self.lost += 1
            log.error("recordings: %s is not a valid media path; not uploaded", item.rel)
            return
        if not path.is_file():
            if item.rel in self.remote.sizes([item.rel]):
                return  # already moved (queued twice, e.g. at start and by the recorder)
            self.lost += 1
            log.error("recordings: %s vanished from local disk before its upload", item.rel)
            return
        self.remote.put_file(item.rel, path, item.sha256)
        self.uploaded += 1
        self.uploaded_bytes += item.size
        self.last_upload_at = time.time()
        _unlink(path)  # the recorder read its session's init segment once, at the first segment


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
    except OSError as exc:
        log.warning("recordings: uploaded %s but cannot remove the local copy: %s", path, exc)


def indexed_files(db: Any) -> Callable[[list[str]], dict[str, tuple[str, str]]]:
    """For ``requeue_local``: which of these paths the recording index knows, with hash and camera."""
    from sqlalchemy import select

    from koopsuz.store.tables import RecordingSegmentRow, RecordingSessionRow

    seg, sess = RecordingSegmentRow, RecordingSessionRow

    def lookup(rels: list[str]) -> dict[str, tuple[str, str]]:
        out: dict[str, tuple[str, str]] = {}
        with db.session() as s:
            for path, sha, cam in s.execute(select(seg.path, seg.sha256, seg.camera).where(seg.path.in_(rels))):
                out[path] = (sha, cam)
            q = select(sess.init_path, sess.init_sha256, sess.camera).where(sess.init_path.in_(rels))
            for path, sha, cam in s.execute(q):
                out[path] = (sha, cam)
        return out

    return lookup
