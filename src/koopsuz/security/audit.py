"""The append-only audit log, chained by SHA-256.

Each entry's hash covers the previous entry's hash, so removing or editing any row breaks every
later hash; the database's triggers refuse UPDATE and DELETE on top of that. A chain cannot show
entries cut off its end, so the head is *sealed* in batches: its seq and hash signed with the
installation's Ed25519 key (``seal``). ``verify`` checks the chain and every seal, and names the
first entry that is altered, removed, reordered or missing after a seal.

Retention (issue 8) removes the oldest entries, but only up to a sealed head (``truncate``): first a
signed *anchor* is written (last removed seq, its hash, how many went), then those rows are deleted
in the same transaction; the database allows a DELETE at or before the newest anchor and nothing
else (migration 0016). ``verify`` then starts the chain at the anchor's hash, checks the anchor's
signature, and reports the truncation. The part to be cut is verified first: retention never
deletes the proof that an old entry was tampered with.
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
from sqlalchemy import delete, func, select

from koopsuz.security.principal import Principal, Scope
from koopsuz.store.db import Database
from koopsuz.store.tables import AuditRow, AuditSealRow, AuditTruncationRow

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
    truncated: int = 0  # entries removed by retention, all truncations together
    truncated_upto: int | None = None  # the last removed entry: the chain starts after it
    truncations: int = 0  # anchors (each signed)

    @property
    def ok(self) -> bool:
        return self.first_broken is None and self.problem is None


def seal_message(seq: int, head: str) -> bytes:
    """What a seal signs: fixed text, so a signature over anything else never passes as a seal."""
    return f"koopsuz-audit-seal\n{seq}\n{head}\n".encode()


def truncation_message(upto: int, head: str, entries: int, first: int) -> bytes:
    """What a truncation anchor signs: entries ``first..upto`` removed, the chain goes on from ``head``."""
    return f"koopsuz-audit-truncation\n{first}\n{upto}\n{head}\n{entries}\n".encode()


@dataclass(frozen=True, slots=True)
class Cut:
    """What ``truncate`` removes (or, dry, would): entries ``first..upto``, ``hash`` being upto's."""

    first: int
    upto: int
    hash: str
    entries: int
    oldest: datetime | None
    newest: datetime | None

    def to_json(self) -> dict[str, Any]:
        return {
            "first_seq": self.first,
            "upto_seq": self.upto,
            "hash": self.hash,
            "entries": self.entries,
            "oldest": self.oldest.isoformat() if self.oldest else None,
            "newest": self.newest.isoformat() if self.newest else None,
        }


