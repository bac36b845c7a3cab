"""Signed evidence packages: export under a case number, follow the build, download, verify.

Exports need ``evidence.export``, a registered legal basis allowing ``export`` in every camera's
region (``legal_basis_id``; 422 without one, 403 when it does not cover the export), and every
camera in the caller's scope (403 and ``access.denied`` for another region's camera; an export is
visible only if all its cameras' regions are in scope).
Exports and downloads are audited (``evidence.export``, ``evidence.download``). Viewing copies are
redacted by default (services/export_redaction.py); an export without redaction is audited as
``evidence.unredacted`` (refused: 403, outcome denied).

Verifying needs only a signed-in user, whatever their role: it reveals nothing but what the
uploaded file already holds, and whoever has to check a package handed to them (a court clerk's
account, an auditor) must not need the right to export footage. Signing in is still required, so
the server is nobody's anonymous upload sink, and each check is audited (``evidence.verify``).
Anyone without an account uses the offline ``koopsuz evidence verify``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Request, UploadFile
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from koopsuz.api.deps import PrincipalDep, SystemDep, client_ip, require
from koopsuz.domain.evidence_manifest import InvalidKey
from koopsuz.security.evidence_package import PackageError, check, read_zip
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Invalid
from koopsuz.services.evidence import MAX_CAMERAS

router = APIRouter(prefix="/api/evidence", tags=["evidence"])
Exporter = Annotated[Principal, Depends(require(Permission.EVIDENCE_EXPORT))]


class ExportIn(BaseModel):
    cameras: list[str] = Field(min_length=1, max_length=MAX_CAMERAS, description="camera ids")
    start: datetime = Field(description="range start (ISO 8601; without an offset: UTC)")
    end: datetime = Field(description="range end")
    case_number: str = Field(min_length=1, max_length=64)
    legal_basis_id: str | None = Field(
        default=None,
        max_length=26,
        description="required: a registered legal basis (GET /api/legal-bases) valid now and allowing 'export' "
        "in every camera's region; without one the export is refused (422) and says so",
    )
    legal_basis: str = Field(
        default="", max_length=500, description="optional note beside the registered basis (e.g. the article)"
    )
    reason: str = Field(default="", max_length=1000)
    redact: bool = Field(
        default=True,
        description="blur every face but the subject's and every plate but the involved ones in the viewing "
        "copies; false needs your own approved unmask grant for every camera",
    )
    subject_photo: str | None = Field(
        default=None, max_length=14_000_000, description="the subject's photo (base64 JPEG/PNG): their face stays"
    )
    subject_entry: str | None = Field(
        default=None, max_length=26, description="or a watchlist entry id: its enrolled faces are the subject"
    )
    involved_plates: list[str] = Field(
        default_factory=list, max_length=20, description="plates of the involved vehicles, left readable"
    )


@router.post("/exports", status_code=202)
def create_export(body: ExportIn, request: Request, who: Exporter, system: SystemDep) -> dict[str, Any]:
    """Start building a signed package; poll ``GET /api/evidence/exports/{id}`` until ``ready``."""
    row = system.evidence.create(
        who,
        body.cameras,
        body.start,
        body.end,
        body.case_number,
        body.legal_basis,
        body.reason,
        ip=client_ip(request),
        legal_basis_id=body.legal_basis_id,
        redact=body.redact,
        subject_photo=body.subject_photo,
        subject_entry=body.subject_entry,
        involved_plates=body.involved_plates,
    )
    return system.evidence.get(who, row.id)


@router.get("/exports")
def list_exports(who: Exporter, system: SystemDep) -> list[dict[str, Any]]:
    """Exports whose cameras all lie in the caller's scope, newest first."""
    return system.evidence.list(who)


@router.get("/exports/{export_id}")
def get_export(export_id: str, request: Request, who: Exporter, system: SystemDep) -> dict[str, Any]:
    return system.evidence.get(who, export_id, ip=client_ip(request))


@router.get("/exports/{export_id}/package", responses={200: {"content": {"application/zip": {}}}})
def download(export_id: str, request: Request, who: Exporter, system: SystemDep) -> FileResponse:
    """The signed zip (audited as ``evidence.download``); 409 while it is still building."""
    path, name = system.evidence.package(who, export_id, ip=client_ip(request))
    return FileResponse(path, media_type="application/zip", filename=name, headers={"Cache-Control": "no-store"})


@router.post("/verify")
def verify(
    request: Request,
    who: PrincipalDep,
    system: SystemDep,
    package: Annotated[UploadFile, File(description="the evidence package (.zip) as exported")],
) -> dict[str, Any]:
    """Check an uploaded package against this installation's key; names what was altered."""
    key = system.signing_key
    trusted, trust = (key.public().pem, "installation") if key.exists() else (None, None)
    try:
        contents = read_zip(package.file, package.filename or "upload")
        report = check(contents, trusted, trust)
    except (PackageError, InvalidKey) as exc:
        raise Invalid(f"{exc}") from None
    out = report.to_json()
    system.audit.record(
        who,
        "evidence.verify",
        target_type="evidence_export",
        target_id=out.get("export_id") if isinstance(out.get("export_id"), str) else None,
        ip=client_ip(request),
        detail={
            "file": (package.filename or "")[:200],
            "ok": report.ok,
            "altered": out["altered"][:50],
            "case": out.get("case"),
            "trust": report.trust,
        },
    )
    return out
