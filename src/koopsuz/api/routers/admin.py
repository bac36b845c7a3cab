"""User administration and the audit log."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from koopsuz.api.deps import SystemDep, client_ip, require
from koopsuz.security.principal import Permission, Principal, Role

router = APIRouter(prefix="/api", tags=["admin"])
Admin = Annotated[Principal, Depends(require(Permission.USERS_MANAGE))]
Auditor = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]


class NewUser(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=10, max_length=256)
    role: Role
    region: str | None = None
    full_name: str = Field(default="", max_length=200)
    language: str = Field(default="ru", pattern="^(ru|ky|en)$")


@router.get("/users")
def list_users(who: Admin, system: SystemDep) -> list[dict[str, Any]]:
    return [
        {
            "id": u.id,
            "username": u.username,
            "full_name": u.full_name,
            "role": u.role,
            "region": u.region,
            "language": u.language,
            "active": u.active,
        }
        for u in system.users.list()
    ]


@router.post("/users", status_code=201)
def create_user(body: NewUser, who: Admin, system: SystemDep, request: Request) -> dict[str, Any]:
    p = system.users.create(who, body.username, body.password, body.role, body.region, body.full_name, body.language)
    return {"id": p.user_id, "username": p.username, "role": str(p.role), "region": p.region}


class UserChange(BaseModel):
    role: Role | None = None
    region: str | None = Field(default=None, description="ISO code; send null with clear_region to unset")
    clear_region: bool = False
    active: bool | None = None
    password: str | None = Field(default=None, min_length=10, max_length=256)
    language: str | None = Field(default=None, pattern="^(ru|ky|en)$")


@router.patch("/users/{username}")
def update_user(username: str, body: UserChange, who: Admin, system: SystemDep) -> dict[str, Any]:
    region: object = None if body.clear_region else (body.region if body.region is not None else ...)
    p = system.users.update(
        who,
        username,
        role=body.role,
        region=region,
        active=body.active,
        password=body.password,
        language=body.language,
    )
    return {"id": p.user_id, "username": p.username, "role": str(p.role), "region": p.region}


def _audit_json(r: Any) -> dict[str, Any]:
    return {
        "seq": r.seq,
        "ts": r.ts.isoformat(),
        "actor": r.actor,
        "actor_role": r.actor_role,
        "action": r.action,
        "target_type": r.target_type,
        "target_id": r.target_id,
        "region": r.region,
        "outcome": r.outcome,
        "ip": r.ip,
        "detail": r.detail,
        "hash": r.hash,
    }


@router.get("/audit")
def audit(
    who: Auditor,
    system: SystemDep,
    request: Request,
    actor: str | None = None,
    action: Annotated[str | None, Query(description="exact, or a prefix ending in * (watchlist.*)")] = None,
    target: str | None = None,
    camera: str | None = None,
    case: Annotated[str | None, Query(description="a case number in the entry's detail")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[dict[str, Any]]:
    query = {"actor": actor, "action": action, "target": target, "camera": camera, "case": case}
    rows = system.audit.search(
        who.scope, actor=actor, action=action, target_id=target, camera=camera, case=case, since=since, until=until,
        limit=limit,
    )
    system.audit.record(who, "audit.read", region=who.region, ip=client_ip(request), detail=query)
    return [_audit_json(r) for r in rows]


@router.get("/audit/export")
def audit_export(
    who: Auditor,
    system: SystemDep,
    request: Request,
    actor: str | None = None,
    action: str | None = None,
    target: str | None = None,
    camera: str | None = None,
    case: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Response:
    """The matching entries as CSV (oldest first, with seq and hash, so the chain can be re-checked)."""
    rows = system.audit.search(
        who.scope, actor=actor, action=action, target_id=target, camera=camera, case=case, since=since, until=until,
        limit=100_000,
    )
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(["seq", "ts", "actor", "actor_role", "action", "target_type", "target_id", "region", "outcome",
                "ip", "detail", "prev_hash", "hash"])
    for r in reversed(rows):
        w.writerow([r.seq, r.ts.isoformat(), r.actor, r.actor_role, r.action, r.target_type, r.target_id, r.region,
                    r.outcome, r.ip, json.dumps(r.detail, ensure_ascii=False, sort_keys=True), r.prev_hash, r.hash])
    system.audit.record(
        who, "audit.export", region=who.region, ip=client_ip(request),
        detail={"actor": actor, "action": action, "target": target, "camera": camera, "case": case, "rows": len(rows)},
    )
    return Response(
        buf.getvalue(), media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="koopsuz-audit.csv"'},
    )


@router.get("/audit/verify")
def audit_verify(who: Auditor, system: SystemDep) -> dict[str, Any]:
    """The whole chain and its signed seals checked now; names the first entry that breaks them."""
    check = system.audit_sealer.verify()
    return {"ok": check.ok, "entries": check.entries, "seals": check.seals, "first_broken": check.first_broken,
            "problem": check.problem}
