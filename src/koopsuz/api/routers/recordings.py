"""Recorded footage of a camera: timeline, HLS playback, segment files and MP4 export.

Every route first resolves the camera within the caller's scope (403 and an ``access.denied``
audit entry for another region's camera). A playlist is the audited act of watching
(``playback.view``, with the range and the optional reason); its segment URLs carry a grant for
that user, camera and range, so the files themselves are served only through it. An export is
audited as ``playback.export``. Times are ISO 8601; without an offset they are UTC. Footage of a
camera with privacy masks is served as recorded only to a holder of an approved unmask grant;
others get a 403 that points at the masked copy (``masked.mp4``, routers/privacy.py).
"""

from __future__ import annotations

import re
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from ulid import ULID

from koopsuz.api.deps import SystemDep, client_ip, require
from koopsuz.domain.legal import Purpose
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, Invalid, NotFound
from koopsuz.services.playback import iso
from koopsuz.store.tables import CameraRow
from koopsuz.system import System
from koopsuz.video.export import ExportError, Run, export_mp4

router = APIRouter(prefix="/api/cameras", tags=["recordings"])
Viewer = Annotated[Principal, Depends(require(Permission.PLAYBACK))]
Exporter = Annotated[Principal, Depends(require(Permission.EXPORT))]
Start = Annotated[datetime | None, Query(description="range start (ISO 8601; default: an hour before end)")]
End = Annotated[datetime | None, Query(description="range end (ISO 8601; default: now)")]
Reason = Annotated[str | None, Query(max_length=300, description="why the footage is viewed (kept in the audit log)")]
Grant = Annotated[str | None, Query(alias="g", max_length=400, description="grant from the playlist")]
BasisId = Annotated[
    str | None,
    Query(max_length=64, description="the registered legal basis allowing 'export' in the camera's region (required)"),
]
HLS = "application/vnd.apple.mpegurl"
MASKED_MAX_MINUTES = 10  # the masked copy is re-encoded on request: kept short
_SESSION_ID = re.compile(r"^[0-9A-HJKMNP-TV-Z]{26}$")


def _camera(system: System, who: Principal, camera_id: str, permission: Permission) -> CameraRow:
    return system.registry.camera(who, camera_id, permission)


def _unmasked_only(system: System, who: Principal, row: CameraRow, request: Request | None = None) -> None:
    """Recorded bytes are unmasked: a camera with privacy masks serves them only to a grant holder.

    Everyone else is refused (403, audited) and pointed at the masked copy (routers/privacy.py).
    """
    if not row.privacy_masks:
        return
    ip = client_ip(request) if request is not None else None
    if not system.unmask.masks_for(who, row, f"playback:{who.username}", ip):
        return
    if request is not None:
        system.audit.record(
            who,
            "playback.view",
            target_type="camera",
            target_id=row.id,
            region=row.region,
            ip=ip,
            outcome="denied",
            detail={"why": "privacy masks, no unmask grant"},
        )
    raise Forbidden(
        f"camera {row.id!r} has privacy masks and you hold no approved unmask grant for it, so its recorded "
        f"footage is not served as recorded; a masked copy is offered: GET /api/cameras/{row.id}/masked.mp4"
        f"?start=...&end=... (up to {MASKED_MAX_MINUTES} minutes)"
    )


def _max_s(system: System) -> float:
    return system.settings.playback_max_range_h * 3600


@router.get("/{camera_id}/timeline")
def timeline(camera_id: str, who: Viewer, system: SystemDep, start: Start = None, end: End = None) -> dict[str, Any]:
    """Recorded spans, gaps with their causes, unexplained holes and the camera's events."""
    row = _camera(system, who, camera_id, Permission.PLAYBACK)
    a, b = system.playback.check_range(start, end, _max_s(system))
    out = system.playback.timeline(camera_id, a, b)
    out["recorder"] = system.recording.health(camera_id)
    masked = bool(row.privacy_masks) and system.unmask.active_grant(who, camera_id) is None
    out["privacy"] = {"masked": masked, "masked_max_minutes": MASKED_MAX_MINUTES}  # the page plays masked.mp4
    return out


@router.get("/{camera_id}/playback.m3u8", responses={200: {"content": {HLS: {}}}})
def playlist(
    camera_id: str,
    request: Request,
    who: Viewer,
    system: SystemDep,
    start: Start = None,
    end: End = None,
    reason: Reason = None,
) -> Response:
    """An HLS VOD playlist over the range (whole segments), audited as ``playback.view``."""
    row = _camera(system, who, camera_id, Permission.PLAYBACK)
    _unmasked_only(system, who, row, request)
    a, b = system.playback.check_range(start, end, _max_s(system))
    detail = {"start": iso(a), "end": iso(b), "reason": reason}
    entry = system.audit.record(
        who,
        "playback.view",
        target_type="camera",
        target_id=camera_id,
        region=row.region,
        ip=client_ip(request),
        detail=detail,
    )
    grant = system.playback.grant(who.user_id, camera_id, a, b, entry.seq)
    text, pieces = system.playback.playlist(camera_id, a, b, grant)
    headers = {"Cache-Control": "no-store", "X-Recording-Pieces": str(len(pieces))}
    return Response(text, media_type=HLS, headers=headers)


