"""The alert queue of a command centre: open alerts in scope, claimed by one operator at a time.

An operator *acknowledges* an alert by claiming it; a second operator's claim is refused (409)
naming the holder, until the holder releases it, turns it into an incident, or leaves it idle for
``claim_idle_s`` (each action of the holder touches the claim). The first claim's time is kept: it
is the "time to acknowledge" the measures report. A regional operator escalates an alert to the
national centre in one action: the claim is let go, the alert is flagged for the national queue,
and its history keeps who held it and why it went up.
"""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from koopsuz.domain.events import Event
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.command_history import Clock, History, found, history_json, iso, require, utcnow
from koopsuz.services.errors import Conflict, Invalid, invalid
from koopsuz.store.db import Database
from koopsuz.store.event_repo import to_event
from koopsuz.store.incident_repo import IncidentRepo, aware
from koopsuz.store.tables import AlertStateRow, EventRow

DEFAULT_CLAIM_IDLE_S = 600.0
MAX_QUEUE_HOURS = 24 * 7


class Escalation(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    reason: str = Field(min_length=3, max_length=1000)


class AlertQueueService:
    def __init__(self, db: Database, audit: AuditLog, *, claim_idle_s: float = DEFAULT_CLAIM_IDLE_S) -> None:
        self._db = db
        self._h = History(audit)
        self.claim_idle_s = claim_idle_s
        self.now: Clock = utcnow  # replaced by tests that need controlled times
        self._lock = threading.Lock()

    # -- reads --------------------------------------------------------------------------------
    def queue(
        self, who: Principal, *, hours: float = 24, escalated_only: bool = False, limit: int = 200
    ) -> list[tuple[Event, dict[str, Any]]]:
        require(who, Permission.INCIDENTS_READ)
        require(who, Permission.EVENTS_READ)
        if not 0 < hours <= MAX_QUEUE_HOURS:
            raise Invalid(f"hours: between 0 and {MAX_QUEUE_HOURS}")
        now = self.now()
        with self._db.session() as s:
            rows = IncidentRepo(s).queue(
                who.scope, now - timedelta(hours=hours), escalated_only=escalated_only, limit=limit
            )
        return _fold_withdrawals([(to_event(e), self._state_json(e.id, st, now)) for e, st in rows])

    def state(self, who: Principal, event_id: str) -> dict[str, Any]:
        require(who, Permission.INCIDENTS_READ)
        event = self.alert(who, event_id)
        with self._db.session() as s:
            repo = IncidentRepo(s)
            st = repo.alert_state(event_id)
            out = self._state_json(event_id, st, self.now())
            out["history"] = history_json(repo.history("alert", [event_id]))
        out["region"] = event.region
        return out

    # -- acts ---------------------------------------------------------------------------------
    def claim(self, who: Principal, event_id: str) -> dict[str, Any]:
        """Acknowledge (claim) the alert, or refresh the caller's own claim."""
        require(who, Permission.INCIDENTS_MANAGE)
        event = self.alert(who, event_id)
        now = self.now()
        with self._lock, self._db.transaction() as s:
            repo = IncidentRepo(s)
            st = repo.ensure_alert_state(event)
            if st.incident_id:
                raise Conflict(f"alert {event_id!r} is already in incident {st.incident_id}")
            refresh = st.claimed_by == who.username
            if not repo.try_claim(event_id, who.username, now, now - timedelta(seconds=self.claim_idle_s)):
                raise Conflict(self._held_message(event_id, st))
            taken_from = st.claimed_by if st.claimed_by and not refresh else None
            if not refresh:
                detail = {"taken_from_idle": taken_from} if taken_from else {}
                History.log(s, who, "alert", event_id, event.region, "claim", now, detail)
        if not refresh:
            self._h.audited(who, "alert.claim", "event", event_id, event.region, {"taken_from_idle": taken_from})
        return self._fresh(event_id)

    def release(self, who: Principal, event_id: str) -> dict[str, Any]:
        require(who, Permission.INCIDENTS_MANAGE)
        event = self.alert(who, event_id)
        now = self.now()
        with self._lock, self._db.transaction() as s:
            repo = IncidentRepo(s)
            st = repo.alert_state(event_id)
            if st is None or st.claimed_by != who.username:
                holder = st.claimed_by if st else None
                raise Conflict(
                    f"alert {event_id!r} is held by {holder}; only the holder releases it"
                    if holder
                    else f"alert {event_id!r} is not claimed by anyone"
                )
            repo.release(event_id, who.username)
            History.log(s, who, "alert", event_id, event.region, "release", now)
        self._h.audited(who, "alert.release", "event", event_id, event.region, {})
        return self._fresh(event_id)

    def escalate(self, who: Principal, event_id: str, body: Any) -> dict[str, Any]:
        """Hand the alert to the national centre: flagged there, the regional claim let go, history kept."""
        require(who, Permission.INCIDENTS_MANAGE)
        try:
            esc = Escalation.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        event = self.alert(who, event_id)
        if who.scope.is_national:
            raise Invalid("the national centre has nobody to escalate to")
        now = self.now()
        with self._lock, self._db.transaction() as s:
            repo = IncidentRepo(s)
            st = repo.ensure_alert_state(event)
            if st.incident_id:
                raise Conflict(f"alert {event_id!r} is in incident {st.incident_id}: escalate the incident")
            if st.escalated_at is not None:
                raise Conflict(
                    f"alert {event_id!r} was already escalated by {st.escalated_by} at {iso(st.escalated_at)}"
                )
            if st.claimed_by and st.claimed_by != who.username and not self._idle(st, now):
                raise Conflict(self._held_message(event_id, st))
            st.escalated_at, st.escalated_by = now, who.username
            st.claimed_by = st.claimed_at = st.touched_at = None
            History.log(s, who, "alert", event_id, event.region, "escalate", now, {"reason": esc.reason})
        self._h.audited(who, "alert.escalate", "event", event_id, event.region, {"reason": esc.reason})
        return self._fresh(event_id)

    # -- used by incidents ----------------------------------------------------------------------
    def holder(self, st: AlertStateRow | None, now: datetime) -> str | None:
        """Who holds the alert now (an idle claim holds nothing)."""
        if st is None or st.claimed_by is None or self._idle(st, now):
            return None
        return st.claimed_by

    def alert(self, who: Principal, event_id: str) -> EventRow:
        """The alert event, or 404; another region's answers 403 (audited)."""
        with self._db.session() as s:
            row = s.get(EventRow, event_id)
        if row is None or row.kind != "alert":
            found(None, "alert", event_id)
        self._h.in_scope(who, "event", event_id, row.region)
        return row

    def _idle(self, st: AlertStateRow, now: datetime) -> bool:
        touched = aware(st.touched_at)
        return touched is None or touched < now - timedelta(seconds=self.claim_idle_s)

    def _held_message(self, event_id: str, st: AlertStateRow) -> str:
        free = aware(st.touched_at) + timedelta(seconds=self.claim_idle_s) if st.touched_at else None
        return (
            f"alert {event_id!r} is held by {st.claimed_by} since {iso(st.claimed_at)}; "
            f"it frees when they release it or at {iso(free)} if idle"
        )

    def _fresh(self, event_id: str) -> dict[str, Any]:
        with self._db.session() as s:
            return self._state_json(event_id, IncidentRepo(s).alert_state(event_id), self.now())

    def _state_json(self, event_id: str, st: AlertStateRow | None, now: datetime) -> dict[str, Any]:
        holder = self.holder(st, now)
        expires = (
            aware(st.touched_at) + timedelta(seconds=self.claim_idle_s) if holder and st and st.touched_at else None
        )
        return {
            "alert": event_id,
            "claimed_by": holder,
            "claimed_at": iso(st.claimed_at) if holder and st else None,
            "claim_expires_at": iso(expires),
            "acknowledged_by": st.first_claimed_by if st else None,
            "acknowledged_at": iso(st.first_claimed_at) if st else None,
            "escalated_by": st.escalated_by if st else None,
            "escalated_at": iso(st.escalated_at) if st else None,
            "incident": st.incident_id if st else None,
        }


def _fold_withdrawals(items: list[tuple[Event, dict[str, Any]]]) -> list[tuple[Event, dict[str, Any]]]:
    """A hit taken back (``hotlist_unconfirmed``, ``retracts: <hit id>``) is shown on the hit, not as one more
    alert: the hit's state gets ``withdrawn`` (by which alert, when, the decided plate and why) and the
    withdrawal leaves the queue, so nobody is called to a car the decided read says was another. A
    withdrawal whose hit is not in the queue any more (in an incident, dismissed) stays, with ``retracts``
    in its state, so whoever acted on the hit still learns of it."""
    listed = {e.id for e, _st in items}
    withdrawals = {
        str(e.payload["retracts"]): e
        for e, _st in items
        if e.payload.get("rule_kind") == "hotlist_unconfirmed" and e.payload.get("retracts")
    }
    out = []
    for e, st in items:
        back = withdrawals.get(e.id)
        if back is not None:
            st = st | {
                "withdrawn": {
                    "by": back.id,
                    "at": back.ts.isoformat(),
                    "plate": back.payload.get("plate"),
                    "listed_plate": back.payload.get("listed_plate"),
                    "reason": back.payload.get("rule_name"),
                }
            }
        retracts = e.payload.get("retracts") if e.payload.get("rule_kind") == "hotlist_unconfirmed" else None
        if retracts:
            if retracts in listed:
                continue
            st = st | {"retracts": retracts}
        out.append((e, st))
    return out
