"""Simulated patrol units: drive along a road and report positions as a unit's tablet would.

Koopsuz learns where its patrols are only through ``POST /api/units/{id}/position`` (and arrival
through ``POST /api/units/{id}/status``), with a Bearer token, as a tablet or radio gateway sends
them. To test dispatch end to end something has to be that tablet: a unit here has a road (a
polyline of lat/lon points) and, when told to drive to a place, moves along the road at a given
speed and posts its position every ``interval_s`` seconds, then (optionally) reports itself on
scene. The road is followed, not the straight line: the unit goes to the point of its road nearest
the destination, in whichever direction along the road that lies.

Standard library only (threads and ``urllib``): the simulator runs on Debian's system Python too.
"""

from __future__ import annotations

import json
import math
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from koopsuz.domain.geo import great_circle_m

Lat = Annotated[float, Field(ge=-90, le=90)]
Lon = Annotated[float, Field(ge=-180, le=180)]
LatLon = tuple[Lat, Lon]
# (method path body) -> (status, parsed answer); replaced in tests that need no server
Poster = Callable[[str, str, dict[str, Any]], tuple[int, Any]]


class UnitError(ValueError):
    """A drive order that cannot be followed; the message says which field and why."""


class SimUnit(BaseModel):
    """One patrol unit of a scenario: the id Koopsuz knows it by, its call sign and its road."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, frozen=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$", description="the unit's id in Koopsuz")
    call_sign: str = Field(min_length=1, max_length=32)
    road: list[LatLon] = Field(min_length=2, max_length=500, description="the road it patrols, [lat, lon] points")
    start: LatLon | None = Field(
        default=None, description="where it stands (snapped onto the road); default: the road's start"
    )

    @model_validator(mode="after")
    def _has_length(self) -> SimUnit:
        if Road(self.road).length_m < 1.0:
            raise ValueError("road: the points are all in one place; give a road at least 1 m long")
        return self


class DriveOrder(BaseModel):
    """``POST /units/<id>/drive`` on the simulator's control API."""

    model_config = ConfigDict(extra="forbid")
    to: LatLon = Field(description="destination [lat, lon]; the unit stops at its road's nearest point")
    speed_kmh: float = Field(default=60.0, gt=0, le=250)
    interval_s: float = Field(default=1.0, ge=0.1, le=60, description="seconds between position reports")
    on_arrival: Literal["on_scene"] | None = Field(default=None, description="status to report on arrival")
    api_url: str | None = Field(default=None, description="Koopsuz base URL (default: the simulator's --api-url)")
    token: str | None = Field(default=None, description="Bearer token (default: the simulator's --api-token)")


class Road:
    """A polyline with distances along it; small enough (a town's roads) to treat each segment as flat."""

    def __init__(self, points: Sequence[tuple[float, float]]) -> None:
        self.points = [(float(a), float(b)) for a, b in points]
        self.cum = [0.0]
        for (a1, o1), (a2, o2) in zip(self.points, self.points[1:], strict=False):
            self.cum.append(self.cum[-1] + great_circle_m(a1, o1, a2, o2))

    @property
    def length_m(self) -> float:
        return self.cum[-1]

    def at(self, s: float) -> tuple[float, float]:
        """The point ``s`` metres along the road (clamped to its ends)."""
        s = min(max(s, 0.0), self.length_m)
        for i in range(1, len(self.cum)):
            if s <= self.cum[i] or i == len(self.cum) - 1:
                seg = self.cum[i] - self.cum[i - 1]
                f = 0.0 if seg <= 0 else (s - self.cum[i - 1]) / seg
                (a1, o1), (a2, o2) = self.points[i - 1], self.points[i]
                return a1 + (a2 - a1) * f, o1 + (o2 - o1) * f
        return self.points[-1]

    def locate(self, lat: float, lon: float) -> float:
        """Distance along the road of its point nearest ``(lat, lon)``."""
        best, best_s = math.inf, 0.0
        k = math.cos(math.radians(lat))  # metres per degree of longitude, relative to latitude
        for i in range(1, len(self.points)):
            (a1, o1), (a2, o2) = self.points[i - 1], self.points[i]
            dx, dy = (o2 - o1) * k, a2 - a1
            px, py = (lon - o1) * k, lat - a1
            n = dx * dx + dy * dy
            f = 0.0 if n == 0 else min(max((px * dx + py * dy) / n, 0.0), 1.0)
            d = (px - f * dx) ** 2 + (py - f * dy) ** 2
            if d < best:
                best, best_s = d, self.cum[i - 1] + f * (self.cum[i] - self.cum[i - 1])
        return best_s


class _Unit:
    def __init__(self, spec: SimUnit) -> None:
        self.spec = spec
        self.road = Road(spec.road)
        self.s = self.road.locate(*spec.start) if spec.start else 0.0
        self.target: float | None = None
        self.speed_ms = 0.0
        self.arrived_at: float | None = None
        self.posts = 0
        self.last_error: str | None = None
        self.stop = threading.Event()
        self.thread: threading.Thread | None = None

    def state(self) -> dict[str, Any]:
        lat, lon = self.road.at(self.s)
        driving = self.thread is not None and self.thread.is_alive()
        return {
            "id": self.spec.id,
            "call_sign": self.spec.call_sign,
            "lat": round(lat, 7),
            "lon": round(lon, 7),
            "along_m": round(self.s, 1),
            "road_m": round(self.road.length_m, 1),
            "driving": driving,
            "remaining_m": round(abs(self.target - self.s), 1) if self.target is not None else 0.0,
            "speed_kmh": round(self.speed_ms * 3.6, 1) if driving else 0.0,
            "arrived_at": self.arrived_at,
            "posts": self.posts,
            "last_error": self.last_error,
        }


