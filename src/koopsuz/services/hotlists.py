"""Plate hotlists: stolen, wanted, unpaid fines, ad hoc operation lists, and the plates on them.

Scope like watchlists: a national list (no region) is seen by every ``hotlists.read`` and changed
nationally; a regional list within its region. An entry carries its reason, its legal basis and
its expiry; it matches until it expires (judged at match time) or is removed (the row is kept).
Lists are filled one plate at a time or from CSV with a report of every refused line. Every change
is audited and announced to ``listeners`` (the road watch's hotlist index): no restart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import func, select

from koopsuz.domain.events import new_id
from koopsuz.domain.road import HotlistEntryIn, HotlistIn, parse_hotlist_csv
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, Invalid, NotFound, invalid
from koopsuz.services.legal_basis import utc
from koopsuz.services.list_scope import edits, sees
from koopsuz.store.db import Database
from koopsuz.store.tables import HotlistEntryRow, HotlistRow

MAX_CSV_BYTES = 20 * 2**20


@dataclass(frozen=True, slots=True)
class HotPlate:
    """One plate that matches now, with what an alert needs about its list."""

    entry_id: int
    hotlist_id: str
    list_name: str
    kind: str
    priority: int
    region: str | None
    text: str
    reason: str
    legal_basis: str
    expires_at: datetime


def list_json(row: HotlistRow, entries: int = 0) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "priority": row.priority,
        "region": row.region,
        "description": row.description,
        "created_by": row.created_by,
        "created_at": utc(row.created_at).isoformat(),
        "entries": entries,
    }


def entry_json(row: HotlistEntryRow) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {
        "id": row.id,
        "hotlist_id": row.hotlist_id,
        "plate": row.text,
        "reason": row.reason,
        "legal_basis": row.legal_basis,
        "expires_at": utc(row.expires_at).isoformat(),
        "created_by": row.created_by,
        "created_at": utc(row.created_at).isoformat(),
        "removed_by": row.removed_by,
        "removed_at": utc(row.removed_at).isoformat() if row.removed_at else None,
        "active": row.removed_at is None and utc(row.expires_at) > now,
    }


class HotlistService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit
        self.listeners: list[Callable[[], None]] = []

    # -- lists ---------------------------------------------------------------------------------
    def create_list(self, who: Principal, body: Any) -> dict[str, Any]:
        self._may(who, Permission.HOTLISTS_MANAGE)
        try:
            data = HotlistIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        if who.region is not None and data.region != who.region:
            raise Forbidden(f"you act for {who.region}: create a list for {who.region} (national lists are national)")
        row = HotlistRow(
            id=new_id(),
            name=data.name,
            kind=str(data.kind),
            priority=data.priority,
            region=data.region,
            description=data.description,
            created_by=who.username,
            created_at=datetime.now(UTC),
        )
        with self._db.transaction() as s:
            s.add(row)
        self._audit.record(
            who, "hotlist.create", target_type="hotlist", target_id=row.id, region=row.region,
            detail={"name": row.name, "kind": row.kind, "priority": row.priority},
        )
        return list_json(row)

    def lists(self, who: Principal) -> list[dict[str, Any]]:
        self._may(who, Permission.HOTLISTS_READ)
        with self._db.session() as s:
            rows = list(s.execute(select(HotlistRow).order_by(HotlistRow.priority, HotlistRow.name)).scalars())
            counts = dict(
                s.execute(
                    select(HotlistEntryRow.hotlist_id, func.count())
                    .where(HotlistEntryRow.removed_at.is_(None))
                    .group_by(HotlistEntryRow.hotlist_id)
                ).all()
            )
        return [list_json(r, int(counts.get(r.id, 0))) for r in rows if sees(who, r.region)]

    # -- entries -------------------------------------------------------------------------------
    def entries(self, who: Principal, hotlist_id: str, *, active_only: bool = False) -> list[dict[str, Any]]:
        self._may(who, Permission.HOTLISTS_READ)
        self._list(who, hotlist_id)
        q = select(HotlistEntryRow).where(HotlistEntryRow.hotlist_id == hotlist_id).order_by(HotlistEntryRow.id)
        with self._db.session() as s:
            out = [entry_json(r) for r in s.execute(q).scalars()]
        return [e for e in out if e["active"]] if active_only else out

    def add_entry(self, who: Principal, hotlist_id: str, body: Any) -> dict[str, Any]:
        self._may(who, Permission.HOTLISTS_MANAGE)
        wl = self._list(who, hotlist_id, edit=True)
        try:
            data = HotlistEntryIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        rows = self._insert(who, wl, [data])
        self._audit.record(
            who, "hotlist.entry.add", target_type="hotlist", target_id=wl.id, region=wl.region,
            detail={"plate": data.plate, "reason": data.reason, "legal_basis": data.legal_basis},
        )
        self._changed()
        return entry_json(rows[0])

    def import_csv(self, who: Principal, hotlist_id: str, data: bytes) -> dict[str, Any]:
        """Add every valid line; report each refused one with its line number and why."""
        self._may(who, Permission.HOTLISTS_MANAGE)
        wl = self._list(who, hotlist_id, edit=True)
        if len(data) > MAX_CSV_BYTES:
            raise Invalid(f"the file is larger than {MAX_CSV_BYTES // 2**20} MB; split it")
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise Invalid("the file is not UTF-8 text; save the CSV as UTF-8") from None
        entries, rejected = parse_hotlist_csv(text)
        existing = self._active_plates(wl.id)
        fresh = [e for e in entries if e.plate.replace(" ", "") not in existing]
        skipped = [e.plate for e in entries if e.plate.replace(" ", "") in existing]
        if fresh:
            self._insert(who, wl, fresh)
        report = {
            "added": len(fresh),
            "already_listed": skipped,
            "rejected": [{"line": r.line, "text": r.text, "reason": r.reason} for r in rejected],
        }
        self._audit.record(
            who, "hotlist.import", target_type="hotlist", target_id=wl.id, region=wl.region,
            detail={"added": len(fresh), "already_listed": len(skipped), "rejected": len(rejected)},
        )
        self._changed()
        return report

    def remove_entry(self, who: Principal, hotlist_id: str, entry_id: int, reason: str) -> dict[str, Any]:
        self._may(who, Permission.HOTLISTS_MANAGE)
        wl = self._list(who, hotlist_id, edit=True)
        if len((reason or "").strip()) < 3:
            raise Invalid("say why the plate is removed (reason)")
        with self._db.transaction() as s:
            row = s.get(HotlistEntryRow, entry_id)
            if row is None or row.hotlist_id != wl.id:
                raise NotFound(f"hotlist {wl.id} has no entry {entry_id}")
            if row.removed_at is not None:
                raise Invalid("the plate is already removed")
            row.removed_at, row.removed_by = datetime.now(UTC), who.username
        self._audit.record(
            who, "hotlist.entry.remove", target_type="hotlist", target_id=wl.id, region=wl.region,
            detail={"entry": entry_id, "plate": row.text, "reason": reason.strip()[:500]},
        )
        self._changed()
        return entry_json(row)

    # -- for the road watch ----------------------------------------------------------------------
    def active_plates(self, now: datetime | None = None) -> dict[str, list[HotPlate]]:
        """compact plate -> every list entry that matches it now."""
        now = now or datetime.now(UTC)
        q = (
            select(HotlistEntryRow, HotlistRow)
            .join(HotlistRow, HotlistEntryRow.hotlist_id == HotlistRow.id)
            .where(HotlistEntryRow.removed_at.is_(None), HotlistEntryRow.expires_at > now)
        )
        out: dict[str, list[HotPlate]] = {}
        with self._db.session() as s:
            for e, wl in s.execute(q).all():
                out.setdefault(e.compact, []).append(
                    HotPlate(e.id, wl.id, wl.name, wl.kind, wl.priority, wl.region, e.text, e.reason, e.legal_basis,
                             utc(e.expires_at))
                )
        return out

    # -- helpers -------------------------------------------------------------------------------
    def _insert(self, who: Principal, wl: HotlistRow, entries: list[HotlistEntryIn]) -> list[HotlistEntryRow]:
        now = datetime.now(UTC)
        rows = [
            HotlistEntryRow(
                hotlist_id=wl.id,
                text=e.plate,
                compact=e.plate.replace(" ", ""),
                reason=e.reason,
                legal_basis=e.legal_basis,
                expires_at=utc(e.expires_at),
                created_by=who.username,
                created_at=now,
            )
            for e in entries
        ]
        with self._db.transaction() as s:
            s.add_all(rows)
        return rows

    def _active_plates(self, hotlist_id: str) -> set[str]:
        q = select(HotlistEntryRow.compact).where(
            HotlistEntryRow.hotlist_id == hotlist_id, HotlistEntryRow.removed_at.is_(None)
        )
        with self._db.session() as s:
            return set(s.execute(q).scalars())

    def announce_change(self) -> None:
        """Lists changed behind this service (the capital's national lists copied in): reload."""
        self._changed()

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()

    def _list(self, who: Principal, hotlist_id: str, *, edit: bool = False) -> HotlistRow:
        with self._db.session() as s:
            row = s.get(HotlistRow, hotlist_id)
        if row is None or not sees(who, row.region):
            self._audit.record(who, "access.denied", target_type="hotlist", target_id=hotlist_id, outcome="denied")
            raise NotFound(f"no hotlist {hotlist_id!r} in your scope")
        if edit and not edits(who, row.region):
            self._audit.record(who, "access.denied", target_type="hotlist", target_id=hotlist_id, outcome="denied")
            raise Forbidden("a national list is changed by national officers only")
        return row

    @staticmethod
    def _may(who: Principal, permission: Permission) -> None:
        if not who.can(permission):
            raise Forbidden(f"role {who.role} may not {permission}")
