"""Queries retention and evidence locks live on.

Retention walks each camera's oldest segments on the (camera, start) index, a page at a time, so a
pass costs what it deletes, not the size of the archive. Usage is summed from the index (sizes were
measured when each segment was written), never by listing the media folder.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from koopsuz.security.principal import Scope
from koopsuz.store.recording_repo import utc
from koopsuz.store.tables import (
    CameraRow,
    EventRow,
    EvidenceLockRow,
    RecordingGapRow,
    RecordingSegmentRow,
    RecordingSessionRow,
    RetentionRunRow,
    SiteRow,
)

RETENTION_CAUSE = "retention"  # a gap row saying "recorded, then deleted by retention"
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def ulid_floor(ts: datetime) -> str:
    """The smallest ULID of a millisecond: event ids sort by time, so (camera, id) bounds a time range."""
    ms = max(0, int(utc(ts).timestamp() * 1000))
    out = []
    for _ in range(10):
        out.append(_CROCKFORD[ms & 31])
        ms >>= 5
    return "".join(reversed(out)) + "0" * 16


class RetentionRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    # -- what is stored ---------------------------------------------------------------------
    def cameras(self) -> list[str]:
        """Every camera with a recording session (including cameras since removed from the registry)."""
        q = select(RecordingSessionRow.camera).distinct()
        return sorted(self.s.execute(q).scalars())

    def site_types(self) -> dict[str, str]:
        q = select(CameraRow.id, SiteRow.type).join(SiteRow, SiteRow.id == CameraRow.site)
        return {c: t for c, t in self.s.execute(q).all()}

    def oldest(
        self, camera: str, after: tuple[datetime, int] | None = None, limit: int = 1000
    ) -> Sequence[RecordingSegmentRow]:
        """A camera's segments oldest first, from after the (start, id) cursor."""
        q = select(RecordingSegmentRow).where(RecordingSegmentRow.camera == camera)
        if after is not None:
            a, i = after
            q = q.where(
                (RecordingSegmentRow.start > a) | ((RecordingSegmentRow.start == a) & (RecordingSegmentRow.id > i))
            )
        q = q.order_by(RecordingSegmentRow.start, RecordingSegmentRow.id).limit(limit)
        return self.s.execute(q).scalars().all()

    def usage(self) -> tuple[int, int, datetime | None]:
        """(bytes, segments, oldest start) over the whole index."""
        q = select(
            func.coalesce(func.sum(RecordingSegmentRow.size), 0),
            func.count(RecordingSegmentRow.id),
            func.min(RecordingSegmentRow.start),
        )
        b, n, oldest = self.s.execute(q).one()
        return int(b), int(n), utc(oldest) if oldest else None

    def usage_by_camera(self, scope: Scope) -> list[dict[str, Any]]:
        q = select(
            RecordingSegmentRow.camera,
            func.max(RecordingSegmentRow.region),
            func.coalesce(func.sum(RecordingSegmentRow.size), 0),
            func.count(RecordingSegmentRow.id),
            func.min(RecordingSegmentRow.start),
            func.max(RecordingSegmentRow.end),
        ).group_by(RecordingSegmentRow.camera)
        if not scope.is_national:
            q = q.where(RecordingSegmentRow.region.in_(scope.regions or ()))
        return [
            {"camera": c, "region": r, "bytes": int(b), "segments": int(n), "oldest": utc(a), "newest": utc(z)}
            for c, r, b, n, a, z in self.s.execute(q).all()
        ]

    def clip_events(
        self, camera: str, lo: datetime, hi: datetime, margin: timedelta = timedelta(hours=1)
    ) -> Sequence[tuple[datetime, str, str, dict[str, Any]]]:
        """(ts, kind, severity, media) of the camera's events between lo and hi, on the (camera, id) index."""
        q = select(EventRow.ts, EventRow.kind, EventRow.severity, EventRow.media).where(
            EventRow.camera == camera,
            EventRow.id >= ulid_floor(lo - margin),
            EventRow.id < ulid_floor(hi + margin),
            EventRow.ts >= lo,
            EventRow.ts < hi,
        )
        return [(utc(ts), k, sev, media or {}) for ts, k, sev, media in self.s.execute(q).all()]

    # -- deleting ---------------------------------------------------------------------------
    def delete_segments(self, ids: Sequence[int]) -> None:
        for i in range(0, len(ids), 500):
            self.s.execute(delete(RecordingSegmentRow).where(RecordingSegmentRow.id.in_(ids[i : i + 500])))

    def empty_sessions(self, ids: Sequence[str]) -> list[RecordingSessionRow]:
        """Those of the sessions that no longer have any segment."""
        out: list[RecordingSessionRow] = []
        ids = list(ids)
        for i in range(0, len(ids), 500):  # SQLite caps the variables of one statement
            part = ids[i : i + 500]
            with_segments = set(
                self.s.execute(
                    select(RecordingSegmentRow.session).where(RecordingSegmentRow.session.in_(part)).distinct()
                ).scalars()
            )
            rows = self.s.execute(select(RecordingSessionRow).where(RecordingSessionRow.id.in_(part))).scalars()
            out += [r for r in rows if r.id not in with_segments]
        return out

    def newest_session(self, camera: str) -> str | None:
        q = (
            select(RecordingSessionRow.id)
            .where(RecordingSessionRow.camera == camera)
            .order_by(RecordingSessionRow.started_at.desc())
            .limit(1)
        )
        return self.s.execute(q).scalar()

    def delete_session(self, session_id: str) -> None:
        self.s.execute(delete(RecordingSessionRow).where(RecordingSessionRow.id == session_id))

    def note_deleted(self, camera: str, region: str, start: datetime, end: datetime, detail: dict[str, Any]) -> None:
        """Say on the timeline that [start, end) was recorded and deleted, extending the last such note
        when it ends where this one starts (oldest-first deletion always does), so a camera collects
        one row per deleted stretch, not one per pass."""
        q = (
            select(RecordingGapRow)
            .where(
                RecordingGapRow.camera == camera,
                RecordingGapRow.cause == RETENTION_CAUSE,
                RecordingGapRow.start <= start,
                RecordingGapRow.start >= start - timedelta(days=3650),
            )
            .order_by(RecordingGapRow.start.desc())
            .limit(1)
        )
        last = self.s.execute(q).scalar()
        if last is not None and last.end is not None and utc(last.end) >= start - timedelta(seconds=0.25):
            last.end = max(utc(last.end), end)
            last.detail = last.detail | {"last": detail.get("detail"), "last_run": detail.get("run")}
            return
        self.s.add(
            RecordingGapRow(camera=camera, region=region, start=start, end=end, cause=RETENTION_CAUSE, detail=detail)
        )

    # -- runs -------------------------------------------------------------------------------
    def add_run(self, row: RetentionRunRow) -> RetentionRunRow:
        self.s.add(row)
        self.s.flush()
        return row

    def runs(self, limit: int = 10) -> Sequence[RetentionRunRow]:
        q = select(RetentionRunRow).order_by(RetentionRunRow.id.desc()).limit(limit)
        return self.s.execute(q).scalars().all()


class LockRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add(self, row: EvidenceLockRow) -> EvidenceLockRow:
        self.s.add(row)
        self.s.flush()
        return row

    def get(self, lock_id: int) -> EvidenceLockRow | None:
        return self.s.get(EvidenceLockRow, lock_id)

    def find(
        self,
        scope: Scope,
        *,
        camera: str | None = None,
        case_number: str | None = None,
        active: bool | None = None,
        limit: int = 500,
    ) -> Sequence[EvidenceLockRow]:
        q = select(EvidenceLockRow)
        if not scope.is_national:
            q = q.where(EvidenceLockRow.region.in_(scope.regions or ()))
        if camera is not None:
            q = q.where(EvidenceLockRow.camera == camera)
        if case_number is not None:
            q = q.where(EvidenceLockRow.case_number == case_number)
        if active is True:
            q = q.where(EvidenceLockRow.unlocked_at.is_(None))
        elif active is False:
            q = q.where(EvidenceLockRow.unlocked_at.is_not(None))
        q = q.order_by(EvidenceLockRow.id.desc()).limit(limit)
        return self.s.execute(q).scalars().all()

    def camera_region(self, camera: str) -> str | None:
        """The camera's region from the registry, else from its recordings (a removed camera's footage)."""
        row = self.s.get(CameraRow, camera)
        if row is not None:
            return row.region
        q = select(RecordingSessionRow.region).where(RecordingSessionRow.camera == camera).limit(1)
        return self.s.execute(q).scalar()
