"""The append-only audit log, chained by SHA-256.

Each entry's hash covers the previous entry's hash, so removing or editing any row breaks every
later hash; the database's triggers refuse UPDATE and DELETE on top of that.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from koopsuz.security.principal import Principal, Scope
from koopsuz.store.db import Database
from koopsuz.store.tables import AuditRow

GENESIS = "0" * 64


def entry_hash(prev_hash: str, fields: dict[str, Any]) -> str:
    body = json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str, ensure_ascii=False)
    return hashlib.sha256((prev_hash + body).encode()).hexdigest()


def _fields(row: AuditRow) -> dict[str, Any]:
    ts = row.ts if row.ts.tzinfo else row.ts.replace(tzinfo=UTC)
    return {
        "ts": ts.isoformat(),
        "actor": row.actor,
        "actor_role": row.actor_role,
        "action": row.action,
        "target_type": row.target_type,
        "target_id": row.target_id,
        "region": row.region,
        "outcome": row.outcome,
        "ip": row.ip,
        "detail": row.detail,
    }


@dataclass(frozen=True, slots=True)
class ChainCheck:
    entries: int
    first_broken: int | None

    @property
    def ok(self) -> bool:
        return self.first_broken is None


class AuditLog:
    def __init__(self, db: Database) -> None:
        self._db = db
        self._lock = threading.Lock()

    def record(
        self,
        actor: Principal | str,
        action: str,
        *,
        target_type: str | None = None,
        target_id: str | None = None,
        region: str | None = None,
        outcome: str = "ok",
        detail: dict[str, Any] | None = None,
        ip: str | None = None,
    ) -> AuditRow:
        name = actor.username if isinstance(actor, Principal) else actor
        role = str(actor.role) if isinstance(actor, Principal) else None
        with self._lock, self._db.transaction() as s:
            last = s.execute(select(AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)).scalar()
            row = AuditRow(
                ts=datetime.now(UTC),
                actor=name,
                actor_role=role,
                action=action,
                target_type=target_type,
                target_id=target_id,
                region=region,
                outcome=outcome,
                ip=ip,
                detail=detail or {},
                prev_hash=last or GENESIS,
                hash="",
            )
            row.hash = entry_hash(row.prev_hash, _fields(row))
            s.add(row)
        return row

    def search(
        self,
        scope: Scope,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
        limit: int = 100,
    ) -> Sequence[AuditRow]:
        q = select(AuditRow).order_by(AuditRow.seq.desc()).limit(limit)
        if not scope.is_national:
            q = q.where(AuditRow.region.in_(scope.regions or ()))
        if actor:
            q = q.where(AuditRow.actor == actor)
        if action:
            q = q.where(AuditRow.action == action)
        if target_id:
            q = q.where(AuditRow.target_id == target_id)
        with self._db.session() as s:
            return s.execute(q).scalars().all()

    def verify(self) -> ChainCheck:
        prev = GENESIS
        n = 0
        with self._db.session() as s:
            for row in s.execute(select(AuditRow).order_by(AuditRow.seq)).scalars():
                n += 1
                if row.prev_hash != prev or entry_hash(prev, _fields(row)) != row.hash:
                    return ChainCheck(n, row.seq)
                prev = row.hash
        return ChainCheck(n, None)
