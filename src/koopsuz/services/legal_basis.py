"""The registry of legal bases, and the one check every sensitive act goes through.

An officer with ``legal.manage`` registers a basis (case, authority, document, purposes, regions,
validity); a regional officer only for their own region. Acts that need one call ``require``,
which refuses with the exact reason (expired, revoked, wrong purpose, wrong region, out of the
caller's scope). Registering and revoking are audited; uses are audited by the act itself, with
the basis id in its detail.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select

from koopsuz.domain.events import new_id
from koopsuz.domain.legal import LegalBasisIn, Purpose, check_use
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, Invalid, NotFound, invalid
from koopsuz.store.db import Database
from koopsuz.store.tables import LegalBasisRow


def utc(ts: datetime) -> datetime:
    """UTC; a time Python cannot shift to UTC (year 1 or 9999 with an offset) is bad input, not a crash."""
    try:
        return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts.astimezone(UTC)
    except OverflowError:
        raise Invalid(f"time {ts.isoformat()} is out of range; use a date between the years 1970 and 2100") from None


def basis_json(row: LegalBasisRow, now: datetime | None = None) -> dict[str, Any]:
    now = now or datetime.now(UTC)
    return {
        "id": row.id,
        "case_number": row.case_number,
        "kind": row.kind,
        "authority": row.authority,
        "document_ref": row.document_ref,
        "purposes": list(row.purposes),
        "regions": list(row.regions),
        "valid_from": utc(row.valid_from).isoformat(),
        "valid_until": utc(row.valid_until).isoformat(),
        "note": row.note,
        "created_by": row.created_by,
        "created_at": utc(row.created_at).isoformat(),
        "revoked_by": row.revoked_by,
        "revoked_at": utc(row.revoked_at).isoformat() if row.revoked_at else None,
        "revoke_reason": row.revoke_reason,
        "valid_now": row.revoked_at is None and utc(row.valid_from) <= now < utc(row.valid_until),
    }


def _visible(who: Principal, row: LegalBasisRow) -> bool:
    """National callers see every basis; a regional one sees its region's and the country-wide ones."""
    return who.scope.is_national or not row.regions or who.region in row.regions


class LegalBasisService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def register(self, who: Principal, body: Any) -> dict[str, Any]:
        if not who.can(Permission.LEGAL_MANAGE):
            raise Forbidden(f"role {who.role} may not register legal bases")
        try:
            data = LegalBasisIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        regions = list(data.regions)
        if who.region is not None:  # a regional officer acts for their region only
            if any(r != who.region for r in regions):
                raise Forbidden(f"you act for {who.region}; a basis for other regions is registered nationally")
            regions = [who.region]
        now = datetime.now(UTC)
        row = LegalBasisRow(
            id=new_id(),
            case_number=data.case_number,
            kind=str(data.kind),
            authority=data.authority,
            document_ref=data.document_ref,
            purposes=[str(p) for p in data.purposes],
            regions=regions,
            valid_from=utc(data.valid_from or now),
            valid_until=utc(data.valid_until),
            note=data.note,
            created_by=who.username,
            created_at=now,
        )
        with self._db.transaction() as s:
            s.add(row)
        self._audit.record(
            who,
            "legal.register",
            target_type="legal_basis",
            target_id=row.id,
            region=regions[0] if len(regions) == 1 else None,
            detail={"case": row.case_number, "kind": row.kind, "purposes": row.purposes, "regions": regions},
        )
        return basis_json(row, now)

    def search(
        self, who: Principal, *, valid_only: bool = False, case_number: str | None = None
    ) -> list[dict[str, Any]]:
        self._may_read(who)
        q = select(LegalBasisRow).order_by(LegalBasisRow.created_at.desc())
        if case_number:
            q = q.where(LegalBasisRow.case_number == case_number)
        with self._db.session() as s:
            rows = [r for r in s.execute(q).scalars() if _visible(who, r)]
        out = [basis_json(r) for r in rows]
        return [b for b in out if b["valid_now"]] if valid_only else out

    def get(self, who: Principal, basis_id: str) -> dict[str, Any]:
        self._may_read(who)
        return basis_json(self._row(who, basis_id))

    def revoke(self, who: Principal, basis_id: str, reason: str) -> dict[str, Any]:
        if not who.can(Permission.LEGAL_MANAGE):
            raise Forbidden(f"role {who.role} may not revoke legal bases")
        reason = (reason or "").strip()
        if len(reason) < 3:
            raise Invalid("say why the basis is revoked (reason)")
        row = self._row(who, basis_id)
        if who.region is not None and row.regions != [who.region]:
            raise Forbidden("a basis that covers more than your region is revoked nationally")
        if row.revoked_at is not None:
            raise Invalid("the basis is already revoked")
        now = datetime.now(UTC)
        with self._db.transaction() as s:
            live = s.get(LegalBasisRow, basis_id)
            assert live is not None
            live.revoked_at, live.revoked_by, live.revoke_reason = now, who.username, reason[:1000]
            row = live
        self._audit.record(
            who, "legal.revoke", target_type="legal_basis", target_id=basis_id, detail={"reason": reason[:1000]}
        )
        return basis_json(row, now)

    def require(
        self, who: Principal, basis_id: str | None, purpose: Purpose, region: str | None, at: datetime | None = None
    ) -> LegalBasisRow:
        """The basis, when it allows ``purpose`` in ``region`` now; otherwise a refusal saying why.

        ``region`` None means an act over the whole country (a national list, a nationwide search).
        """
        if not basis_id:
            raise Invalid(f"{purpose} needs a legal basis (legal_basis_id); register one first")
        row = self._row(who, basis_id)
        why = check_use(
            purposes=list(row.purposes),
            regions=list(row.regions),
            valid_from=utc(row.valid_from),
            valid_until=utc(row.valid_until),
            revoked=row.revoked_at is not None,
            purpose=purpose,
            region=region,
            at=at or datetime.now(UTC),
        )
        if why is not None:
            raise Forbidden(f"legal basis {row.case_number} ({row.id}): {why}")
        return row

    # -- helpers -------------------------------------------------------------------------------
    def _row(self, who: Principal, basis_id: str) -> LegalBasisRow:
        with self._db.session() as s:
            row = s.get(LegalBasisRow, basis_id)
        if row is None or not _visible(who, row):
            raise NotFound(f"no legal basis {basis_id!r} in your scope")
        return row

    @staticmethod
    def _may_read(who: Principal) -> None:
        if not (who.can(Permission.LEGAL_MANAGE) or who.can(Permission.AUDIT_READ)):
            raise Forbidden(f"role {who.role} may not read legal bases")
