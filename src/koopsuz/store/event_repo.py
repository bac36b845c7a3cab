"""Events and their outbox. Event ids are ULIDs, so ordering by id is ordering by creation time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from koopsuz.domain.events import Event
from koopsuz.security.principal import Scope
from koopsuz.store.tables import EventRow, OutboxRow


def to_row(e: Event) -> EventRow:
    return EventRow(
        id=e.id,
        kind=e.kind,
        region=e.region,
        camera=e.camera,
        site=e.site,
        ts=e.ts,
        payload=e.payload,
        media=e.media,
        severity=str(e.severity),
    )


def to_event(r: EventRow) -> Event:
    ts = r.ts if r.ts.tzinfo else r.ts.replace(tzinfo=UTC)
    return Event(
        id=r.id,
        kind=r.kind,
        region=r.region,
        camera=r.camera,
        site=r.site,
        ts=ts,
        payload=r.payload or {},
        media=r.media or {},
        severity=r.severity,
    )


class EventRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    def add_with_outbox(self, events: Sequence[Event]) -> None:
        for e in events:
            self.s.add(to_row(e))
            self.s.add(OutboxRow(event_id=e.id, subject=e.subject))

    def get(self, event_id: str) -> Event | None:
        row = self.s.get(EventRow, event_id)
        return to_event(row) if row else None

    def search(
        self,
        scope: Scope,
        *,
        camera: str | None = None,
        kind: str | None = None,
        before: str | None = None,
        limit: int = 50,
    ) -> list[Event]:
        q = select(EventRow).order_by(EventRow.id.desc()).limit(limit)
        if not scope.is_national:
            q = q.where(EventRow.region.in_(scope.regions or ()))
        if camera:
            q = q.where(EventRow.camera == camera)
        if kind:
            q = q.where(EventRow.kind == kind)
        if before:
            q = q.where(EventRow.id < before)
        return [to_event(r) for r in self.s.execute(q).scalars()]

    def outbox_depth(self) -> int:
        return int(self.s.scalar(select(func.count()).select_from(OutboxRow)) or 0)

    def pending_outbox(self, limit: int = 500) -> list[Event]:
        q = select(EventRow).join(OutboxRow, OutboxRow.event_id == EventRow.id).order_by(EventRow.id).limit(limit)
        return [to_event(r) for r in self.s.execute(q).scalars()]

    def mark_published(self, ids: Sequence[str]) -> None:
        if ids:
            self.s.execute(delete(OutboxRow).where(OutboxRow.event_id.in_(list(ids))))
