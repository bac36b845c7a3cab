"""What the simulated cameras show: a scenario file (YAML) and a seed fix every frame.

Tests and benchmarks score the system against the simulator's ground truth, so a scenario must
be exact and reproducible: the same file and seed always give the same actors, paths and plates.
A camera either lists a ``schedule`` of actors (precise, for end-to-end tests) or asks for a
number of random ``people`` and ``vehicles`` (steady activity, for benchmarks and demos).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from koopsuz.sim.plates import check_plate
from koopsuz.sim.units import SimUnit

SLUG = r"^[a-z0-9][a-z0-9_-]{1,63}$"
Scene = Literal["street", "road", "school", "beach", "square"]
Light = Literal["day", "dusk", "night"]
Kind = Literal["person", "car", "bus", "truck", "motorcycle", "bicycle"]
VEHICLES: frozenset[str] = frozenset({"car", "bus", "truck", "motorcycle", "bicycle"})
PLATED: frozenset[str] = frozenset({"car", "bus", "truck"})
Point = tuple[Annotated[float, Field(ge=-1.0, le=2.0)], Annotated[float, Field(ge=-1.0, le=2.0)]]

# Deployment site types (koopsuz.domain.registry.SiteType values) -> what the camera looks at.
SITE_SCENES: dict[str, Scene] = {
    "street": "street",
    "road": "road",
    "tourist_area": "beach",
    "school": "school",
    "kindergarten": "school",
    "public_place": "square",
}
_RANDOM_ACTIVITY: dict[str, tuple[int, int]] = {  # scene -> (people, vehicles) per 30 s loop
    "street": (5, 4),
    "road": (1, 7),
    "school": (7, 1),
    "beach": (6, 0),
    "square": (7, 0),
}


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message lists every problem with its field."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)


class ScheduledActor(_Strict):
    """One actor that crosses the view once per loop along a straight (or bent) path."""

    at: float = Field(ge=0.0, description="seconds into the loop when it sets off")
    kind: Kind
    path: list[Point] = Field(
        min_length=2,
        max_length=8,
        description="foot points in 0..1 frame coordinates (x right, y down); outside 0..1 is off-screen",
    )
    duration: float = Field(gt=0.0, description="seconds from the first to the last path point")
    plate: str | None = Field(default=None, description="Kyrgyz 2016 plate, e.g. '09 123 ABC'")
    face: str | None = Field(default=None, description="face identity (a photo name such as 'obama')")
    face_photo: str | None = Field(default=None, description="file name of the photo to use for the face")
    scale: float = Field(default=1.0, gt=0.1, le=4.0, description="size multiplier over perspective")
    id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,32}$")

    @field_validator("plate")
    @classmethod
    def _plate(cls, v: str | None) -> str | None:
        return None if v is None else check_plate(v)

    @model_validator(mode="after")
    def _consistent(self) -> ScheduledActor:
        if self.plate and self.kind not in PLATED:
            raise ValueError(f"a {self.kind} carries no 2016 plate; plates are for {', '.join(sorted(PLATED))}")
        if (self.face or self.face_photo) and self.kind != "person":
            raise ValueError("only a person has a face")
        return self


class SimCamera(_Strict):
    """One simulated camera: its scene, its light, and what moves in front of it."""

    id: str = Field(pattern=SLUG, description="lower-case id; it names the RTSP mounts /<id>/main and /<id>/sub")
    scene: Scene = "street"
    light: Light = "day"
    schedule: list[ScheduledActor] | None = None
    people: int | None = Field(default=None, ge=0, le=200)
    vehicles: int | None = Field(default=None, ge=0, le=200)
    ptz: bool = Field(
        default=False,
        description="a PTZ dome: live view over a 360-degree panorama, driven through its ONVIF service",
    )
    onvif_port: int | None = Field(default=None, ge=0, le=65535, description="ONVIF HTTP port (PTZ; None = free)")
    onvif_user: str = Field(default="admin", min_length=1, max_length=64)
    onvif_password: str = Field(default="admin", min_length=1, max_length=128)

    @model_validator(mode="after")
    def _one_way(self) -> SimCamera:
        if self.schedule is not None and (self.people is not None or self.vehicles is not None):
            raise ValueError("give either a schedule or people/vehicles counts, not both")
        if self.schedule:
            ids = [a.id for a in self.schedule if a.id]
            dupes = sorted({i for i in ids if ids.count(i) > 1})
            if dupes:
                raise ValueError(f"duplicate actor id(s): {', '.join(dupes)}")
        return self


class Scenario(_Strict):
    """A whole simulated world: the seed, the timing of the loop, and the cameras."""

    seed: int
    fps: int = Field(default=15, ge=1, le=60)
    loop_seconds: float = Field(default=30.0, ge=1.0, le=600.0)
    gop_seconds: float = Field(default=1.0, gt=0.0, le=10.0)
    cameras: list[SimCamera] = Field(min_length=1)
    units: list[SimUnit] = Field(default_factory=list, description="patrol units driven along roads (sim/units.py)")

    @property
    def frames(self) -> int:
        """Frames in one loop."""
        return round(self.loop_seconds * self.fps)

    @property
    def gop_frames(self) -> int:
        """Frames from one keyframe to the next."""
        return max(1, round(self.gop_seconds * self.fps))

    def camera(self, camera_id: str) -> SimCamera:
        for cam in self.cameras:
            if cam.id == camera_id:
                return cam
        raise KeyError(camera_id)

    @model_validator(mode="after")
    def _fits_loop(self) -> Scenario:
        ids = [c.id for c in self.cameras]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"duplicate camera id(s): {', '.join(dupes)}")
        for cam in self.cameras:
            for i, actor in enumerate(cam.schedule or []):
                if actor.at + actor.duration > self.loop_seconds + 1e-9:
                    raise ValueError(
                        f"camera {cam.id!r} actor #{i + 1}: at {actor.at} + duration {actor.duration} "
                        f"ends after the loop ({self.loop_seconds} s); the loop must be seamless"
                    )
        return self


def parse_scenario(text: str, source: str = "<scenario>") -> Scenario:
    """Parse YAML text; every problem is reported as ``source: field: message``."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: expected a mapping with seed and cameras")
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        lines = [f"  {source}: {_where(e['loc'])}: {e['msg']}" for e in exc.errors()]
        raise ScenarioError(f"{len(lines)} problem(s) in scenario:\n" + "\n".join(lines)) from None


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"cannot read scenario {p}: {exc.strerror or exc}") from None
    return parse_scenario(text, str(p))


