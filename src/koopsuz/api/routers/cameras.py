"""Cameras: list, read, add, change, enable and disable, always within the caller's scope."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request

from koopsuz.api.deps import PrincipalDep, SystemDep, require
from koopsuz.domain.urls import redact_url
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Invalid
from koopsuz.store.registry_repo import camera_model
from koopsuz.store.tables import CameraRow, SiteRow
from koopsuz.system import System

router = APIRouter(prefix="/api/cameras", tags=["cameras"])
Writer = Annotated[Principal, Depends(require(Permission.CAMERAS_WRITE))]


def camera_json(system: System, row: CameraRow, site: SiteRow | None, who: Principal) -> dict[str, Any]:
    out: dict[str, Any] = camera_model(row).model_dump(mode="json", exclude={"main_url", "sub_url", "onvif_url"})
    out |= {
        "site_name": site.name if site else None,
        "site_type": site.type if site else None,
        "region": row.region,
        # a region's copy is never ingested here: its health is what the capital last heard from the region
        "health": (
            system.remote_health.health(row.id, row.owner_domain) if row.owner_domain else system.ingest.health(row.id)
        ),
        "analytics": system.ingest.analytics(row.id),
        "recording": None if row.owner_domain else system.recording.health(row.id),  # a copy records in its region
        # a copy of a region's camera in the capital (regional_registry.py): read-only here, edited there
        "owner_domain": row.owner_domain,
    }
    if who.can(Permission.CAMERAS_WRITE):
        out["main_url"] = redact_url(row.main_url)
        out["sub_url"] = redact_url(row.sub_url)
        out["onvif_url"] = redact_url(row.onvif_url) if row.onvif_url else None
    return out


@router.get("")
def list_cameras(
    who: PrincipalDep,
    system: SystemDep,
    lat: Annotated[float | None, Query(description="with lon and within_m: only cameras near this point")] = None,
    lon: float | None = None,
    within_m: Annotated[float | None, Query(description="metres from (lat, lon); nearest first")] = None,
) -> list[dict[str, Any]]:
    near = (lat, lon, within_m)
    if any(v is not None for v in near):
        if lat is None or lon is None or within_m is None:
            raise Invalid("give lat, lon and within_m together (cameras within within_m metres of lat, lon)")
        found = system.registry.cameras_near(who, lat, lon, within_m)
        return [camera_json(system, row, site, who) | {"distance_m": round(d, 1)} for row, site, d in found]
    return [camera_json(system, row, site, who) for row, site in system.registry.cameras(who)]


@router.get("/{camera_id}")
def get_camera(camera_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    row = system.registry.camera(who, camera_id)
    return camera_json(system, row, system.registry.site(row.site), who)


@router.post("", status_code=201)
def add_camera(
    who: Writer, system: SystemDep, body: Annotated[dict[str, Any], Body(description="a Camera record")]
) -> dict[str, Any]:
    row = system.registry.add_camera(who, body)
    return camera_json(system, row, system.registry.site(row.site), who)


@router.patch("/{camera_id}")
def update_camera(
    camera_id: str,
    who: Writer,
    system: SystemDep,
    body: Annotated[dict[str, Any], Body(description="fields of a Camera record to change")],
) -> dict[str, Any]:
    row = system.registry.update_camera(who, camera_id, body)
    return camera_json(system, row, system.registry.site(row.site), who)


@router.post("/{camera_id}/disable")
def disable_camera(camera_id: str, who: Writer, system: SystemDep) -> dict[str, Any]:
    row = system.registry.set_enabled(who, camera_id, False)
    return camera_json(system, row, system.registry.site(row.site), who)


@router.post("/{camera_id}/enable")
def enable_camera(camera_id: str, who: Writer, system: SystemDep, request: Request) -> dict[str, Any]:
    row = system.registry.set_enabled(who, camera_id, True)
    return camera_json(system, row, system.registry.site(row.site), who)
