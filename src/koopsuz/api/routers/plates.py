"""Plate reads search and routes, hotlists, and road sections over HTTP.

Reads searches answer within the caller's regions; beyond 24 hours back they need
``legal_basis_id`` (a basis allowing ``plate_search``). Hotlist CSV files are posted as the raw
body (``text/csv``) or a multipart ``file``; the answer reports every refused line.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request

from koopsuz.api.deps import PrincipalDep, SystemDep
from koopsuz.services.errors import Invalid
from koopsuz.services.hotlists import MAX_CSV_BYTES

router = APIRouter(tags=["plates"])
Json = Annotated[dict[str, Any], Body()]
From = Annotated[datetime | None, Query(alias="from", description="default: 24 hours before 'to'")]
To = Annotated[datetime | None, Query(alias="to", description="default: now")]


@router.get("/api/plates/reads")
def search_reads(
    who: PrincipalDep,
    system: SystemDep,
    plate: str | None = None,
    pattern: Annotated[str | None, Query(description="'?' one character, '*' any run: 01 ??? A*")] = None,
    near: Annotated[str | None, Query(description="a partial or uncertain plate")] = None,
    max_distance: Annotated[int, Query(ge=0, le=3)] = 1,
    start: From = None,
    end: To = None,
    legal_basis_id: str | None = None,
    reason: str = "",
) -> dict[str, Any]:
    return system.plate_search.search(
        who, plate=plate, pattern=pattern, near=near, max_distance=max_distance, start=start, end=end,
        legal_basis_id=legal_basis_id, reason=reason,
    )


@router.get("/api/plates/route")
def plate_route(
    who: PrincipalDep,
    system: SystemDep,
    plate: str,
    start: From = None,
    end: To = None,
    legal_basis_id: str | None = None,
    reason: str = "",
) -> dict[str, Any]:
    """One plate's reads oldest first with camera positions, for drawing its route on the map."""
    return system.plate_search.route(who, plate, start=start, end=end, legal_basis_id=legal_basis_id, reason=reason)


@router.get("/api/hotlists")
def hotlists(who: PrincipalDep, system: SystemDep) -> list[dict[str, Any]]:
    return system.hotlists.lists(who)


@router.post("/api/hotlists", status_code=201)
def create_hotlist(who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    return system.hotlists.create_list(who, body)


@router.get("/api/hotlists/{hotlist_id}/entries")
def hotlist_entries(
    hotlist_id: str, who: PrincipalDep, system: SystemDep, active: bool = False
) -> list[dict[str, Any]]:
    return system.hotlists.entries(who, hotlist_id, active_only=active)


@router.post("/api/hotlists/{hotlist_id}/entries", status_code=201)
def add_hotlist_entry(hotlist_id: str, who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    return system.hotlists.add_entry(who, hotlist_id, body)


@router.post("/api/hotlists/{hotlist_id}/import")
async def import_hotlist(hotlist_id: str, request: Request, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    """CSV with header ``plate,reason,legal_basis,expires_at``; returns added, already listed, rejected lines."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > MAX_CSV_BYTES + 4096:
        raise Invalid(f"the file is larger than {MAX_CSV_BYTES // 2**20} MB; split it")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("send the CSV in a multipart field named 'file'")
        data = await upload.read(MAX_CSV_BYTES + 1)
    else:
        data = await request.body()
    return system.hotlists.import_csv(who, hotlist_id, data)


@router.post("/api/hotlists/{hotlist_id}/entries/{entry_id}/remove")
def remove_hotlist_entry(
    hotlist_id: str, entry_id: int, who: PrincipalDep, system: SystemDep, body: Json
) -> dict[str, Any]:
    reason = body.get("reason", "")
    if not isinstance(reason, str):
        raise Invalid("reason must be text")
    return system.hotlists.remove_entry(who, hotlist_id, entry_id, reason)


@router.get("/api/sections")
def sections(who: PrincipalDep, system: SystemDep) -> list[dict[str, Any]]:
    """Road sections between two plate cameras, for average-speed enforcement."""
    return system.sections.list(who)


@router.post("/api/sections")
def save_section(who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    """A section: entry and exit camera, length, limit, ``class_limits`` (e.g. trucks 70), tolerance."""
    return system.sections.save(who, body)


@router.get("/api/spot-cameras")
def spot_cameras(who: PrincipalDep, system: SystemDep) -> list[dict[str, Any]]:
    """Cameras calibrated for spot speed (lower evidential weight than a section), in the caller's regions."""
    return system.sections.list_spots(who)


@router.post("/api/spot-cameras")
def save_spot_camera(who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    """A camera's road calibration: four ``image_points`` (0..1) and their ``road_points`` (metres), the
    camera's and a plate's height above the road, the limit, ``class_limits`` and tolerance. Audited."""
    return system.sections.save_spot(who, body)


@router.delete("/api/spot-cameras/{camera_id}")
def delete_spot_camera(camera_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    """Remove a camera's spot-speed calibration (its spot speed stops); answers what was removed. Audited."""
    return system.sections.delete_spot(who, camera_id)