def scenario_for_cameras(
    camera_ids_with_site_types: Sequence[tuple[str, str]],
    seed: int,
    loop_seconds: float = 30.0,
    ptz: dict[str, dict[str, object]] | None = None,
) -> Scenario:
    """A plausible random world for deployed cameras: the scene follows the site type.

    Most cameras are in daylight; every fifth is at dusk and every seventh at night, so a demo
    shows the system on dark pictures too without any configuration. ``ptz`` maps a camera id to
    its ONVIF settings (``onvif_port``, ``onvif_user``, ``onvif_password``): those become domes.
    """
    cams = []
    for i, (cam_id, site_type) in enumerate(camera_ids_with_site_types):
        scene = SITE_SCENES.get(str(site_type), "street")
        light: Light = "night" if i % 7 == 6 else "dusk" if i % 5 == 4 else "day"
        people, vehicles = _RANDOM_ACTIVITY[scene]
        factor = loop_seconds / 30.0
        cams.append(
            SimCamera(
                id=cam_id,
                scene=scene,
                light=light,
                people=round(people * factor),
                vehicles=round(vehicles * factor),
                **({"ptz": True, **(ptz or {})[cam_id]} if cam_id in (ptz or {}) else {}),  # type: ignore[arg-type]
            )
        )
    return Scenario(seed=seed, loop_seconds=loop_seconds, cameras=cams)


def quick_scenario(n: int, seed: int, loop_seconds: float = 30.0) -> Scenario:
    """``n`` cameras ``cam-01``.. cycling through the scenes; what ``koopsuz sim --cameras N`` serves."""
    types = ("street", "road", "school", "public_place", "tourist_area")
    return scenario_for_cameras([(f"cam-{i + 1:02d}", types[i % len(types)]) for i in range(n)], seed, loop_seconds)


def _where(loc: Sequence[str | int]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "file"
