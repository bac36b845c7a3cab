"""Storage: the media volume against its budget, per-camera usage, recent retention runs; the page.

``GET /api/storage`` needs ``storage.read``. The volume's totals are the installation's; the
per-camera usage and the per-camera parts of each run's report are cut to the caller's regions.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

from koopsuz.api.deps import SystemDep, optional_principal, require
from koopsuz.security.principal import Permission, Principal

router = APIRouter(tags=["storage"])
Reader = Annotated[Principal, Depends(require(Permission.STORAGE_READ))]


@router.get("/api/storage")
def storage(
    who: Reader, system: SystemDep, runs: Annotated[int, Query(ge=0, le=100, description="recent runs")] = 10
) -> dict[str, Any]:
    """Volumes (budget, used, free, oldest footage kept), cameras in scope, last retention runs, policy."""
    return system.retention.status(who.scope, runs)


@router.get("/storage", include_in_schema=False, name="page_storage")
def storage_page(request: Request, principal: Annotated[Principal | None, Depends(optional_principal)]) -> Response:
    from koopsuz.api.routers.pages import _login_redirect, _render

    if principal is None:
        return _login_redirect(request)
    if not (principal.can(Permission.STORAGE_READ) or principal.can(Permission.EVIDENCE_LOCK)):
        raise HTTPException(403, f"role {principal.role} may not see storage or evidence locks")
    return _render(request, "storage.html", principal, page="storage", title_key="storage.title")
