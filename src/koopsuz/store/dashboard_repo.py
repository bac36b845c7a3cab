"""The rows behind the accountability dashboard, read region-scoped and period-bounded.

Every query takes the caller's ``Scope`` and filters by the indexed ``region`` column, like the
other repositories; recorded time is summed in SQL per camera (a camera adds 21 600 segments a
day, too many to carry into Python over a month), only the segments straddling the period's
edges come back as rows.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.orm import Session

from koopsuz.security.principal import Scope
from koopsuz.store.incident_repo import aware
from koopsuz.store.tables import (
    AlertFeedbackRow,
    CameraRow,
    CityRow,
    DistrictRow,
    EventRow,
    IncidentEvidenceRow,
    IncidentRow,
    RecordingGapRow,
    RecordingSegmentRow,
    SiteRow,
)

HEALTH_KINDS = ("camera_offline", "camera_online")
SEGMENT_MAX = timedelta(minutes=10)  # no segment is longer (recording_segment_s <= 60): bounds edge lookups
_CHUNK = 500


def _scoped(q: Any, column: Any, scope: Scope) -> Any:
    return q if scope.is_national else q.where(column.in_(sorted(scope.regions or ())))


def _chunks(items: Sequence[str]) -> Iterator[list[str]]:
    for i in range(0, len(items), _CHUNK):
        yield list(items[i : i + _CHUNK])


class DashboardRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    # -- the registry ---------------------------------------------------------------------------
    def districts(self, scope: Scope) -> Sequence[DistrictRow]:
        return self.s.execute(_scoped(select(DistrictRow), DistrictRow.region, scope)).scalars().all()

    def sites(self, scope: Scope) -> Sequence[SiteRow]:
        return self.s.execute(_scoped(select(SiteRow), SiteRow.region, scope)).scalars().all()

    def cities(self, scope: Scope) -> Sequence[CityRow]:
        return self.s.execute(_scoped(select(CityRow), CityRow.region, scope)).scalars().all()

    def cameras(self, scope: Scope) -> Sequence[CameraRow]:
        return self.s.execute(_scoped(select(CameraRow), CameraRow.region, scope)).scalars().all()

    # -- incidents ------------------------------------------------------------------------------
    def incidents(self, scope: Scope, start: datetime, end: datetime) -> Sequence[IncidentRow]:
        q = select(IncidentRow).where(IncidentRow.created_at >= start, IncidentRow.created_at < end)
        return self.s.execute(_scoped(q, IncidentRow.region, scope)).scalars().all()

    def alert_cameras(self, incident_ids: Sequence[str]) -> dict[str, str]:
        """incident id -> the camera of its first linked alert (alerts are linked in order)."""
        links: list[tuple[str, str]] = []
        for ids in _chunks(incident_ids):
            q = (
                select(IncidentEvidenceRow.incident_id, IncidentEvidenceRow.ref)
                .where(IncidentEvidenceRow.kind == "alert", IncidentEvidenceRow.incident_id.in_(ids))
                .order_by(IncidentEvidenceRow.id)
            )
            links += [(i, r) for i, r in self.s.execute(q).all()]
        cams: dict[str, str | None] = {}
        refs = sorted({r for _, r in links})
        for ids in _chunks(refs):
            cams |= dict(self.s.execute(select(EventRow.id, EventRow.camera).where(EventRow.id.in_(ids))).all())
        out: dict[str, str] = {}
        for incident_id, ref in links:
            cam = cams.get(ref)
            if cam and incident_id not in out:
                out[incident_id] = cam
        return out

    # -- alert verdicts -------------------------------------------------------------------------
    def verdicts(self, scope: Scope, start: datetime, end: datetime) -> list[tuple[Any, ...]]:
        """(region, camera, rule, verdict, payload) of alerts raised in [start, end) with a verdict."""
        f = AlertFeedbackRow
        q = (
            select(f.region, f.camera, f.rule, f.verdict, EventRow.payload)
            .join(EventRow, EventRow.id == f.event_id)
            .where(EventRow.ts >= start, EventRow.ts < end)
        )
        return [tuple(r) for r in self.s.execute(_scoped(q, f.region, scope)).all()]

    # -- camera health --------------------------------------------------------------------------
    def health_changes(self, scope: Scope, start: datetime, end: datetime) -> list[tuple[str, datetime, str]]:
        """(camera, ts, kind) of health events inside [start, end)."""
        q = select(EventRow.camera, EventRow.ts, EventRow.kind).where(
            EventRow.kind.in_(HEALTH_KINDS), EventRow.ts >= start, EventRow.ts < end, EventRow.camera.is_not(None)
        )
        return [(c, aware(t), k) for c, t, k in self.s.execute(_scoped(q, EventRow.region, scope)).all()]  # type: ignore[misc]

    def health_before(self, scope: Scope, start: datetime) -> dict[str, str]:
        """camera -> kind of its last health event before ``start`` (its state when the period opens)."""
        last = _scoped(
            select(EventRow.camera.label("camera"), func.max(EventRow.ts).label("ts"))
            .where(EventRow.kind.in_(HEALTH_KINDS), EventRow.ts < start, EventRow.camera.is_not(None))
            .group_by(EventRow.camera),
            EventRow.region,
            scope,
        ).subquery()
        q = (
            select(EventRow.camera, EventRow.kind, EventRow.id)
            .join(last, and_(EventRow.camera == last.c.camera, EventRow.ts == last.c.ts))
            .where(EventRow.kind.in_(HEALTH_KINDS))
            .order_by(EventRow.id)
        )
        return {c: k for c, k, _ in self.s.execute(q).all()}  # the latest id wins a tie

    # -- recording ------------------------------------------------------------------------------
    def gaps(
        self, scope: Scope, start: datetime, end: datetime, causes: Sequence[str]
    ) -> list[tuple[str, datetime, datetime | None]]:
        """(camera, start, end or None while open) of recording gaps with ``causes`` overlapping [start, end)."""
        g = RecordingGapRow
        q = select(g.camera, g.start, g.end).where(
            g.cause.in_(list(causes)), g.start < end, (g.end.is_(None)) | (g.end > start)
        )
        return [(c, aware(a), aware(b)) for c, a, b in self.s.execute(_scoped(q, g.region, scope)).all()]  # type: ignore[misc]

    def recorded(self, camera: str, start: datetime, end: datetime) -> tuple[float, list[tuple[datetime, datetime]]]:
        """(seconds of segments starting in [start, end), segments straddling start or end)."""
        seg = RecordingSegmentRow
        total = self.s.execute(
            select(func.coalesce(func.sum(seg.duration_s), 0.0)).where(
                seg.camera == camera, seg.start >= start, seg.start < end
            )
        ).scalar()
        edges = []
        for edge in (start, end):
            q = select(seg.start, seg.end).where(
                seg.camera == camera, seg.start >= edge - SEGMENT_MAX, seg.start < edge, seg.end > edge
            )
            edges += [(aware(a), aware(b)) for a, b in self.s.execute(q).all()]
        return float(total or 0.0), sorted(set(edges))  # one segment may straddle both edges
