"""Request-scoped dependencies: the system, the caller, their permissions.

A session is a signed, time-limited token (cookie ``koopsuz_session`` for pages, or
``Authorization: Bearer`` for API clients). The user is re-read on every request, so disabling an
account or changing its region takes effect at once.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, WebSocket
from itsdangerous import BadSignature, URLSafeTimedSerializer

from koopsuz.security.principal import Permission, Principal
from koopsuz.system import System

COOKIE = "koopsuz_session"
CSRF_COOKIE = "koopsuz_csrf"  # readable by the pages' JS, echoed in the header below
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})


class Sessions:
    def __init__(self, secret: str, max_age_s: float) -> None:
        self._s = URLSafeTimedSerializer(secret, salt="koopsuz-session")
        self._csrf_key = hashlib.sha256(b"koopsuz-csrf\0" + secret.encode()).digest()
        self._max_age = max_age_s
        self._revoked: set[str] = set()

    def issue(self, user_id: int) -> str:
        return self._s.dumps({"uid": user_id, "n": secrets.token_urlsafe(8)})

    def user_id(self, token: str) -> int | None:
        try:
            data = self._s.loads(token, max_age=self._max_age)
        except BadSignature:
            return None
        if not isinstance(data, dict) or data.get("n") in self._revoked:
            return None
        uid = data.get("uid")
        return uid if isinstance(uid, int) else None

    def csrf(self, token: str) -> str:
        """The CSRF token of a session: an HMAC of the session token (signed double-submit).

        Bound to the session, so a cookie planted by someone else (another app on a sibling host)
        cannot be paired with a token they chose; it changes with every sign-in.
        """
        return hmac.new(self._csrf_key, token.encode(), hashlib.sha256).hexdigest()

    def revoke(self, token: str) -> None:
        try:
            data = self._s.loads(token)
        except BadSignature:
            return
        if isinstance(data, dict) and isinstance(data.get("n"), str):
            self._revoked.add(data["n"])


def get_system(request: Request) -> System:
    return request.app.state.system


def token_of(conn: Request | WebSocket) -> str | None:
    auth = conn.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:].strip()
    return conn.cookies.get(COOKIE) or conn.query_params.get("token")


def session_from_cookie(conn: Request | WebSocket) -> bool:
    """Whether the caller's session rides on the cookie, which a browser attaches by itself (so
    another site could make it send one): those requests need the CSRF token. A Bearer header or a
    ``?token=`` is only ever sent by code that holds the token, so those are exempt."""
    auth = conn.headers.get("authorization", "")
    return not auth.lower().startswith("bearer ") and bool(conn.cookies.get(COOKIE))


def check_csrf(request: Request, token: str) -> None:
    """Cookie-authenticated unsafe requests must echo the session's CSRF token in ``X-CSRF-Token``."""
    if request.method in SAFE_METHODS or not session_from_cookie(request):
        return
    sessions: Sessions = request.app.state.sessions
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent or not hmac.compare_digest(sent, sessions.csrf(token)):
        why = "missing" if not sent else "does not match this session"
        raise HTTPException(
            403,
            f"CSRF token {why}: a {request.method} signed in by cookie must send the {CSRF_HEADER} header with "
            f"the value of the {CSRF_COOKIE} cookie (the pages do; reload the page or sign in again). "
            "API clients send Authorization: Bearer instead.",
        )


def principal_of(conn: Request | WebSocket) -> Principal | None:
    token = token_of(conn)
    if not token:
        return None
    sessions: Sessions = conn.app.state.sessions
    uid = sessions.user_id(token)
    if uid is None:
        return None
    if isinstance(conn, Request):
        check_csrf(conn, token)
    system: System = conn.app.state.system
    return system.users.get(uid)


def optional_principal(request: Request) -> Principal | None:
    return principal_of(request)


def current_principal(request: Request) -> Principal:
    p = principal_of(request)
    if p is None:
        raise HTTPException(401, "sign in first (POST /api/auth/login)", headers={"WWW-Authenticate": "Bearer"})
    return p


def require(permission: Permission):  # type: ignore[no-untyped-def]
    def dep(who: Annotated[Principal, Depends(current_principal)]) -> Principal:
        if not who.can(permission):
            raise HTTPException(403, f"role {who.role} may not {permission}")
        return who

    return dep


SystemDep = Annotated[System, Depends(get_system)]
PrincipalDep = Annotated[Principal, Depends(current_principal)]


def client_ip(request: Request | WebSocket) -> str | None:
    return request.client.host if request.client else None
