"""A camera's health as operators see it: up or down since when, and how well it flows."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class State(StrEnum):
    STARTING = "starting"
    ONLINE = "online"
    OFFLINE = "offline"
    DISABLED = "disabled"


@dataclass(slots=True)
class CameraHealth:
    state: State = State.STARTING
    since: datetime | None = None
    fps: float = 0.0
    lag_s: float | None = None
    last_frame_at: datetime | None = None
    reconnects: int = 0
    error: str | None = None
    frames: int = 0
    decode_errors: int = 0
    width: int | None = None
    height: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["state"] = str(self.state)
        for k in ("since", "last_frame_at"):
            d[k] = d[k].isoformat() if d[k] else None
        d["fps"] = round(self.fps, 2)
        d["lag_s"] = None if self.lag_s is None else round(self.lag_s, 3)
        d.pop("extra")
        return d
