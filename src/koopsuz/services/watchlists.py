"""Face watchlists: lists, entries with a legal basis, enrolled photos, two-officer approval.

Scope: a national list (no region) is seen by every officer with ``watchlist.read`` (a wanted
person is wanted everywhere) and changed only by national officers; a regional list only within
its region. An entry needs a legal basis that allows ``watchlist`` where the list applies, cannot
outlive that basis, is ``pending`` until a second officer approves it, and matches only while
active and unexpired. Photos are enrolled through a ``FaceEnroller`` (exactly one usable face, or a
refusal with the reason, and then nothing is stored). Every change is audited; every change that
alters what may match is announced to ``listeners`` (the live matcher's index), so no restart is
needed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from pydantic import ValidationError
from sqlalchemy import func, select

from koopsuz.domain.events import new_id
from koopsuz.domain.legal import Purpose
from koopsuz.domain.watchlists import ActiveFace, EntryIn, EntryStatus, WatchlistIn, approval_refusal, is_active
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, Invalid, NotFound, invalid
from koopsuz.services.legal_basis import LegalBasisService, utc
from koopsuz.services.list_scope import edits, sees
from koopsuz.store.db import Database
from koopsuz.store.tables import WatchlistEntryRow, WatchlistPhotoRow, WatchlistRow

MAX_PHOTO_BYTES = 15 * 2**20
MAX_PHOTOS = 10


class PhotoRefused(ValueError):
    """The photo cannot be enrolled; the message says why (no face, two faces, too small...)."""


@dataclass(frozen=True, slots=True)
class EnrolledFace:
    embedding: np.ndarray  # L2-normalised float32
    quality: float  # 0..1
    box: tuple[int, int, int, int]  # x, y, w, h in the photo
    model: str


class FaceEnroller(Protocol):
    def enrol(self, image: bytes) -> EnrolledFace: ...  # raises PhotoRefused


Listener = Callable[[str], None]  # called with the entry id whose matching changed


def list_json(row: WatchlistRow, entries: int = 0) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "kind": row.kind,
        "priority": row.priority,
        "threshold": row.threshold,
        "region": row.region,
        "description": row.description,
        "created_by": row.created_by,
        "created_at": utc(row.created_at).isoformat(),
        "entries": entries,
    }


def entry_json(row: WatchlistEntryRow, photos: list[WatchlistPhotoRow] | None = None) -> dict[str, Any]:
    now = datetime.now(UTC)
    out: dict[str, Any] = {
        "id": row.id,
        "watchlist_id": row.watchlist_id,
        "region": row.region,
        "full_name": row.full_name,
        "birth_year": row.birth_year,
        "notes": row.notes,
        "legal_basis_id": row.legal_basis_id,
        "expires_at": utc(row.expires_at).isoformat(),
        "status": row.status,
        "matching": is_active(row.status, utc(row.expires_at), now),
        "expired": utc(row.expires_at) <= now,
        "created_by": row.created_by,
        "created_at": utc(row.created_at).isoformat(),
        "decided_by": row.decided_by,
        "decided_at": utc(row.decided_at).isoformat() if row.decided_at else None,
        "decision_note": row.decision_note,
    }
    if photos is not None:
        out["photos"] = [
            {"id": p.id, "quality": round(p.quality, 3), "box": p.box, "model": p.model, "sha256": p.sha256}
            for p in photos
        ]
    return out


class WatchlistService:
    def __init__(
        self, db: Database, audit: AuditLog, legal: LegalBasisService, photo_dir: Path, enroller: FaceEnroller | None
    ) -> None:
        self._db = db
        self._audit = audit
        self._legal = legal
        self._dir = photo_dir
        self.enroller = enroller
        self.listeners: list[Listener] = []

    # -- lists ---------------------------------------------------------------------------------
    def create_list(self, who: Principal, body: Any) -> dict[str, Any]:
        if not (who.can(Permission.WATCHLIST_APPROVE) or who.can(Permission.USERS_MANAGE)):
            raise Forbidden(f"role {who.role} may not create watchlists")
        try:
            data = WatchlistIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        if who.region is not None and data.region != who.region:
            raise Forbidden(f"you act for {who.region}: create a list for {who.region} (national lists are national)")
        row = WatchlistRow(
            id=new_id(),
            name=data.name,
            kind=str(data.kind),
            priority=data.priority,
            threshold=data.effective_threshold(),
            region=data.region,
            description=data.description,
            created_by=who.username,
            created_at=datetime.now(UTC),
        )
        with self._db.transaction() as s:
            s.add(row)
        self._audit.record(
            who, "watchlist.create", target_type="watchlist", target_id=row.id, region=row.region,
            detail={"name": row.name, "kind": row.kind, "threshold": row.threshold, "priority": row.priority},
        )
        return list_json(row)

    def lists(self, who: Principal) -> list[dict[str, Any]]:
        self._may(who, Permission.WATCHLIST_READ)
        with self._db.session() as s:
            rows = [r for r in s.execute(select(WatchlistRow).order_by(WatchlistRow.priority)).scalars()]
            counts = dict(
                s.execute(
                    select(WatchlistEntryRow.watchlist_id, func.count()).group_by(WatchlistEntryRow.watchlist_id)
                ).all()
            )
        return [list_json(r, int(counts.get(r.id, 0))) for r in rows if sees(who, r.region)]

    # -- entries -------------------------------------------------------------------------------
    def add_entry(self, who: Principal, watchlist_id: str, body: Any) -> dict[str, Any]:
        self._may(who, Permission.WATCHLIST_EDIT)
        wl = self._list(who, watchlist_id, edit=True)
        try:
            data = EntryIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        basis = self._legal.require(who, data.legal_basis_id, Purpose.WATCHLIST, wl.region)
        if utc(data.expires_at) > utc(basis.valid_until):
            raise Invalid(
                f"expires_at is after the legal basis runs out ({utc(basis.valid_until).isoformat()}); "
                "an entry cannot outlive its basis"
            )
        row = WatchlistEntryRow(
            id=new_id(),
            watchlist_id=wl.id,
            region=wl.region,
            full_name=data.full_name,
            birth_year=data.birth_year,
            notes=data.notes,
            legal_basis_id=basis.id,
            expires_at=utc(data.expires_at),
            status=EntryStatus.PENDING,
            created_by=who.username,
            created_at=datetime.now(UTC),
        )
        with self._db.transaction() as s:
            s.add(row)
        self._audit.record(
            who, "watchlist.entry.create", target_type="watchlist_entry", target_id=row.id, region=row.region,
            detail={"watchlist": wl.id, "name": row.full_name, "legal_basis": basis.id, "case": basis.case_number,
                    "expires_at": row.expires_at.isoformat()},
        )
        return entry_json(row, [])

    def entries(self, who: Principal, watchlist_id: str, status: str | None = None) -> list[dict[str, Any]]:
        self._may(who, Permission.WATCHLIST_READ)
        self._list(who, watchlist_id)
        q = select(WatchlistEntryRow).where(WatchlistEntryRow.watchlist_id == watchlist_id)
        if status:
            q = q.where(WatchlistEntryRow.status == status)
        with self._db.session() as s:
            rows = list(s.execute(q.order_by(WatchlistEntryRow.created_at.desc())).scalars())
        return [entry_json(r) for r in rows]

    def entry(self, who: Principal, entry_id: str) -> dict[str, Any]:
        self._may(who, Permission.WATCHLIST_READ)
        row = self._entry(who, entry_id)
        return entry_json(row, self._photos(entry_id))

    def add_photo(self, who: Principal, entry_id: str, image: bytes) -> dict[str, Any]:
        self._may(who, Permission.WATCHLIST_EDIT)
        row = self._entry(who, entry_id, edit=True)
        if row.status != EntryStatus.PENDING:
            raise Invalid(f"photos are enrolled while an entry is pending; this one is {row.status}")
        if len(self._photos(entry_id)) >= MAX_PHOTOS:
            raise Invalid(f"an entry holds at most {MAX_PHOTOS} photos")
        if not image:
            raise Invalid("the upload is empty; send a JPEG or PNG photo")
        if len(image) > MAX_PHOTO_BYTES:
            raise Invalid(f"the photo is {len(image) / 2**20:.1f} MB; at most {MAX_PHOTO_BYTES // 2**20} MB")
        if self.enroller is None:
            raise Invalid("face recognition is not available on this installation")
        try:
            face = self.enroller.enrol(image)
        except PhotoRefused as exc:
            self._audit.record(
                who, "watchlist.photo.refused", target_type="watchlist_entry", target_id=entry_id,
                region=row.region, outcome="refused", detail={"reason": str(exc)},
            )
            raise Invalid(f"photo refused: {exc}") from None
        digest = hashlib.sha256(image).hexdigest()
        path = self._dir / entry_id / f"{digest[:16]}.img"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(image)
        photo = WatchlistPhotoRow(
            entry_id=entry_id,
            path=str(path.relative_to(self._dir)),
            sha256=digest,
            embedding=np.asarray(face.embedding, np.float32).tobytes(),
            model=face.model,
            quality=float(face.quality),
            box=[int(v) for v in face.box],
            created_by=who.username,
            created_at=datetime.now(UTC),
        )
        with self._db.transaction() as s:
            s.add(photo)
        self._audit.record(
            who, "watchlist.photo.add", target_type="watchlist_entry", target_id=entry_id, region=row.region,
            detail={"photo": photo.id, "sha256": digest, "quality": round(face.quality, 3)},
        )
        return entry_json(row, self._photos(entry_id))

    def photo(self, who: Principal, entry_id: str, photo_id: int) -> bytes:
        self._may(who, Permission.WATCHLIST_READ)
        row = self._entry(who, entry_id)
        with self._db.session() as s:
            photo = s.get(WatchlistPhotoRow, photo_id)
        if photo is None or photo.entry_id != entry_id:
            raise NotFound(f"entry {entry_id} has no photo {photo_id}")
        data = (self._dir / photo.path).read_bytes()
        self._audit.record(
            who, "watchlist.photo.view", target_type="watchlist_entry", target_id=entry_id, region=row.region,
            detail={"photo": photo_id},
        )
        return data

    def decide(self, who: Principal, entry_id: str, approve: bool, note: str = "") -> dict[str, Any]:
        """The second officer's approval (or rejection) of a pending entry."""
        self._may(who, Permission.WATCHLIST_APPROVE)
        row = self._entry(who, entry_id, edit=True)
        now = datetime.now(UTC)
        photos = self._photos(entry_id)
        if approve:
            why = approval_refusal(
                creator=row.created_by, approver=who.username, status=row.status, photos=len(photos),
                expires_at=utc(row.expires_at), now=now,
            )
            if why:
                raise Forbidden(why) if "second officer" in why else Invalid(why)
            self._legal.require(who, row.legal_basis_id, Purpose.WATCHLIST, row.region, now)
        elif row.status != EntryStatus.PENDING:
            raise Invalid(f"the entry is {row.status}, not pending")
        with self._db.transaction() as s:
            live = s.get(WatchlistEntryRow, entry_id)
            assert live is not None
            live.status = EntryStatus.ACTIVE if approve else EntryStatus.REJECTED
            live.decided_by, live.decided_at, live.decision_note = who.username, now, note[:1000] or None
            row = live
        action = "watchlist.entry.approve" if approve else "watchlist.entry.reject"
        self._audit.record(
            who, action, target_type="watchlist_entry", target_id=entry_id, region=row.region,
            detail={"created_by": row.created_by, "note": note[:1000]},
        )
        self._changed(entry_id)
        return entry_json(row, photos)

    def remove(self, who: Principal, entry_id: str, reason: str) -> dict[str, Any]:
        """Take a person off the list (found, arrested, basis withdrawn); the row stays for the record."""
        if not (who.can(Permission.WATCHLIST_EDIT) or who.can(Permission.WATCHLIST_APPROVE)):
            raise Forbidden(f"role {who.role} may not remove watchlist entries")
        reason = (reason or "").strip()
        if len(reason) < 3:
            raise Invalid("say why the entry is removed (reason)")
        row = self._entry(who, entry_id, edit=True)
        if row.status == EntryStatus.REMOVED:
            raise Invalid("the entry is already removed")
        with self._db.transaction() as s:
            live = s.get(WatchlistEntryRow, entry_id)
            assert live is not None
            live.status = EntryStatus.REMOVED
            live.decided_by, live.decided_at, live.decision_note = who.username, datetime.now(UTC), reason[:1000]
            row = live
        self._audit.record(
            who, "watchlist.entry.remove", target_type="watchlist_entry", target_id=entry_id, region=row.region,
            detail={"reason": reason[:1000]},
        )
        self._changed(entry_id)
        return entry_json(row, self._photos(entry_id))

    # -- for the matcher -------------------------------------------------------------------------
    def active_faces(self, now: datetime | None = None, entry_id: str | None = None) -> list[ActiveFace]:
        """Every enrolled photo that may match now (approved, unexpired), with its list's settings."""
        now = now or datetime.now(UTC)
        q = (
            select(WatchlistPhotoRow, WatchlistEntryRow, WatchlistRow)
            .join(WatchlistEntryRow, WatchlistPhotoRow.entry_id == WatchlistEntryRow.id)
            .join(WatchlistRow, WatchlistEntryRow.watchlist_id == WatchlistRow.id)
            .where(WatchlistEntryRow.status == EntryStatus.ACTIVE)
        )
        if entry_id is not None:
            q = q.where(WatchlistEntryRow.id == entry_id)
        with self._db.session() as s:
            rows = s.execute(q).all()
        return [
            ActiveFace(
                photo_id=p.id,
                entry_id=e.id,
                watchlist_id=w.id,
                kind=w.kind,
                priority=w.priority,
                threshold=w.threshold,
                region=w.region,
                expires_at=utc(e.expires_at),
                embedding=np.frombuffer(p.embedding, np.float32),
            )
            for p, e, w in rows
            if is_active(e.status, utc(e.expires_at), now)
        ]

    def entry_summary(self, entry_id: str) -> dict[str, Any] | None:
        """What a match alert shows about the person (system use, no scope: the alert is scoped)."""
        with self._db.session() as s:
            e = s.get(WatchlistEntryRow, entry_id)
            w = s.get(WatchlistRow, e.watchlist_id) if e else None
        if e is None or w is None:
            return None
        return {"entry": e.id, "full_name": e.full_name, "notes": e.notes, "watchlist": w.id, "list_name": w.name,
                "kind": w.kind, "priority": w.priority, "legal_basis_id": e.legal_basis_id}

    def photo_path(self, photo_id: int) -> Path | None:
        with self._db.session() as s:
            p = s.get(WatchlistPhotoRow, photo_id)
        return None if p is None else self._dir / p.path

    # -- helpers -------------------------------------------------------------------------------
    def _changed(self, entry_id: str) -> None:
        for listener in list(self.listeners):
            listener(entry_id)

    @staticmethod
    def _may(who: Principal, permission: Permission) -> None:
        if not who.can(permission):
            raise Forbidden(f"role {who.role} may not {permission}")

    def _list(self, who: Principal, watchlist_id: str, *, edit: bool = False) -> WatchlistRow:
        with self._db.session() as s:
            row = s.get(WatchlistRow, watchlist_id)
        if row is None or not sees(who, row.region):
            self._denied(who, "watchlist", watchlist_id, row.region if row else None)
            raise NotFound(f"no watchlist {watchlist_id!r} in your scope")
        if edit and not edits(who, row.region):
            self._denied(who, "watchlist", watchlist_id, row.region)
            raise Forbidden("a national list is changed by national officers only")
        return row

    def _entry(self, who: Principal, entry_id: str, *, edit: bool = False) -> WatchlistEntryRow:
        with self._db.session() as s:
            row = s.get(WatchlistEntryRow, entry_id)
        if row is None or not sees(who, row.region):
            self._denied(who, "watchlist_entry", entry_id, row.region if row else None)
            raise NotFound(f"no watchlist entry {entry_id!r} in your scope")
        if edit and not edits(who, row.region):
            self._denied(who, "watchlist_entry", entry_id, row.region)
            raise Forbidden("entries of a national list are changed by national officers only")
        return row

    def _denied(self, who: Principal, target_type: str, target_id: str, region: str | None) -> None:
        self._audit.record(
            who, "access.denied", target_type=target_type, target_id=target_id, region=region, outcome="denied"
        )

    def _photos(self, entry_id: str) -> list[WatchlistPhotoRow]:
        with self._db.session() as s:
            return list(
                s.execute(select(WatchlistPhotoRow).where(WatchlistPhotoRow.entry_id == entry_id)).scalars()
            )
