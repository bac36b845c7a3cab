"""The rows behind the accountability dashboard, read region-scoped and period-bounded.

Every query takes the caller's ``Scope`` and filters by the indexed ``region`` column, like the
other repositories; recorded time comes from each recording session's first and last segment,
never from the segments in between (see ``recorded_spans``).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import datetime
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
    RecordingSessionRow,
    SiteRow,
)

HEALTH_KINDS = ("camera_offline", "camera_online")
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
    def incidents(self, scope: Scope, start: datetime, end: datetime) -> Sequence[Any]:
        """Incidents opened in [start, end): the columns the figures need (rows, not ORM objects)."""
        i = IncidentRow
        q = select(i.id, i.region, i.category, i.lat, i.lon, i.created_at, i.dispatched_at, i.on_scene_at).where(
            i.created_at >= start, i.created_at < end
        )
        return self.s.execute(_scoped(q, i.region, scope)).all()

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
        """(region, camera, rule, verdict, rule kind, rule name) of alerts raised in [start, end) with a verdict."""
        f = AlertFeedbackRow
        payload = EventRow.payload
        q = (
            select(f.region, f.camera, f.rule, f.verdict)
            .add_columns(payload["rule_kind"].as_string(), payload["rule_name"].as_string())
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

    def recorded_spans(self, camera: str, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """(first segment's start, last segment's end) of each of the camera's sessions that may
        overlap [start, end).

        A session is one ffmpeg run whose segments follow each other without a hole (each one's
        end is the next one's start; a stall ends the session), so its recorded time is that one
        span: two lookups on the (session, seq) index per session, however many segments it holds
        (a camera adds 21 600 a day; summing them over a month for every camera is too slow).
        """
        sess, seg = RecordingSessionRow, RecordingSegmentRow
        q = select(sess.id).where(
            sess.camera == camera, sess.started_at < end, sess.ended_at.is_(None) | (sess.ended_at > start)
        )
        out = []
        for (session_id,) in self.s.execute(q).all():
            ends = select(seg.start, seg.end).where(seg.session == session_id)
            first = self.s.execute(ends.order_by(seg.seq).limit(1)).first()
            last = self.s.execute(ends.order_by(seg.seq.desc()).limit(1)).first()
            if first is not None and last is not None:
                out.append((aware(first[0]), aware(last[1])))
        return out  # type: ignore[return-value]
