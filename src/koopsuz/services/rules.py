"""Rule sets per camera, line counts, and operator feedback on alerts (the measure of precision).

A saved rule set is stored, audited (``rules.update``) and announced as ``camera_config`` on the
bus, the same message a camera edit sends; the ingest supervisor then swaps the rules of that
camera's running pipeline in place (no reconnect, tracks kept). A camera with no saved set runs
its site type's defaults (``domain.default_rules``), with the site's opening hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from koopsuz.bus.base import Bus
from koopsuz.domain.default_rules import default_rules
from koopsuz.domain.events import Event
from koopsuz.domain.rules import Rule
from koopsuz.domain.schedule import Hours
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal, Scope
from koopsuz.services.errors import Forbidden, Invalid, NotFound, invalid
from koopsuz.services.registry import CONFIG_KIND, RegistryService
from koopsuz.store.db import Database
from koopsuz.store.event_repo import EventRepo
from koopsuz.store.registry_repo import RegistryRepo
from koopsuz.store.rule_repo import RuleRepo
from koopsuz.store.tables import AlertFeedbackRow

MAX_RULES = 50
MAX_COUNT_RANGE = timedelta(days=31)


class RuleSet(BaseModel):
    """The body of ``PUT /api/cameras/{id}/rules``."""

    model_config = ConfigDict(extra="forbid")
    rules: list[Rule] = Field(max_length=MAX_RULES)


class Feedback(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    verdict: Literal["confirmed", "dismissed"]
    note: str = Field(default="", max_length=1000)


@dataclass(frozen=True, slots=True)
class RuleConfig:
    """What one camera's pipeline evaluates: its rules and its site's opening hours."""

    rules: tuple[Rule, ...]
    hours: Hours | None
    defaults: bool


class RuleService:
    def __init__(self, db: Database, bus: Bus, audit: AuditLog, registry: RegistryService) -> None:
        self._db = db
        self._bus = bus
        self._audit = audit
        self._registry = registry

    # -- rule sets --------------------------------------------------------------------------
    def get(self, who: Principal, camera_id: str) -> dict[str, Any]:
        self._registry.camera(who, camera_id)
        return self._json(camera_id, self.configs([camera_id])[camera_id])

    def save(self, who: Principal, camera_id: str, body: Any) -> dict[str, Any]:
        cam = self._registry.camera(who, camera_id, Permission.CAMERAS_WRITE)
        try:
            ruleset = RuleSet.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        ids = [r.id for r in ruleset.rules]
        if len(set(ids)) != len(ids):
            raise Invalid("rules: rule ids must be unique on a camera")
        data = [r.model_dump(mode="json") for r in ruleset.rules]
        with self._db.transaction() as s:
            RuleRepo(s).save_rules(camera_id, cam.region, data, who.username)
        self._audit.record(
            who, "rules.update", target_type="camera", target_id=camera_id, region=cam.region, detail={"rules": data}
        )
        self._bus.publish(Event(kind=CONFIG_KIND, region=cam.region, camera=camera_id, ts=datetime.now(UTC)))
        return self._json(camera_id, self.configs([camera_id])[camera_id])

    def configs(self, cameras: list[str] | None = None) -> dict[str, RuleConfig]:
        """Every camera's effective rules (saved, else its site type's defaults); no scope: ingest."""
        with self._db.session() as s:
            reg = RegistryRepo(s)
            saved = RuleRepo(s).all_rules()
            sites = {x.id: x for x in reg.sites(Scope.national())}
            rows = reg.cameras(Scope.national())
        out = {}
        for row in rows:
            if cameras is not None and row.id not in cameras:
                continue
            site = sites.get(row.site)
            hours = site.opening_hours if site else None
            if row.id in saved:
                rules = tuple(Rule.model_validate(r) for r in saved[row.id])
                out[row.id] = RuleConfig(rules, hours, defaults=False)
            else:
                out[row.id] = RuleConfig(tuple(default_rules(site.type if site else None)), hours, defaults=True)
        return out

    @staticmethod
    def _json(camera_id: str, cfg: RuleConfig) -> dict[str, Any]:
        return {
            "camera": camera_id,
            "defaults": cfg.defaults,
            "opening_hours": cfg.hours,
            "rules": [r.model_dump(mode="json") for r in cfg.rules],
        }

    # -- counts -----------------------------------------------------------------------------
    def counts(self, who: Principal, camera_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        self._registry.camera(who, camera_id)
        try:
            start, end = _utc(start), _utc(end)
        except OverflowError:  # year 1 or 9999 with an offset cannot be shifted to UTC
            raise Invalid("from or to is out of range; use a date between the years 1970 and 2100") from None
        if end <= start or end - start > MAX_COUNT_RANGE:
            raise Invalid("to must be after from, and at most 31 days later")
        with self._db.session() as s:
            counts = RuleRepo(s).line_counts(camera_id, start, end)
        return [
            {
                "rule": rule,
                "hour": datetime.fromtimestamp(hour, UTC).isoformat(),
                "class": cls,
                "direction": direction,
                "count": n,
            }
            for (rule, hour, cls, direction), n in sorted(counts.items())
        ]

    # -- feedback ---------------------------------------------------------------------------
    def feedback(self, who: Principal, event_id: str, body: Any) -> dict[str, Any]:
        if not who.can(Permission.EVENTS_READ):
            raise Forbidden(f"role {who.role} may not {Permission.EVENTS_READ}")
        try:
            fb = Feedback.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        with self._db.session() as s:
            event = EventRepo(s).get(event_id)
        if event is None:
            raise NotFound(f"no event {event_id!r}")
        if not who.scope.allows(event.region):
            self._audit.record(
                who, "access.denied", target_type="event", target_id=event_id, region=event.region, outcome="denied"
            )
            raise Forbidden(f"event {event_id!r} is outside your region scope")
        if event.kind != "alert":
            raise Invalid(f"event {event_id!r} is a {event.kind}, not an alert")
        row = AlertFeedbackRow(
            event_id=event_id,
            region=event.region,
            camera=event.camera,
            rule=str(event.payload.get("rule")) if event.payload.get("rule") else None,
            verdict=fb.verdict,
            note=fb.note,
            actor=who.username,
            ts=datetime.now(UTC),
        )
        with self._db.transaction() as s:
            RuleRepo(s).save_feedback(row)
        self._audit.record(
            who,
            "alert.feedback",
            target_type="event",
            target_id=event_id,
            region=event.region,
            detail={"verdict": fb.verdict, "note": fb.note, "rule": row.rule},
        )
        return feedback_json(row)

    def feedback_for(self, event_ids: list[str]) -> dict[str, dict[str, Any]]:
        with self._db.session() as s:
            return {k: feedback_json(v) for k, v in RuleRepo(s).feedback_for(event_ids).items()}

    def precision(self, who: Principal, camera: str | None = None) -> list[dict[str, Any]]:
        """confirmed / (confirmed + dismissed) per camera and rule, within the caller's scope."""
        if not who.can(Permission.EVENTS_READ):
            raise Forbidden(f"role {who.role} may not {Permission.EVENTS_READ}")
        with self._db.session() as s:
            rows = RuleRepo(s).verdicts(who.scope, camera)
        table: dict[tuple[str | None, str | None], dict[str, int]] = {}
        for cam, rule, verdict, n in rows:
            table.setdefault((cam, rule), {"confirmed": 0, "dismissed": 0})[verdict] = n
        out = []
        for (cam, rule), v in sorted(table.items(), key=lambda kv: (kv[0][0] or "", kv[0][1] or "")):
            judged = v["confirmed"] + v["dismissed"]
            out.append(
                {
                    "camera": cam,
                    "rule": rule,
                    **v,
                    "precision": round(v["confirmed"] / judged, 4) if judged else None,
                }
            )
        return out


def feedback_json(row: AlertFeedbackRow) -> dict[str, Any]:
    ts = row.ts if row.ts.tzinfo else row.ts.replace(tzinfo=UTC)
    return {"verdict": row.verdict, "note": row.note, "by": row.actor, "at": ts.isoformat()}


def _utc(d: datetime) -> datetime:
    return d.replace(tzinfo=UTC) if d.tzinfo is None else d.astimezone(UTC)


