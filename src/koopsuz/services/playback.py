"""Playback over the recording index: timelines, HLS playlists, verified segment bytes, MP4 export.

Scope is checked on the camera before anything here runs (``RegistryService.camera``). Every
playlist is audited (``playback.view``: who, camera, range, reason) and carries a signed grant in
its segment URLs: a segment or init file is served only to the user the playlist was made for,
within its range, so footage cannot be pulled past the audit log by guessing ids. Each file is
hashed on the way out and compared with the index: a truncated, damaged or altered segment is
refused (and left out of playlists and exports), never served.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from koopsuz.config import Settings
from koopsuz.services.errors import Forbidden, Invalid, NotFound, ServiceError
from koopsuz.store.db import Database
from koopsuz.store.recording_repo import RecordingRepo, utc
from koopsuz.store.tables import RecordingSegmentRow, RecordingSessionRow
from koopsuz.video.hls import PlaylistItem, vod_playlist
from koopsuz.video.segment_store import LocalSegmentStore, SegmentMissing, SegmentStore, SegmentStoreError

JOIN_S = 0.25  # segments closer than this are one continuous span


class Damaged(ServiceError):
    status = 410


class StoreUnavailable(ServiceError):
    """The recordings bucket did not answer: try again (the footage is not lost)."""

    status = 503


@dataclass(frozen=True, slots=True)
class Piece:
    """A continuous stretch of footage: wall-clock [start, end) at ``offset`` s into the playlist."""

    start: datetime
    end: datetime
    offset: float
    session: str

    def to_json(self) -> dict[str, Any]:
        return {
            "start": iso(self.start),
            "end": iso(self.end),
            "offset": round(self.offset, 3),
            "session": self.session,
        }


def iso(ts: datetime) -> str:
    return utc(ts).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class PlaybackService:
    def __init__(
        self, settings: Settings, db: Database, secret: Callable[[], str], segments: SegmentStore | None = None
    ) -> None:
        self._settings = settings
        self._db = db
        self.root = settings.media_dir.resolve()
        # where the files are: this node's disk, or the disk buffering an S3 bucket (video/segment_store.py)
        self.segments: SegmentStore = segments if segments is not None else LocalSegmentStore(self.root)
        self._secret = secret
        self._signer: URLSafeTimedSerializer | None = None

    @property
    def _grants(self) -> URLSafeTimedSerializer:
        if self._signer is None:  # read the installation's secret only when playback is first used
            self._signer = URLSafeTimedSerializer(self._secret(), salt="koopsuz-playback-grant")
        return self._signer

    # -- ranges ---------------------------------------------------------------------------
    def check_range(self, start: datetime | None, end: datetime | None, max_s: float) -> tuple[datetime, datetime]:
        """A valid UTC range; default: the hour up to now. Naive times are taken as UTC."""
        try:
            end = utc(end) if end else datetime.now(UTC)
            start = utc(start) if start else end - timedelta(hours=1)
        except OverflowError:  # year 1 or 9999 shifted by an offset or the default hour
            raise Invalid("start or end is out of range; use a date between the years 1970 and 2100") from None
        if start >= end:
            raise Invalid("start must be before end")
        if (end - start).total_seconds() > max_s:
            raise Invalid(f"range too long: at most {max_s / 3600:g} h at a time")
        return start, end

    # -- timeline -------------------------------------------------------------------------
    def timeline(self, camera: str, start: datetime, end: datetime) -> dict[str, Any]:
        """Recorded spans, gaps (with causes) and holes nobody explained, over [start, end)."""
        now = datetime.now(UTC)
        with self._db.session() as s:
            repo = RecordingRepo(s)
            segs = repo.segments(camera, start, end)
            gaps = repo.gaps(camera, start, end)
            events = [
                {"id": e.id, "kind": e.kind, "ts": iso(e.ts), "severity": e.severity}
                for e in repo.timeline_events(camera, start, end)
            ]
        spans = _spans(segs)
        gap_json = [
            {
                "start": iso(g.start),
                "end": iso(g.end) if g.end else None,
                "open": g.end is None,
                "cause": g.cause,
                "detail": g.detail.get("detail"),
                "attempts": g.detail.get("attempts", 1),
                "last": g.detail.get("last"),
            }
            for g in gaps
        ]
        explained = [(utc(g.start), utc(g.end) if g.end else now) for g in gaps]
        holes = []
        cursor = None
        for a, b in spans:
            if cursor is not None and (a - cursor).total_seconds() > JOIN_S:
                holes.append((cursor, a))
            cursor = b
        unexplained = [
            {"start": iso(a), "end": iso(b)}
            for a, b in holes
            if not any(ga <= a + _EPS and gb >= b - _EPS for ga, gb in explained)
        ]
        recorded = sum((min(b, end) - max(a, start)).total_seconds() for a, b in spans)
        return {
            "camera": camera,
            "start": iso(start),
            "end": iso(end),
            "spans": [{"start": iso(a), "end": iso(b)} for a, b in spans],
            "gaps": gap_json,
            "unexplained": unexplained,
            "events": events,
            "recorded_s": round(max(0.0, recorded), 3),
            "segments": len(segs),
        }

    # -- playlists ------------------------------------------------------------------------
    def plan(
        self, camera: str, start: datetime, end: datetime
    ) -> tuple[list[RecordingSegmentRow], dict[str, RecordingSessionRow]]:
        """Segments over the range whose files are intact (size checked), with their sessions."""
        with self._db.session() as s:
            repo = RecordingRepo(s)
            segs = repo.segments(camera, start, end)
            sizes = self._sizes([r.path for r in segs])  # one listing per session folder, not a call per file
            segs = [r for r in segs if sizes.get(r.path) == r.size]
            sessions = repo.sessions([r.session for r in segs])
        if not segs:
            raise NotFound(f"nothing of camera {camera!r} is recorded between {iso(start)} and {iso(end)}")
        return segs, sessions

    def playlist(self, camera: str, start: datetime, end: datetime, grant: str) -> tuple[str, list[Piece]]:
        segs, _sessions = self.plan(camera, start, end)
        items: list[PlaylistItem] = []
        pieces: list[Piece] = []
        offset = 0.0
        prev: RecordingSegmentRow | None = None
        for r in segs:
            new_piece = (
                prev is None or r.session != prev.session or (utc(r.start) - utc(prev.end)).total_seconds() > JOIN_S
            )
            if new_piece:
                pieces.append(Piece(utc(r.start), utc(r.end), offset, r.session))
            else:
                last = pieces[-1]
                pieces[-1] = Piece(last.start, utc(r.end), last.offset, last.session)
            items.append(
                PlaylistItem(
                    uri=f"segments/{r.id}.m4s?g={grant}",
                    init_uri=f"init/{r.session}.mp4?g={grant}",
                    start=utc(r.start),
                    duration_s=r.duration_s,
                    discontinuity=new_piece,
                )
            )
            offset += r.duration_s
            prev = r
        first = utc(segs[0].start)
        lead = (start - first).total_seconds() if start > first else None
        return vod_playlist(items, lead), pieces

    # -- grants ---------------------------------------------------------------------------
    def grant(self, user_id: int, camera: str, start: datetime, end: datetime, audit_seq: int) -> str:
        return self._grants.dumps([user_id, camera, start.timestamp(), end.timestamp(), audit_seq])

    def check_grant(self, token: str | None, user_id: int, camera: str, at: datetime | None) -> None:
        """Raise Forbidden unless ``token`` was issued to this user for this camera (and covers ``at``)."""
        if not token:
            raise Forbidden("footage is served through an audited playlist: open playback.m3u8 first")
        try:
            uid, cam, a, b, _seq = self._grants.loads(token, max_age=self._settings.session_hours * 3600)
        except (BadSignature, ValueError, TypeError):
            raise Forbidden("invalid or expired playback grant: open the playlist again") from None
        if uid != user_id or cam != camera:
            raise Forbidden("this playback grant was issued to another user or camera")
        if at is not None and not (a - 600 <= at.timestamp() <= b + 600):
            raise Forbidden("segment outside the range of this playback grant")

    # -- files ----------------------------------------------------------------------------
    def segment_bytes(self, camera: str, segment_id: int) -> tuple[RecordingSegmentRow, bytes]:
        with self._db.session() as s:
            row = RecordingRepo(s).segment(segment_id)
        if row is None or row.camera != camera:
            raise NotFound(f"no segment {segment_id} of camera {camera!r}")
        return row, self._verified(row.path, row.sha256, row.size)

    def init_bytes(self, camera: str, session_id: str) -> bytes:
        with self._db.session() as s:
            row = RecordingRepo(s).session(session_id)
        if row is None or row.camera != camera:
            raise NotFound(f"no recording session {session_id!r} of camera {camera!r}")
        return self._verified(row.init_path, row.init_sha256, None)

    def path(self, rel: str) -> Path:
        """A local file with the recorded bytes (libavformat reads files): here, or fetched from the bucket."""
        if not (self.root / rel).resolve().is_relative_to(self.root):
            raise NotFound(f"invalid media reference {rel!r}")
        try:
            return self.segments.local_copy(rel)
        except SegmentMissing as exc:
            raise Damaged(str(exc)) from None
        except SegmentStoreError as exc:
            raise StoreUnavailable(f"{exc}; try again shortly") from None

    def _sizes(self, rels: list[str]) -> dict[str, int]:
        try:
            return self.segments.sizes(rels)
        except SegmentStoreError as exc:
            raise StoreUnavailable(f"{exc}; try again shortly") from None

    def _verified(self, rel: str, sha256: str, size: int | None) -> bytes:
        """The file's bytes if they are exactly what was indexed; Damaged (410) otherwise."""
        if not (self.root / rel).resolve().is_relative_to(self.root):
            raise NotFound(f"invalid media reference {rel!r}")
        try:
            data = self.segments.read(rel)
        except SegmentMissing:
            raise Damaged(f"recording file {rel} is missing (deleted by retention or lost)") from None
        except SegmentStoreError as exc:
            raise StoreUnavailable(f"{exc}; try again shortly") from None
        if (size is not None and len(data) != size) or hashlib.sha256(data).hexdigest() != sha256:
            raise Damaged(f"recording file {rel} does not match its index (damaged or altered): not served")
        return data


_EPS = timedelta(seconds=JOIN_S)


def _spans(segs: list[RecordingSegmentRow] | Any) -> list[tuple[datetime, datetime]]:
    out: list[tuple[datetime, datetime]] = []
    for r in segs:
        a, b = utc(r.start), utc(r.end)
        if out and (a - out[-1][1]).total_seconds() <= JOIN_S:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out
