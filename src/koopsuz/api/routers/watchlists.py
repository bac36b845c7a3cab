"""Legal bases and face watchlists over HTTP; the services check permission, scope and the law.

Photos are uploaded as the raw request body (``Content-Type: image/jpeg`` or ``image/png``) or as a
multipart ``file`` field, so both a browser form and ``curl --data-binary`` work.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Query, Request, Response

from koopsuz.api.deps import PrincipalDep, SystemDep
from koopsuz.services.errors import Invalid
from koopsuz.services.watchlists import MAX_PHOTO_BYTES

router = APIRouter(tags=["watchlists"])
Json = Annotated[dict[str, Any], Body()]


def _reason(body: dict[str, Any], key: str) -> str:
    value = body.get(key, "")
    if not isinstance(value, str):
        raise Invalid(f"{key} must be text")
    return value


# -- legal bases -------------------------------------------------------------------------------
@router.get("/api/legal-bases")
def legal_bases(
    who: PrincipalDep,
    system: SystemDep,
    valid: Annotated[bool, Query(description="only those valid now")] = False,
    case: Annotated[str | None, Query(description="one case number")] = None,
) -> list[dict[str, Any]]:
    return system.legal.search(who, valid_only=valid, case_number=case)


@router.post("/api/legal-bases", status_code=201)
def register_legal_basis(who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    """Register a case's legal basis: kind, authority, document, purposes, regions, validity."""
    return system.legal.register(who, body)


@router.get("/api/legal-bases/{basis_id}")
def legal_basis(basis_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    return system.legal.get(who, basis_id)


@router.post("/api/legal-bases/{basis_id}/revoke")
def revoke_legal_basis(basis_id: str, who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    return system.legal.revoke(who, basis_id, _reason(body, "reason"))


# -- watchlists ----------------------------------------------------------------------------------
@router.get("/api/watchlists")
def watchlists(who: PrincipalDep, system: SystemDep) -> list[dict[str, Any]]:
    return system.watchlists.lists(who)


@router.post("/api/watchlists", status_code=201)
def create_watchlist(who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    return system.watchlists.create_list(who, body)


@router.get("/api/watchlists/{watchlist_id}/entries")
def watchlist_entries(
    watchlist_id: str, who: PrincipalDep, system: SystemDep, status: str | None = None
) -> list[dict[str, Any]]:
    return system.watchlists.entries(who, watchlist_id, status)


@router.post("/api/watchlists/{watchlist_id}/entries", status_code=201)
def add_watchlist_entry(watchlist_id: str, who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    """A person, pending until a second officer approves; needs a legal basis allowing ``watchlist``."""
    return system.watchlists.add_entry(who, watchlist_id, body)


@router.get("/api/watchlist-entries/{entry_id}")
def watchlist_entry(entry_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    return system.watchlists.entry(who, entry_id)


@router.post("/api/watchlist-entries/{entry_id}/photos", status_code=201)
async def enrol_photo(entry_id: str, request: Request, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    """Enrol a photo with exactly one usable face; refused with the reason otherwise (nothing stored)."""
    declared = int(request.headers.get("content-length") or 0)
    if declared > MAX_PHOTO_BYTES + 4096:
        raise Invalid(f"the upload is {declared / 2**20:.1f} MB; at most {MAX_PHOTO_BYTES // 2**20} MB")
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise Invalid("send the photo in a multipart field named 'file'")
        data = await upload.read(MAX_PHOTO_BYTES + 1)
    else:
        data = await request.body()
    return system.watchlists.add_photo(who, entry_id, data)


@router.get("/api/watchlist-entries/{entry_id}/photos/{photo_id}")
def entry_photo(entry_id: str, photo_id: int, who: PrincipalDep, system: SystemDep) -> Response:
    data = system.watchlists.photo(who, entry_id, photo_id)
    kind = "image/png" if data[:8] == b"\x89PNG\r\n\x1a\n" else "image/jpeg"
    return Response(data, media_type=kind, headers={"Cache-Control": "no-store"})


@router.post("/api/watchlist-entries/{entry_id}/approve")
def approve_entry(entry_id: str, who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    """The second officer approves: from now until expiry the person matches."""
    return system.watchlists.decide(who, entry_id, True, _reason(body, "note"))


@router.post("/api/watchlist-entries/{entry_id}/reject")
def reject_entry(entry_id: str, who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    return system.watchlists.decide(who, entry_id, False, _reason(body, "note"))


@router.post("/api/watchlist-entries/{entry_id}/remove")
def remove_entry(entry_id: str, who: PrincipalDep, system: SystemDep, body: Json) -> dict[str, Any]:
    return system.watchlists.remove(who, entry_id, _reason(body, "reason"))
