"""Accounts: creation, listing, sign-in with lockout; every act audited."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from koopsuz.domain.regions import region_codes
from koopsuz.security.audit import AuditLog
from koopsuz.security.passwords import DUMMY_HASH, hash_password, verify_password
from koopsuz.security.principal import Principal, Role, check_role_region
from koopsuz.services.errors import Conflict, Invalid, NotFound, Unauthorized
from koopsuz.store.db import Database
from koopsuz.store.tables import UserRow

LANGUAGES = ("ru", "ky", "en")


def principal_of(row: UserRow) -> Principal:
    return Principal(row.id, row.username, row.full_name, Role(row.role), row.region, row.language)


class UserService:
    def __init__(self, db: Database, audit: AuditLog, *, max_failures: int = 5, lockout_s: float = 300) -> None:
        self._db = db
        self._audit = audit
        self._max_failures = max_failures
        self._lockout = timedelta(seconds=lockout_s)

    def create(
        self,
        actor: Principal | str,
        username: str,
        password: str,
        role: Role | str,
        region: str | None = None,
        full_name: str = "",
        language: str = "ru",
    ) -> Principal:
        try:
            role = Role(role)
        except ValueError:
            raise Invalid(f"unknown role {role!r}; use one of {', '.join(r.value for r in Role)}") from None
        if region is not None and region not in region_codes():
            raise Invalid(f"unknown region {region!r}")
        if language not in LANGUAGES:
            raise Invalid(f"language must be one of {', '.join(LANGUAGES)}")
        if not username or len(username) > 64 or not username.replace("_", "").replace(".", "").isalnum():
            raise Invalid("username: 1-64 letters, digits, '.' or '_'")
        try:
            check_role_region(role, region)
            pw_hash = hash_password(password)
        except ValueError as exc:
            raise Invalid(str(exc)) from None
        with self._db.transaction() as s:
            if s.execute(select(UserRow.id).where(UserRow.username == username)).first():
                raise Conflict(f"user {username!r} already exists")
            row = UserRow(
                username=username,
                full_name=full_name,
                password_hash=pw_hash,
                role=str(role),
                region=region,
                language=language,
                active=True,
                failed_logins=0,
                created_at=datetime.now(UTC),
            )
            s.add(row)
            s.flush()
            principal = principal_of(row)
        self._audit.record(
            actor,
            "user.create",
            target_type="user",
            target_id=username,
            region=region,
            detail={"role": str(role), "region": region},
        )
        return principal

    def update(
        self,
        actor: Principal,
        username: str,
        *,
        role: Role | str | None = None,
        region: str | object | None = ...,
        active: bool | None = None,
        password: str | None = None,
        language: str | None = None,
    ) -> Principal:
        """Change an account. Disabling takes effect on the user's next request (sessions re-read it)."""
        with self._db.transaction() as s:
            row = s.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
            if row is None:
                raise NotFound(f"no user {username!r}")
            if actor.username == username and active is False:
                raise Invalid("you cannot disable your own account")
            changes: dict[str, object] = {}
            new_role = Role(row.role)
            if role is not None:
                try:
                    new_role = Role(role)
                except ValueError:
                    raise Invalid(f"unknown role {role!r}") from None
            new_region = row.region if region is ... else region
            if new_region is not None and new_region not in region_codes():
                raise Invalid(f"unknown region {new_region!r}")
            try:
                check_role_region(new_role, new_region)  # type: ignore[arg-type]
            except ValueError as exc:
                raise Invalid(str(exc)) from None
            if str(new_role) != row.role and actor.username == username:
                # an administrator who demotes themself may leave no one able to manage accounts
                raise Invalid("you cannot change your own role; ask another administrator")
            if str(new_role) != row.role:
                changes["role"] = [row.role, str(new_role)]
                row.role = str(new_role)
            if new_region != row.region:
                changes["region"] = [row.region, new_region]
                row.region = new_region  # type: ignore[assignment]
            if active is not None and active != row.active:
                changes["active"] = active
                row.active = active
                row.failed_logins = 0
                row.locked_until = None
            if language is not None:
                if language not in LANGUAGES:
                    raise Invalid(f"language must be one of {', '.join(LANGUAGES)}")
                row.language = language
                changes["language"] = language
            if password is not None:
                try:
                    row.password_hash = hash_password(password)
                except ValueError as exc:
                    raise Invalid(str(exc)) from None
                changes["password"] = "reset"
            principal = principal_of(row)
        self._audit.record(
            actor, "user.update", target_type="user", target_id=username, region=principal.region, detail=changes
        )
        return principal

    def list(self) -> Sequence[UserRow]:
        with self._db.session() as s:
            return s.execute(select(UserRow).order_by(UserRow.username)).scalars().all()

    def get(self, user_id: int) -> Principal | None:
        with self._db.session() as s:
            row = s.get(UserRow, user_id)
            return principal_of(row) if row is not None and row.active else None

    def authenticate(self, username: str, password: str, ip: str | None = None) -> Principal:
        now = datetime.now(UTC)
        with self._db.transaction() as s:
            row = s.execute(select(UserRow).where(UserRow.username == username)).scalar_one_or_none()
            if row is None:
                verify_password(DUMMY_HASH, password)
                reason = "unknown user"
            elif not row.active:
                reason = "account disabled"
            elif row.locked_until and _aware(row.locked_until) > now:
                reason = "account locked after repeated failures"
            elif verify_password(row.password_hash, password):
                row.failed_logins = 0
                row.locked_until = None
                principal = principal_of(row)
                reason = ""
            else:
                row.failed_logins += 1
                reason = "wrong password"
                if row.failed_logins >= self._max_failures:
                    row.locked_until = now + self._lockout
                    reason = "wrong password; account locked"
        if reason:
            self._audit.record(
                username,
                "auth.login",
                outcome="denied",
                ip=ip,
                detail={"reason": reason},
                region=row.region if row else None,
            )
            raise Unauthorized("wrong username or password, or the account is locked; ask an administrator")
        self._audit.record(principal, "auth.login", ip=ip, region=principal.region)
        return principal


def _aware(dt: datetime) -> datetime:
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)
