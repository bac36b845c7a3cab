"""Command centre: the alert queue (claim, release, escalate), incidents, patrol units, response measures.

Every route is region-scoped in the services (another region's alert, incident or unit answers
403 and is audited; an unknown id 404) and every act is audited. Bodies are validated by the
services, so a bad field answers 422 naming it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Query

from koopsuz.api.deps import PrincipalDep, SystemDep
from koopsuz.api.routers.events import event_json
from koopsuz.domain.incidents import ASSUMED_ROAD_SPEED_KMH, IncidentState, UnitStatus
from koopsuz.domain.sop import PROCEDURES

router = APIRouter(tags=["command"])
JsonBody = Annotated[dict[str, Any], Body()]


# -- the alert queue ------------------------------------------------------------------------------
@router.get("/api/alerts/queue")
def alert_queue(
    who: PrincipalDep,
    system: SystemDep,
    hours: Annotated[float, Query(gt=0, le=168, description="alerts raised this far back")] = 24,
    escalated: Annotated[bool, Query(description="only alerts escalated to the national centre")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 200,
) -> list[dict[str, Any]]:
    """Open alerts in the caller's scope (not in an incident, not dismissed): most severe, then oldest, first."""
    rows = system.alert_queue.queue(who, hours=hours, escalated_only=escalated, limit=limit)
    return [event_json(e) | {"queue": st} for e, st in rows]


@router.get("/api/alerts/{event_id}/state")
def alert_state(event_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    """Who holds the alert, when it was acknowledged, escalated, put into an incident; its history."""
    return system.alert_queue.state(who, event_id)


@router.post("/api/alerts/{event_id}/claim")
def claim_alert(event_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    """Acknowledge the alert: one operator at a time (409 names the holder); refreshes one's own claim."""
    return system.alert_queue.claim(who, event_id)


@router.post("/api/alerts/{event_id}/release")
def release_alert(event_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    return system.alert_queue.release(who, event_id)


@router.post("/api/alerts/{event_id}/escalate")
def escalate_alert(event_id: str, who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    """From a regional centre to the national one: ``{"reason": "..."}``; the history is kept."""
    return system.alert_queue.escalate(who, event_id, body)


# -- incidents ------------------------------------------------------------------------------------
@router.get("/api/sop")
def procedures(who: PrincipalDep) -> dict[str, Any]:
    """Incident categories with their checklists, states and unit statuses (the pages translate them)."""
    return {
        "categories": {str(c): list(steps) for c, steps in PROCEDURES.items()},
        "states": [str(s) for s in IncidentState],
        "unit_statuses": [str(s) for s in UnitStatus],
        "assumed_speed_kmh": ASSUMED_ROAD_SPEED_KMH,
    }


@router.get("/api/incidents")
def list_incidents(
    who: PrincipalDep,
    system: SystemDep,
    state: Annotated[list[str] | None, Query(description="repeat for several")] = None,
    escalated: bool = False,
) -> list[dict[str, Any]]:
    return system.incidents.list(who, states=state, escalated_only=escalated)


@router.post("/api/incidents", status_code=201)
def create_incident(who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    """From alerts (``source: alert, alerts: [...]``), a 102 call (``source: call``, caller name and phone,
    ``lat``, ``lon``) or by hand (``source: manual``, ``lat``, ``lon``); ``category`` and ``description``."""
    return system.incidents.create(who, body)


@router.get("/api/incidents/{incident_id}")
def get_incident(incident_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    return system.incidents.get(who, incident_id)


@router.patch("/api/incidents/{incident_id}")
def update_incident(incident_id: str, who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    """``{"officer": username, "description": "..."}``."""
    return system.incidents.update(who, incident_id, body)


@router.post("/api/incidents/{incident_id}/state")
def change_state(incident_id: str, who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    """``{"state": "on_scene" | "resolved" | "closed"}``; a refused change answers 409 with the reason."""
    return system.incidents.set_state(who, incident_id, body)


@router.post("/api/incidents/{incident_id}/sop/{step}")
def tick_step(incident_id: str, step: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    """Tick a checklist step (in order), time-stamped with who did it."""
    return system.incidents.tick(who, incident_id, step)


@router.post("/api/incidents/{incident_id}/notes")
def add_note(incident_id: str, who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    return system.incidents.add_note(who, incident_id, body)


@router.post("/api/incidents/{incident_id}/evidence")
def add_evidence(incident_id: str, who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    """``{"kind": "event", "event": id}`` or ``{"kind": "clip", "camera": id, "start": iso, "end": iso}``."""
    return system.incidents.add_evidence(who, incident_id, body)


@router.post("/api/incidents/{incident_id}/escalate")
def escalate_incident(incident_id: str, who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    return system.incidents.escalate(who, incident_id, body)


@router.get("/api/incidents/{incident_id}/suggestions")
def suggestions(
    incident_id: str, who: PrincipalDep, system: SystemDep, limit: Annotated[int, Query(ge=1, le=20)] = 5
) -> dict[str, Any]:
    """Nearest available units (great-circle distance, ETA at an assumed road speed) and nearby cameras."""
    return system.incidents.suggestions(who, incident_id, limit=limit)


@router.post("/api/incidents/{incident_id}/dispatch")
def dispatch(incident_id: str, who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    """``{"unit": id}``: the unit goes en route; a new incident becomes dispatched."""
    return system.incidents.dispatch(who, incident_id, body)


# -- patrol units ---------------------------------------------------------------------------------
@router.get("/api/units")
def list_units(who: PrincipalDep, system: SystemDep) -> list[dict[str, Any]]:
    return system.units.list(who)


@router.post("/api/units", status_code=201)
def create_unit(who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    return system.units.create(who, body)


@router.get("/api/units/{unit_id}")
def get_unit(unit_id: str, who: PrincipalDep, system: SystemDep) -> dict[str, Any]:
    return system.units.get(who, unit_id)


@router.post("/api/units/{unit_id}/position")
def unit_position(unit_id: str, who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    """The unit's tablet reports ``{"lat", "lon"}``."""
    return system.units.position(who, unit_id, body)


@router.post("/api/units/{unit_id}/status")
def unit_status(unit_id: str, who: PrincipalDep, system: SystemDep, body: JsonBody) -> dict[str, Any]:
    """``{"status": "on_scene" | "available" | "off_duty"}``; arriving moves its incident on scene."""
    return system.incidents.unit_status(who, unit_id, body)


# -- measures -------------------------------------------------------------------------------------
@router.get("/api/stats/response")
def response_stats(
    who: PrincipalDep,
    system: SystemDep,
    region: Annotated[str | None, Query(max_length=8)] = None,
    start: Annotated[datetime | None, Query(alias="from", description="default: 7 days before to")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="default: now")] = None,
) -> dict[str, Any]:
    """Incidents by category; times to acknowledge, dispatch, arrive and resolve (n, median, p90, mean)."""
    return system.incidents.stats(who, region, start, end)
