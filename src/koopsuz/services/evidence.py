"""Signed evidence packages: a time range of up to 16 cameras, exported under a case number.

The request is checked and audited at once (scope per camera, range, footage present, case, and a
registered legal basis allowing ``export`` in every camera's region; ``evidence.export``) and the
ranges are locked to the case; the package is then built in one background thread (exports queue;
two cores cannot afford parallel re-encodes):

    original/<camera>.mp4   the recorded segments joined by stream copy (video/export.py), after
                            every segment's SHA-256 was checked against the recording index
    viewing/<camera>.mp4    a re-encoded copy with the watermark burnt in (video/watermark.py), every
                            face but the subject's and every plate but the involved ones pixelated
                            (services/export_redaction.py, unless lifted with an unmask grant), and
                            the camera's privacy masks filled (all in the same one re-encode)
    public_key.pem, README.txt
    manifest.json           canonical JSON: case, exporter, cameras, gaps, every file's size/SHA-256
    manifest.sig            Ed25519 over manifest.json's exact bytes, by the installation key

zipped to ``<data>/exports/<id>.zip``. The row says building, ready or failed (with the reason);
progress lives in memory while this process builds it. A row left ``building`` by a process that
died is marked failed the next time exports are read, so nobody waits on it forever.
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import threading
import time
import zipfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from ulid import ULID

from koopsuz import __version__
from koopsuz.config import Settings
from koopsuz.domain.evidence_manifest import (
    MANIFEST,
    PUBLIC_KEY,
    SIGNATURE,
    CameraPart,
    FileEntry,
    Gap,
    Span,
    build_manifest,
    canonical_bytes,
    encode_signature,
    grouped,
    local_iso,
    missing_time,
    utc_iso,
)
from koopsuz.domain.legal import Purpose
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.security.signing import InstallationKey
from koopsuz.services.errors import Forbidden, Invalid, NotFound, ServiceError
from koopsuz.services.playback import PlaybackService
from koopsuz.services.registry import RegistryService
from koopsuz.store.db import Database
from koopsuz.store.evidence_repo import EvidenceRepo
from koopsuz.store.recording_repo import RecordingRepo, utc
from koopsuz.store.tables import CameraRow, EvidenceExportItemRow, EvidenceExportRow, RecordingSegmentRow
from koopsuz.video.export import ExportError, Run, export_mp4
from koopsuz.video.watermark import Stamp, WatermarkError, burn_watermark, piecewise_clock
from koopsuz.vision.privacy import YuvMasker

log = logging.getLogger(__name__)
MAX_CAMERAS = 16
_SAFE = re.compile(r"[^A-Za-z0-9._-]+")
README = """KOOPSUZ EVIDENCE PACKAGE
========================

Case:         {case}
Legal basis:  {basis}
Export:       {export_id}, {exported} (Bishkek, UTC+6) by {operator}
Cameras:      {cameras}
Signing key:  Ed25519, key id {key_id}  ({key_grouped})

What is inside
--------------
original/<camera>.mp4  the footage exactly as recorded (segments joined by stream copy, not
                       re-encoded). THIS is the evidence. Gaps in recording are closed up in the
                       file and listed, with their causes, in manifest.json ("gaps").
viewing/<camera>.mp4   a copy for watching, re-encoded with a visible watermark (case, operator,
                       export time, the wall-clock time of every frame), faces other than the
                       subject's and plates of uninvolved vehicles pixelated unless the manifest
                       says otherwise ("redaction"). Not the evidence.
manifest.json          who exported what, when, under which case and legal basis; per camera its
                       site, coordinates, requested and recorded time (UTC and local), gaps; and
                       the size and SHA-256 of every other file in this package.
manifest.sig           Ed25519 signature of manifest.json (base64), by the installation's key.
public_key.pem         the installation's public key, for convenience only: trust the key the
                       installation PUBLISHED, and check its key id matches the one above.