@router.get("/{camera_id}/segments/{segment_id}.m4s", responses={200: {"content": {"video/iso.segment": {}}}})
def segment(camera_id: str, segment_id: int, who: Viewer, system: SystemDep, g: Grant = None) -> Response:
    _unmasked_only(system, who, _camera(system, who, camera_id, Permission.PLAYBACK))
    system.playback.check_grant(g, who.user_id, camera_id, None)
    row, data = system.playback.segment_bytes(camera_id, segment_id)
    system.playback.check_grant(g, who.user_id, camera_id, row.start)
    headers = {"Cache-Control": "private, max-age=3600", "X-Segment-Sha256": row.sha256}
    return Response(data, media_type="video/iso.segment", headers=headers)


@router.get("/{camera_id}/init/{session_id}.mp4", responses={200: {"content": {"video/mp4": {}}}})
def init_segment(camera_id: str, session_id: str, who: Viewer, system: SystemDep, g: Grant = None) -> Response:
    _unmasked_only(system, who, _camera(system, who, camera_id, Permission.PLAYBACK))
    system.playback.check_grant(g, who.user_id, camera_id, None)
    if not _SESSION_ID.match(session_id):
        raise NotFound(f"no recording session {session_id!r}")
    data = system.playback.init_bytes(camera_id, session_id)
    return Response(data, media_type="video/mp4", headers={"Cache-Control": "private, max-age=3600"})


@router.get("/{camera_id}/export.mp4", responses={200: {"content": {"video/mp4": {}}}})
def export(
    camera_id: str,
    request: Request,
    who: Exporter,
    system: SystemDep,
    start: Start = None,
    end: End = None,
    reason: Reason = None,
    legal_basis_id: BasisId = None,
) -> FileResponse:
    """The range as one MP4 (copied, never re-encoded; gaps closed up and listed in headers).

    A clip taken away is an export of footage like an evidence package (issue 8): it needs a
    registered legal basis allowing ``export`` in the camera's region, named in the audit entry.
    """
    row = _camera(system, who, camera_id, Permission.EXPORT)
    _unmasked_only(system, who, row, request)
    a, b = system.playback.check_range(start, end, system.settings.export_max_minutes * 60)
    if not (legal_basis_id or "").strip():
        raise Invalid(
            f"legal_basis_id: downloading footage needs a registered legal basis that allows 'export' in {row.region}; "
            "give its id (the case's investigator has it, or register one on the Legal bases page)"
        )
    basis = system.legal.require(who, legal_basis_id, Purpose.EXPORT, row.region)
    segs, runs = export_runs(system, camera_id, a, b)
    tmp = system.settings.data_dir.resolve() / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    dest = tmp / f"export-{ULID()}.mp4"
    try:
        duration = export_mp4(runs, dest)
    except ExportError as exc:
        dest.unlink(missing_ok=True)
        raise Invalid(str(exc)) from None
    first, last = segs[0].start, segs[-1].end
    detail = {
        "start": iso(a),
        "end": iso(b),
        "reason": reason,
        "legal_basis_id": basis.id,
        "case": basis.case_number,
        "segments": len(segs),
        "pieces": len(runs),
    }
    system.audit.record(
        who,
        "playback.export",
        target_type="camera",
        target_id=camera_id,
        region=row.region,
        ip=client_ip(request),
        detail=detail,
    )
    name = f"{camera_id}_{first:%Y%m%dT%H%M%SZ}_{last:%Y%m%dT%H%M%SZ}.mp4"
    headers = {
        "X-Recording-Start": iso(first),
        "X-Recording-End": iso(last),
        "X-Recording-Duration": f"{duration:.3f}",
        "X-Recording-Pieces": str(len(runs)),
    }
    return FileResponse(
        dest, media_type="video/mp4", filename=name, headers=headers, background=BackgroundTask(_rm, dest)
    )


def export_runs(system: System, camera_id: str, a: datetime, b: datetime) -> tuple[list[Any], list[Run]]:
    """The recorded segments over a range, verified, as runs of consecutive segments to join."""
    segs, sessions = system.playback.plan(camera_id, a, b)
    for r in segs:  # refuse to build evidence on bytes that are not what was recorded
        system.playback.segment_bytes(camera_id, r.id)
    runs: list[Run] = []
    prev = None
    for r in segs:
        if prev is None or r.session != prev.session or r.seq != prev.seq + 1:
            runs.append(Run(system.playback.path(sessions[r.session].init_path), []))
        runs[-1].segments.append(system.playback.path(r.path))
        prev = r
    return segs, runs


def _rm(path: Path) -> None:
    path.unlink(missing_ok=True)
