"""Sign-in and sign-out. Failed attempts are audited and lock the account after repeated failures."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel, Field

from koopsuz.api.deps import COOKIE, PrincipalDep, SystemDep, client_ip, token_of
from koopsuz.security.principal import Principal

router = APIRouter(prefix="/api/auth", tags=["auth"])


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


def me_json(p: Principal) -> dict[str, object]:
    return {
        "username": p.username,
        "full_name": p.full_name,
        "role": str(p.role),
        "region": p.region,
        "language": p.language,
        "permissions": sorted(str(x) for x in p.role_permissions()),
    }


@router.post("/login")
def login(body: Login, request: Request, response: Response, system: SystemDep) -> dict[str, object]:
    who = system.users.authenticate(body.username, body.password, ip=client_ip(request))
    token = request.app.state.sessions.issue(who.user_id)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=int(system.settings.session_hours * 3600),
    )
    return {"user": me_json(who), "token": token}


@router.post("/logout")
def logout(request: Request, response: Response, who: PrincipalDep, system: SystemDep) -> dict[str, bool]:
    token = token_of(request)
    if token:
        request.app.state.sessions.revoke(token)
    response.delete_cookie(COOKIE)
    system.audit.record(who, "auth.logout", ip=client_ip(request), region=who.region)
    return {"ok": True}


@router.get("/me")
def me(who: PrincipalDep) -> dict[str, object]:
    return me_json(who)
