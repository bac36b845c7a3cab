"""Who is calling, what they may do, and which regions they may see.

Scope is a value handed to every repository query rather than a filter bolted onto routes, so a
route that forgets to check still cannot read another region's rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    ADMIN = "admin"
    NATIONAL_OPERATOR = "national_operator"
    REGIONAL_OPERATOR = "regional_operator"
    REGIONAL_HEAD = "regional_head"
    INVESTIGATOR = "investigator"
    AUDITOR = "auditor"


class Permission(StrEnum):
    CAMERAS_READ = "cameras.read"
    CAMERAS_WRITE = "cameras.write"
    LIVE_VIEW = "live.view"
    PLAYBACK = "playback.view"  # recorded footage: timeline, playlist, segments
    EXPORT = "playback.export"  # a recorded range as a downloadable file
    EVIDENCE_LOCK = "evidence.lock"  # hold footage for a case against retention; unlock it (audited)
    EVIDENCE_EXPORT = "evidence.export"  # a signed evidence package under a case number
    STORAGE_READ = "storage.read"  # retention reports, disk budgets
    LEGAL_MANAGE = "legal.manage"  # register and revoke legal bases
    WATCHLIST_READ = "watchlist.read"  # see lists and entries (names, photos)
    WATCHLIST_EDIT = "watchlist.edit"  # create entries, enrol photos, remove entries
    WATCHLIST_APPROVE = "watchlist.approve"  # the second officer: approve or reject an entry
    PLATES_SEARCH = "plates.search"  # look up plate reads (beyond 24 hours: with a legal basis)
    HOTLISTS_READ = "hotlists.read"
    HOTLISTS_MANAGE = "hotlists.manage"  # create lists, add, import and remove plates
    FACE_SEARCH = "faces.search"  # search faces seen (observations, recordings) by photo, with a legal basis
    EVENTS_READ = "events.read"
    USERS_MANAGE = "users.manage"
    AUDIT_READ = "audit.read"
    INCIDENTS_READ = "incidents.read"  # the alert queue, incidents, units and their history
    INCIDENTS_MANAGE = "incidents.manage"  # claim alerts, open and work incidents, dispatch units
    UNITS_MANAGE = "units.manage"  # add patrol units, report their position and status
    STATS_READ = "stats.read"  # response measures per region and period
    PRIVACY_UNMASK = "privacy.unmask"  # ask to see a camera without its privacy masks (legal basis, 2nd officer)
    PRIVACY_UNMASK_APPROVE = "privacy.unmask.approve"  # the second officer: approve, refuse or revoke an unmask
    VIOLATIONS_REVIEW = "violations.review"  # confirm or reject a speed violation, print its notice
    PTZ_CONTROL = "ptz.control"  # pan, tilt, zoom, presets and tours of PTZ cameras (one operator at a time)


_P = Permission
_COMMAND = frozenset({_P.INCIDENTS_READ, _P.INCIDENTS_MANAGE, _P.UNITS_MANAGE, _P.PTZ_CONTROL})
PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.ADMIN: frozenset(_P),
    Role.NATIONAL_OPERATOR: frozenset(
        {_P.CAMERAS_READ, _P.LIVE_VIEW, _P.EVENTS_READ, _P.PLAYBACK, _P.EXPORT, _P.PLATES_SEARCH, _P.HOTLISTS_READ}
        | _COMMAND
        | {_P.STATS_READ}
    ),
    Role.REGIONAL_OPERATOR: frozenset(
        {_P.CAMERAS_READ, _P.LIVE_VIEW, _P.EVENTS_READ, _P.PLAYBACK, _P.PLATES_SEARCH, _P.HOTLISTS_READ}
        | _COMMAND
    ),
    Role.REGIONAL_HEAD: frozenset(
        {_P.CAMERAS_READ, _P.LIVE_VIEW, _P.EVENTS_READ, _P.PLAYBACK, _P.EXPORT, _P.EVIDENCE_LOCK, _P.STORAGE_READ}
        | {_P.LEGAL_MANAGE, _P.WATCHLIST_READ, _P.WATCHLIST_APPROVE, _P.PLATES_SEARCH}
        | {_P.HOTLISTS_READ, _P.HOTLISTS_MANAGE}
        | _COMMAND
        | {_P.STATS_READ, _P.PRIVACY_UNMASK_APPROVE}
        | {_P.VIOLATIONS_REVIEW}  # a fine binds a citizen: the region's officer in charge decides it
    ),
    Role.INVESTIGATOR: frozenset(
        {_P.CAMERAS_READ, _P.LIVE_VIEW, _P.EVENTS_READ, _P.PLAYBACK, _P.EXPORT, _P.EVIDENCE_LOCK, _P.EVIDENCE_EXPORT}
        | {_P.LEGAL_MANAGE, _P.WATCHLIST_READ, _P.WATCHLIST_EDIT, _P.FACE_SEARCH}
        | {_P.PLATES_SEARCH, _P.HOTLISTS_READ, _P.HOTLISTS_MANAGE}
        | {_P.INCIDENTS_READ, _P.PRIVACY_UNMASK}
    ),
    Role.AUDITOR: frozenset({_P.CAMERAS_READ, _P.AUDIT_READ, _P.STORAGE_READ, _P.WATCHLIST_READ, _P.HOTLISTS_READ})
    | {_P.INCIDENTS_READ, _P.STATS_READ},
}
NATIONAL_ONLY = frozenset({Role.ADMIN, Role.NATIONAL_OPERATOR})
REGIONAL_ONLY = frozenset({Role.REGIONAL_OPERATOR, Role.REGIONAL_HEAD})


class ScopeError(ValueError):
    pass


def check_role_region(role: Role, region: str | None) -> None:
    """National roles see the country; regional roles must be bound to a region."""
    if role in NATIONAL_ONLY and region is not None:
        raise ScopeError(f"role {role} is national and cannot be bound to region {region}")
    if role in REGIONAL_ONLY and region is None:
        raise ScopeError(f"role {role} needs a region (e.g. KG-Y)")


@dataclass(frozen=True, slots=True)
class Scope:
    """The regions a caller may see; ``regions is None`` means the whole country."""

    regions: frozenset[str] | None

    @classmethod
    def national(cls) -> Scope:
        return cls(None)

    @classmethod
    def of(cls, *regions: str) -> Scope:
        return cls(frozenset(regions))

    @property
    def is_national(self) -> bool:
        return self.regions is None

    def allows(self, region: str | None) -> bool:
        return self.regions is None or (region is not None and region in self.regions)


@dataclass(frozen=True, slots=True)
class Principal:
    user_id: int
    username: str
    full_name: str
    role: Role
    region: str | None
    language: str = "ru"

    @property
    def scope(self) -> Scope:
        return Scope.national() if self.region is None else Scope.of(self.region)

    def can(self, permission: Permission) -> bool:
        return permission in PERMISSIONS[self.role]

    def role_permissions(self) -> frozenset[Permission]:
        return PERMISSIONS[self.role]


SYSTEM = Principal(0, "system", "Koopsuz system", Role.ADMIN, None, "en")
