"""Sites, cities and districts of the registry, region-scoped; sites are editable."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends

from koopsuz.api.deps import PrincipalDep, SystemDep, require
from koopsuz.security.principal import Permission, Principal
from koopsuz.store.registry_repo import RegistryRepo
from koopsuz.store.tables import SiteRow

router = APIRouter(prefix="/api", tags=["registry"])
Writer = Annotated[Principal, Depends(require(Permission.CAMERAS_WRITE))]
Reader = Annotated[Principal, Depends(require(Permission.CAMERAS_READ))]


def site_json(r: SiteRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "type": r.type,
        "region": r.region,
        "city": r.city,
        "district": r.district,
        "address": r.address,
        "lat": r.lat,
        "lon": r.lon,
        "opening_hours": r.opening_hours,
        "owner_domain": r.owner_domain,  # a region's site copied to the capital: edited in the region
    }


@router.get("/sites")
def list_sites(who: PrincipalDep, system: SystemDep) -> list[dict[str, Any]]:
    return [site_json(r) for r in system.registry.sites(who)]


@router.post("/sites", status_code=201)
def create_site(who: Writer, system: SystemDep, body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
    return site_json(system.registry.save_site(who, body))


@router.patch("/sites/{site_id}")
def update_site(
    site_id: str, who: Writer, system: SystemDep, body: Annotated[dict[str, Any], Body()]
) -> dict[str, Any]:
    return site_json(system.registry.save_site(who, body, site_id))


@router.get("/cities")
def list_cities(who: Reader, system: SystemDep) -> list[dict[str, Any]]:
    with system.db.session() as s:
        rows = RegistryRepo(s).cities(who.scope)
        return [
            {
                "id": r.id,
                "name": r.name,
                "region": r.region,
                "district": r.district,
                "lat": r.lat,
                "lon": r.lon,
            }
            for r in rows
        ]


@router.get("/districts")
def list_districts(who: Reader, system: SystemDep) -> list[dict[str, Any]]:
    with system.db.session() as s:
        return [{"id": r.id, "name": r.name, "region": r.region} for r in RegistryRepo(s).districts(who.scope)]
