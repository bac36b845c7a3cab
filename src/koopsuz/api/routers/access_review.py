"""The access review report: accounts, their powers and region, their last sign-in and last use of
each sensitive permission (``services/access_review.py``). Administrators and auditors only."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response

from koopsuz.api.deps import SystemDep, client_ip, require
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.access_review import DEFAULT_DAYS, MAX_DAYS, to_csv

router = APIRouter(prefix="/api/admin", tags=["admin"])
Reviewer = Annotated[Principal, Depends(require(Permission.AUDIT_READ))]


@router.get("/access-review", responses={200: {"content": {"text/csv": {}}}})
def access_review(
    who: Reviewer,
    system: SystemDep,
    request: Request,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS, description="how far back the audit log is read")] = DEFAULT_DAYS,
    format: Annotated[Literal["json", "csv"], Query(description="json (default) or csv")] = "json",
) -> Any:
    """Who can do what, in which region, and when they last signed in and used each sensitive permission.

    Scope: a regional auditor sees the accounts of their region; the administrator and national
    auditors every account. Audited as ``access.review``.
    """
    report = system.access_review.report(who, days=days, fmt=format, ip=client_ip(request))
    if format == "csv":
        day = report["generated_at"][:10]
        headers = {"Content-Disposition": f'attachment; filename="access-review-{day}.csv"'}
        return Response(to_csv(report), media_type="text/csv; charset=utf-8", headers=headers)
    return report
