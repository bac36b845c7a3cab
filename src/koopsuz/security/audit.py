"""The append-only audit log, chained by SHA-256.

Each entry's hash covers the previous entry's hash, so removing or editing any row breaks every
later hash; the database's triggers refuse UPDATE and DELETE on top of that. A chain cannot show
entries cut off its end, so the head is *sealed* in batches: its seq and hash signed with the
installation's Ed25519 key (``seal``). ``verify`` checks the chain and every seal, and names the
first entry that is altered, removed, reordered or missing after a seal.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from sqlalchemy import func, select

from koopsuz.security.principal import Principal, Scope
from koopsuz.store.db import Database
from koopsuz.store.tables import AuditRow, AuditSealRow

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
    problem: str | None = None
    seals: int = 0

    @property
    def ok(self) -> bool:
        return self.first_broken is None and self.problem is None


def seal_message(seq: int, head: str) -> bytes:
    """What a seal signs: fixed text, so a signature over anything else never passes as a seal."""
    return f"koopsuz-audit-seal\n{seq}\n{head}\n".encode()


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
        camera: str | None = None,
        case: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> Sequence[AuditRow]:
        """Newest first. ``action`` ending in ``*`` is a prefix (``watchlist.*``); ``camera`` matches the
        target or a ``camera``/``cameras`` detail; ``case`` a ``case`` detail (scanned, not indexed)."""
        q = select(AuditRow).order_by(AuditRow.seq.desc())
        if not scope.is_national:
            q = q.where(AuditRow.region.in_(scope.regions or ()))
        if actor:
            q = q.where(AuditRow.actor == actor)
        if action:
            q = q.where(AuditRow.action.startswith(action[:-1]) if action.endswith("*") else AuditRow.action == action)
        if target_id:
            q = q.where(AuditRow.target_id == target_id)
        if since:
            q = q.where(AuditRow.ts >= since)
        if until:
            q = q.where(AuditRow.ts < until)
        if not (camera or case):
            with self._db.session() as s:
                return s.execute(q.limit(limit)).scalars().all()
        out: list[AuditRow] = []
        with self._db.session() as s:
            for row in s.execute(q.limit(200_000)).scalars():
                d = row.detail or {}
                cams = d.get("cameras")
                if camera and not (
                    row.target_id == camera or d.get("camera") == camera or (isinstance(cams, list) and camera in cams)
                ):
                    continue
                if case and d.get("case") != case and d.get("case_number") != case:
                    continue
                out.append(row)
                if len(out) >= limit:
                    break
        return out

    def seal(self, sign: Any, key_id: str) -> AuditSealRow | None:
        """Sign the chain's head (``sign``: bytes -> signature); None when nothing is new since the last seal."""
        with self._lock, self._db.transaction() as s:
            head = s.execute(select(AuditRow.seq, AuditRow.hash).order_by(AuditRow.seq.desc()).limit(1)).first()
            last = s.execute(select(func.max(AuditSealRow.seq))).scalar()
            if head is None or (last is not None and last >= head[0]):
                return None
            entries = int(s.execute(select(func.count()).select_from(AuditRow)).scalar() or 0)
            row = AuditSealRow(
                seq=head[0],
                hash=head[1],
                entries=entries,
                sealed_at=datetime.now(UTC),
                key_id=key_id,
                signature=base64.b64encode(sign(seal_message(head[0], head[1]))).decode(),
            )
            s.add(row)
        return row

    def verify(self, public_key: Ed25519PublicKey | None = None) -> ChainCheck:
        """The chain, then the seals (with ``public_key``): the first entry that breaks either."""
        prev = GENESIS
        n = 0
        hashes: dict[int, str] = {}
        with self._db.session() as s:
            for row in s.execute(select(AuditRow).order_by(AuditRow.seq)).scalars():
                n += 1
                if row.prev_hash != prev or entry_hash(prev, _fields(row)) != row.hash:
                    return ChainCheck(n, row.seq, f"entry {row.seq} was altered, or the one before it removed")
                prev = row.hash
                hashes[row.seq] = row.hash
            seals = list(s.execute(select(AuditSealRow).order_by(AuditSealRow.seq)).scalars())
        if public_key is None:
            return ChainCheck(n, None, None, 0)
        for seal in seals:
            try:
                public_key.verify(base64.b64decode(seal.signature), seal_message(seal.seq, seal.hash))
            except (InvalidSignature, ValueError):
                return ChainCheck(n, seal.seq, f"the seal at entry {seal.seq} is not signed by this installation")
            if seal.seq not in hashes:
                cut = max((q for q in hashes if q < seal.seq), default=0)
                return ChainCheck(
                    n, cut + 1, f"entries after {cut} were removed: the seal at entry {seal.seq} covers them"
                )
            if hashes[seal.seq] != seal.hash:
                return ChainCheck(n, seal.seq, f"entry {seal.seq} differs from what its seal signed")
        return ChainCheck(n, None, None, len(seals))