class ChainBroken(RuntimeError):
    """The part of the chain retention was to remove does not verify: nothing is removed."""


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
            seq = None
            if last is None:  # empty: new, or retention removed every entry behind an anchor
                anchor = s.execute(
                    select(AuditTruncationRow.upto_seq, AuditTruncationRow.hash)
                    .order_by(AuditTruncationRow.upto_seq.desc())
                    .limit(1)
                ).first()
                if anchor is not None:
                    last = anchor[1]
                    # SQLite hands an emptied table's rowids out again from 1; PostgreSQL's sequence never
                    # goes back (and must not be overtaken by hand)
                    seq = anchor[0] + 1 if s.get_bind().dialect.name == "sqlite" else None
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
            if seq is not None:
                row.seq = seq
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

    # -- retention ----------------------------------------------------------------------------
    def cut(self, before: datetime, *, head_sealed: bool = False) -> Cut | None:
        """The entries a truncation at ``before`` would remove: up to the newest seal whose entry is
        older than ``before`` (a sealed batch boundary), after the last anchor; None when none are.
        ``head_sealed``: as if the head were sealed now (what a truncation that seals first removes)."""
        with self._db.session() as s:
            return self._cut(s, before, head_sealed)

    def _cut(self, s: Any, before: datetime, head_sealed: bool = False) -> Cut | None:
        last = s.execute(select(func.max(AuditTruncationRow.upto_seq))).scalar() or 0
        old = s.execute(select(func.max(AuditRow.seq)).where(AuditRow.ts < before)).scalar()
        if old is None:
            return None
        upto = s.execute(
            select(func.max(AuditSealRow.seq)).where(AuditSealRow.seq <= old, AuditSealRow.seq > last)
        ).scalar()
        if head_sealed and old > last and old == s.execute(select(func.max(AuditRow.seq))).scalar():
            upto = old
        if upto is None:
            return None
        head = s.execute(select(AuditRow.hash).where(AuditRow.seq == upto)).scalar()
        if head is None:
            raise ChainBroken(f"entry {upto}, sealed, is missing: run `koopsuz audit verify`; nothing was removed")
        q = select(func.count(), func.min(AuditRow.ts), func.max(AuditRow.ts)).where(
            AuditRow.seq > last, AuditRow.seq <= upto
        )
        entries, oldest, newest = s.execute(q).one()
        return Cut(last + 1, upto, head, int(entries), _aware(oldest), _aware(newest))

    def truncate(self, before: datetime, sign: Any, key_id: str) -> Cut | None:
        """Remove the entries older than ``before`` up to a sealed batch boundary, behind a signed anchor.

        The part removed is verified first (against the previous anchor and its seal); if it does not
        verify, ``ChainBroken`` and nothing is removed. Returns what went, None when nothing could.
        """
        with self._lock, self._db.transaction() as s:
            cut = self._cut(s, before)
            if cut is None:
                return None
            prev = s.execute(
                select(AuditTruncationRow.hash).order_by(AuditTruncationRow.upto_seq.desc()).limit(1)
            ).scalar()
            prev = prev or GENESIS
            rows = select(AuditRow).where(AuditRow.seq >= cut.first, AuditRow.seq <= cut.upto).order_by(AuditRow.seq)
            for row in s.execute(rows).scalars():
                if row.prev_hash != prev or entry_hash(prev, _fields(row)) != row.hash:
                    raise ChainBroken(f"entry {row.seq} was altered, or the one before it removed; nothing was removed")
                prev = row.hash
            seal = s.get(AuditSealRow, cut.upto)
            if prev != cut.hash or seal is None or seal.hash != cut.hash:
                raise ChainBroken(f"entry {cut.upto} differs from what its seal signed; nothing was removed")
            now = datetime.now(UTC)
            message = truncation_message(cut.upto, cut.hash, cut.entries, cut.first)
            s.add(
                AuditTruncationRow(
                    upto_seq=cut.upto,
                    hash=cut.hash,
                    entries=cut.entries,
                    first_seq=cut.first,
                    oldest_ts=cut.oldest,
                    newest_ts=cut.newest,
                    before=before,
                    truncated_at=now,
                    key_id=key_id,
                    signature=base64.b64encode(sign(message)).decode(),
                )
            )
            s.flush()  # the anchor first: the database allows the delete only behind it
            s.execute(delete(AuditRow).where(AuditRow.seq >= cut.first, AuditRow.seq <= cut.upto))
        return cut

    def truncations(self) -> Sequence[AuditTruncationRow]:
        with self._db.session() as s:
            return s.execute(select(AuditTruncationRow).order_by(AuditTruncationRow.upto_seq)).scalars().all()

    def verify(self, public_key: Ed25519PublicKey | None = None) -> ChainCheck:
        """The chain, then the seals and truncation anchors (with ``public_key``): the first entry that
        breaks any. After a truncation the chain starts at the newest anchor's hash."""
        with self._db.session() as s:
            anchors = list(s.execute(select(AuditTruncationRow).order_by(AuditTruncationRow.upto_seq)).scalars())
        upto = anchors[-1].upto_seq if anchors else None
        removed = sum(a.entries for a in anchors)
        prev = anchors[-1].hash if anchors else GENESIS
        n = 0
        hashes: dict[int, str] = {}

        def check(first: int | None, problem: str | None, seals: int = 0) -> ChainCheck:
            return ChainCheck(n, first, problem, seals, removed, upto, len(anchors))

        with self._db.session() as s:
            for row in s.execute(select(AuditRow).order_by(AuditRow.seq)).scalars():
                n += 1
                if upto is not None and row.seq <= upto:
                    return check(row.seq, f"entry {row.seq} should have been removed with entries up to {upto}")
                if row.prev_hash != prev or entry_hash(prev, _fields(row)) != row.hash:
                    return check(row.seq, f"entry {row.seq} was altered, or the one before it removed")
                prev = row.hash
                hashes[row.seq] = row.hash
            seals = list(s.execute(select(AuditSealRow).order_by(AuditSealRow.seq)).scalars())
        if public_key is None:
            return check(None, None, 0)
        sealed = {x.seq: x.hash for x in seals}
        for a in anchors:
            message = truncation_message(a.upto_seq, a.hash, a.entries, a.first_seq)
            try:
                public_key.verify(base64.b64decode(a.signature), message)
            except (InvalidSignature, ValueError):
                return check(
                    a.upto_seq, f"the truncation anchor at entry {a.upto_seq} is not signed by this installation"
                )
            if sealed.get(a.upto_seq) != a.hash:
                return check(a.upto_seq, f"the truncation anchor at entry {a.upto_seq} does not match its seal")
        for seal in seals:
            try:
                public_key.verify(base64.b64decode(seal.signature), seal_message(seal.seq, seal.hash))
            except (InvalidSignature, ValueError):
                return check(seal.seq, f"the seal at entry {seal.seq} is not signed by this installation")
            if upto is not None and seal.seq <= upto:
                continue  # covers entries retention removed behind a signed anchor
            if seal.seq not in hashes:
                cut = max((q for q in hashes if q < seal.seq), default=upto or 0)
                return check(cut + 1, f"entries after {cut} were removed: the seal at entry {seal.seq} covers them")
            if hashes[seal.seq] != seal.hash:
                return check(seal.seq, f"entry {seal.seq} differs from what its seal signed")
        return check(None, None, len(seals))


def _aware(ts: datetime | None) -> datetime | None:
    return None if ts is None else (ts if ts.tzinfo else ts.replace(tzinfo=UTC))
