"""Access review: who can do what, in which region, and when they last signed in and last used each
sensitive permission.

A periodic access review is how a ministry keeps least privilege true over time: an investigator
who has not searched faces for a year, or a head who left the post, should lose the right. The
report joins each account's role (its permissions, from ``security/principal.py``) with the audit
log, which already records every sensitive act under the actor's name: the last use of a permission
is the newest successful audit entry of one of its actions. Nothing new is logged to make this
work, so the report covers the past as far as the audit log (and its retention) reaches.

A regional auditor reviews the accounts bound to their region; a national one (and the
administrator) every account. Reading the report is itself audited (``access.review``).
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import PERMISSIONS, Permission, Principal, Role
from koopsuz.services.errors import Forbidden, Invalid
from koopsuz.store.db import Database
from koopsuz.store.tables import AuditRow, UserRow

_P = Permission
# Sensitive permissions and the audit actions that are a use of them. An action ending in "*" is a
# prefix. Reading lists and dashboards is not here: a review is about the powers that touch people.
SENSITIVE: dict[Permission, tuple[str, ...]] = {
    _P.LIVE_VIEW: ("live.view", "live.frame", "live.feed"),
    _P.PLAYBACK: ("playback.view",),
    _P.EXPORT: ("playback.export",),
    _P.EVIDENCE_EXPORT: ("evidence.export", "evidence.download", "evidence.unredacted"),
    _P.EVIDENCE_LOCK: ("evidence.lock", "evidence.unlock"),
    _P.LEGAL_MANAGE: ("legal.register", "legal.revoke"),
    _P.WATCHLIST_READ: ("watchlist.photo.view",),
    _P.WATCHLIST_EDIT: ("watchlist.create", "watchlist.entry.create", "watchlist.entry.remove", "watchlist.photo.add"),
    _P.WATCHLIST_APPROVE: ("watchlist.entry.approve", "watchlist.entry.reject"),
    _P.FACE_SEARCH: ("faces.search", "faces.search.view", "faces.search.cancel"),
    _P.PLATES_SEARCH: ("plates.search",),
    _P.HOTLISTS_MANAGE: ("hotlist.*",),
    _P.PRIVACY_UNMASK: ("privacy.unmask.request", "privacy.unmask.use"),
    _P.PRIVACY_UNMASK_APPROVE: ("privacy.unmask.approve", "privacy.unmask.reject", "privacy.unmask.revoke"),
    _P.VIOLATIONS_REVIEW: ("violation.confirm", "violation.reject", "violation.notice"),
    _P.CAMERAS_WRITE: ("camera.*", "site.*", "rules.update", "config.deployment", "section.save"),
    _P.USERS_MANAGE: ("user.create", "user.update"),
    _P.AUDIT_READ: ("audit.read", "audit.export", "access.review"),
    _P.PTZ_CONTROL: ("ptz.*",),
}
DEFAULT_DAYS = 365
MAX_DAYS = 3650
STALE_DAYS = 90  # a sensitive permission unused this long, or no sign-in this long, is flagged


def permission_of(action: str) -> list[Permission]:
    """The sensitive permissions an audit action is a use of (usually one)."""
    out = []
    for perm, actions in SENSITIVE.items():
        if any(action.startswith(a[:-1]) if a.endswith("*") else action == a for a in actions):
            out.append(perm)
    return out


def _iso(ts: datetime | None) -> str | None:
    if ts is None:
        return None
    return (ts if ts.tzinfo else ts.replace(tzinfo=UTC)).isoformat()


def _aware(ts: datetime) -> datetime:
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def review_row(user: UserRow, uses: dict[str, tuple[datetime, int]], now: datetime) -> dict[str, Any]:
    """One account's line of the report; ``uses``: action -> (last time, count) within the window."""
    role = Role(user.role)
    granted = PERMISSIONS[role]
    login = uses.get("auth.login")
    sensitive: dict[str, dict[str, Any]] = {}
    for perm in sorted(SENSITIVE, key=str):
        if perm not in granted:
            continue
        last: datetime | None = None
        count = 0
        for action, (ts, n) in uses.items():
            if perm in permission_of(action):
                count += n
                last = ts if last is None or ts > last else last
        sensitive[str(perm)] = {"last_used": _iso(last), "uses": count}
    stale = timedelta(days=STALE_DAYS)
    flags = []
    if not user.active:
        flags.append("inactive")
    if login is None:
        flags.append("no_sign_in")
    elif now - _aware(login[0]) > stale:
        flags.append("no_recent_sign_in")
    unused = sorted(p for p, v in sensitive.items() if v["last_used"] is None or now - datetime.fromisoformat(
        v["last_used"]) > stale)
    if user.active and unused:
        flags.append("unused_permissions")
    return {
        "username": user.username,
        "full_name": user.full_name,
        "role": str(role),
        "region": user.region,
        "active": bool(user.active),
        "locked_until": _iso(user.locked_until) if user.locked_until and _aware(user.locked_until) > now else None,
        "created_at": _iso(user.created_at),
        "permissions": sorted(str(p) for p in granted),
        "last_sign_in": _iso(login[0]) if login else None,
        "sign_ins": login[1] if login else 0,
        "sensitive": sensitive,
        "unused_permissions": unused,
        "flags": flags,
    }


