"""Recording sessions, segments and gaps.

Range queries are what playback lives on: "segments of camera C overlapping [a, b)". They run on
the (camera, start) index with a lower bound ``a - MAX_SEGMENT`` so the database walks only the
range, not every older segment of the camera. Scope is checked by the caller on the camera (one
camera, one region) before any of these run; every row still carries ``region`` so region-wide
queries (retention, exports of several cameras) filter on it directly.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from koopsuz.store.tables import EventRow, RecordingGapRow, RecordingSegmentRow, RecordingSessionRow

MAX_SEGMENT = timedelta(minutes=10)  # longer segments are never written (a GOP would have to be longer)


def utc(ts: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


class RecordingRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    # -- writes ---------------------------------------------------------------------------
    def add(self, row: RecordingSessionRow | RecordingSegmentRow | RecordingGapRow) -> None:
        self.s.add(row)

    def open_gap(self, camera: str) -> RecordingGapRow | None:
        q = (
            select(RecordingGapRow)
            .where(RecordingGapRow.camera == camera, RecordingGapRow.end.is_(None))
            .order_by(RecordingGapRow.start.desc())
            .limit(1)
        )
        return self.s.execute(q).scalar()

    def last_segment_end(self, camera: str) -> datetime | None:
        q = select(func.max(RecordingSegmentRow.end)).where(RecordingSegmentRow.camera == camera)
        v = self.s.execute(q).scalar()
        return utc(v) if v is not None else None

    def cameras_recorded(self) -> list[tuple[str, str, datetime]]:
        """(camera, region, end of its newest segment) for every camera with segments."""
        q = select(
            RecordingSegmentRow.camera, func.max(RecordingSegmentRow.region), func.max(RecordingSegmentRow.end)
        ).group_by(RecordingSegmentRow.camera)
        return [(c, r, utc(e)) for c, r, e in self.s.execute(q).all()]

    # -- reads ----------------------------------------------------------------------------
    def segments(
        self, camera: str, start: datetime, end: datetime, limit: int = 50_000
    ) -> Sequence[RecordingSegmentRow]:
        q = (
            select(RecordingSegmentRow)
            .where(
                RecordingSegmentRow.camera == camera,
                RecordingSegmentRow.start >= start - MAX_SEGMENT,
                RecordingSegmentRow.start < end,
                RecordingSegmentRow.end > start,
            )
            .order_by(RecordingSegmentRow.start, RecordingSegmentRow.id)
            .limit(limit)
        )
        return self.s.execute(q).scalars().all()

    def gaps(self, camera: str, start: datetime, end: datetime) -> Sequence[RecordingGapRow]:
        q = (
            select(RecordingGapRow)
            .where(
                RecordingGapRow.camera == camera,
                RecordingGapRow.start < end,
                (RecordingGapRow.end.is_(None)) | (RecordingGapRow.end > start),
            )
            .order_by(RecordingGapRow.start)
        )
        return self.s.execute(q).scalars().all()

    def segment(self, segment_id: int) -> RecordingSegmentRow | None:
        return self.s.get(RecordingSegmentRow, segment_id)

    def session(self, session_id: str) -> RecordingSessionRow | None:
        return self.s.get(RecordingSessionRow, session_id)

    def sessions(self, ids: Sequence[str]) -> dict[str, RecordingSessionRow]:
        if not ids:
            return {}
        q = select(RecordingSessionRow).where(RecordingSessionRow.id.in_(list(set(ids))))
        return {r.id: r for r in self.s.execute(q).scalars()}

    def timeline_events(self, camera: str, start: datetime, end: datetime, limit: int = 2000) -> Sequence[EventRow]:
        """The camera's events inside [start, end), for markers on its playback timeline."""
        q = (
            select(EventRow)
            .where(EventRow.camera == camera, EventRow.ts >= start, EventRow.ts < end, EventRow.kind != "camera_config")
            .order_by(EventRow.ts)
            .limit(limit)
        )
        return self.s.execute(q).scalars().all()
