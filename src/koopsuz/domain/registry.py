"""What is deployed where: districts, cities, sites and cameras.

These are the typed records of a deployment file and of the registry API alike, so a camera added
through the API is held to the same rules as one declared in YAML.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from koopsuz.domain.regions import region_codes

SLUG = r"^[a-z0-9][a-z0-9_-]{1,63}$"
Slug = Annotated[str, Field(pattern=SLUG, description="lower-case id: letters, digits, - and _")]
Latitude = Annotated[float, Field(ge=39.0, le=43.5, description="WGS84 latitude inside Kyrgyzstan")]
Longitude = Annotated[float, Field(ge=69.0, le=80.5, description="WGS84 longitude inside Kyrgyzstan")]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_SPAN = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)-([01]\d|2[0-3]):([0-5]\d)$|^([01]\d|2[0-3]):([0-5]\d)-(24):(00)$")


class SiteType(StrEnum):
    STREET = "street"
    ROAD = "road"
    TOURIST_AREA = "tourist_area"
    SCHOOL = "school"
    KINDERGARTEN = "kindergarten"
    PUBLIC_PLACE = "public_place"


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class District(Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=120)
    region: str

    @field_validator("region")
    @classmethod
    def _known_region(cls, v: str) -> str:
        return _check_region(v)


class City(Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=120)
    region: str
    district: str | None = None
    lat: Latitude
    lon: Longitude

    @field_validator("region")
    @classmethod
    def _known_region(cls, v: str) -> str:
        return _check_region(v)


class Site(Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    type: SiteType
    region: str
    city: str | None = None
    district: str | None = None
    address: str = Field(default="", max_length=300)
    lat: Latitude
    lon: Longitude
    opening_hours: dict[str, list[str]] | None = Field(
        default=None,
        description="per weekday (mon..sun) a list of HH:MM-HH:MM spans; schools and kindergartens use it",
    )

    @field_validator("region")
    @classmethod
    def _known_region(cls, v: str) -> str:
        return _check_region(v)

    @field_validator("opening_hours")
    @classmethod
    def _valid_hours(cls, v: dict[str, list[str]] | None) -> dict[str, list[str]] | None:
        if v is None:
            return v
        for day, spans in v.items():
            if day not in DAYS:
                raise ValueError(f"unknown day {day!r}; use one of {', '.join(DAYS)}")
            for span in spans:
                m = _SPAN.match(span)
                g = [x for x in m.groups() if x is not None] if m else []
                if not m or (g[0], g[1]) >= (g[2], g[3]):
                    raise ValueError(f"{day}: {span!r} is not an HH:MM-HH:MM span that ends after it starts")
        return v


class MotionSettings(Strict):
    enabled: bool = True
    sensitivity: float = Field(default=0.5, ge=0.0, le=1.0, description="0 = only large changes, 1 = any change")
    min_area: float = Field(default=0.002, gt=0.0, lt=1.0, description="smallest moving area, fraction of frame")
    cooldown_s: float = Field(default=3.0, ge=0.0, le=600.0, description="quiet time that ends a motion episode")


class Lane(Strict):
    """A traffic lane as a road camera sees it: plate reads say which lane the vehicle was in."""

    name: str = Field(min_length=1, max_length=16, pattern=r"^[\w .+-]+$", description='"1", "2", "bus", "left"')
    zone: list[tuple[float, float]] = Field(min_length=3, max_length=32, description="polygon, 0..1 of the frame")

    @field_validator("zone")
    @classmethod
    def _inside_frame(cls, v: list[tuple[float, float]]) -> list[tuple[float, float]]:
        for x, y in v:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"lane point ({x}, {y}) is outside 0..1")
        return v


class Camera(Strict):
    id: Slug
    name: str = Field(min_length=1, max_length=200)
    site: str
    main_url: str = Field(pattern=r"^(rtsp|rtsps|http|https|file)://", max_length=500)
    sub_url: str = Field(pattern=r"^(rtsp|rtsps|http|https|file)://", max_length=500)
    lat: Latitude
    lon: Longitude
    heading: float | None = Field(
        default=None, ge=0.0, lt=360.0, description="degrees clockwise from north; None = unknown"
    )
    fov: float | None = Field(
        default=None, gt=0.0, le=360.0, description="horizontal field of view, degrees; None = unknown"
    )
    ptz: bool = False
    zoom_max: float | None = Field(default=None, ge=1.0, le=100.0)
    onvif_url: str | None = Field(
        default=None,
        pattern=r"^https?://",
        max_length=500,
        description="ONVIF device service with credentials, http://user:pass@host:port/onvif/device_service (PTZ)",
    )
    profile: Literal["motion", "people", "faces", "plates", "traffic"] = "motion"
    enabled: bool = True
    motion: MotionSettings = Field(default_factory=MotionSettings)
    motion_masks: list[list[tuple[float, float]]] = Field(
        default_factory=list,
        description="polygons in 0..1 frame coordinates where motion is ignored (trees, roads, windows)",
    )
    privacy_masks: list[list[tuple[float, float]]] = Field(
        default_factory=list,
        description="polygons in 0..1 frame coordinates never shown without an approved unmask grant "
        "(windows of homes, classrooms): filled solid in live view, playback and event snapshots",
    )

    lanes: list[Lane] = Field(
        default_factory=list,
        max_length=12,
        description="road cameras: the lanes in the picture; each plate read names the lane its plate was in",
    )

    @field_validator("lanes")
    @classmethod
    def _distinct_lanes(cls, v: list[Lane]) -> list[Lane]:
        names = [lane.name for lane in v]
        if len(set(names)) != len(names):
            raise ValueError(f"lanes: each lane needs its own name (got {', '.join(names)})")
        return v

    @field_validator("motion_masks", "privacy_masks")
    @classmethod
    def _valid_masks(cls, v: list[list[tuple[float, float]]]) -> list[list[tuple[float, float]]]:
        for poly in v:
            if len(poly) < 3:
                raise ValueError("a mask polygon needs at least 3 points")
            for x, y in poly:
                if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                    raise ValueError(f"mask point ({x}, {y}) is outside 0..1")
        return v

    @model_validator(mode="after")
    def _zoom_needs_ptz(self) -> Camera:
        if self.zoom_max is not None and not self.ptz:
            raise ValueError("zoom_max is set but ptz is false")
        if self.onvif_url is not None and not self.ptz:
            raise ValueError("onvif_url is set but ptz is false (only PTZ cameras are driven over ONVIF)")
        return self


PROFILES = ("motion", "people", "faces", "plates", "traffic")


class Deployment(Strict):
    """A whole deployment file: what a region (or the country) runs."""

    name: str = Field(min_length=1, max_length=200)
    timezone: Literal["Asia/Bishkek"] = "Asia/Bishkek"
    districts: list[District] = Field(default_factory=list)
    cities: list[City] = Field(default_factory=list)
    sites: list[Site] = Field(default_factory=list)
    cameras: list[Camera] = Field(default_factory=list)


def _check_region(v: str) -> str:
    if v not in region_codes():
        raise ValueError(f"unknown region {v!r}; use an ISO 3166-2:KG code such as KG-Y (Issyk-Kul)")
    return v
