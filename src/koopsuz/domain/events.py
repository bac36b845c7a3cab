"""One envelope for everything that happens.

Observations, alerts and system facts share it so that the bus, the store, the live feed and the
audit trail need to understand only one shape. ``ts`` is the capture time of the frame (UTC), not
the time the event was written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field, field_validator
from ulid import ULID


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"


def new_id() -> str:
    return str(ULID())


class Event(BaseModel):
    id: str = Field(default_factory=new_id)
    kind: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    region: str
    camera: str | None = None
    site: str | None = None
    ts: datetime
    payload: dict[str, Any] = Field(default_factory=dict)
    media: dict[str, str] = Field(default_factory=dict)
    severity: Severity = Severity.INFO

    @field_validator("ts")
    @classmethod
    def _utc(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("ts must be timezone-aware (UTC)")
        return v.astimezone(UTC)

    @property
    def subject(self) -> str:
        return subject_for(self.kind, self.region, self.camera)


def subject_for(kind: str, region: str, camera: str | None) -> str:
    """``koopsuz.<kind>.<region>.<camera>``: a regional centre subscribes to its region only."""
    return f"koopsuz.{kind}.{region}.{camera or '_'}"


def subject_matches(pattern: str, subject: str) -> bool:
    """NATS wildcard semantics: ``*`` matches one token, ``>`` the rest (at least one)."""
    p, s = pattern.split("."), subject.split(".")
    for i, tok in enumerate(p):
        if tok == ">":
            return len(s) > i
        if i >= len(s) or (tok != "*" and tok != s[i]):
            return False
    return len(p) == len(s)
