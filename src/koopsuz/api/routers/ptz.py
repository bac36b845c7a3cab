"""PTZ control of one camera: moves, stop, presets, patrol tours (``ptz.control``, region scope, audited).

Plain routes (run in the thread pool): the service asks the camera on its own ONVIF event loop.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Request, Response

from koopsuz.api.deps import SystemDep, client_ip, require
from koopsuz.security.principal import Permission, Principal

router = APIRouter(prefix="/api/cameras/{camera_id}/ptz", tags=["ptz"])
Pilot = Annotated[Principal, Depends(require(Permission.PTZ_CONTROL))]
Json = Annotated[dict[str, Any], Body()]
OptionalJson = Annotated[dict[str, Any] | None, Body()]


@router.get("")
def ptz_status(camera_id: str, who: Pilot, system: SystemDep) -> dict[str, Any]:
    """Where the camera points, whether it moves, who controls it and which tour runs."""
    return system.ptz.status(who, camera_id)


@router.post("/move")
def ptz_move(camera_id: str, who: Pilot, system: SystemDep, request: Request, body: Json) -> dict[str, Any]:
    """``{"mode": "continuous"|"relative"|"absolute", "pan", "tilt", "zoom", "timeout_s", "speed", "take_over"}``."""
    return system.ptz.move(who, camera_id, body, client_ip(request))


@router.post("/stop")
def ptz_stop(camera_id: str, who: Pilot, system: SystemDep, request: Request) -> dict[str, Any]:
    return system.ptz.stop(who, camera_id, client_ip(request))


@router.post("/release")
def ptz_release(camera_id: str, who: Pilot, system: SystemDep) -> dict[str, Any]:
    """Give up control before the lease runs out, so a colleague can steer at once."""
    return system.ptz.release(who, camera_id)


@router.get("/presets")
def ptz_presets(camera_id: str, who: Pilot, system: SystemDep) -> list[dict[str, Any]]:
    return system.ptz.presets(who, camera_id)


@router.post("/presets", status_code=201)
def ptz_set_preset(camera_id: str, who: Pilot, system: SystemDep, request: Request, body: Json) -> dict[str, Any]:
    """Store where the camera points now as a preset: ``{"name": "..."}``."""
    return system.ptz.set_preset(who, camera_id, str(body.get("name") or ""), client_ip(request))


@router.delete("/presets/{token}", status_code=204)
def ptz_remove_preset(camera_id: str, token: str, who: Pilot, system: SystemDep, request: Request) -> Response:
    system.ptz.remove_preset(who, camera_id, token, client_ip(request))
    return Response(status_code=204)


@router.post("/preset/{token}")
def ptz_goto_preset(
    camera_id: str, token: str, who: Pilot, system: SystemDep, request: Request, body: OptionalJson = None
) -> dict[str, Any]:
    """Recall a preset (stops a running tour); ``{"take_over": true}`` for a supervisor."""
    take_over = bool((body or {}).get("take_over"))
    return system.ptz.goto_preset(who, camera_id, token, take_over, client_ip(request))


@router.get("/tours")
def ptz_tours(camera_id: str, who: Pilot, system: SystemDep) -> list[dict[str, Any]]:
    return system.ptz.tours(who, camera_id)


@router.post("/tours", status_code=201)
def ptz_save_tour(camera_id: str, who: Pilot, system: SystemDep, request: Request, body: Json) -> dict[str, Any]:
    """``{"name": "...", "steps": [{"preset": token, "dwell_s": 10}, ...]}``."""
    return system.ptz.save_tour(who, camera_id, body, client_ip(request))


@router.post("/tours/stop")
def ptz_stop_tour(camera_id: str, who: Pilot, system: SystemDep, request: Request) -> dict[str, Any]:
    return system.ptz.stop_tour(who, camera_id, client_ip(request))


@router.post("/tours/{tour_id}/start")
def ptz_start_tour(
    camera_id: str, tour_id: str, who: Pilot, system: SystemDep, request: Request, body: OptionalJson = None
) -> dict[str, Any]:
    take_over = bool((body or {}).get("take_over"))
    return system.ptz.start_tour(who, camera_id, tour_id, take_over, client_ip(request))
