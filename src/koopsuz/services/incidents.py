"""Incidents: opened from alerts, a 102 call or by hand; worked through a checklist; units sent.

The state machine and the checklist order are ``domain.incidents``'; this service stores the
times, keeps units in step with their incident (dispatched -> en route, on scene -> on scene,
resolved -> available again), checks region scope on every read and act, writes each act into
the incident's history and the audit log, and computes the response measures from the stored
times. The region of a call or a hand-made incident is the region its place lies in (the shipped
admin-1 boundaries); an alert's is its camera's.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from datetime import datetime, timedelta
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from ulid import ULID

from koopsuz.domain.geo import great_circle_m, region_at
from koopsuz.domain.incidents import (
    ASSUMED_ROAD_SPEED_KMH,
    TIME_FIELD,
    IncidentState,
    InvalidTransition,
    Source,
    StepRefused,
    Suggestion,
    UnitPosition,
    UnitStatus,
    check_step,
    check_transition,
    eta_s,
    is_open,
    seconds_between,
    summary,
    unit_status_for,
)
from koopsuz.domain.regions import REGIONS, region_codes
from koopsuz.domain.sop import Category, procedure
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal, Scope
from koopsuz.services.alert_queue import AlertQueueService, Escalation
from koopsuz.services.command_history import Clock, History, found, history_json, iso, require, utcnow
from koopsuz.services.errors import Conflict, Invalid, invalid
from koopsuz.services.units import UnitService, unit_json
from koopsuz.services.users import UserService
from koopsuz.store.db import Database
from koopsuz.store.incident_repo import IncidentRepo, aware
from koopsuz.store.registry_repo import RegistryRepo
from koopsuz.store.spatial import SpatialRepo, has_postgis
from koopsuz.store.tables import (
    DispatchRow,
    EventRow,
    IncidentEvidenceRow,
    IncidentNoteRow,
    IncidentRow,
    UnitRow,
)

MAX_ALERTS = 20
NEAR_CAMERAS_M = 2000.0
MAX_STATS_DAYS = 366


@lru_cache(maxsize=1)
def admin1_features() -> list[dict[str, Any]]:
    text = resources.files("koopsuz.data").joinpath("kg_admin1.geojson").read_text("utf-8")
    return json.loads(text)["features"]


def region_of_place(lat: float, lon: float) -> str | None:
    drawn = {f["properties"]["iso_3166_2"] for f in admin1_features()}
    cities = {r.code: r.centre for r in REGIONS if r.code not in drawn}  # Osh city: no polygon of its own
    return region_at(lat, lon, admin1_features(), cities)


class NewIncident(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    source: Source
    category: Category
    description: str = Field(default="", max_length=2000)
    alerts: list[str] = Field(default_factory=list, max_length=MAX_ALERTS)
    caller_name: str | None = Field(default=None, min_length=1, max_length=200)
    caller_phone: str | None = Field(default=None, pattern=r"^\+?[0-9][0-9 ()-]{2,19}$")
    lat: float | None = Field(default=None, ge=-90, le=90)
    lon: float | None = Field(default=None, ge=-180, le=180)


class StateChange(BaseModel):
    model_config = ConfigDict(extra="forbid")
    state: IncidentState


class Note(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    text: str = Field(min_length=1, max_length=4000)


class Evidence(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    kind: str = Field(pattern=r"^(event|clip)$")
    event: str | None = Field(default=None, min_length=26, max_length=26)
    camera: str | None = Field(default=None, max_length=64)
    start: datetime | None = None
    end: datetime | None = None


class IncidentPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    officer: str | None = Field(default=None, max_length=64)
    description: str | None = Field(default=None, max_length=2000)


class DispatchOrder(BaseModel):
    model_config = ConfigDict(extra="forbid")
    unit: str = Field(min_length=1, max_length=32)


class UnitReport(BaseModel):
    model_config = ConfigDict(extra="forbid")
    status: UnitStatus


def _validated(model: type[BaseModel], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise invalid(exc) from None


class IncidentService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        queue: AlertQueueService,
        units: UnitService,
        users: UserService,
    ) -> None:
        self._db = db
        self._h = History(audit)
        self._queue = queue
        self._units = units
        self._users = users
        self.now: Clock = utcnow
        self._lock = threading.Lock()

    def set_clock(self, now: Clock) -> None:
        """One clock for the queue, units and incidents (tests hand in recorded times)."""
        self.now = self._queue.now = self._units.now = now

    # -- reads --------------------------------------------------------------------------------
    def list(
        self, who: Principal, *, states: list[str] | None = None, escalated_only: bool = False
    ) -> list[dict[str, Any]]:
        require(who, Permission.INCIDENTS_READ)
        for st in states or []:
            if st not in IncidentState.__members__.values():
                raise Invalid(f"state: unknown state {st!r}; one of {', '.join(IncidentState)}")
        with self._db.session() as s:
            rows = IncidentRepo(s).incidents(who.scope, states=states)
        out = [self._summary(r) for r in rows]
        return [x for x in out if x["escalated_at"]] if escalated_only else out

    def get(self, who: Principal, incident_id: str) -> dict[str, Any]:
        require(who, Permission.INCIDENTS_READ)
        row = self._scoped(who, incident_id)
        return self._detail(row.id)

    # -- creation -------------------------------------------------------------------------------
    def create(self, who: Principal, body: Any) -> dict[str, Any]:
        require(who, Permission.INCIDENTS_MANAGE)
        new: NewIncident = _validated(NewIncident, body)
        now = self.now()
        alerts: list[EventRow] = []
        if new.source == Source.ALERT:
            if not new.alerts:
                raise Invalid("alerts: an incident from alerts needs at least one alert id")
            if len(set(new.alerts)) != len(new.alerts):
                raise Invalid("alerts: an alert is listed twice")
            alerts = [self._queue.alert(who, a) for a in new.alerts]  # 404 / 403 (audited)
            regions = {a.region for a in alerts}
            if len(regions) > 1:
                raise Invalid(f"alerts: the alerts come from several regions ({', '.join(sorted(regions))})")
            region = alerts[0].region
            lat, lon = self._alert_place(alerts, new)
        else:
            if new.alerts:
                raise Invalid(f"alerts: only an incident from alerts lists alerts (source is {new.source})")
            if new.source == Source.CALL:
                for field in ("caller_name", "caller_phone"):
                    if getattr(new, field) is None:
                        raise Invalid(f"{field}: a 102 call needs the caller's name and phone")
            if new.lat is None or new.lon is None:
                raise Invalid("lat, lon: the place of the incident is needed (click it on the map)")
            lat, lon = new.lat, new.lon
            found_region = region_of_place(lat, lon)
            if found_region is None:
                raise Invalid(f"lat, lon: ({lat:.5f}, {lon:.5f}) is outside Kyrgyzstan")
            region = found_region
        self._h.in_scope(who, "incident", f"new@{lat:.4f},{lon:.4f}", region)
        incident_id = str(ULID())
        steps = list(procedure(new.category))
        with self._lock, self._db.transaction() as s:
            repo = IncidentRepo(s)
            for a in alerts:
                st = repo.ensure_alert_state(a)
                if st.incident_id:
                    raise Conflict(f"alert {a.id!r} is already in incident {st.incident_id}")
                holder = self._queue.holder(st, now)
                if holder and holder != who.username:
                    raise Conflict(f"alert {a.id!r} is held by {holder}; they open the incident or release it")
                if st.first_claimed_at is None:  # opening an incident acknowledges the alert
                    st.first_claimed_at, st.first_claimed_by = now, who.username
            row = IncidentRow(
                id=incident_id,
                region=region,
                category=str(new.category),
                state=str(IncidentState.NEW),
                source=str(new.source),
                description=new.description,
                lat=lat,
                lon=lon,
                caller_name=new.caller_name,
                caller_phone=new.caller_phone,
                sop_steps=steps,
                sop_done=[],
                created_by=who.username,
                created_at=now,
            )
            repo.add(row)
            s.flush()
            if alerts and repo.attach_alerts([a.id for a in alerts], incident_id) != len(alerts):
                raise Conflict("an alert was put into another incident meanwhile; reload the queue")
            for a in alerts:
                repo.add(
                    IncidentEvidenceRow(
                        incident_id=incident_id,
                        kind="alert",
                        ref=a.id,
                        detail={"camera": a.camera, "ts": iso(a.ts), "rule": (a.payload or {}).get("rule_name")},
                        added_by=who.username,
                        added_at=now,
                    )
                )
                History.log(s, who, "alert", a.id, region, "incident", now, {"incident": incident_id})
            detail = {"source": str(new.source), "category": str(new.category), "alerts": new.alerts}
            History.log(s, who, "incident", incident_id, region, "create", now, detail)
        audit = detail | {"lat": lat, "lon": lon}
        if new.source == Source.CALL:
            audit |= {"caller_name": new.caller_name, "caller_phone": new.caller_phone}
        self._h.audited(who, "incident.create", "incident", incident_id, region, audit)
        return self._detail(incident_id)

    def _alert_place(self, alerts: list[EventRow], new: NewIncident) -> tuple[float, float]:
        if new.lat is not None and new.lon is not None:
            return new.lat, new.lon
        with self._db.session() as s:
            reg = RegistryRepo(s)
            for a in alerts:
                cam = reg.camera(a.camera) if a.camera else None
                if cam is not None:
                    return cam.lat, cam.lon
                site = reg.site(a.site) if a.site else None
                if site is not None:
                    return site.lat, site.lon
        raise Invalid("lat, lon: the alerts' cameras have no position; give the place")

    # -- working an incident ------------------------------------------------------------------
    def set_state(self, who: Principal, incident_id: str, body: Any) -> dict[str, Any]:
        change: StateChange = _validated(StateChange, body)
        if change.state == IncidentState.DISPATCHED:
            raise Invalid("state: an incident becomes dispatched when a unit is sent (POST .../dispatch)")
        self._change(who, incident_id, change.state, reason=None)
        return self._detail(incident_id)

    def _change(self, who: Principal, incident_id: str, target: IncidentState, reason: str | None) -> None:
        require(who, Permission.INCIDENTS_MANAGE)
        row = self._scoped(who, incident_id)
        now = self.now()
        with self._lock, self._db.transaction() as s:
            repo = IncidentRepo(s)
            self._transition(s, repo, who, row.id, row.region, target, now, reason)
        self._h.audited(who, "incident.state", "incident", incident_id, row.region, {"state": str(target)})

    def _transition(
        self,
        s: Any,
        repo: IncidentRepo,
        who: Principal,
        incident_id: str,
        region: str,
        target: IncidentState,
        now: datetime,
        reason: str | None,
    ) -> None:
        current = found(repo.incident(incident_id), "incident", incident_id)
        try:
            check_transition(current.state, target)
        except InvalidTransition as exc:
            last = [h for h in repo.history("incident", [incident_id]) if h.action == "state"]
            by = f" (by {last[-1].actor} at {iso(last[-1].ts)})" if last else ""
            raise Conflict(f"{exc}{by}") from None
        values: dict[str, Any] = {"state": str(target), TIME_FIELD[target]: now}
        if not repo.change_state(incident_id, current.state, values):
            raise Conflict(f"incident {incident_id!r} was changed meanwhile; reload it")
        unit_status = unit_status_for(target)
        for u in repo.units_of(incident_id):
            if target == IncidentState.ON_SCENE and u.status != UnitStatus.EN_ROUTE:
                continue
            if unit_status is not None:
                u.status, u.updated_at = str(unit_status), now
            d = repo.open_dispatch(incident_id, u.id)
            if target == IncidentState.ON_SCENE and d is not None and d.arrived_at is None:
                d.arrived_at = now
            if unit_status == UnitStatus.AVAILABLE:
                u.incident_id = None
                if d is not None:
                    d.cleared_at = now
        detail = {"from": current.state, "to": str(target)} | ({"reason": reason} if reason else {})
        History.log(s, who, "incident", incident_id, region, "state", now, detail)

    def tick(self, who: Principal, incident_id: str, step: str) -> dict[str, Any]:
        require(who, Permission.INCIDENTS_MANAGE)
        row = self._scoped(who, incident_id)
        now = self.now()
        with self._lock, self._db.transaction() as s:
            repo = IncidentRepo(s)
            inc = found(repo.incident(incident_id), "incident", incident_id)
            if inc.state == IncidentState.CLOSED:
                raise Conflict("the incident is closed; its checklist cannot change")
            done = list(inc.sop_done or [])
            try:
                check_step(list(inc.sop_steps or []), [d["step"] for d in done], step)
            except StepRefused as exc:
                raise Conflict(str(exc)) from None
            inc.sop_done = [*done, {"step": step, "at": iso(now), "by": who.username}]
            History.log(s, who, "incident", incident_id, row.region, "sop", now, {"step": step})
        self._h.audited(who, "incident.sop", "incident", incident_id, row.region, {"step": step})
        return self._detail(incident_id)

    def add_note(self, who: Principal, incident_id: str, body: Any) -> dict[str, Any]:
        require(who, Permission.INCIDENTS_MANAGE)
        note: Note = _validated(Note, body)
        row = self._scoped(who, incident_id)
        now = self.now()
        with self._lock, self._db.transaction() as s:
            s.add(IncidentNoteRow(incident_id=incident_id, text=note.text, author=who.username, ts=now))
            History.log(s, who, "incident", incident_id, row.region, "note", now)
        self._h.audited(who, "incident.note", "incident", incident_id, row.region, {"text": note.text})
        return self._detail(incident_id)

    def add_evidence(self, who: Principal, incident_id: str, body: Any) -> dict[str, Any]:
        """Link an event (any kind in scope) or a clip (camera and time range in scope)."""
        require(who, Permission.INCIDENTS_MANAGE)
        ev: Evidence = _validated(Evidence, body)
        row = self._scoped(who, incident_id)
        now = self.now()
        if ev.kind == "event":
            if not ev.event:
                raise Invalid("event: the id of the event to link")
            with self._db.session() as s:
                e = found(s.get(EventRow, ev.event), "event", ev.event)
            self._h.in_scope(who, "event", e.id, e.region)
            ref, detail = e.id, {"kind": e.kind, "camera": e.camera, "ts": iso(e.ts)}
        else:
            if not ev.camera or ev.start is None or ev.end is None:
                raise Invalid("camera, start, end: a clip needs its camera and time range")
            if ev.start.tzinfo is None or ev.end.tzinfo is None:
                raise Invalid("start, end: give times with an offset (e.g. 2026-11-25T10:00:00+06:00)")
            if not timedelta(0) < ev.end - ev.start <= timedelta(hours=24):
                raise Invalid("end: after start, at most 24 hours later")
            with self._db.session() as s:
                cam = found(RegistryRepo(s).camera(ev.camera), "camera", ev.camera)
            self._h.in_scope(who, "camera", cam.id, cam.region)
            ref = f"{cam.id}/{ev.start.isoformat()}/{ev.end.isoformat()}"
            detail = {"camera": cam.id, "start": ev.start.isoformat(), "end": ev.end.isoformat()}
        with self._lock, self._db.transaction() as s:
            s.add(
                IncidentEvidenceRow(
                    incident_id=incident_id, kind=ev.kind, ref=ref, detail=detail, added_by=who.username, added_at=now
                )
            )
            History.log(s, who, "incident", incident_id, row.region, "evidence", now, {"kind": ev.kind, "ref": ref})
        self._h.audited(who, "incident.evidence", "incident", incident_id, row.region, {"kind": ev.kind, "ref": ref})
        return self._detail(incident_id)

    def update(self, who: Principal, incident_id: str, body: Any) -> dict[str, Any]:
        """Name the officer responsible (a user who may work incidents in that region) or edit the text."""
        require(who, Permission.INCIDENTS_MANAGE)
        patch: IncidentPatch = _validated(IncidentPatch, body)
        row = self._scoped(who, incident_id)
        changes = patch.model_dump(exclude_unset=True)
        if not changes:
            raise Invalid("body: nothing to change (officer, description)")
        if changes.get("officer"):
            users = {u.username: u for u in self._users.list()}
            u = users.get(changes["officer"])
            if u is None or not u.active:
                raise Invalid(f"officer: no active user {changes['officer']!r}")
            if u.region is not None and u.region != row.region:
                raise Invalid(f"officer: {u.username} works in {u.region}, the incident is in {row.region}")
        now = self.now()
        with self._lock, self._db.transaction() as s:
            inc = found(IncidentRepo(s).incident(incident_id), "incident", incident_id)
            if inc.state == IncidentState.CLOSED:
                raise Conflict("the incident is closed")
            for k, v in changes.items():
                setattr(inc, k, v)
            History.log(s, who, "incident", incident_id, row.region, "update", now, changes)
        self._h.audited(who, "incident.update", "incident", incident_id, row.region, changes)
        return self._detail(incident_id)

    def escalate(self, who: Principal, incident_id: str, body: Any) -> dict[str, Any]:
        require(who, Permission.INCIDENTS_MANAGE)
        esc: Escalation = _validated(Escalation, body)
        row = self._scoped(who, incident_id)
        if who.scope.is_national:
            raise Invalid("the national centre has nobody to escalate to")
        now = self.now()
        with self._lock, self._db.transaction() as s:
            inc = found(IncidentRepo(s).incident(incident_id), "incident", incident_id)
            if inc.escalated_at is not None:
                raise Conflict(f"already escalated by {inc.escalated_by} at {iso(inc.escalated_at)}")
            if not is_open(inc.state):
                raise Conflict(f"the incident is {inc.state}; nothing to escalate")
            inc.escalated_at, inc.escalated_by = now, who.username
            History.log(s, who, "incident", incident_id, row.region, "escalate", now, {"reason": esc.reason})
        self._h.audited(who, "incident.escalate", "incident", incident_id, row.region, {"reason": esc.reason})
        return self._detail(incident_id)

    # -- dispatch -------------------------------------------------------------------------------
    def suggestions(self, who: Principal, incident_id: str, *, limit: int = 5) -> dict[str, Any]:
        """Nearest available units (in the caller's scope) and cameras near the place."""
        require(who, Permission.INCIDENTS_READ)
        row = self._scoped(who, incident_id)
        with self._db.session() as s:  # PostGIS does the measuring where the store has it (store/spatial.py)
            spatial = SpatialRepo(s, has_postgis(self._db.engine))
            nearest = spatial.available_units_nearest(who.scope, row.lat, row.lon, limit)
            cams = spatial.cameras_within(who.scope, row.lat, row.lon, NEAR_CAMERAS_M, limit=10)
        near = [{"id": c.id, "name": c.name, "lat": c.lat, "lon": c.lon, "distance_m": round(d, 1)} for c, d in cams]
        suggested = [
            Suggestion(UnitPosition(u.id, u.call_sign, UnitStatus(u.status), u.lat, u.lon), d, eta_s(d))
            for u, d in nearest
        ]
        return {
            "incident": incident_id,
            "assumed_speed_kmh": ASSUMED_ROAD_SPEED_KMH,
            "units": [
                {
                    "id": x.unit.id,
                    "call_sign": x.unit.call_sign,
                    "lat": x.unit.lat,
                    "lon": x.unit.lon,
                    "distance_m": round(x.distance_m, 1),
                    "eta_s": round(x.eta_s, 1),
                }
                for x in suggested
            ],
            "cameras": near[:10],
            "cameras_within_m": NEAR_CAMERAS_M,
        }

    def dispatch(self, who: Principal, incident_id: str, body: Any) -> dict[str, Any]:
        require(who, Permission.INCIDENTS_MANAGE)
        order: DispatchOrder = _validated(DispatchOrder, body)
        row = self._scoped(who, incident_id)
        unit = self._units.scoped(who, order.unit)  # 404 / 403 (audited)
        now = self.now()
        with self._lock, self._db.transaction() as s:
            repo = IncidentRepo(s)
            inc = found(repo.incident(incident_id), "incident", incident_id)
            if not is_open(inc.state):
                raise Conflict(f"the incident is {inc.state}; no unit can be sent")
            if not repo.take_unit(unit.id, incident_id, str(UnitStatus.EN_ROUTE), now):
                current = repo.unit(unit.id)
                busy = f" on incident {current.incident_id}" if current and current.incident_id else ""
                raise Conflict(
                    f"unit {unit.call_sign} is {current.status if current else '?'}{busy}; it cannot be sent"
                )
            dist = great_circle_m(inc.lat, inc.lon, unit.lat, unit.lon) if unit.lat is not None else None
            repo.add(
                DispatchRow(
                    incident_id=incident_id,
                    unit_id=unit.id,
                    region=row.region,
                    sent_by=who.username,
                    sent_at=now,
                    distance_m=round(dist, 1) if dist is not None else None,
                    eta_s=round(eta_s(dist), 1) if dist is not None else None,
                )
            )
            detail = {"unit": unit.id, "call_sign": unit.call_sign, "distance_m": dist}
            History.log(s, who, "incident", incident_id, row.region, "dispatch", now, detail)
            if inc.state == IncidentState.NEW:
                if not repo.change_state(incident_id, inc.state, {"state": "dispatched", "dispatched_at": now}):
                    raise Conflict(f"incident {incident_id!r} was changed meanwhile; reload it")
                History.log(
                    s, who, "incident", incident_id, row.region, "state", now, {"from": "new", "to": "dispatched"}
                )
        self._h.audited(who, "incident.dispatch", "incident", incident_id, row.region, detail)
        return self._detail(incident_id)

    def unit_status(self, who: Principal, unit_id: str, body: Any) -> dict[str, Any]:
        """A unit reports its status; arriving moves a dispatched incident on scene."""
        require(who, Permission.UNITS_MANAGE)
        report: UnitReport = _validated(UnitReport, body)
        unit = self._units.scoped(who, unit_id)
        target = report.status
        now = self.now()
        if target == UnitStatus.EN_ROUTE:
            raise Invalid("status: a unit goes en_route when it is dispatched to an incident")
        with self._lock, self._db.transaction() as s:
            repo = IncidentRepo(s)
            u: UnitRow = found(repo.unit(unit_id), "unit", unit_id)
            if u.status == target:
                raise Conflict(f"unit {u.call_sign} is already {target}")
            inc = repo.incident(u.incident_id) if u.incident_id else None
            if target == UnitStatus.ON_SCENE:
                if inc is None:
                    raise Conflict(f"unit {u.call_sign} has no incident to be on scene at")
                d = repo.open_dispatch(inc.id, u.id)
                if d is not None and d.arrived_at is None:
                    d.arrived_at = now
                u.status, u.updated_at = str(target), now
                History.log(s, who, "incident", inc.id, inc.region, "arrived", now, {"unit": u.id})
                if inc.state == IncidentState.DISPATCHED:
                    self._transition(
                        s, repo, who, inc.id, inc.region, IncidentState.ON_SCENE, now, f"{u.call_sign} arrived"
                    )
            else:  # available or off duty: stood down from its incident, if any
                if inc is not None and target == UnitStatus.OFF_DUTY:
                    raise Conflict(f"unit {u.call_sign} is on incident {inc.id}; stand it down (available) first")
                if inc is not None:
                    d = repo.open_dispatch(inc.id, u.id)
                    if d is not None:
                        d.cleared_at = now
                    History.log(s, who, "incident", inc.id, inc.region, "stood_down", now, {"unit": u.id})
                u.status, u.incident_id, u.updated_at = str(target), None, now
            History.log(s, who, "unit", u.id, u.region, "status", now, {"status": str(target)})
        self._h.audited(who, "unit.status", "unit", unit_id, unit.region, {"status": str(target)})
        return self._units.get(who, unit_id)

    # -- measures -------------------------------------------------------------------------------
    def stats(self, who: Principal, region: str | None, start: datetime | None, end: datetime | None) -> dict[str, Any]:
        """Response measures over incidents opened (and alerts raised) in [start, end)."""
        require(who, Permission.STATS_READ)
        end = aware(end) or self.now()
        try:
            start = aware(start) or end - timedelta(days=7)
        except OverflowError:  # 'to' in year 1: the default week would start before the calendar
            raise Invalid("to is out of range; use a date between the years 1970 and 2100") from None
        if end <= start or end - start > timedelta(days=MAX_STATS_DAYS):
            raise Invalid(f"to: after from, and at most {MAX_STATS_DAYS} days later")
        if region is not None:
            if region not in region_codes():
                raise Invalid(f"region: unknown region {region!r}")
            self._h.in_scope(who, "region", region, region)
            scope = Scope.of(region)
        else:
            scope = who.scope
        with self._db.session() as s:
            repo = IncidentRepo(s)
            rows = repo.incidents_created(scope, start, end)
            acks = repo.acknowledge_times(scope, start, end)

        def between(a: str, b: str, of: Any = None) -> list[float | None]:
            return [seconds_between(aware(getattr(r, a)), aware(getattr(r, b))) for r in (rows if of is None else of)]

        by_region = {}
        for code in sorted({r.region for r in rows}):
            mine = [r for r in rows if r.region == code]
            by_region[code] = {
                "incidents": len(mine),
                "median_dispatch_s": summary(between("created_at", "dispatched_at", mine))["median_s"],
                "median_arrive_s": summary(between("dispatched_at", "on_scene_at", mine))["median_s"],
                "median_resolve_s": summary(between("created_at", "resolved_at", mine))["median_s"],
            }

        return {
            "region": region,
            "regions": None if scope.is_national else sorted(scope.regions or ()),
            "from": start.isoformat(),
            "to": end.isoformat(),
            "incidents": len(rows),
            "by_category": dict(sorted(Counter(r.category for r in rows).items())),
            "by_state": dict(sorted(Counter(r.state for r in rows).items())),
            "by_source": dict(sorted(Counter(r.source for r in rows).items())),
            "by_region": by_region,
            "time_to_acknowledge": summary(seconds_between(a, b) for a, b in acks),
            "time_to_dispatch": summary(between("created_at", "dispatched_at")),
            "time_to_arrive": summary(between("dispatched_at", "on_scene_at")),
            "time_to_resolve": summary(between("created_at", "resolved_at")),
            "definitions": {
                "time_to_acknowledge": "alert raised -> first claim by an operator (alerts raised in the period)",
                "time_to_dispatch": "incident opened -> first unit sent",
                "time_to_arrive": "first unit sent -> incident on scene",
                "time_to_resolve": "incident opened -> resolved",
            },
        }

    # -- helpers --------------------------------------------------------------------------------
    def _scoped(self, who: Principal, incident_id: str) -> IncidentRow:
        with self._db.session() as s:
            row = found(IncidentRepo(s).incident(incident_id), "incident", incident_id)
        self._h.in_scope(who, "incident", incident_id, row.region)
        return row

    @staticmethod
    def _summary(r: IncidentRow) -> dict[str, Any]:
        return {
            "id": r.id,
            "region": r.region,
            "category": r.category,
            "state": r.state,
            "source": r.source,
            "description": r.description,
            "lat": r.lat,
            "lon": r.lon,
            "officer": r.officer,
            "created_by": r.created_by,
            "created_at": iso(r.created_at),
            "dispatched_at": iso(r.dispatched_at),
            "on_scene_at": iso(r.on_scene_at),
            "resolved_at": iso(r.resolved_at),
            "closed_at": iso(r.closed_at),
            "escalated_at": iso(r.escalated_at),
            "escalated_by": r.escalated_by,
            "sop_total": len(r.sop_steps or []),
            "sop_done": len(r.sop_done or []),
        }

    def _detail(self, incident_id: str) -> dict[str, Any]:
        with self._db.session() as s:
            repo = IncidentRepo(s)
            r = found(repo.incident(incident_id), "incident", incident_id)
            evidence = repo.evidence(incident_id)
            alert_ids = [e.ref for e in evidence if e.kind == "alert"]
            # a hotlist hit this incident was opened on that the decided read took back: the crew may be
            # on its way to a car that is not the listed one, so the incident says so (alert_queue shows
            # the same on the queue)
            taken_back = repo.withdrawals(alert_ids) if alert_ids else {}
            hist = [*repo.history("incident", [incident_id]), *repo.history("alert", alert_ids)]
            hist.sort(key=lambda h: (aware(h.ts), h.id))
            out = self._summary(r)
            done = {d["step"]: d for d in (r.sop_done or [])}
            out |= {
                "caller_name": r.caller_name,
                "caller_phone": r.caller_phone,
                "sop": [
                    {"step": st, "done": st in done, "at": done.get(st, {}).get("at"), "by": done.get(st, {}).get("by")}
                    for st in (r.sop_steps or [])
                ],
                "evidence": [
                    {"kind": e.kind, "ref": e.ref, "detail": e.detail, "by": e.added_by, "at": iso(e.added_at)}
                    | ({"withdrawn": _withdrawn(taken_back[e.ref])} if e.ref in taken_back else {})
                    for e in evidence
                ],
                "notes": [{"text": n.text, "by": n.author, "at": iso(n.ts)} for n in repo.notes(incident_id)],
                "dispatches": [
                    {
                        "unit": d.unit_id,
                        "sent_by": d.sent_by,
                        "sent_at": iso(d.sent_at),
                        "distance_m": d.distance_m,
                        "eta_s": d.eta_s,
                        "arrived_at": iso(d.arrived_at),
                        "cleared_at": iso(d.cleared_at),
                    }
                    for d in repo.dispatches(incident_id)
                ],
                "units": [unit_json(u) for u in repo.units_of(incident_id)],
                "history": history_json(hist),
            }
        return out


def _withdrawn(back: Any) -> dict[str, Any]:
    """A hit's withdrawal as the queue shows it (alert_queue._fold_withdrawals): by which alert, when, why."""
    p = back.payload or {}
    return {
        "by": back.id,
        "at": iso(back.ts),
        "plate": p.get("plate"),
        "listed_plate": p.get("listed_plate"),
        "reason": p.get("rule_name"),
    }
