"""Alert states, incidents, units and dispatches: every query filtered by scope inside the repository.

Claims and state changes are conditional UPDATEs (``WHERE claimed_by IS NULL OR ...``,
``WHERE state = :expected``), so two operators acting at once cannot both win, whatever process
they are served by; the loser sees a row count of 0 and is told who got there first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.orm import Session
from ulid import ULID

from koopsuz.security.principal import Scope
from koopsuz.store.tables import (
    AlertFeedbackRow,
    AlertStateRow,
    CommandLogRow,
    DispatchRow,
    EventRow,
    IncidentEvidenceRow,
    IncidentNoteRow,
    IncidentRow,
    UnitRow,
)

SEVERITY_RANK = {"critical": 4, "high": 3, "medium": 2, "low": 1, "info": 0}


def aware(d: datetime | None) -> datetime | None:
    """SQLite hands back naive datetimes; everything stored is UTC."""
    if d is None:
        return None
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d


def _scoped(q, column, scope: Scope):  # type: ignore[no-untyped-def]
    return q if scope.is_national else q.where(column.in_(scope.regions or ()))


class IncidentRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    # -- the alert queue ----------------------------------------------------------------------
    def queue(
        self, scope: Scope, since: datetime, *, escalated_only: bool = False, limit: int = 200
    ) -> list[tuple[EventRow, AlertStateRow | None]]:
        """Open alerts: not in an incident, not dismissed; most severe first, then oldest first."""
        rank = case(SEVERITY_RANK, value=EventRow.severity, else_=0)
        q = (
            select(EventRow, AlertStateRow)
            .outerjoin(AlertStateRow, AlertStateRow.event_id == EventRow.id)
            .outerjoin(AlertFeedbackRow, AlertFeedbackRow.event_id == EventRow.id)
            .where(EventRow.kind == "alert", EventRow.ts >= since)
            .where(AlertStateRow.incident_id.is_(None))
            .where(or_(AlertFeedbackRow.verdict.is_(None), AlertFeedbackRow.verdict != "dismissed"))
            .order_by(rank.desc(), EventRow.ts, EventRow.id)
            .limit(limit)
        )
        if escalated_only:
            q = q.where(AlertStateRow.escalated_at.is_not(None))
        q = _scoped(q, EventRow.region, scope)
        return [(e, st) for e, st in self.s.execute(q).all()]

    def alert_state(self, event_id: str) -> AlertStateRow | None:
        return self.s.get(AlertStateRow, event_id)

    def ensure_alert_state(self, event: EventRow) -> AlertStateRow:
        row = self.s.get(AlertStateRow, event.id)
        if row is None:
            row = AlertStateRow(event_id=event.id, region=event.region, alert_ts=event.ts)
            self.s.add(row)
            self.s.flush()
        return row

    def try_claim(self, event_id: str, who: str, now: datetime, idle_before: datetime) -> bool:
        """Take the alert if nobody holds it, the caller already does, or the holder went idle."""
        free = or_(
            AlertStateRow.claimed_by.is_(None),
            AlertStateRow.claimed_by == who,
            AlertStateRow.touched_at < idle_before,
        )
        res = self.s.execute(
            update(AlertStateRow)
            .where(AlertStateRow.event_id == event_id, free)
            .values(
                claimed_by=who,
                claimed_at=case((AlertStateRow.claimed_by == who, AlertStateRow.claimed_at), else_=now),
                touched_at=now,
                first_claimed_by=func.coalesce(AlertStateRow.first_claimed_by, who),
                first_claimed_at=func.coalesce(AlertStateRow.first_claimed_at, now),
            )
            .execution_options(synchronize_session=False)
        )
        return res.rowcount == 1  # type: ignore[attr-defined]

    def release(self, event_id: str, who: str) -> bool:
        res = self.s.execute(
            update(AlertStateRow)
            .where(AlertStateRow.event_id == event_id, AlertStateRow.claimed_by == who)
            .values(claimed_by=None, claimed_at=None, touched_at=None)
            .execution_options(synchronize_session=False)
        )
        return res.rowcount == 1  # type: ignore[attr-defined]

    def attach_alerts(self, event_ids: Sequence[str], incident_id: str) -> int:
        res = self.s.execute(
            update(AlertStateRow)
            .where(AlertStateRow.event_id.in_(list(event_ids)), AlertStateRow.incident_id.is_(None))
            .values(incident_id=incident_id, claimed_by=None, claimed_at=None, touched_at=None)
            .execution_options(synchronize_session=False)
        )
        return res.rowcount  # type: ignore[attr-defined,no-any-return]

    def acknowledge_times(self, scope: Scope, start: datetime, end: datetime) -> list[tuple[datetime, datetime]]:
        """(alert time, first claim) of alerts raised in [start, end) that someone claimed."""
        q = select(AlertStateRow.alert_ts, AlertStateRow.first_claimed_at).where(
            AlertStateRow.alert_ts >= start,
            AlertStateRow.alert_ts < end,
            AlertStateRow.first_claimed_at.is_not(None),
        )
        q = _scoped(q, AlertStateRow.region, scope)
        return [(aware(a), aware(b)) for a, b in self.s.execute(q).all()]  # type: ignore[misc]

    # -- incidents ------------------------------------------------------------------------------
    def add(self, row: Any) -> None:
        self.s.add(row)

    def incident(self, incident_id: str) -> IncidentRow | None:
        return self.s.get(IncidentRow, incident_id)

    def incidents(
        self, scope: Scope, *, states: Sequence[str] | None = None, limit: int = 200
    ) -> Sequence[IncidentRow]:
        q = select(IncidentRow).order_by(IncidentRow.created_at.desc()).limit(limit)
        if states:
            q = q.where(IncidentRow.state.in_(list(states)))
        return self.s.execute(_scoped(q, IncidentRow.region, scope)).scalars().all()

    def incidents_created(self, scope: Scope, start: datetime, end: datetime) -> Sequence[IncidentRow]:
        q = select(IncidentRow).where(IncidentRow.created_at >= start, IncidentRow.created_at < end)
        return self.s.execute(_scoped(q, IncidentRow.region, scope)).scalars().all()

    def change_state(self, incident_id: str, expected: str, values: dict[str, Any]) -> bool:
        res = self.s.execute(
            update(IncidentRow)
            .where(IncidentRow.id == incident_id, IncidentRow.state == expected)
            .values(**values)
            .execution_options(synchronize_session=False)
        )
        return res.rowcount == 1  # type: ignore[attr-defined]

    def evidence(self, incident_id: str) -> Sequence[IncidentEvidenceRow]:
        q = select(IncidentEvidenceRow).where(IncidentEvidenceRow.incident_id == incident_id)
        return self.s.execute(q.order_by(IncidentEvidenceRow.id)).scalars().all()

    def withdrawals(self, alert_ids: Sequence[str], within_s: float = 600.0) -> dict[str, EventRow]:
        """The ``hotlist_unconfirmed`` alert taking back each of these hotlist hits, where there is one.

        A withdrawal names its hit (``payload.retracts``) and comes from the same camera seconds after it
        (the decided read follows the provisional one within a few seconds): so only that camera's alerts
        newer than the hit and within ``within_s`` are read, by id range (ids are time-ordered ULIDs)."""
        hits = [
            e for e in self.s.execute(select(EventRow).where(EventRow.id.in_(list(alert_ids)))).scalars()
            if (e.payload or {}).get("rule_kind") == "hotlist_hit"
        ]  # fmt: skip
        out: dict[str, EventRow] = {}
        for hit in hits:
            until = str(ULID.from_datetime(aware(hit.ts) + timedelta(seconds=within_s)))  # type: ignore[operator]
            q = select(EventRow).where(
                EventRow.kind == "alert", EventRow.camera == hit.camera, EventRow.id > hit.id, EventRow.id < until
            )
            for e in self.s.execute(q).scalars():
                p = e.payload or {}
                if p.get("rule_kind") == "hotlist_unconfirmed" and p.get("retracts") == hit.id:
                    out[hit.id] = e
                    break
        return out

    def notes(self, incident_id: str) -> Sequence[IncidentNoteRow]:
        q = select(IncidentNoteRow).where(IncidentNoteRow.incident_id == incident_id)
        return self.s.execute(q.order_by(IncidentNoteRow.id)).scalars().all()

    def history(self, target_type: str, target_ids: Sequence[str]) -> Sequence[CommandLogRow]:
        q = select(CommandLogRow).where(
            CommandLogRow.target_type == target_type, CommandLogRow.target_id.in_(list(target_ids))
        )
        return self.s.execute(q.order_by(CommandLogRow.id)).scalars().all()

    # -- units and dispatches -----------------------------------------------------------------
    def unit(self, unit_id: str) -> UnitRow | None:
        return self.s.get(UnitRow, unit_id)

    def units(self, scope: Scope) -> Sequence[UnitRow]:
        q = select(UnitRow).order_by(UnitRow.call_sign)
        return self.s.execute(_scoped(q, UnitRow.region, scope)).scalars().all()

    def units_of(self, incident_id: str) -> Sequence[UnitRow]:
        return self.s.execute(select(UnitRow).where(UnitRow.incident_id == incident_id)).scalars().all()

    def take_unit(self, unit_id: str, incident_id: str, status: str, now: datetime) -> bool:
        """Assign an available unit; fails if another operator sent it first."""
        res = self.s.execute(
            update(UnitRow)
            .where(UnitRow.id == unit_id, UnitRow.status == "available", UnitRow.incident_id.is_(None))
            .values(incident_id=incident_id, status=status, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return res.rowcount == 1  # type: ignore[attr-defined]

    def dispatches(self, incident_id: str) -> Sequence[DispatchRow]:
        q = select(DispatchRow).where(DispatchRow.incident_id == incident_id).order_by(DispatchRow.id)
        return self.s.execute(q).scalars().all()

    def open_dispatch(self, incident_id: str, unit_id: str) -> DispatchRow | None:
        q = select(DispatchRow).where(
            and_(DispatchRow.incident_id == incident_id, DispatchRow.unit_id == unit_id),
            DispatchRow.cleared_at.is_(None),
        )
        return self.s.execute(q.order_by(DispatchRow.id.desc()).limit(1)).scalars().first()
