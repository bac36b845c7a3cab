"""One helper for every act in the command centre: a line in the item's history, then the audit log.

The history (``command_log``) is what operators read on an alert or incident (who claimed it, who
escalated it, which unit went); it is written in the same transaction as the change. The audit
log gets the same act after the commit, hash-chained, for the inspectors. Refusals that touch
another region's items are audited as ``access.denied`` by the scope check itself.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.orm import Session

from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, NotFound
from koopsuz.store.incident_repo import aware
from koopsuz.store.tables import CommandLogRow

Clock = Callable[[], datetime]


def utcnow() -> datetime:
    return datetime.now(UTC)


class History:
    def __init__(self, audit: AuditLog) -> None:
        self.audit = audit

    @staticmethod
    def log(
        s: Session,
        who: Principal,
        target_type: str,
        target_id: str,
        region: str,
        action: str,
        now: datetime,
        detail: dict[str, Any] | None = None,
    ) -> None:
        s.add(
            CommandLogRow(
                target_type=target_type,
                target_id=target_id,
                region=region,
                ts=now,
                actor=who.username,
                action=action,
                detail=detail or {},
            )
        )

    def audited(
        self, who: Principal, action: str, target_type: str, target_id: str, region: str, detail: dict[str, Any]
    ) -> None:
        self.audit.record(who, action, target_type=target_type, target_id=target_id, region=region, detail=detail)

    def in_scope(self, who: Principal, target_type: str, target_id: str, region: str | None) -> None:
        """403 (audited) for another region's item; the caller has already answered 404 for none."""
        if not who.scope.allows(region):
            self.audit.record(
                who, "access.denied", target_type=target_type, target_id=target_id, region=region, outcome="denied"
            )
            raise Forbidden(f"{target_type} {target_id!r} is outside your region scope")


def require(who: Principal, permission: Permission) -> None:
    if not who.can(permission):
        raise Forbidden(f"role {who.role} may not {permission}")


def found(row: Any, what: str, ident: str) -> Any:
    if row is None:
        raise NotFound(f"no {what} {ident!r}")
    return row


def iso(d: datetime | None) -> str | None:
    d = aware(d)
    return d.isoformat() if d else None


def history_json(rows: Any) -> list[dict[str, Any]]:
    return [
        {
            "target_type": r.target_type,
            "target": r.target_id,
            "at": iso(r.ts),
            "by": r.actor,
            "action": r.action,
            "detail": r.detail or {},
        }
        for r in rows
    ]