How to verify
-------------
With Koopsuz (no server or database needed):

    koopsuz evidence verify THIS_PACKAGE.zip --key PUBLISHED_KEY.pem

It checks the signature and every file, and names any file altered, missing or added.

With standard tools (OpenSSL 3):

    base64 -d manifest.sig > manifest.sig.bin
    openssl pkeyutl -verify -pubin -inkey PUBLISHED_KEY.pem -rawin -in manifest.json -sigfile manifest.sig.bin
    sha256sum original/*.mp4 viewing/*.mp4 public_key.pem README.txt    (compare with "files")

Key id = first 16 hex digits of SHA-256 over the raw 32-byte public key:

    openssl pkey -pubin -in PUBLISHED_KEY.pem -outform DER | tail -c 32 | sha256sum | cut -c1-16

Changing even one byte of manifest.json breaks the signature; changing any other file breaks its
SHA-256 in the signed manifest.
"""


class Locks(Protocol):
    """services.evidence_locks.EvidenceLockService: holds footage for a case against retention."""

    def lock(
        self, principal: Principal, camera_id: str, start: datetime, end: datetime, case: str, reason: str
    ) -> Any: ...


@dataclass(slots=True)
class _Job:
    export_id: str
    phase: str = "queued"
    done: float = 0.0  # 0..1
    detail: dict[str, Any] = field(default_factory=dict)
    redaction: Any = None  # export_redaction.Redaction: what the viewing copies hide


@dataclass(frozen=True, slots=True)
class _Plan:
    camera: CameraRow
    segments: list[RecordingSegmentRow]
    init_paths: dict[str, str]


class EvidenceService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        audit: AuditLog,
        registry: RegistryService,
        playback: PlaybackService,
        key: InstallationKey,
        locks: Locks | None = None,
    ) -> None:
        self._settings = settings
        self._db = db
        self._audit = audit
        self._registry = registry
        self._playback = playback
        self.key = key
        self._locks = locks
        self.exports_dir = settings.data_dir.resolve() / "exports"
        self._jobs: dict[str, _Job] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._stopping = threading.Event()
        self.unmask: Any = None  # UnmaskService, set by System: who may have an unmasked viewing copy
        self.legal: Any = None  # LegalBasisService, set by System: every export names a registered basis
        self.redaction: Any = None  # ExportRedaction, set by System: faces and plates hidden in viewing copies

    # -- requests ---------------------------------------------------------------------------
    def create(
        self,
        who: Principal,
        cameras: list[str],
        start: datetime | None,
        end: datetime | None,
        case_number: str,
        legal_basis: str = "",
        reason: str = "",
        *,
        ip: str | None = None,
        background: bool = True,
        legal_basis_id: str | None = None,
        redact: bool = True,
        subject_photo: str | None = None,
        subject_entry: str | None = None,
        involved_plates: list[str] | None = None,
    ) -> EvidenceExportRow:
        """Check, audit, lock and queue an export; raises a ServiceError (4xx) for anything wrong."""
        if not who.can(Permission.EVIDENCE_EXPORT):
            raise Forbidden(f"role {who.role} may not {Permission.EVIDENCE_EXPORT}")
        case_number, note, reason = case_number.strip(), (legal_basis or "").strip(), (reason or "").strip()
        if not case_number or len(case_number) > 64:
            raise Invalid("case_number: give the case number (1 to 64 characters)")
        if len(note) > 500:
            raise Invalid("legal_basis: a note on the legal basis has at most 500 characters")
        if len(reason) > 1000:
            raise Invalid("reason: at most 1000 characters")
        ids = list(dict.fromkeys(c.strip() for c in cameras if c and c.strip()))
        if not ids or len(ids) > MAX_CAMERAS:
            raise Invalid(f"cameras: give 1 to {MAX_CAMERAS} camera ids")
        if start is None or end is None:
            raise Invalid("start and end: give the range to export (ISO 8601)")
        now = datetime.now(UTC)
        try:
            end = utc(end)
        except OverflowError:  # year 1 or 9999 with an offset cannot be shifted to UTC
            raise Invalid("end is out of range; use a date between the years 1970 and 2100") from None
        if end > now + timedelta(minutes=1):
            raise Invalid("end: the range cannot reach into the future")
        a, b = self._playback.check_range(start, min(end, now), self._settings.export_max_minutes * 60)
        rows = [self._registry.camera(who, c, Permission.EVIDENCE_EXPORT) for c in ids]
        legal_basis = self._basis(who, legal_basis_id, sorted({r.region for r in rows}), note)
        plans = [self._plan(r, a, b) for r in rows]
        if self.redaction is None:
            raise ServiceError("redaction of viewing copies is not set up on this installation")
        redaction = self.redaction.check(
            who,
            rows,
            redact=redact,
            subject_photo=subject_photo,
            subject_entry=subject_entry,
            involved_plates=involved_plates or [],
            ip=ip,
        )
        export_id = str(ULID())
        self._lock_ranges(who, plans, a, b, case_number, reason or legal_basis)
        row = EvidenceExportRow(
            id=export_id,
            case_number=case_number,
            legal_basis=legal_basis,
            reason=reason,
            start=a,
            end=b,
            created_by=who.username,
            created_at=now,
            status="building",
        )
        items = [EvidenceExportItemRow(export_id=export_id, camera=r.id, region=r.region, gaps=[]) for r in rows]
        with self._db.transaction() as s:
            EvidenceRepo(s).add(row, items)
        regions = sorted({r.region for r in rows})
        self._audit.record(
            who,
            "evidence.export",
            target_type="evidence_export",
            target_id=export_id,
            region=regions[0] if len(regions) == 1 else None,
            ip=ip,
            detail={
                "cameras": ids,
                "regions": regions,
                "start": utc_iso(a),
                "end": utc_iso(b),
                "case_number": case_number,
                "legal_basis": legal_basis,
                "legal_basis_id": legal_basis_id,
                "reason": reason,
                "redaction": redaction.to_json(),
            },
        )
        job = _Job(export_id, redaction=redaction)
        with self._lock:
            self._jobs[export_id] = job
        if background:
            self._executor().submit(self._build_guarded, job, who, plans, a, b)
        else:
            self._build_guarded(job, who, plans, a, b)
        return self._row(export_id)

    def _basis(self, who: Principal, basis_id: str | None, regions: list[str], note: str) -> str:
        """The registered basis that makes this export lawful, as the package and the row name it.

        Mandatory (issue 8): a free-text reason alone is no legal basis. The basis must allow
        ``export`` in every region the footage comes from, be valid now and lie in the caller's scope;
        the officer's own words (``note``) are kept beside it, not instead of it.
        """
        if self.legal is None:
            raise ServiceError("legal bases are not set up on this installation; exports cannot be made")
        if not (basis_id or "").strip():
            raise Invalid(
                "legal_basis_id: an evidence export needs a registered legal basis that allows 'export' in "
                f"{', '.join(regions)}; register one (the Legal bases page, or POST /api/legal-bases) and give its id"
            )
        for region in regions:
            basis = self.legal.require(who, basis_id, Purpose.EXPORT, region)
        registered = f"{basis.case_number}: {basis.authority}, {basis.document_ref} [{basis.id}]"
        return (f"{registered}; {note}" if note else registered)[:500]

    def _plan(self, camera: CameraRow, a: datetime, b: datetime) -> _Plan:
        try:
            segs, sessions = self._playback.plan(camera.id, a, b)
        except NotFound:
            raise NotFound(
                f"camera {camera.id!r} recorded nothing between {utc_iso(a)} and {utc_iso(b)}: "
                "choose a range with footage (see its playback timeline) or leave the camera out"
            ) from None
        return _Plan(camera, list(segs), {k: v.init_path for k, v in sessions.items()})

    def _lock_ranges(self, who: Principal, plans: list[_Plan], a: datetime, b: datetime, case: str, why: str) -> None:
        locks = self._locks
        if locks is None:
            return
        for p in plans:  # retention must not delete what the package was made from
            start = min(a, utc(p.segments[0].start))
            end = max(b, utc(p.segments[-1].end))
            locks.lock(who, p.camera.id, start, end, case, why)

    # -- reads ------------------------------------------------------------------------------
    def list(self, who: Principal) -> list[dict[str, Any]]:
        self._require(who)
        self._reap()
        with self._db.session() as s:
            repo = EvidenceRepo(s)
            rows = repo.list(who.scope)
            items = repo.items([r.id for r in rows])
        return [self._json(r, items[r.id]) for r in rows]

    def get(self, who: Principal, export_id: str, *, ip: str | None = None) -> dict[str, Any]:
        row, items = self._visible(who, export_id, ip)
        return self._json(row, items)

    def package(self, who: Principal, export_id: str, *, ip: str | None = None) -> tuple[Path, str]:
        """The zip to download (audited ``evidence.download``) and its file name."""
        row, items = self._visible(who, export_id, ip)
        if row.status != "ready" or not row.path:
            raise NotReady(f"export {export_id} is {row.status}" + (f": {row.error}" if row.error else ""))
        path = (self._settings.data_dir.resolve() / row.path).resolve()
        if not path.is_file():
            raise NotFound(f"the package of export {export_id} is no longer on disk")
        regions = sorted({i.region for i in items})
        self._audit.record(
            who,
            "evidence.download",
            target_type="evidence_export",
            target_id=export_id,
            region=regions[0] if len(regions) == 1 else None,
            ip=ip,
            detail={
                "case_number": row.case_number,
                "cameras": [i.camera for i in items],
                "manifest_sha256": row.manifest_sha256,
            },
        )
        return path, f"evidence_{_SAFE.sub('_', row.case_number)}_{export_id}.zip"

    def _visible(
        self, who: Principal, export_id: str, ip: str | None
    ) -> tuple[EvidenceExportRow, list[EvidenceExportItemRow]]:
        self._require(who)
        self._reap()
        with self._db.session() as s:
            repo = EvidenceRepo(s)
            row = repo.get(export_id)
            items = repo.items([export_id])[export_id] if row else []
        if row is None:
            raise NotFound(f"no evidence export {export_id!r}")
        outside = sorted({i.region for i in items if not who.scope.allows(i.region)})
        if outside:
            self._audit.record(
                who,
                "access.denied",
                target_type="evidence_export",
                target_id=export_id,
                region=outside[0],
                outcome="denied",
                ip=ip,
                detail={"permission": str(Permission.EVIDENCE_EXPORT), "regions": outside},
            )
            raise Forbidden(f"evidence export {export_id} holds cameras outside your region scope")
        return row, items

    def _row(self, export_id: str) -> EvidenceExportRow:
        with self._db.session() as s:
            row = EvidenceRepo(s).get(export_id)
        assert row is not None
        return row

    def _json(self, row: EvidenceExportRow, items: list[EvidenceExportItemRow]) -> dict[str, Any]:
        job = self._jobs.get(row.id)
        return {
            "id": row.id,
            "case_number": row.case_number,
            "legal_basis": row.legal_basis,
            "reason": row.reason,
            "start": utc_iso(row.start),
            "end": utc_iso(row.end),
            "created_by": row.created_by,
            "created_at": utc_iso(row.created_at),
            "status": row.status,
            "error": row.error,
            "progress": None if job is None or row.status != "building" else {"phase": job.phase, "done": job.done},
            "size": row.size,
            "manifest_sha256": row.manifest_sha256,
            "key_id": row.key_id,
            "download": f"/api/evidence/exports/{row.id}/package" if row.status == "ready" else None,
            "cameras": [
                {"id": i.camera, "region": i.region, "file": i.file, "size": i.size, "sha256": i.sha256, "gaps": i.gaps}
                for i in items
            ],
        }

    def _require(self, who: Principal) -> None:
        if not who.can(Permission.EVIDENCE_EXPORT):
            raise Forbidden(f"role {who.role} may not {Permission.EVIDENCE_EXPORT}")

    def _reap(self) -> None:
        """Exports left building by a process that is gone: failed, with a reason to export again."""
        with self._db.session() as s:
            stale = [i for i in EvidenceRepo(s).building() if i not in self._jobs]
        for export_id in stale:
            self._finish(
                export_id, status="failed", error="interrupted: the server stopped while building; export again"
            )

    # -- building ---------------------------------------------------------------------------
    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="evidence")
            return self._pool

    def stop(self) -> None:
        self._stopping.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
        with self._lock:
            pending = list(self._jobs)
        for export_id in pending:  # queued ones never started
            self._finish(export_id, status="failed", error="interrupted: the server stopped before it was built")

    def wait(self, export_id: str, timeout: float) -> EvidenceExportRow:
        """Block until the export is no longer building (tests, the CLI)."""
        deadline = datetime.now(UTC).timestamp() + timeout
        while datetime.now(UTC).timestamp() < deadline:
            row = self._row(export_id)
            if row.status != "building":
                return row
            time.sleep(0.1)
        return self._row(export_id)

    def _finish(self, export_id: str, **values: Any) -> bool:
        with self._db.transaction() as s:
            return EvidenceRepo(s).finish(export_id, **values)

    def _build_guarded(self, job: _Job, who: Principal, plans: list[_Plan], a: datetime, b: datetime) -> None:
        work = self.exports_dir / f".building-{job.export_id}"
        try:
            self._build(job, who, plans, a, b, work)
        except (ServiceError, ExportError, WatermarkError, OSError, ValueError) as exc:
            log.warning("evidence export %s failed: %s", job.export_id, exc)
            self._finish(job.export_id, status="failed", error=str(exc)[:1000])
        except Exception as exc:  # a bug must still leave the row failed, not building forever
            log.exception("evidence export %s failed", job.export_id)
            self._finish(job.export_id, status="failed", error=f"internal error: {exc}"[:1000])
        finally:
            shutil.rmtree(work, ignore_errors=True)
            with self._lock:
                self._jobs.pop(job.export_id, None)

    def _build(self, job: _Job, who: Principal, plans: list[_Plan], a: datetime, b: datetime, work: Path) -> None:
        work.mkdir(parents=True, exist_ok=True)
        (work / "original").mkdir()
        (work / "viewing").mkdir()
        now = datetime.now(UTC)
        with self._db.session() as s:
            items = {i.camera: i for i in EvidenceRepo(s).items([job.export_id])[job.export_id]}
        redacting = job.redaction is not None and job.redaction.redact
        per = 13 if redacting else 5  # per camera: copy 1, redaction scan 8, watermark 4
        steps = len(plans) * per + 1  # then sign and zip
        parts: list[CameraPart] = []
        files: list[FileEntry] = []
        operator = f"{who.username} ({who.full_name})" if who.full_name else who.username
        for n, p in enumerate(plans):
            cam = p.camera
            name = _SAFE.sub("_", cam.id)
            job.phase, job.done = f"original {cam.id}", (n * per) / steps
            runs, pieces, digests = self._runs(p)
            original = work / "original" / f"{name}.mp4"
            duration = export_mp4(runs, original)
            if self._stopping.is_set():
                raise ServiceError("interrupted: the server is stopping")
            painter, redaction = None, None
            if redacting:
                job.phase, job.done = f"redaction {cam.id}", (n * per + 1) / steps
                applied = self.redaction.apply(
                    original,
                    job.redaction,
                    cam,
                    progress=lambda f, n=n: setattr(job, "done", (n * per + 1 + 8 * f) / steps),
                    cancelled=self._stopping.is_set,
                )
                painter, redaction = applied.painter, applied.summary
            job.phase, job.done = f"viewing {cam.id}", (n * per + per - 4) / steps
            viewing = work / "viewing" / f"{name}.mp4"
            stamp = Stamp(
                case=self._case_of(job.export_id), operator=operator, exported_at=now, camera=f"{cam.name} ({cam.id})"
            )
            # Privacy masks (issue 8; services/unmask.py): the viewing copy is masked unless the
            # exporter holds an active unmask grant for the camera; the signed original stays as
            # recorded. Masks and redaction are painted in the watermark's own re-encode (``before``).
            masked = bool(cam.privacy_masks) and (self.unmask is None or self.unmask.active_grant(who, cam.id) is None)
            result = burn_watermark(
                original,
                viewing,
                stamp,
                piecewise_clock([(off, start) for off, start, _ in pieces]),
                progress=lambda f, n=n: setattr(job, "done", (n * per + per - 4 + 4 * f) / steps),
                cancelled=self._stopping.is_set,
                before=_painters(painter, cam.privacy_masks if masked else None),
            )
            job.detail[cam.id] = {"watermark_speed": round(result.speed, 2), "duration_s": round(duration, 3)}
            job.detail[cam.id]["privacy_masked"] = masked
            if redaction is not None:
                redaction["seconds"] = round(redaction["scan_s"] + result.seconds, 2)
                job.detail[cam.id]["redaction"] = redaction
            spans = [Span(start, end) for _, start, end in pieces]
            with self._db.session() as s:
                known = [
                    Gap(
                        utc(g.start),
                        utc(g.end) if g.end else datetime.now(UTC),
                        g.cause,
                        (g.detail or {}).get("detail"),
                    )
                    for g in RecordingRepo(s).gaps(cam.id, a, b)
                ]
            newest = utc(p.segments[-1].end)
            live = (now - newest).total_seconds() < 3 * self._settings.recording_segment_s
            gaps = missing_time(Span(a, b), spans, known, still_recording_after=newest if live else None)
            site = self._registry.site(cam.site)
            entry_o, entry_v = _entry(original, work), _entry(viewing, work)
            files += [entry_o, entry_v]
            parts.append(
                CameraPart(
                    id=cam.id,
                    name=cam.name,
                    region=cam.region,
                    site={
                        "id": cam.site,
                        "name": site.name if site else None,
                        "type": site.type if site else None,
                        "address": getattr(site, "address", None) if site else None,
                    },
                    lat=cam.lat,
                    lon=cam.lon,
                    requested=Span(a, b),
                    recorded=spans,
                    gaps=gaps,
                    original=entry_o.path,
                    viewing=entry_v.path,
                    duration_s=duration,
                    source_segments=digests,
                    redaction=redaction if redaction is not None else {"applied": False},
                )
            )
            item = items[cam.id]
            with self._db.transaction() as s:
                EvidenceRepo(s).update_item(
                    item.id,
                    file=entry_o.path,
                    sha256=entry_o.sha256,
                    size=entry_o.size,
                    gaps=[g.to_json() for g in gaps],
                )
        job.phase, job.done = "signing", (steps - 1) / steps
        public = self.key.public()
        (work / PUBLIC_KEY).write_bytes(public.pem)
        row = self._row(job.export_id)
        (work / "README.txt").write_text(
            README.format(
                case=row.case_number,
                basis=row.legal_basis,
                export_id=job.export_id,
                exported=local_iso(now)[:19].replace("T", " "),
                operator=operator,
                cameras=", ".join(p.camera.id for p in plans),
                key_id=public.key_id,
                key_grouped=grouped(public.key_id),
            ),
            encoding="utf-8",
        )
        files += [_entry(work / PUBLIC_KEY, work), _entry(work / "README.txt", work)]
        manifest = build_manifest(
            export_id=job.export_id,
            case_number=row.case_number,
            legal_basis=row.legal_basis,
            reason=row.reason,
            exporter={
                "username": who.username,
                "full_name": who.full_name,
                "role": str(who.role),
                "region": who.region,
            },
            exported_at=now,
            key_id=public.key_id,
            requested=Span(a, b),
            cameras=parts,
            files=files,
            software=f"koopsuz {__version__}",
            redaction=job.redaction.to_json() if job.redaction is not None else None,
        )
        body = canonical_bytes(manifest)
        (work / MANIFEST).write_bytes(body)
        (work / SIGNATURE).write_bytes(encode_signature(self.key.sign(body)))
        dest = self.exports_dir / f"{job.export_id}.zip"
        tmp = dest.with_suffix(".zip.part")
        with zipfile.ZipFile(tmp, "w", allowZip64=True) as zf:
            for rel in [MANIFEST, SIGNATURE, PUBLIC_KEY, "README.txt", *sorted(f.path for f in files[:-2])]:
                method = zipfile.ZIP_STORED if rel.endswith(".mp4") else zipfile.ZIP_DEFLATED
                zf.write(work / rel, rel, compress_type=method)
        tmp.replace(dest)
        ok = self._finish(
            job.export_id,
            status="ready",
            path=str(dest.relative_to(self._settings.data_dir.resolve())),
            size=dest.stat().st_size,
            manifest_sha256=hashlib.sha256(body).hexdigest(),
            key_id=public.key_id,
        )
        if not ok:
            dest.unlink(missing_ok=True)
        job.done = 1.0

    def _case_of(self, export_id: str) -> str:
        return self._row(export_id).case_number

    def _runs(self, p: _Plan) -> tuple[list[Run], list[tuple[float, datetime, datetime]], list[tuple[datetime, str]]]:
        """Verified segments grouped into runs, and each run's (offset in the file, wall start, wall end)."""
        runs: list[Run] = []
        pieces: list[tuple[float, datetime, datetime]] = []
        digests: list[tuple[datetime, str]] = []
        offset = 0.0
        prev: RecordingSegmentRow | None = None
        for r in p.segments:
            self._playback.segment_bytes(p.camera.id, r.id)  # Damaged (410) unless exactly what was indexed
            if prev is None or r.session != prev.session or r.seq != prev.seq + 1:
                runs.append(Run(self._playback.path(p.init_paths[r.session]), []))
                pieces.append((offset, utc(r.start), utc(r.end)))
            runs[-1].segments.append(self._playback.path(r.path))
            off, start, _ = pieces[-1]
            pieces[-1] = (off, start, utc(r.end))
            offset += r.duration_s
            digests.append((utc(r.start), r.sha256))
            prev = r
        return runs, pieces, digests


def _painters(redact: Any, masks: Any) -> Callable[[np.ndarray, int], None] | None:
    """One ``before`` hook for the viewing copy's re-encode: redaction first, then the privacy masks."""
    if redact is None and not masks:
        return None
    maskers: dict[tuple[int, int], YuvMasker] = {}

    def paint(arr: np.ndarray, pts: int) -> None:
        if redact is not None:
            redact(arr, pts)
        if masks:
            h, w = arr.shape[0] * 2 // 3, arr.shape[1]
            masker = maskers.get((w, h)) or maskers.setdefault((w, h), YuvMasker(w, h, masks))
            masker.paint(arr)

    return paint


class NotReady(ServiceError):
    status = 409


def _entry(path: Path, root: Path) -> FileEntry:
    h, size = hashlib.sha256(), 0
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
            size += len(chunk)
    return FileEntry(path.relative_to(root).as_posix(), size, h.hexdigest())
