"""Evidence locks over the API: hold a camera's footage for a case, list locks, release one.

Locking and unlocking need ``evidence.lock``; listing also ``storage.read`` (auditors see what is
held). Scope comes from the camera (403 and an ``access.denied`` entry for another region's camera
or lock, 404 for an unknown one); every lock and unlock is audited by the service.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from koopsuz.api.deps import PrincipalDep, SystemDep, require
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.evidence_locks import lock_json

router = APIRouter(prefix="/api/evidence/locks", tags=["evidence"])
Locker = Annotated[Principal, Depends(require(Permission.EVIDENCE_LOCK))]


class LockIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    camera: str = Field(min_length=1, max_length=64, description="camera id")
    start: datetime = Field(description="ISO 8601; without an offset it is UTC")
    end: datetime = Field(description="ISO 8601; after start")
    case_number: str = Field(min_length=1, max_length=64, description="the case the footage is held for")
    reason: str = Field(default="", max_length=1000, description="why (kept in the audit log)")


class UnlockIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=1, max_length=1000, description="why the lock is released (audited)")


@router.post("", status_code=201)
def create_lock(body: LockIn, who: Locker, system: SystemDep) -> dict[str, Any]:
    """Lock the camera's footage over [start, end) to a case: retention never deletes it while locked."""
    row = system.evidence_locks.lock(who, body.camera, body.start, body.end, body.case_number, body.reason)
    return lock_json(row)


@router.get("")
def list_locks(
    who: PrincipalDep,
    system: SystemDep,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    case: Annotated[str | None, Query(max_length=64, description="case number")] = None,
    active: Annotated[bool | None, Query(description="true: in force; false: released; default: all")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[dict[str, Any]]:
    """Locks within the caller's regions, newest first."""
    rows = system.evidence_locks.visible(who, camera=camera, case_number=case, active=active, limit=limit)
    return [lock_json(r) for r in rows]


@router.post("/{lock_id}/unlock")
def unlock(lock_id: int, body: UnlockIn, who: Locker, system: SystemDep) -> dict[str, Any]:
    """Release a lock; the reason is required and audited (``evidence.unlock``)."""
    return lock_json(system.evidence_locks.unlock(who, lock_id, body.reason))
