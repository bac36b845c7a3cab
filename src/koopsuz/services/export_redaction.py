"""What an evidence export's viewing copy hides: every face but the subject's, every plate but the involved.

Exports redact by default (issue 8). The request may name the subject, whose face stays visible:
an uploaded photo (``subject_photo``, base64 JPEG/PNG: one usable face) or a watchlist entry
(``subject_entry``: the vectors of its enrolled photos, read with the caller's watchlist scope);
and the plates of the involved vehicles (``involved_plates``), which stay readable. Without a
subject every face is blurred. The signed original is never touched: redaction only changes the
re-encoded viewing copy, and the manifest records what was done (blurred and kept counts, the
subject's reference by SHA-256 or entry id, never the face itself).

Turning redaction off is lifting a privacy protection, so it follows the privacy-mask rule
(services/unmask.py): the exporter needs ``privacy.unmask`` and their own active unmask grant for
every camera of the export, which a second officer approved under a legal basis. A refusal is
403 and audited (``evidence.unredacted`` denied); an allowed one is audited with the grants used.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import select

from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, Invalid, ServiceError
from koopsuz.store.db import Database
from koopsuz.store.tables import CameraRow, WatchlistPhotoRow
from koopsuz.video.redact import (
    SEARCH_EVERY,
    Painter,
    PlateFinder,
    RedactionError,
    VehicleFinder,
    redaction_plan,
    scan,
)
from koopsuz.vision.faces import FaceEngine, ImageError, ModelError, Refusal, decode_image
from koopsuz.vision.redaction import compact_plate

MAX_PHOTO_BYTES = 10 * 2**20
MAX_PLATES = 20
VEHICLE_CONFIDENCE = 0.3  # a false vehicle costs a blurred strip of road; a missed one, maybe a plate


@dataclass(frozen=True, slots=True)
class Redaction:
    """A checked redaction request, ready to apply to each camera of the export."""

    redact: bool = True
    reference: np.ndarray | None = None  # (n, 128) unit vectors of the subject, None: no subject
    subject: dict[str, Any] | None = None  # how the subject was named, for the manifest and audit
    involved: tuple[str, ...] = ()  # compact plate texts kept readable
    grants: dict[str, str] = field(default_factory=dict)  # camera -> unmask grant, when not redacting

    def to_json(self) -> dict[str, Any]:
        return {
            "redact": self.redact,
            "subject": self.subject,
            "involved_plates": list(self.involved),
            "unmask_grants": self.grants or None,
        }


@dataclass(frozen=True, slots=True)
class Applied:
    painter: Painter
    summary: dict[str, Any]


class ExportRedaction:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        engine: Callable[[], FaceEngine],
        plates: Callable[[], PlateFinder] | None,
        watchlists: Any,
        unmask: Any,
        vehicles: Callable[[], VehicleFinder] | None = None,
    ) -> None:
        """``vehicles``: the object detector the plate search finds vehicles with; by default this
        service's own copy of the packaged SSD-MobileNet, loaded at the first export (not the live
        cameras' detector pool: an export would take its looks from live analytics)."""
        self._db = db
        self._audit = audit
        self._engine = engine
        self._plates = plates
        self._watchlists = watchlists
        self._unmask = unmask
        self._vehicles = vehicles or self._own_detector
        self._detector: VehicleFinder | None = None

    # -- the request ----------------------------------------------------------------------------
    def check(
        self,
        who: Principal,
        cameras: Sequence[CameraRow],
        *,
        redact: bool = True,
        subject_photo: str | None = None,
        subject_entry: str | None = None,
        involved_plates: Sequence[str] = (),
        ip: str | None = None,
    ) -> Redaction:
        """Validate the redaction part of an export request (4xx for anything wrong)."""
        if not redact:
            if subject_photo or subject_entry or involved_plates:
                raise Invalid("subject_photo, subject_entry and involved_plates only apply when redact is true")
            return Redaction(redact=False, grants=self._may_unredact(who, cameras, ip))
        if subject_photo and subject_entry:
            raise Invalid("name the subject once: subject_photo or subject_entry, not both")
        if len(involved_plates) > MAX_PLATES:
            raise Invalid(f"involved_plates: at most {MAX_PLATES} plates")
        involved = tuple(dict.fromkeys(compact_plate(p) for p in involved_plates if compact_plate(p)))
        if any(len(p) > 12 for p in involved):
            raise Invalid("involved_plates: a plate has at most 12 letters and digits")
        reference, subject = None, None
        if subject_photo:
            reference, subject = self._from_photo(subject_photo)
        elif subject_entry:
            reference, subject = self._from_entry(who, subject_entry)
        else:
            self._engine_or_error()  # no subject still needs the detector: fail now, not after queueing
        return Redaction(True, reference, subject, involved)

    def _may_unredact(self, who: Principal, cameras: Sequence[CameraRow], ip: str | None) -> dict[str, str]:
        grants: dict[str, str] = {}
        missing = []
        for cam in cameras:
            grant = self._unmask.active_grant(who, cam.id) if who.can(Permission.PRIVACY_UNMASK) else None
            if grant is None:
                missing.append(cam.id)
            else:
                grants[cam.id] = grant.id
        if not who.can(Permission.PRIVACY_UNMASK) or missing:
            why = (
                f"role {who.role} may not lift redaction ({Permission.PRIVACY_UNMASK})"
                if not who.can(Permission.PRIVACY_UNMASK)
                else f"no active unmask grant of yours for camera(s) {', '.join(missing)}"
            )
            self._audit.record(
                who,
                "evidence.unredacted",
                target_type="camera",
                target_id=",".join(c.id for c in cameras)[:200],
                region=cameras[0].region if len({c.region for c in cameras}) == 1 else None,
                outcome="denied",
                ip=ip,
                detail={"cameras": [c.id for c in cameras], "why": why},
            )
            raise Forbidden(
                f"an export without redaction needs an approved unmask grant for every camera: {why}; "
                "request one (privacy.unmask) or export with redact=true"
            )
        self._audit.record(
            who,
            "evidence.unredacted",
            target_type="camera",
            target_id=",".join(c.id for c in cameras)[:200],
            region=cameras[0].region if len({c.region for c in cameras}) == 1 else None,
            ip=ip,
            detail={"cameras": [c.id for c in cameras], "grants": grants},
        )
        return grants

    def _own_detector(self) -> VehicleFinder:
        if self._detector is None:
            from koopsuz.vision.detectors import create_detector

            self._detector = create_detector("ssd_mobilenet", min_confidence=VEHICLE_CONFIDENCE)
        return self._detector

    def _engine_or_error(self) -> FaceEngine:
        try:
            return self._engine()
        except ModelError as exc:
            raise Unavailable(f"redaction needs the face models, which are not available here: {exc}") from None

    def _from_photo(self, data: str) -> tuple[np.ndarray, dict[str, Any]]:
        try:
            raw = base64.b64decode(data.split(",", 1)[-1] if data.startswith("data:") else data, validate=True)
        except (binascii.Error, ValueError):
            raise Invalid("subject_photo: send the photo as base64 (JPEG or PNG)") from None
        if len(raw) > MAX_PHOTO_BYTES:
            raise Invalid(f"subject_photo: at most {MAX_PHOTO_BYTES // 2**20} MB")
        try:
            img = decode_image(raw, name="subject_photo")
        except ImageError as exc:
            raise Invalid(str(exc)) from None
        engine = self._engine_or_error()
        face = engine.usable(img)
        if isinstance(face, Refusal):
            raise Invalid(f"subject_photo: {face.message}; send a photo with the subject's face alone, frontal")
        vector = engine.embed(img, face)
        return vector[None, :], {"kind": "photo", "sha256": hashlib.sha256(raw).hexdigest()}

    def _from_entry(self, who: Principal, entry_id: str) -> tuple[np.ndarray, dict[str, Any]]:
        entry = self._watchlists.entry(who, entry_id)  # 403/404 for an entry outside the caller's scope
        with self._db.session() as s:
            rows = list(s.execute(select(WatchlistPhotoRow).where(WatchlistPhotoRow.entry_id == entry_id)).scalars())
        if not rows:
            raise Invalid(
                f"subject_entry: watchlist entry {entry_id} has no enrolled photo to recognise the subject by"
            )
        self._engine_or_error()
        vectors = np.stack([np.frombuffer(r.embedding, np.float32) for r in rows])
        return vectors, {"kind": "watchlist_entry", "id": entry["id"], "photos": len(rows)}

    # -- building -------------------------------------------------------------------------------
    def apply(
        self,
        original: Path,
        req: Redaction,
        camera: CameraRow,
        *,
        progress: Callable[[float], None] | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Applied:
        """Scan one camera's original and return the painter for its viewing copy, with a summary.

        Plates are looked for on every camera, whatever its profile (a street camera sees passing
        cars as well as a traffic camera does): vehicles found by the object detector and areas that
        moved are read, not whole frames (``video.redact._PlateSearch``), which keeps the cost to a
        fraction of a whole-frame search (~1 s of CPU a 720p frame). Where a vehicle was seen but no
        plate located on it, the lower part of its box is blurred (``vision.redaction.vehicle_bands``).
        """
        engine = self._engine_or_error()
        try:
            reader = self._plates() if self._plates is not None else None
            vehicles = self._vehicles() if reader is not None else None
        except (ModelError, OSError, RuntimeError) as exc:
            raise Unavailable(
                f"plate redaction needs the plate and object detection models, which are not available here: {exc}"
            ) from None
        try:
            found = scan(
                original,
                engine,
                req.reference,
                plates=reader,
                vehicles=vehicles,
                read_vehicles=bool(req.involved),
                plate_every=SEARCH_EVERY,
                progress=progress,
                cancelled=cancelled,
            )
        except RedactionError as exc:
            raise ServiceError(str(exc)) from None
        plan = redaction_plan(found, subject=req.reference is not None, involved=req.involved)
        summary = plan.summary() | {
            "frames": len(found.pts),
            "frames_looked_at": found.looked - found.looked_still,
            "look_every": found.stride,
            "scan_s": round(found.seconds, 2),
            "threshold": engine.threshold,
            "plates_checked": reader is not None,
            "plate_search": found.plate_search,
            "plate_looks": found.plate_looks,
            "plate_crops": found.plate_crops,
            "plate_whole_frames": found.whole_reads,
            "plates_held": found.plates_held,
            "plate_s": round(found.plate_s, 2),
        }
        return Applied(Painter(found, plan), summary)


class Unavailable(ServiceError):
    status = 503
