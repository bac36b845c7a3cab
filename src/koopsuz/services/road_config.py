"""What road enforcement is configured with: sections between two cameras, and spot-speed cameras.

A **section** (``/api/sections``) is a pair of plate cameras with the road distance between them,
the speed limit, limits per vehicle class where the road sets them (trucks and buses 70 where cars
90) and the enforcement tolerance. A **spot-speed camera** (``/api/spot-cameras``) is one plate
camera with its road calibration (four picture points and their road positions in metres, the
camera's and a plate's height above the road; see ``domain/spot_speed.py``), a limit, class limits
and a tolerance (edited through ``/spot-cameras``, the calibration page). Both are written (a
calibration also deleted) by ``cameras.write`` holders within their regions, audited, and
the road watch reloads them on change (``listeners``).

A class limit may not exceed the general limit: the general one applies whenever a vehicle's class
is not known (or its reads disagree), and that must never be the stricter one.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select

from koopsuz.domain.road import VEHICLE_CLASSES, Section
from koopsuz.domain.spot_speed import Calibration, CalibrationError
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, Invalid, NotFound, invalid
from koopsuz.store.db import Database
from koopsuz.store.tables import CameraRow, SpeedSectionRow, SpotCameraRow


def _class_limits(v: dict[str, float]) -> dict[str, float]:
    bad = sorted(set(v) - set(VEHICLE_CLASSES))
    if bad:
        raise ValueError(f"unknown vehicle class {', '.join(bad)}: use {', '.join(VEHICLE_CLASSES)}")
    for cls, limit in v.items():
        if not 5 < limit <= 200:
            raise ValueError(f"{cls}: a limit between 5 and 200 km/h")
    return v


class _Limits(BaseModel):
    limit_kmh: float = Field(gt=5, le=200)
    tolerance_kmh: float = Field(default=3.0, ge=0, le=30)
    class_limits: dict[str, float] = Field(
        default_factory=dict, description='limits per vehicle class, e.g. {"truck": 70, "bus": 70}'
    )

    @field_validator("class_limits")
    @classmethod
    def _classes(cls, v: dict[str, float]) -> dict[str, float]:
        return _class_limits(v)

    @model_validator(mode="after")
    def _not_above_general(self) -> _Limits:
        above = [c for c, lim in self.class_limits.items() if lim > self.limit_kmh]
        if above:
            raise ValueError(
                f"class limit for {', '.join(sorted(above))} is above limit_kmh ({self.limit_kmh:g}): the general"
                " limit applies when a vehicle's class is unknown, so it must be the highest"
            )
        return self


class SectionIn(_Limits):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    name: str = Field(min_length=2, max_length=200)
    entry_camera: str
    exit_camera: str
    length_m: float = Field(gt=50, le=200_000, description="road distance between the two cameras")
    enabled: bool = True


Pt = tuple[float, float]


class SpotCameraIn(_Limits):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    camera: str
    image_points: tuple[Pt, Pt, Pt, Pt] = Field(description="four points of the picture, 0..1 of width and height")
    road_points: tuple[Pt, Pt, Pt, Pt] = Field(description="where those four points lie on the road, metres")
    camera_height_m: float = Field(gt=0.5, le=50, description="the camera's height above the road")
    plate_height_m: float = Field(default=0.45, ge=0, le=2, description="a plate centre's usual height above the road")
    enabled: bool = True

    @field_validator("image_points")
    @classmethod
    def _in_picture(cls, v: tuple[Pt, ...]) -> tuple[Pt, ...]:
        if any(not (0 <= x <= 1 and 0 <= y <= 1) for x, y in v):
            raise ValueError("picture points are fractions of the picture's width and height, 0..1")
        return v

    def calibration(self) -> Calibration:
        return Calibration(self.image_points, self.road_points, self.camera_height_m, self.plate_height_m)


def section_json(r: SpeedSectionRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "region": r.region,
        "entry_camera": r.entry_camera,
        "exit_camera": r.exit_camera,
        "length_m": r.length_m,
        "limit_kmh": r.limit_kmh,
        "tolerance_kmh": r.tolerance_kmh,
        "class_limits": dict(r.class_limits or {}),
        "enabled": r.enabled,
    }


def spot_json(r: SpotCameraRow) -> dict[str, Any]:
    return {
        "camera": r.camera,
        "region": r.region,
        "image_points": r.image_points,
        "road_points": r.road_points,
        "camera_height_m": r.camera_height_m,
        "plate_height_m": r.plate_height_m,
        "limit_kmh": r.limit_kmh,
        "tolerance_kmh": r.tolerance_kmh,
        "class_limits": dict(r.class_limits or {}),
        "enabled": r.enabled,
    }


class SpotCamera:
    """A spot-speed camera as the road watch uses it."""

    def __init__(self, r: SpotCameraRow) -> None:
        self.camera = r.camera
        self.calibration = Calibration(
            tuple(tuple(p) for p in r.image_points),  # type: ignore[arg-type]
            tuple(tuple(p) for p in r.road_points),  # type: ignore[arg-type]
            r.camera_height_m,
            r.plate_height_m,
        )
        # the section's rule for which limit applies, with one camera at both ends
        self.limits = Section(
            f"spot-{r.camera}",
            r.camera,
            r.camera,
            0.0,
            r.limit_kmh,
            r.tolerance_kmh,
            tuple(sorted((r.class_limits or {}).items())),
        )


class SectionService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit
        self.listeners: list[Callable[[], None]] = []

    def list(self, who: Principal) -> list[dict[str, Any]]:
        with self._db.session() as s:
            rows = s.execute(select(SpeedSectionRow).order_by(SpeedSectionRow.id)).scalars()
            return [section_json(r) for r in rows if who.scope.allows(r.region)]

    def save(self, who: Principal, body: Any) -> dict[str, Any]:
        if not who.can(Permission.CAMERAS_WRITE):
            raise Forbidden(f"role {who.role} may not configure road sections")
        try:
            data = SectionIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        if data.entry_camera == data.exit_camera:
            raise Invalid("entry_camera and exit_camera must be two different cameras")
        with self._db.transaction() as s:
            cams = self._cameras(s, who, [data.entry_camera, data.exit_camera])
            row = s.get(SpeedSectionRow, data.id) or SpeedSectionRow(id=data.id)
            for k, v in data.model_dump().items():
                setattr(row, k, v)
            row.region = cams[data.exit_camera].region
            row.updated_by, row.updated_at = who.username, datetime.now(UTC)
            s.add(row)
        self._audit.record(
            who, "section.save", target_type="section", target_id=data.id, region=row.region, detail=data.model_dump()
        )
        self._changed()
        return section_json(row)

    def sections(self) -> list[Section]:
        with self._db.session() as s:
            rows = s.execute(select(SpeedSectionRow).where(SpeedSectionRow.enabled.is_(True))).scalars()
            return [
                Section(
                    r.id,
                    r.entry_camera,
                    r.exit_camera,
                    r.length_m,
                    r.limit_kmh,
                    r.tolerance_kmh,
                    tuple(sorted((r.class_limits or {}).items())),
                )
                for r in rows
            ]

    # -- spot-speed cameras ----------------------------------------------------------------------------
    def list_spots(self, who: Principal) -> list[dict[str, Any]]:
        with self._db.session() as s:
            rows = s.execute(select(SpotCameraRow).order_by(SpotCameraRow.camera)).scalars()
            return [spot_json(r) for r in rows if who.scope.allows(r.region)]

    def save_spot(self, who: Principal, body: Any) -> dict[str, Any]:
        if not who.can(Permission.CAMERAS_WRITE):
            raise Forbidden(f"role {who.role} may not calibrate cameras")
        try:
            data = SpotCameraIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        try:
            data.calibration()
        except CalibrationError as exc:
            raise Invalid(f"calibration: {exc}") from None
        with self._db.transaction() as s:
            cam = self._cameras(s, who, [data.camera])[data.camera]
            row = s.get(SpotCameraRow, data.camera) or SpotCameraRow(camera=data.camera)
            for k, v in data.model_dump().items():
                setattr(row, k, [list(p) for p in v] if k.endswith("_points") else v)
            row.region = cam.region
            row.updated_by, row.updated_at = who.username, datetime.now(UTC)
            s.add(row)
        self._audit.record(
            who,
            "spot_camera.save",
            target_type="camera",
            target_id=data.camera,
            region=row.region,
            detail=data.model_dump(mode="json"),
        )
        self._changed()
        return spot_json(row)

    def delete_spot(self, who: Principal, camera: str) -> dict[str, Any]:
        """Take a camera's calibration away: its spot speed stops at once. Another region's camera is not
        found (as in ``save_spot``); the act is audited with what was deleted, so it can be entered again."""
        if not who.can(Permission.CAMERAS_WRITE):
            raise Forbidden(f"role {who.role} may not calibrate cameras")
        with self._db.transaction() as s:
            row = s.get(SpotCameraRow, camera)
            if row is None or not who.scope.allows(row.region):
                raise NotFound(f"camera {camera!r} has no spot-speed calibration in your scope")
            gone = spot_json(row)
            s.delete(row)
        self._audit.record(
            who, "spot_camera.delete", target_type="camera", target_id=camera, region=gone["region"], detail=gone
        )
        self._changed()
        return gone

    def spot_cameras(self) -> dict[str, SpotCamera]:
        with self._db.session() as s:
            rows = s.execute(select(SpotCameraRow).where(SpotCameraRow.enabled.is_(True))).scalars()
            return {r.camera: SpotCamera(r) for r in rows}

    # -- helpers -------------------------------------------------------------------------------------
    def _cameras(self, s: Any, who: Principal, ids: list[str]) -> dict[str, CameraRow]:
        cams = {c.id: c for c in s.execute(select(CameraRow).where(CameraRow.id.in_(ids))).scalars()}
        for cid in ids:
            cam = cams.get(cid)
            if cam is None or not who.scope.allows(cam.region):
                raise Invalid(f"no camera {cid!r} in your scope")
        return cams

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()