class AccessReviewService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit

    def report(self, who: Principal, *, days: int = DEFAULT_DAYS, fmt: str = "json", ip: str | None = None
               ) -> dict[str, Any]:
        """Every account in the caller's scope with its powers and their last use in the last ``days``."""
        if not who.can(Permission.AUDIT_READ):
            raise Forbidden(f"role {who.role} may not review access")
        if not 1 <= days <= MAX_DAYS:
            raise Invalid(f"days must be between 1 and {MAX_DAYS}")
        now = datetime.now(UTC)
        since = now - timedelta(days=days)
        with self._db.session() as s:
            q = select(UserRow).order_by(UserRow.username)
            if not who.scope.is_national:
                q = q.where(UserRow.region.in_(who.scope.regions or ()))
            users = list(s.execute(q).scalars())
            names = [u.username for u in users]
            uses: dict[str, dict[str, tuple[datetime, int]]] = {n: {} for n in names}
            if names:
                rows = s.execute(
                    select(AuditRow.actor, AuditRow.action, func.max(AuditRow.ts), func.count())
                    .where(AuditRow.ts >= since, AuditRow.outcome == "ok", AuditRow.actor.in_(names))
                    .group_by(AuditRow.actor, AuditRow.action)
                ).all()
                for actor, action, last, n in rows:
                    uses[actor][action] = (_aware(last), n)
        accounts = [review_row(u, uses[u.username], now) for u in users]
        self._audit.record(
            who, "access.review", target_type="users", region=who.region, ip=ip,
            detail={"accounts": len(accounts), "days": days, "format": fmt},
        )
        return {
            "generated_at": now.isoformat(),
            "since": since.isoformat(),
            "days": days,
            "scope": sorted(who.scope.regions) if who.scope.regions is not None else "national",
            "stale_days": STALE_DAYS,
            "sensitive_permissions": sorted(str(p) for p in SENSITIVE),
            "accounts": accounts,
        }


CSV_COLUMNS = ("username", "full_name", "role", "region", "active", "last_sign_in", "sign_ins", "permission",
               "last_used", "uses", "flags")


def _cell(value: object) -> object:
    """A name typed by an administrator must not become a spreadsheet formula (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_csv(report: dict[str, Any]) -> str:
    """One row per account and sensitive permission it holds (one row with an empty permission if none)."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for a in report["accounts"]:
        base = [a["username"], a["full_name"], a["role"], a["region"] or "national", a["active"],
                a["last_sign_in"] or "", a["sign_ins"]]
        flags = " ".join(a["flags"])
        rows = list(a["sensitive"].items()) or [("", {"last_used": None, "uses": ""})]
        for perm, use in rows:
            w.writerow([_cell(v) for v in (*base, perm, use["last_used"] or "", use["uses"], flags)])
    return buf.getvalue()
