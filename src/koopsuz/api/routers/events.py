"""Stored events and their snapshots, region-scoped."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Query
from fastapi.responses import FileResponse

from koopsuz.api.deps import SystemDep, require
from koopsuz.domain.events import Event
from koopsuz.security.principal import Permission, Principal
from koopsuz.store.event_repo import EventRepo
from koopsuz.system import System
from koopsuz.video.media import MediaError

router = APIRouter(prefix="/api/events", tags=["events"])
Reader = Annotated[Principal, Depends(require(Permission.EVENTS_READ))]


def event_json(e: Event) -> dict[str, Any]:
    d = e.model_dump(mode="json")
    d["media"] = {k: f"/api/events/{e.id}/{k}.jpg" for k in e.media if k != "clip"}
    clip = e.media.get("clip")
    if clip and e.camera and "/" in clip:  # "start/end" (ISO 8601 interval) of the footage around it
        start, end = clip.split("/", 1)
        q = urlencode({"start": start, "end": end, "t": e.ts.isoformat()})
        d["clip"] = {
            "camera": e.camera,
            "start": start,
            "end": end,
            "page": f"/cameras/{e.camera}/playback?{q}",
            "playlist": f"/api/cameras/{e.camera}/playback.m3u8?{urlencode({'start': start, 'end': end})}",
        }
    return d


def _scoped_event(system: System, who: Principal, event_id: str) -> Event:
    with system.db.session() as s:
        e = EventRepo(s).get(event_id)
    if e is None:
        raise HTTPException(404, f"no event {event_id!r}")
    if not who.scope.allows(e.region):
        system.audit.record(
            who, "access.denied", target_type="event", target_id=event_id, region=e.region, outcome="denied"
        )
        raise HTTPException(403, f"event {event_id!r} is outside your region scope")
    return e


@router.get("")
def list_events(
    who: Reader,
    system: SystemDep,
    camera: str | None = None,
    kind: Annotated[str | None, Query(max_length=40)] = None,
    before: Annotated[str | None, Query(min_length=26, max_length=26, description="event id to page back from")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> list[dict[str, Any]]:
    with system.db.session() as s:
        events = EventRepo(s).search(who.scope, camera=camera, kind=kind, before=before, limit=limit)
    return _with_feedback(system, [event_json(e) for e in events if e.kind != "camera_config"])


@router.get("/{event_id}")
def get_event(event_id: str, who: Reader, system: SystemDep) -> dict[str, Any]:
    return _with_feedback(system, [event_json(_scoped_event(system, who, event_id))])[0]


def _with_feedback(system: System, out: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Alerts carry their operator verdict (None while nobody has judged them)."""
    alerts = [d["id"] for d in out if d["kind"] == "alert"]
    if alerts:
        fb = system.rules.feedback_for(alerts)
        for d in out:
            if d["kind"] == "alert":
                d["feedback"] = fb.get(d["id"])
    return out


@router.get("/{event_id}/{name}.jpg", responses={200: {"content": {"image/jpeg": {}}}})
def event_media(event_id: str, name: str, who: Reader, system: SystemDep) -> FileResponse:
    e = _scoped_event(system, who, event_id)
    ref = e.media.get(name) if name != "clip" else None
    if ref is None:
        raise HTTPException(404, f"event {event_id!r} has no {name!r}")
    try:
        path = system.media.path(ref)
    except MediaError as exc:
        raise HTTPException(404, str(exc)) from None
    if not path.exists():
        raise HTTPException(410, f"the {name} of event {event_id!r} is no longer stored (retention)")
    return FileResponse(path, media_type="image/jpeg")
