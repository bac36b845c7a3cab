"""Average-speed violations over HTTP: the review queue, one violation's evidence, review, notice, stats.

Reading needs ``events.read`` (the same events are in the feed); confirming, rejecting and the
notice need ``violations.review``; statistics ``events.read`` or ``stats.read`` (counts only).
Everything is cut to the caller's regions; another region's violation answers 403, audited.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from koopsuz.api.deps import PrincipalDep, SystemDep

router = APIRouter(prefix="/api/violations", tags=["violations"])
From = Annotated[datetime | None, Query(alias="from", description="default: 30 days before 'to' (stats: 7)")]
To = Annotated[datetime | None, Query(alias="to", description="default: now")]


@router.get("")
def list_violations(
    who: PrincipalDep, system: SystemDep, status: str | None = None, start: From = None, end: To = None
) -> dict[str, Any]:
    """Violations in the caller's regions, newest first; ``status`` pending, confirmed or rejected."""
    return system.violations.list(who, status=status, start=start, end=end)


@router.get("/stats")
def violation_stats(who: PrincipalDep, system: SystemDep, start: From = None, end: To = None) -> dict[str, Any]:
    """Per section: passages, violations, speeding share, passages per hour; the top sections."""
    return system.violations.stats(who, start, end)


@router.get("/{violation_id}")
def get_violation(violation_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    return system.violations.get(who, violation_id)


@router.post("/{violation_id}/confirm")
def confirm_violation(violation_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    return system.violations.confirm(who, violation_id)


@router.post("/{violation_id}/reject")
def reject_violation(
    violation_id: str, who: PrincipalDep, system: SystemDep, body: Annotated[dict[str, Any] | None, Body()] = None
) -> dict[str, Any]:
    """Body ``{"reason": "..."}``: why this is not a violation (misread plate, wrong section...)."""
    return system.violations.reject(who, violation_id, (body or {}).get("reason"))


@router.get("/{violation_id}/notice.pdf", responses={200: {"content": {"application/pdf": {}}}})
def violation_notice(violation_id: str, who: PrincipalDep, system: SystemDep) -> Response:
    name, pdf = system.violations.notice(who, violation_id)
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    return Response(pdf, media_type="application/pdf", headers=headers)
