"""Privacy masks over the API: unmask requests and their decisions, and the masked copy of footage.

``POST /api/cameras/{id}/unmask`` asks (``privacy.unmask``, a legal basis, a reason, minutes);
``/api/unmask/{id}/approve|reject`` is the second officer's decision (``privacy.unmask.approve``);
``/revoke`` ends a grant early; ``GET /api/unmask`` lists them within the caller's region scope.
``GET /api/cameras/{id}/masked.mp4`` is recorded footage with the masks burnt in: what playback
offers to a viewer without a grant, audited as ``playback.view`` with ``masked: true``.

Watching it is viewing; taking it away (``download=true``) is an export. The masks hide homes'
windows, not the faces and plates of passers-by, so a masked file leaving the system carries as much
personal data as any clip: it needs ``playback.export`` and a registered legal basis allowing
``export`` in the camera's region, exactly as ``export.mp4`` does, and is audited as
``playback.export`` naming the basis. The viewing copy is served ``inline`` so a browser plays it and
does not offer it as a file.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query, Request
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask
from ulid import ULID

from koopsuz.api.deps import PrincipalDep, SystemDep, client_ip, require
from koopsuz.api.routers.recordings import MASKED_MAX_MINUTES, BasisId, End, Reason, Start, export_runs
from koopsuz.domain.legal import Purpose
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Invalid
from koopsuz.services.playback import iso
from koopsuz.video.export import ExportError, export_mp4
from koopsuz.video.masked import MaskError, burn_masks

router = APIRouter(tags=["privacy"])
Viewer = Annotated[Principal, Depends(require(Permission.PLAYBACK))]
Note = Annotated[dict[str, Any] | None, Body(description='{"note": "..."} (optional)')]
Why = Annotated[dict[str, Any], Body(description='{"reason": "why the unmask ends now"}')]


@router.post("/api/cameras/{camera_id}/unmask", status_code=201)
def request_unmask(
    camera_id: str,
    who: PrincipalDep,
    system: SystemDep,
    body: Annotated[dict[str, Any], Body(description='{"legal_basis_id": "...", "reason": "...", "minutes": 60}')],
) -> dict[str, Any]:
    """Ask to see the camera without its privacy masks; pending until a second officer approves."""
    return system.unmask.request(who, camera_id, body)


@router.post("/api/unmask/{grant_id}/approve")
def approve_unmask(grant_id: str, who: PrincipalDep, system: SystemDep, body: Note = None) -> dict[str, Any]:
    return system.unmask.decide(who, grant_id, True, _text(body, "note"))


@router.post("/api/unmask/{grant_id}/reject")
def reject_unmask(grant_id: str, who: PrincipalDep, system: SystemDep, body: Note = None) -> dict[str, Any]:
    return system.unmask.decide(who, grant_id, False, _text(body, "note"))


@router.post("/api/unmask/{grant_id}/revoke")
def revoke_unmask(grant_id: str, who: PrincipalDep, system: SystemDep, body: Why) -> dict[str, Any]:
    return system.unmask.revoke(who, grant_id, _text(body, "reason"))


@router.get("/api/unmask")
def list_unmask(
    who: PrincipalDep,
    system: SystemDep,
    camera: Annotated[str | None, Query(max_length=64)] = None,
    state: Annotated[str | None, Query(pattern="^(pending|active|expired|rejected|revoked)$")] = None,
) -> list[dict[str, Any]]:
    return system.unmask.search(who, camera=camera, state_is=state)


@router.get("/api/cameras/{camera_id}/masked.mp4", responses={200: {"content": {"video/mp4": {}}}})
def masked_mp4(
    camera_id: str,
    request: Request,
    who: Viewer,
    system: SystemDep,
    start: Start = None,
    end: End = None,
    reason: Reason = None,
    download: Annotated[bool, Query(description="take the file away: an export (needs legal_basis_id)")] = False,
    legal_basis_id: BasisId = None,
) -> FileResponse:
    """The range (up to 10 minutes) re-encoded with the camera's privacy masks filled solid."""
    row = system.registry.camera(who, camera_id, Permission.EXPORT if download else Permission.PLAYBACK)
    if not row.privacy_masks:
        raise Invalid(f"camera {camera_id!r} has no privacy masks; play it with playback.m3u8 or export.mp4")
    a, b = system.playback.check_range(start, end, MASKED_MAX_MINUTES * 60)
    basis = None
    if download:
        if not (legal_basis_id or "").strip():
            raise Invalid(
                f"legal_basis_id: downloading footage, masked or not, needs a registered legal basis that allows "
                f"'export' in {row.region}; give its id (the case's investigator has it, or register one on the "
                "Legal bases page), or watch it without download=true"
            )
        basis = system.legal.require(who, legal_basis_id, Purpose.EXPORT, row.region)
    segs, runs = export_runs(system, camera_id, a, b)
    tmp = system.settings.data_dir.resolve() / "tmp"
    tmp.mkdir(parents=True, exist_ok=True)
    raw, dest = tmp / f"masked-{ULID()}-raw.mp4", tmp / f"masked-{ULID()}.mp4"
    try:
        export_mp4(runs, raw)
        done = burn_masks(raw, dest, row.privacy_masks)
    except (ExportError, MaskError) as exc:
        dest.unlink(missing_ok=True)
        raise Invalid(str(exc)) from None
    finally:
        raw.unlink(missing_ok=True)
    first, last = segs[0].start, segs[-1].end
    detail: dict[str, Any] = {"start": iso(a), "end": iso(b), "reason": reason, "masked": True, "segments": len(segs)}
    if basis is not None:
        detail |= {"legal_basis_id": basis.id, "case": basis.case_number}
    system.audit.record(
        who,
        "playback.export" if download else "playback.view",
        target_type="camera",
        target_id=camera_id,
        region=row.region,
        ip=client_ip(request),
        detail=detail,
    )
    headers = {
        "X-Recording-Start": iso(first),
        "X-Recording-End": iso(last),
        "X-Recording-Duration": f"{done.duration_s:.3f}",
        "X-Privacy-Masked": "1",
        "Cache-Control": "no-store",
    }
    name = f"{camera_id}_{first:%Y%m%dT%H%M%SZ}_masked.mp4"
    return FileResponse(
        dest,
        media_type="video/mp4",
        filename=name,
        headers=headers,
        content_disposition_type="attachment" if download else "inline",
        background=BackgroundTask(_rm, dest),
    )


def _text(body: dict[str, Any] | None, key: str) -> str:
    value = (body or {}).get(key, "")
    if not isinstance(value, str):
        raise Invalid(f"{key}: a string")
    return value


def _rm(path: Path) -> None:
    path.unlink(missing_ok=True)
