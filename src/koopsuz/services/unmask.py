"""Lifting a camera's privacy masks: a request with a legal basis, a second officer's approval, expiry.

An officer with ``privacy.unmask`` asks to see one camera unmasked for up to 24 hours, naming a legal
basis that allows ``unmask`` in the camera's region and saying why. Nothing changes until a second
officer with ``privacy.unmask.approve`` approves it (the requester never can); from then the grant
is active for the requester alone, until it expires, its legal basis stops being valid, or someone
revokes it. Everyone else keeps seeing the masks. Every request, decision, revocation and the first
unmasked picture served per grant and viewing session is audited, so what was seen and on whose
authority is on the record.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from koopsuz.domain.events import new_id
from koopsuz.domain.legal import Purpose
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, Invalid, NotFound, invalid
from koopsuz.services.legal_basis import LegalBasisService, utc
from koopsuz.services.registry import RegistryService
from koopsuz.store.db import Database
from koopsuz.store.tables import CameraRow, LegalBasisRow, UnmaskGrantRow

MAX_MINUTES = 24 * 60
PENDING, APPROVED, REJECTED, REVOKED = "pending", "approved", "rejected", "revoked"


class UnmaskIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    legal_basis_id: str = Field(min_length=1, max_length=26, description="a basis that allows 'unmask' here")
    reason: str = Field(min_length=3, max_length=1000, description="why the masked area must be seen")
    minutes: int = Field(default=60, ge=1, le=MAX_MINUTES, description="how long, from approval (max 24 h)")


def state(row: UnmaskGrantRow, now: datetime | None = None) -> str:
    """pending, active, expired, rejected or revoked: what the grant is now."""
    now = now or datetime.now(UTC)
    if row.status == APPROVED:
        return "active" if row.expires_at is not None and now < utc(row.expires_at) else "expired"
    return row.status


def grant_json(row: UnmaskGrantRow, now: datetime | None = None) -> dict[str, Any]:
    def ts(v: datetime | None) -> str | None:
        return utc(v).isoformat() if v else None

    return {
        "id": row.id,
        "camera": row.camera,
        "region": row.region,
        "legal_basis_id": row.legal_basis_id,
        "reason": row.reason,
        "minutes": row.minutes,
        "status": row.status,
        "state": state(row, now),
        "requested_by": row.requested_by,
        "requested_at": ts(row.requested_at),
        "decided_by": row.decided_by,
        "decided_at": ts(row.decided_at),
        "decision_note": row.decision_note,
        "expires_at": ts(row.expires_at),
        "revoked_by": row.revoked_by,
        "revoked_at": ts(row.revoked_at),
        "revoke_reason": row.revoke_reason,
    }


class UnmaskService:
    def __init__(self, db: Database, audit: AuditLog, legal: LegalBasisService, registry: RegistryService) -> None:
        self._db = db
        self._audit = audit
        self._legal = legal
        self._registry = registry
        self._used: set[tuple[str, str, str]] = set()  # (grant, user, session): first use already audited
        self._used_lock = threading.Lock()

    # -- the workflow ----------------------------------------------------------------------------
    def request(self, who: Principal, camera_id: str, body: Any) -> dict[str, Any]:
        """A pending request; refused without the permission, outside scope, or without a valid basis."""
        if not who.can(Permission.PRIVACY_UNMASK):
            self._denied(who, "camera", camera_id, None, "privacy.unmask")
            raise Forbidden(f"role {who.role} may not ask to lift privacy masks")
        cam = self._registry.camera(who, camera_id, Permission.PRIVACY_UNMASK)  # 403 + audit for another region
        try:
            data = UnmaskIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        # A camera without masks still has something to lift: the face and plate redaction of its
        # evidence exports' viewing copies (services/export_redaction.py), which the same grant lifts.
        try:
            basis = self._legal.require(who, data.legal_basis_id, Purpose.UNMASK, cam.region)
        except (Forbidden, NotFound, Invalid) as exc:
            self._audit.record(
                who,
                "privacy.unmask.request",
                target_type="camera",
                target_id=camera_id,
                region=cam.region,
                outcome="denied",
                detail={"legal_basis_id": data.legal_basis_id, "why": str(exc)},
            )
            raise
        now = datetime.now(UTC)
        row = UnmaskGrantRow(
            id=new_id(),
            camera=camera_id,
            region=cam.region,
            legal_basis_id=basis.id,
            reason=data.reason,
            minutes=data.minutes,
            status=PENDING,
            requested_by=who.username,
            requested_at=now,
        )
        with self._db.transaction() as s:
            s.add(row)
        self._audit.record(
            who,
            "privacy.unmask.request",
            target_type="unmask_grant",
            target_id=row.id,
            region=cam.region,
            detail={
                "camera": camera_id,
                "legal_basis_id": basis.id,
                "case": basis.case_number,
                "minutes": data.minutes,
                "reason": data.reason,
            },
        )
        return grant_json(row, now)

    def decide(self, who: Principal, grant_id: str, approve: bool, note: str = "") -> dict[str, Any]:
        """The second officer's approval or refusal of a pending request."""
        action = "privacy.unmask.approve" if approve else "privacy.unmask.reject"
        if not who.can(Permission.PRIVACY_UNMASK_APPROVE):
            raise Forbidden(f"role {who.role} may not decide unmask requests")
        row = self._grant(who, grant_id, action)
        if row.status != PENDING:
            raise Invalid(f"the request is {state(row)}, not pending")
        now = datetime.now(UTC)
        expires = None
        if approve:
            if row.requested_by == who.username:
                self._audit.record(
                    who,
                    action,
                    target_type="unmask_grant",
                    target_id=grant_id,
                    region=row.region,
                    outcome="denied",
                    detail={"why": "self-approval"},
                )
                raise Forbidden("the officer who asked for an unmask cannot approve it; a second officer must")
            basis = self._legal.require(who, row.legal_basis_id, Purpose.UNMASK, row.region, now)
            expires = min(now + timedelta(minutes=row.minutes), utc(basis.valid_until))
        with self._db.transaction() as s:
            live = s.get(UnmaskGrantRow, grant_id)
            assert live is not None
            if live.status != PENDING:  # decided by someone else meanwhile
                raise Invalid(f"the request is {live.status}, not pending")
            live.status = APPROVED if approve else REJECTED
            live.decided_by, live.decided_at, live.decision_note = who.username, now, (note or "")[:1000] or None
            live.expires_at = expires
            row = live
        self._audit.record(
            who,
            action,
            target_type="unmask_grant",
            target_id=grant_id,
            region=row.region,
            detail={
                "camera": row.camera,
                "requested_by": row.requested_by,
                "note": (note or "")[:1000],
                "expires_at": expires.isoformat() if expires else None,
            },
        )
        return grant_json(row, now)

    def revoke(self, who: Principal, grant_id: str, reason: str) -> dict[str, Any]:
        """End a grant (or withdraw a request) before its time: the requester, or an approving officer."""
        reason = (reason or "").strip()
        row = self._grant(who, grant_id, "privacy.unmask.revoke")
        if row.requested_by != who.username and not who.can(Permission.PRIVACY_UNMASK_APPROVE):
            raise Forbidden(f"role {who.role} may revoke only its own unmask requests")
        if len(reason) < 3:
            raise Invalid("say why the unmask is revoked (reason)")
        if state(row) not in ("pending", "active"):
            raise Invalid(f"the grant is {state(row)}; there is nothing to revoke")
        now = datetime.now(UTC)
        with self._db.transaction() as s:
            live = s.get(UnmaskGrantRow, grant_id)
            assert live is not None
            live.status, live.revoked_by, live.revoked_at, live.revoke_reason = REVOKED, who.username, now, reason
            row = live
        self._audit.record(
            who,
            "privacy.unmask.revoke",
            target_type="unmask_grant",
            target_id=grant_id,
            region=row.region,
            detail={"camera": row.camera, "requested_by": row.requested_by, "reason": reason[:1000]},
        )
        return grant_json(row, now)

    def search(self, who: Principal, *, camera: str | None = None, state_is: str | None = None) -> list[dict[str, Any]]:
        """Requests and grants in the caller's scope, newest first."""
        if not any(
            who.can(p) for p in (Permission.PRIVACY_UNMASK, Permission.PRIVACY_UNMASK_APPROVE, Permission.AUDIT_READ)
        ):
            raise Forbidden(f"role {who.role} may not read unmask requests")
        q = select(UnmaskGrantRow).order_by(UnmaskGrantRow.requested_at.desc()).limit(500)
        if not who.scope.is_national:
            q = q.where(UnmaskGrantRow.region.in_(who.scope.regions or ()))
        if camera:
            q = q.where(UnmaskGrantRow.camera == camera)
        now = datetime.now(UTC)
        with self._db.session() as s:
            out = [grant_json(r, now) for r in s.execute(q).scalars()]
        return [g for g in out if g["state"] == state_is] if state_is else out

    # -- what a viewer sees ------------------------------------------------------------------------
    def active_grant(self, who: Principal, camera_id: str) -> UnmaskGrantRow | None:
        """The caller's own active grant for the camera whose legal basis still holds, if any."""
        now = datetime.now(UTC)
        q = (
            select(UnmaskGrantRow, LegalBasisRow)
            .join(LegalBasisRow, LegalBasisRow.id == UnmaskGrantRow.legal_basis_id)
            .where(UnmaskGrantRow.camera == camera_id, UnmaskGrantRow.requested_by == who.username)
            .where(UnmaskGrantRow.status == APPROVED)
        )
        with self._db.session() as s:
            pairs = s.execute(q).all()
        for grant, basis in pairs:
            if state(grant, now) != "active" or basis.revoked_at is not None or utc(basis.valid_until) <= now:
                continue
            if who.scope.allows(grant.region):
                return grant
        return None

    def masks_for(self, who: Principal, cam: CameraRow, session: str, ip: str | None = None) -> list[Any]:
        """The polygons to fill for this viewer: none with an active grant (its first use audited)."""
        masks = list(cam.privacy_masks or [])
        if not masks:
            return []
        grant = self.active_grant(who, cam.id)
        if grant is None:
            return masks
        key = (grant.id, who.username, session)
        with self._used_lock:
            first = key not in self._used
            self._used.add(key)
        if first:
            self._audit.record(
                who,
                "privacy.unmask.use",
                target_type="camera",
                target_id=cam.id,
                region=cam.region,
                ip=ip,
                detail={"grant": grant.id, "session": session, "legal_basis_id": grant.legal_basis_id},
            )
        return []

    # -- helpers -----------------------------------------------------------------------------------
    def _grant(self, who: Principal, grant_id: str, action: str) -> UnmaskGrantRow:
        with self._db.session() as s:
            row = s.get(UnmaskGrantRow, grant_id)
        if row is None:
            raise NotFound(f"no unmask request {grant_id!r}")
        if not who.scope.allows(row.region):
            self._denied(who, "unmask_grant", grant_id, row.region, action)
            raise Forbidden(f"unmask request {grant_id!r} is for a camera outside your region scope")
        return row

    def _denied(self, who: Principal, target_type: str, target_id: str, region: str | None, action: str) -> None:
        self._audit.record(
            who,
            "access.denied",
            target_type=target_type,
            target_id=target_id,
            region=region,
            outcome="denied",
            detail={"permission": action},
        )
