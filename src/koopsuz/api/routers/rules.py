"""Rules per camera, line counts, and operator feedback on alerts with its precision figure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query

from koopsuz.api.deps import PrincipalDep, SystemDep, require
from koopsuz.security.principal import Permission, Principal

router = APIRouter(tags=["rules"])
Writer = Annotated[Principal, Depends(require(Permission.CAMERAS_WRITE))]
Reader = Annotated[Principal, Depends(require(Permission.EVENTS_READ))]


@router.get("/api/cameras/{camera_id}/rules")
def get_rules(camera_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    """The camera's rules; ``defaults`` true while it runs its site type's defaults."""
    return system.rules.get(who, camera_id)


@router.put("/api/cameras/{camera_id}/rules")
def put_rules(
    camera_id: str,
    who: Writer,
    system: SystemDep,
    body: Annotated[dict[str, Any], Body(description='{"rules": [Rule, ...]}; coordinates 0..1 of the frame')],
) -> dict[str, Any]:
    """Replace the camera's rules (an empty list turns its defaults off); effective without restart."""
    return system.rules.save(who, camera_id, body)


@router.get("/api/cameras/{camera_id}/counts")
def line_counts(
    camera_id: str,
    who: Reader,
    system: SystemDep,
    start: Annotated[datetime | None, Query(alias="from", description="default: 24 hours ago")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
) -> list[dict[str, Any]]:
    """Crossings per line rule, hour (UTC), class and direction."""
    end = end or datetime.now(UTC)
    try:
        start = start or end - timedelta(hours=24)
    except OverflowError:  # 'to' in year 1: the default day would start before the calendar
        raise HTTPException(422, "'to' is out of range; use a date between the years 1970 and 2100") from None
    return system.rules.counts(who, camera_id, start, end)


@router.post("/api/events/{event_id}/feedback")
def alert_feedback(
    event_id: str,
    who: Reader,
    system: SystemDep,
    body: Annotated[dict[str, Any], Body(description='{"verdict": "confirmed" | "dismissed", "note": "..."}')],
) -> dict[str, Any]:
    return system.rules.feedback(who, event_id, body)


@router.get("/api/alerts/precision")
def alert_precision(who: Reader, system: SystemDep, camera: str | None = None) -> list[dict[str, Any]]:
    """confirmed / (confirmed + dismissed) per camera and rule, over the caller's regions."""
    return system.rules.precision(who, camera)
