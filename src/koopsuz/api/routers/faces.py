"""Face searches by photo: started with a legal basis, seen only by their investigator and auditors.

``POST /api/faces/searches`` takes multipart form data: ``file`` (the photo) and the search's
fields (``legal_basis_id``, ``start``, ``end``, optional ``regions`` comma-separated, optional
``threshold``), so a browser form posts it as is.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from koopsuz.api.deps import PrincipalDep, SystemDep
from koopsuz.security.principal import Permission
from koopsuz.services.errors import Forbidden, Invalid
from koopsuz.services.watchlists import MAX_PHOTO_BYTES

router = APIRouter(tags=["faces"])


@router.post("/api/faces/searches", status_code=202)
async def start_search(request: Request, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    """Audited before it runs; observations answer at once, recordings in the background (poll the search)."""
    if not who.can(Permission.FACE_SEARCH):
        raise Forbidden(f"role {who.role} may not search faces")
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        raise Invalid("send multipart form data: a 'file' photo and the search's fields")
    form = await request.form()
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        raise Invalid("send the query photo in a multipart field named 'file'")
    photo = await upload.read(MAX_PHOTO_BYTES + 1)
    body: dict[str, Any] = {k: v for k, v in form.items() if k != "file" and isinstance(v, str) and v != ""}
    if "regions" in body:
        body["regions"] = [r.strip() for r in body["regions"].split(",") if r.strip()]
    return system.face_search.start(who, photo, body)


@router.get("/api/faces/searches")
def searches(who: PrincipalDep, system: SystemDep) -> list[dict[str, Any]]:
    """Your searches (auditors: everyone's)."""
    return system.face_search.list(who)


@router.get("/api/faces/searches/{search_id}")
def search(search_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    return system.face_search.get(who, search_id)


@router.post("/api/faces/searches/{search_id}/cancel")
def cancel(search_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    return system.face_search.cancel(who, search_id)


@router.get("/api/faces/searches/{search_id}/{name}.jpg")
def picture(search_id: str, name: str, who: PrincipalDep, system: SystemDep) -> Response:
    """``probe.jpg`` (the query photo) or ``N.jpg`` (result N's face); every view audited."""
    data = system.face_search.file(who, search_id, name)
    return Response(data, media_type="image/jpeg", headers={"Cache-Control": "no-store"})
