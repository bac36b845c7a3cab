"""Evidence locks: a camera's footage over a time range held for a case, against retention.

A lock takes its region from the camera, so scope works on locks like on everything else: a
regional investigator locks and sees only their region's cameras; another region's camera answers
403 and is audited as ``access.denied``. Locking and unlocking are audited (``evidence.lock``,
``evidence.unlock``: who, case, camera, range, why); an unlock must say why, and the lock row is
kept with who unlocked it and when, so the lock's whole life stays on record. Signed evidence
export calls ``lock`` for every range it packs, with the same signature.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal, Scope
from koopsuz.services.errors import Conflict, Forbidden, Invalid, NotFound
from koopsuz.store.db import Database
from koopsuz.store.retention_repo import LockRepo
from koopsuz.store.tables import EvidenceLockRow

MAX_LOCK = timedelta(days=366)
MAX_AHEAD = timedelta(days=7)  # an ongoing incident may lock footage still to come, not next year's


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)


def lock_json(row: EvidenceLockRow) -> dict[str, object]:
    def iso(ts: datetime | None) -> str | None:
        return None if ts is None else _utc(ts).isoformat(timespec="milliseconds").replace("+00:00", "Z")

    return {
        "id": row.id,
        "case_number": row.case_number,
        "camera": row.camera,
        "region": row.region,
        "start": iso(row.start),
        "end": iso(row.end),
        "reason": row.reason,
        "locked_by": row.locked_by,
        "locked_at": iso(row.locked_at),
        "active": row.unlocked_at is None,
        "unlocked_by": row.unlocked_by,
        "unlocked_at": iso(row.unlocked_at),
        "unlock_reason": row.unlock_reason,
    }


class EvidenceLockService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def lock(
        self, principal: Principal, camera_id: str, start: datetime, end: datetime, case_number: str, reason: str
    ) -> EvidenceLockRow:
        """Hold ``camera_id``'s footage over [start, end) for ``case_number``; audited ``evidence.lock``."""
        _require(principal, Permission.EVIDENCE_LOCK)
        case_number, reason = (case_number or "").strip(), (reason or "").strip()
        if not case_number:
            raise Invalid("case_number: a lock needs the case it holds footage for")
        if len(case_number) > 64:
            raise Invalid("case_number: at most 64 characters")
        if len(reason) > 1000:
            raise Invalid("reason: at most 1000 characters")
        try:
            start, end = _utc(start), _utc(end)
        except OverflowError:  # year 1 or 9999 with an offset cannot be shifted to UTC
            raise Invalid("start or end is out of range; use a date between the years 1970 and 2100") from None
        if start >= end:
            raise Invalid("start must be before end")
        if end - start > MAX_LOCK:
            raise Invalid(f"range too long: a lock covers at most {MAX_LOCK.days} days; lock several ranges")
        now = datetime.now(UTC)
        if end > now + MAX_AHEAD:
            raise Invalid(f"end is more than {MAX_AHEAD.days} days in the future")
        region = self._region(principal, camera_id, "evidence.lock")
        with self._db.transaction() as s:
            row = LockRepo(s).add(
                EvidenceLockRow(
                    case_number=case_number,
                    camera=camera_id,
                    region=region,
                    start=start,
                    end=end,
                    reason=reason,
                    locked_by=principal.username,
                    locked_at=now,
                )
            )
        self._audit.record(
            principal,
            "evidence.lock",
            target_type="camera",
            target_id=camera_id,
            region=region,
            detail={
                "lock": row.id,
                "case_number": case_number,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "reason": reason,
            },
        )
        return row

    def unlock(self, principal: Principal, lock_id: int, reason: str) -> EvidenceLockRow:
        """Release a lock (retention may then delete the footage); audited ``evidence.unlock``."""
        _require(principal, Permission.EVIDENCE_LOCK)
        reason = (reason or "").strip()
        if not reason:
            raise Invalid("reason: say why the lock is released (it is kept in the audit log)")
        if len(reason) > 1000:
            raise Invalid("reason: at most 1000 characters")
        with self._db.transaction() as s:
            row = LockRepo(s).get(lock_id)
            if row is None:
                raise NotFound(f"no evidence lock {lock_id}")
            if not principal.scope.allows(row.region):
                denied = (row.camera, row.region)
            else:
                denied = None
                if row.unlocked_at is not None:
                    raise Conflict(f"lock {lock_id} was already released by {row.unlocked_by}")
                row.unlocked_by, row.unlocked_at, row.unlock_reason = principal.username, datetime.now(UTC), reason
        if denied is not None:
            self._deny(principal, "evidence_lock", str(lock_id), denied[1], "evidence.unlock")
            raise Forbidden(f"lock {lock_id} is outside your region scope")
        self._audit.record(
            principal,
            "evidence.unlock",
            target_type="camera",
            target_id=row.camera,
            region=row.region,
            detail={
                "lock": row.id,
                "case_number": row.case_number,
                "start": _utc(row.start).isoformat(),
                "end": _utc(row.end).isoformat(),
                "locked_by": row.locked_by,
                "reason": reason,
            },
        )
        return row

    def active(self, scope: Scope, camera: str | None = None) -> Sequence[EvidenceLockRow]:
        """Locks in force within ``scope`` (retention asks with the national scope)."""
        with self._db.session() as s:
            return LockRepo(s).find(scope, camera=camera, active=True, limit=1_000_000)

    def list(
        self,
        scope: Scope,
        *,
        camera: str | None = None,
        case_number: str | None = None,
        active: bool | None = None,
        limit: int = 500,
    ) -> Sequence[EvidenceLockRow]:
        with self._db.session() as s:
            return LockRepo(s).find(scope, camera=camera, case_number=case_number, active=active, limit=limit)

    def visible(self, principal: Principal, **filters: object) -> Sequence[EvidenceLockRow]:
        """What a caller may list: lock holders and storage readers, within their scope."""
        if not (principal.can(Permission.EVIDENCE_LOCK) or principal.can(Permission.STORAGE_READ)):
            raise Forbidden(f"role {principal.role} may not see evidence locks")
        camera = filters.get("camera")
        if isinstance(camera, str):
            self._region(principal, camera, "evidence.list")
        return self.list(principal.scope, **filters)  # type: ignore[arg-type]

    def _region(self, principal: Principal, camera_id: str, what: str) -> str:
        with self._db.session() as s:
            region = LockRepo(s).camera_region(camera_id)
        if region is None:
            raise NotFound(f"no camera {camera_id!r}")
        if not principal.scope.allows(region):
            self._deny(principal, "camera", camera_id, region, what)
            raise Forbidden(f"camera {camera_id!r} is outside your region scope")
        return region

    def _deny(self, principal: Principal, target_type: str, target_id: str, region: str, what: str) -> None:
        self._audit.record(
            principal,
            "access.denied",
            target_type=target_type,
            target_id=target_id,
            region=region,
            outcome="denied",
            detail={"permission": str(Permission.EVIDENCE_LOCK), "action": what},
        )


def _require(who: Principal, permission: Permission) -> None:
    if not who.can(permission):
        raise Forbidden(f"role {who.role} may not {permission}")
