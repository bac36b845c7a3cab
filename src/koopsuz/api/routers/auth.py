"""Sign-in and sign-out. Failed attempts are audited and lock the account after repeated failures."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Request, Response
from pydantic import BaseModel, Field

from koopsuz.api.deps import COOKIE, CSRF_COOKIE, PrincipalDep, SystemDep, client_ip, token_of
from koopsuz.security.principal import Principal
from koopsuz.security.ratelimit import RateLimiter
from koopsuz.services.errors import Unauthorized

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
    ip = client_ip(request)
    limiter: RateLimiter = request.app.state.login_limiter
    wait = limiter.blocked(ip or "?")
    if wait is not None:
        why = {"reason": "too many attempts from this address"}
        system.audit.record(body.username, "auth.login", outcome="denied", ip=ip, detail=why)
        raise HTTPException(
            429, f"too many sign-in attempts from this address; try again in {wait:.0f} s",
            headers={"Retry-After": str(int(wait) + 1)},
        )
    try:
        who = system.users.authenticate(body.username, body.password, ip=ip)
    except Unauthorized:
        limiter.hit(ip or "?")
        raise
    token = request.app.state.sessions.issue(who.user_id)
    response.set_cookie(
        COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=int(system.settings.session_hours * 3600),
    )
    csrf = request.app.state.sessions.csrf(token)
    # Not httponly: the pages' fetch helper reads it and echoes it in X-CSRF-Token (double submit).
    response.set_cookie(
        CSRF_COOKIE,
        csrf,
        httponly=False,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=int(system.settings.session_hours * 3600),
    )
    return {"user": me_json(who), "token": token, "csrf": csrf}


@router.post("/logout")
def logout(request: Request, response: Response, who: PrincipalDep, system: SystemDep) -> dict[str, bool]:
    token = token_of(request)
    if token:
        request.app.state.sessions.revoke(token)
    response.delete_cookie(COOKIE)
    response.delete_cookie(CSRF_COOKIE)
    system.audit.record(who, "auth.logout", ip=client_ip(request), region=who.region)
    return {"ok": True}


@router.get("/me")
def me(who: PrincipalDep) -> dict[str, object]:
    return me_json(who)
