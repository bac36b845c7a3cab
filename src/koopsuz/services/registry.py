"""The registry use cases: load a deployment file, read and edit cameras within a scope.

A change is stored, audited, then announced on the bus (``camera_config``) so the ingest supervisor
starts, restarts or stops that camera's worker without a restart of the process.

Rows with an ``owner_domain`` are a regional centre's sites and cameras copied into the national
store (services/regional_registry.py): read like any other, changed only in their region (409 here),
and never ingested or recorded by this process (the region's own workers do that).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from koopsuz.bus.base import Bus
from koopsuz.domain.deployment import cross_check
from koopsuz.domain.events import Event
from koopsuz.domain.registry import Camera, Deployment, Site
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal, Scope
from koopsuz.services.errors import Conflict, Forbidden, Invalid, NotFound, invalid
from koopsuz.store.db import Database
from koopsuz.store.registry_repo import RegistryRepo, camera_model
from koopsuz.store.spatial import SpatialRepo, has_postgis
from koopsuz.store.tables import CameraRow, CityRow, SiteRow

MAX_NEAR_M = 200_000.0  # "cameras near here" on the map: a region at most, not the country

CONFIG_KIND = "camera_config"


class RegistryService:
    def __init__(self, db: Database, bus: Bus, audit: AuditLog) -> None:
        self._db = db
        self._bus = bus
        self._audit = audit
        self.listeners: list[Callable[[], None]] = []  # told after a change (the regional registry publisher)

    # -- deployment file --------------------------------------------------
    def apply_deployment(self, deployment: Deployment, actor: Principal | str, source: str) -> int:
        problems = list(cross_check(deployment))
        if problems:
            raise Invalid("; ".join(f"{'.'.join(map(str, loc))}: {msg}" for loc, msg in problems))
        sites = {s.id: s for s in deployment.sites}
        with self._db.transaction() as s:
            repo = RegistryRepo(s)
            for site in deployment.sites:
                _refuse_copy(repo.site(site.id), "site")
            for cam in deployment.cameras:
                _refuse_copy(repo.camera(cam.id), "camera")
            for d in deployment.districts:
                repo.upsert_district(d)
            s.flush()
            for c in deployment.cities:
                repo.upsert_city(c)
            s.flush()
            for site in deployment.sites:
                repo.upsert_site(site)
            s.flush()
            masks_before = {}
            for cam in deployment.cameras:
                prior = repo.camera(cam.id)
                masks_before[cam.id] = (prior.privacy_masks or []) if prior is not None else []
                repo.upsert_camera(cam, sites[cam.site].region)
        self._audit.record(
            actor,
            "config.deployment",
            target_type="deployment",
            target_id=source,
            detail={
                "name": deployment.name,
                "sites": len(deployment.sites),
                "cameras": len(deployment.cameras),
            },
        )
        for cam in deployment.cameras:
            before = [[tuple(p) for p in poly] for poly in masks_before[cam.id]]
            self._privacy_changed(actor, cam.id, sites[cam.site].region, before, cam)
            self._announce(cam.id, sites[cam.site].region)
        self._tell()
        return len(deployment.cameras)

    # -- reads --------------------------------------------------------------
    def cameras(self, who: Principal, *, enabled_only: bool = False) -> list[tuple[CameraRow, SiteRow | None]]:
        _require(who, Permission.CAMERAS_READ)
        with self._db.session() as s:
            repo = RegistryRepo(s)
            rows = repo.cameras(who.scope, enabled_only=enabled_only)
            sites = {x.id: x for x in repo.sites(who.scope)}
            return [(r, sites.get(r.site)) for r in rows]

    def cameras_near(
        self, who: Principal, lat: float, lon: float, within_m: float
    ) -> list[tuple[CameraRow, SiteRow | None, float]]:
        """Cameras in scope within ``within_m`` metres, nearest first, with the distance (PostGIS where installed)."""
        _require(who, Permission.CAMERAS_READ)
        if not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise Invalid("lat must be between -90 and 90 and lon between -180 and 180 (WGS 84 degrees)")
        if not 0 < within_m <= MAX_NEAR_M:
            raise Invalid(f"within_m must be more than 0 and at most {MAX_NEAR_M:g} metres")
        with self._db.session() as s:
            near = SpatialRepo(s, has_postgis(self._db.engine)).cameras_within(who.scope, lat, lon, within_m)
            sites = {x.id: x for x in RegistryRepo(s).sites(who.scope)}
            return [(r, sites.get(r.site), d) for r, d in near]

    def camera(self, who: Principal, camera_id: str, permission: Permission = Permission.CAMERAS_READ) -> CameraRow:
        """One camera, or NotFound / Forbidden. A denied look at another region is audited."""
        _require(who, permission)
        with self._db.session() as s:
            row = RegistryRepo(s).camera(camera_id)
        if row is None:
            raise NotFound(f"no camera {camera_id!r}")
        if not who.scope.allows(row.region):
            self._audit.record(
                who,
                "access.denied",
                target_type="camera",
                target_id=camera_id,
                region=row.region,
                outcome="denied",
                detail={"permission": str(permission)},
            )
            raise Forbidden(f"camera {camera_id!r} is outside your region scope")
        if row.owner_domain is not None and permission in _AT_THE_REGION:
            _refuse_copy(row, "camera", _AT_THE_REGION[permission])
        return row

    def site(self, site_id: str) -> SiteRow | None:
        with self._db.session() as s:
            return RegistryRepo(s).site(site_id)

    def sites(self, who: Principal) -> Sequence[SiteRow]:
        _require(who, Permission.CAMERAS_READ)
        with self._db.session() as s:
            return RegistryRepo(s).sites(who.scope)

    def enabled_cameras(self) -> list[tuple[Camera, str]]:
        """Every enabled camera with its region: what the ingest supervisor should be running. A region's
        camera copied to the capital is not: it carries no stream address, and the region runs it."""
        with self._db.session() as s:
            rows = RegistryRepo(s).cameras(Scope.national(), enabled_only=True)
            return [(camera_model(r), r.region) for r in rows if r.owner_domain is None]

    # -- writes -------------------------------------------------------------
    def add_camera(self, who: Principal, data: dict[str, Any]) -> CameraRow:
        _require(who, Permission.CAMERAS_WRITE)
        cam = _validate(data)
        row = self._store_camera(who, cam, new=True)
        self._changed(who, "camera.create", row, _public(cam.model_dump(mode="json")))
        self._privacy_changed(who, row.id, row.region, [], cam)
        return row

    def update_camera(self, who: Principal, camera_id: str, changes: dict[str, Any]) -> CameraRow:
        existing = self.camera(who, camera_id, Permission.CAMERAS_WRITE)
        _refuse_copy(existing, "camera")
        if "id" in changes and changes["id"] != camera_id:
            raise Invalid("id: a camera's id cannot change")
        before = camera_model(existing)
        cam = _validate(before.model_dump() | changes)
        row = self._store_camera(who, cam, new=False)
        self._changed(who, "camera.update", row, {"changes": _public(changes)})
        self._privacy_changed(who, row.id, row.region, before.privacy_masks, cam)
        return row

    def _privacy_changed(
        self, who: Principal | str, camera_id: str, region: str, before: list[Any], cam: Camera
    ) -> None:
        """A change of privacy masks is its own audit entry, with both polygon sets: what was hidden."""
        if cam.privacy_masks != before:
            self._audit.record(
                who,
                "camera.privacy_masks",
                target_type="camera",
                target_id=camera_id,
                region=region,
                detail={"before": before, "after": [[list(p) for p in poly] for poly in cam.privacy_masks]},
            )

    def _store_camera(self, who: Principal, cam: Camera, *, new: bool) -> CameraRow:
        """Write a validated camera; its region is its site's, which must lie in the caller's scope."""
        with self._db.transaction() as s:
            repo = RegistryRepo(s)
            if new and repo.camera(cam.id) is not None:
                raise Conflict(f"camera {cam.id!r} already exists; use PATCH to change it")
            site = repo.site(cam.site)
            if site is None:
                raise Invalid(f"site: unknown site {cam.site!r}")
            if not who.scope.allows(site.region):
                raise Forbidden(f"site {cam.site!r} is outside your region scope")
            _refuse_copy(site, "site")  # a camera on a region's site is that region's to add
            return repo.upsert_camera(cam, site.region)

    def _changed(self, who: Principal, action: str, row: CameraRow, detail: dict[str, Any]) -> None:
        self._audit.record(who, action, target_type="camera", target_id=row.id, region=row.region, detail=detail)
        self._announce(row.id, row.region)
        self._tell()

    def save_site(self, who: Principal, data: dict[str, Any], site_id: str | None = None) -> SiteRow:
        """Create (``site_id`` None) or change a site; a site cannot move to a region outside scope."""
        _require(who, Permission.CAMERAS_WRITE)
        with self._db.session() as s:
            existing = RegistryRepo(s).site(site_id) if site_id else None
        if site_id is not None:
            if existing is None:
                raise NotFound(f"no site {site_id!r}")
            if not who.scope.allows(existing.region):
                raise Forbidden(f"site {site_id!r} is outside your region scope")
            _refuse_copy(existing, "site")
            if "id" in data and data["id"] != site_id:
                raise Invalid("id: a site's id cannot change")
            base = {c: getattr(existing, c) for c in Site.model_fields if c != "id"} | {"id": site_id}
            data = {k: v for k, v in base.items() if v is not None} | data
        try:
            site = Site.model_validate(data)
        except ValidationError as exc:
            raise invalid(exc) from None
        if not who.scope.allows(site.region):
            raise Forbidden(f"region {site.region} is outside your scope")
        with self._db.transaction() as s:
            repo = RegistryRepo(s)
            if site_id is None and repo.site(site.id) is not None:
                raise Conflict(f"site {site.id!r} already exists")
            if site.city and repo.s.get(CityRow, site.city) is None:
                raise Invalid(f"city: unknown city {site.city!r}")
            repo.upsert_site(site)
            if existing is not None and existing.region != site.region:
                for cam in repo.cameras(Scope.national()):
                    if cam.site == site.id:
                        cam.region = site.region
        action = "site.update" if site_id else "site.create"
        self._audit.record(
            who,
            action,
            target_type="site",
            target_id=site.id,
            region=site.region,
            detail=site.model_dump(mode="json"),
        )
        with self._db.session() as s:
            row = RegistryRepo(s).site(site.id)
        assert row is not None
        self._tell()
        return row

    def set_enabled(self, who: Principal, camera_id: str, enabled: bool) -> CameraRow:
        return self.update_camera(who, camera_id, {"enabled": enabled})

    def _announce(self, camera_id: str, region: str) -> None:
        self._bus.publish(Event(kind=CONFIG_KIND, region=region, camera=camera_id, ts=datetime.now(UTC)))

    def _tell(self) -> None:
        for listener in list(self.listeners):
            listener()


def _require(who: Principal, permission: Permission) -> None:
    if not who.can(permission):
        raise Forbidden(f"role {who.role} may not {permission}")


# What a capital cannot do with its copy of a region's camera (regional_registry.py), and why: the
# region's workers pull its streams, record it and hold its ONVIF address; the copy has none of these.
_AT_THE_REGION: dict[Permission, str] = {
    Permission.CAMERAS_WRITE: "",
    Permission.PTZ_CONTROL: "it is steered from that region's command centre (its ONVIF address stays there)",
    Permission.LIVE_VIEW: "its live view is served by that region's command centre (its stream stays there)",
    Permission.PLAYBACK: "its recordings are kept and played back by that region's command centre",
    Permission.EXPORT: "its recordings are kept and exported by that region's command centre",
    Permission.EVIDENCE_EXPORT: "its recordings are kept and exported by that region's command centre",
    Permission.PRIVACY_UNMASK: "its footage, and so its masks, are that region's command centre's",
}


def _refuse_copy(row: CameraRow | SiteRow | None, what: str, why: str = "") -> None:
    """A region's row copied into this store is changed in that region only: an edit here would be
    overwritten by the next copy, or, worse, make the capital and the region disagree about a camera.
    ``why``: for an act other than an edit, what the region keeps that the capital does not have."""
    if row is not None and row.owner_domain is not None:
        if why:
            raise Conflict(f"{what} {row.id!r} belongs to the regional centre {row.owner_domain!r}: {why}")
        raise Conflict(
            f"{what} {row.id!r} belongs to the regional centre {row.owner_domain!r} and is a read-only copy here;"
            f" change it in that region's command centre (the change reaches the capital by itself)"
        )




def _validate(data: dict[str, Any]) -> Camera:
    try:
        return Camera.model_validate(data)
    except ValidationError as exc:
        raise invalid(exc) from None


def _public(d: dict[str, Any]) -> dict[str, Any]:
    """Camera URLs may carry credentials; keep them out of the audit log."""
    from koopsuz.domain.urls import redact_url

    return {k: (redact_url(v) if k.endswith("_url") and isinstance(v, str) else v) for k, v in d.items()}
