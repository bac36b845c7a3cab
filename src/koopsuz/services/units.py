"""Patrol units: call sign, region, status and last position, as a unit's tablet or radio reports it.

Positions come in through the API (``POST /api/units/{id}/position``), from a unit's tablet or, in
tests and demos, from the simulator's units driving along roads (``sim/units.py``, ``koopsuz sim
--api-url``). The server keeps only the last position of each unit: dispatch needs where a unit is
now, and a track history of officers' movements would be personal data with no use here yet.
A position is not audited (a tablet reports every few seconds); creating a unit and every
status change are. Status changes that touch an incident (arriving, being stood down) go through
the incident service, which keeps the two in step.
"""

from __future__ import annotations

import threading
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from koopsuz.domain.geo import great_circle_m
from koopsuz.domain.incidents import UnitStatus
from koopsuz.domain.regions import region_codes
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.command_history import Clock, History, found, iso, require, utcnow
from koopsuz.services.errors import Conflict, Invalid, invalid
from koopsuz.store.db import Database
from koopsuz.store.incident_repo import IncidentRepo, aware
from koopsuz.store.tables import UnitRow

MAX_JUMP_KMH = 300.0  # a reported position implying more than this since the last one is refused


class NewUnit(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,31}$")
    call_sign: str = Field(min_length=1, max_length=32)
    region: str
    status: UnitStatus = UnitStatus.AVAILABLE
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class Position(BaseModel):
    model_config = ConfigDict(extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


def unit_json(u: UnitRow) -> dict[str, Any]:
    return {
        "id": u.id,
        "call_sign": u.call_sign,
        "region": u.region,
        "status": u.status,
        "lat": u.lat,
        "lon": u.lon,
        "position_at": iso(u.position_at),
        "incident": u.incident_id,
        "updated_at": iso(u.updated_at),
    }


class UnitService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._h = History(audit)
        self.now: Clock = utcnow
        self._lock = threading.Lock()

    def list(self, who: Principal) -> list[dict[str, Any]]:
        require(who, Permission.INCIDENTS_READ)
        with self._db.session() as s:
            return [unit_json(u) for u in IncidentRepo(s).units(who.scope)]

    def get(self, who: Principal, unit_id: str) -> dict[str, Any]:
        require(who, Permission.INCIDENTS_READ)
        return unit_json(self.scoped(who, unit_id))

    def scoped(self, who: Principal, unit_id: str) -> UnitRow:
        with self._db.session() as s:
            row = found(IncidentRepo(s).unit(unit_id), "unit", unit_id)
        self._h.in_scope(who, "unit", unit_id, row.region)
        return row

    def create(self, who: Principal, body: Any) -> dict[str, Any]:
        require(who, Permission.UNITS_MANAGE)
        try:
            new = NewUnit.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        if new.region not in region_codes():
            raise Invalid(f"region: unknown region {new.region!r}")
        if (new.lat is None) != (new.lon is None):
            raise Invalid("lat, lon: give both or neither")
        if new.status in (UnitStatus.EN_ROUTE, UnitStatus.ON_SCENE):
            raise Invalid("status: a new unit is available or off_duty; dispatch sends it en_route")
        self._h.in_scope(who, "unit", new.id, new.region)
        now = self.now()
        with self._lock, self._db.transaction() as s:
            repo = IncidentRepo(s)
            if repo.unit(new.id) is not None:
                raise Conflict(f"unit {new.id!r} already exists")
            row = UnitRow(
                id=new.id,
                call_sign=new.call_sign,
                region=new.region,
                status=str(new.status),
                lat=new.lat,
                lon=new.lon,
                position_at=now if new.lat is not None else None,
                updated_at=now,
            )
            repo.add(row)
            History.log(s, who, "unit", new.id, new.region, "create", now, {"call_sign": new.call_sign})
        self._h.audited(who, "unit.create", "unit", new.id, new.region, new.model_dump(mode="json"))
        return unit_json(row)

    def position(self, who: Principal, unit_id: str, body: Any) -> dict[str, Any]:
        """The unit's tablet reports where it is; a jump faster than any patrol car is refused."""
        require(who, Permission.UNITS_MANAGE)
        try:
            pos = Position.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        self.scoped(who, unit_id)
        now = self.now()
        with self._lock, self._db.transaction() as s:
            row = IncidentRepo(s).unit(unit_id)
            assert row is not None
            if row.lat is not None and row.lon is not None and row.position_at is not None:
                dt = (now - aware(row.position_at)).total_seconds()
                d = great_circle_m(row.lat, row.lon, pos.lat, pos.lon)
                if dt > 0 and d > 1000 and d / dt * 3.6 > MAX_JUMP_KMH:
                    raise Invalid(
                        f"lat, lon: {d / 1000:.1f} km from the last position {dt:.0f} s ago is faster than "
                        f"{MAX_JUMP_KMH:.0f} km/h; check the unit's GPS"
                    )
            row.lat, row.lon, row.position_at, row.updated_at = pos.lat, pos.lon, now, now
        with self._db.session() as s:
            return unit_json(found(IncidentRepo(s).unit(unit_id), "unit", unit_id))