class UnitFleet:
    """The scenario's units; each drive runs on its own daemon thread (a new order replaces the last)."""

    def __init__(
        self, units: Sequence[SimUnit], api_url: str | None = None, token: str | None = None, *, timeout_s: float = 5.0
    ) -> None:
        self._units = {u.id: _Unit(u) for u in units}
        self.api_url, self.token, self.timeout_s = api_url, token, timeout_s
        self._lock = threading.Lock()

    @property
    def ids(self) -> list[str]:
        return list(self._units)

    def state(self) -> list[dict[str, Any]]:
        with self._lock:
            return [u.state() for u in self._units.values()]

    def unit(self, unit_id: str) -> dict[str, Any]:
        with self._lock:
            return self._get(unit_id).state()

    def report(self, unit_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """Post the unit's current position once (as a tablet does when it is switched on)."""
        u = self._get(unit_id)
        order = self._order({"to": list(u.road.at(u.s))} | (body or {}))
        self._post_position(u, self._poster(order))
        return self.unit(unit_id)

    def drive(self, unit_id: str, body: dict[str, Any]) -> dict[str, Any]:
        """Set off along the road towards ``body["to"]``; answers the unit's state at the start."""
        u = self._get(unit_id)
        order = self._order(body)
        self._halt(u)
        with self._lock:
            u.target = u.road.locate(*order.to)
            u.speed_ms = order.speed_kmh / 3.6
            u.arrived_at = None
            u.last_error = None
            u.stop = threading.Event()
            u.thread = threading.Thread(
                target=self._run,
                args=(u, order, self._poster(order), u.stop),
                name=f"sim-unit-{u.spec.id}",
                daemon=True,
            )
            u.thread.start()
        return self.unit(unit_id)

    def halt(self, unit_id: str) -> dict[str, Any]:
        """Stop where it is (no further reports)."""
        self._halt(self._get(unit_id))
        return self.unit(unit_id)

    def close(self) -> None:
        for u in self._units.values():
            self._halt(u)

    # ------------------------------------------------------------------------------------------
    def _get(self, unit_id: str) -> _Unit:
        if unit_id not in self._units:
            raise KeyError(unit_id)
        return self._units[unit_id]

    def _order(self, body: dict[str, Any]) -> DriveOrder:
        try:
            order = DriveOrder.model_validate(body)
        except ValidationError as exc:
            raise UnitError(
                "; ".join(f"{'.'.join(map(str, e['loc'])) or 'body'}: {e['msg']}" for e in exc.errors())
            ) from None
        if not (order.api_url or self.api_url):
            raise UnitError("api_url: give the Koopsuz URL to report to (or start the simulator with --api-url)")
        if not (order.token or self.token):
            raise UnitError("token: give a Bearer token to report with (or start the simulator with --api-token)")
        return order

    @staticmethod
    def _halt(u: _Unit) -> None:
        u.stop.set()
        if u.thread is not None and u.thread is not threading.current_thread():
            u.thread.join(timeout=10)

    def _poster(self, order: DriveOrder) -> Poster:
        base = (order.api_url or self.api_url or "").rstrip("/")
        token = order.token or self.token
        timeout = self.timeout_s

        def post(method: str, path: str, body: dict[str, Any]) -> tuple[int, Any]:
            req = urllib.request.Request(
                base + path,
                data=json.dumps(body).encode(),
                method=method,
                headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            )
            try:
                with urllib.request.urlopen(req, timeout=timeout) as r:
                    return r.status, json.loads(r.read() or b"null")
            except urllib.error.HTTPError as exc:
                raw = exc.read()
                try:
                    return exc.code, json.loads(raw)
                except ValueError:
                    return exc.code, raw.decode(errors="replace")

        return post

    def _post_position(self, u: _Unit, post: Poster) -> bool:
        lat, lon = u.road.at(u.s)
        try:
            status, answer = post("POST", f"/api/units/{u.spec.id}/position", {"lat": lat, "lon": lon})
        except OSError as exc:  # the server is down or unreachable: the tablet keeps driving and retries
            u.last_error = f"position: {exc}"
            return False
        if status >= 400:
            detail = answer.get("detail") if isinstance(answer, dict) else answer
            u.last_error = f"position: HTTP {status}: {detail}"
            return False
        u.posts += 1
        return True

    def _run(self, u: _Unit, order: DriveOrder, post: Poster, stop: threading.Event) -> None:
        assert u.target is not None
        self._post_position(u, post)
        last = time.monotonic()
        while not stop.wait(order.interval_s):
            now = time.monotonic()
            step = u.speed_ms * (now - last)
            last = now
            with self._lock:
                gap = u.target - u.s
                u.s = u.target if abs(gap) <= step else u.s + math.copysign(step, gap)
                there = u.s == u.target
            self._post_position(u, post)
            if there:
                u.arrived_at = time.time()
                break
        else:
            return
        if order.on_arrival:
            try:
                status, answer = post("POST", f"/api/units/{u.spec.id}/status", {"status": order.on_arrival})
            except OSError as exc:
                u.last_error = f"status: {exc}"
                return
            if status >= 400:
                detail = answer.get("detail") if isinstance(answer, dict) else answer
                u.last_error = f"status: HTTP {status}: {detail}"
