"""Live 1:N matching against the approved, unexpired watchlist photos.

The index holds one vector per enrolled photo (id = photo id) and is built at start from the
store, then kept in step by the watchlist service's change callback (approve, reject, remove): no
restart. Expiry is judged on every search, so an entry stops matching the moment it expires even
before the periodic purge drops its vectors. A hit must pass its list's threshold, its list's
region (a regional list matches that region's cameras only, a national list every camera) and the
camera's site policy (which kinds of list it may match). Operators' rejections suppress the same
entry on the same camera for ``suppress_s``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

import numpy as np
from sqlalchemy import select

from koopsuz.domain.watchlists import ActiveFace, Match, face_rule
from koopsuz.services.watchlists import WatchlistService
from koopsuz.store.db import Database
from koopsuz.store.tables import AlertFeedbackRow
from koopsuz.vision.face_index import FaceIndex

log = logging.getLogger(__name__)


class FaceMatcher:
    def __init__(self, watchlists: WatchlistService, db: Database, *, suppress_s: float = 3600.0) -> None:
        self._watchlists = watchlists
        self._db = db
        self._suppress = timedelta(seconds=suppress_s)
        self._lock = threading.Lock()
        self.index = FaceIndex()
        self._faces: dict[int, ActiveFace] = {}
        self._started = False

    def start(self) -> None:
        """Build the index from the store and follow every change from now on (idempotent)."""
        with self._lock:
            if self._started:
                return
            self._started = True
        self.rebuild()
        self._watchlists.listeners.append(self.entry_changed)

    def rebuild(self) -> None:
        faces = self._watchlists.active_faces()
        with self._lock:
            self.index.clear()
            self._faces = {f.photo_id: f for f in faces}
            if faces:
                self.index.add([f.photo_id for f in faces], np.stack([f.embedding for f in faces]))
        log.info("face index: %d enrolled photo(s) of %d entries", len(faces), len({f.entry_id for f in faces}))

    def entry_changed(self, entry_id: str) -> None:
        """Approved, rejected or removed: take the entry's photos out, put back what may match now."""
        fresh = self._watchlists.active_faces(entry_id=entry_id)
        with self._lock:
            stale = [pid for pid, f in self._faces.items() if f.entry_id == entry_id]
            if stale:
                self.index.remove(stale)
                for pid in stale:
                    del self._faces[pid]
            if fresh:
                self.index.add([f.photo_id for f in fresh], np.stack([f.embedding for f in fresh]))
                self._faces.update({f.photo_id: f for f in fresh})

    def purge_expired(self, now: datetime | None = None) -> int:
        now = now or datetime.now(UTC)
        with self._lock:
            gone = [pid for pid, f in self._faces.items() if f.expires_at <= now]
            if gone:
                self.index.remove(gone)
                for pid in gone:
                    del self._faces[pid]
        return len(gone)

    def __len__(self) -> int:
        return len(self._faces)

    def match(
        self, embedding: np.ndarray, region: str, kinds: Collection[str], *, k: int = 8, now: datetime | None = None
    ) -> list[Match]:
        """Entries this face matches, best first, one per entry."""
        now = now or datetime.now(UTC)
        with self._lock:
            if not self._faces:
                return []
            found = self.index.search(embedding, k=min(k, len(self._faces)))
            faces = dict(self._faces)
        best: dict[str, Match] = {}
        for pid, sim in found:
            f = faces.get(pid)
            if f is None or sim < f.threshold or f.expires_at <= now or f.kind not in kinds:
                continue
            if f.region is not None and f.region != region:
                continue
            if f.entry_id not in best or sim > best[f.entry_id].similarity:
                best[f.entry_id] = Match(f, float(sim))
        return sorted(best.values(), key=lambda m: (m.face.priority, -m.similarity))

    def suppressed(self, camera: str, entry_id: str, now: datetime | None = None) -> bool:
        """Whether an operator rejected this entry's match on this camera within ``suppress_s``."""
        since = (now or datetime.now(UTC)) - self._suppress
        q = select(AlertFeedbackRow.event_id).where(
            AlertFeedbackRow.camera == camera,
            AlertFeedbackRow.rule == face_rule(entry_id),
            AlertFeedbackRow.verdict == "dismissed",
            AlertFeedbackRow.ts >= since,
        )
        with self._db.session() as s:
            return s.execute(q.limit(1)).first() is not None
