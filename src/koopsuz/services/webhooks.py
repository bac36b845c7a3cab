"""Alert webhooks: other systems (the ministry's dispatch, SMS gateways) subscribe to alerts by HTTP.

An admin registers a subscription: a URL, the event kinds and alert (rule) kinds it wants, a region
(None: the whole country), a severity floor and a secret. ``WebhookDispatcher`` listens on the bus
and POSTs each matching event as JSON, signed ``X-Koopsuz-Signature: sha256=<HMAC-SHA256(secret,
body)>`` with a delivery id (``X-Koopsuz-Delivery``, also in the body) so a receiver can verify the
sender and drop a repeat. Failures (a connection error, a timeout, any non-2xx answer) are retried
with exponential backoff up to ``attempts`` times; each subscription keeps its last ``log_size``
deliveries (status, attempts, last answer or error) for the admin to read.

The bus handler only filters and enqueues (a bounded queue; a full one counts ``dropped``), so a
slow or dead receiver never holds the bus, the writer or another subscription back: POSTs run on a
small pool of sender threads, each attempt with its own timeout.
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from sqlalchemy import delete, select

from koopsuz.bus.base import Bus
from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.domain.regions import region_codes
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, Invalid, NotFound, invalid
from koopsuz.store.db import Database
from koopsuz.store.webhook_tables import WebhookDeliveryRow, WebhookRow

log = logging.getLogger(__name__)
SEVERITY_RANK = {s.value: i for i, s in enumerate(Severity)}  # info < low < medium < high < critical
SIGNATURE_HEADER = "X-Koopsuz-Signature"
DELIVERY_HEADER = "X-Koopsuz-Delivery"
_KIND = r"^[a-z][a-z0-9_]{0,39}$"


def alert_kind(event: Event) -> str:
    """What kind of alert this is: the rule kind of an ``alert`` (zone, hotlist_hit, ...), else the event kind."""
    rk = event.payload.get("rule_kind") if event.kind == "alert" else None
    return str(rk) if isinstance(rk, str) and rk else event.kind


# An alert that takes back an earlier one, by its alert kind -> the kind of the alert it takes back. The
# road watch raises a hit on a provisional read; when the decided read is another plate it sends
# ``hotlist_unconfirmed`` with ``retracts: <hit id>``. Whoever was told of the hit must be told it is
# withdrawn, even when they subscribed to hits only.
RETRACTS = {"hotlist_unconfirmed": "hotlist_hit"}


def retracted_kind(event: Event) -> str | None:
    """The alert kind this alert takes back (``hotlist_hit``), or None when it takes nothing back."""
    if event.kind != "alert" or not event.payload.get("retracts"):
        return None
    return RETRACTS.get(alert_kind(event))


def topic_kind(event: Event) -> str:
    """The alert kind a subscriber filters this alert under: a retraction travels with what it retracts,
    so a filter that let the ``hotlist_hit`` through lets its withdrawal through too."""
    return retracted_kind(event) or alert_kind(event)


def sign(secret: str, body: bytes) -> str:
    """The signature header's value; a receiver recomputes it over the raw body it got."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=100)
    url: str = Field(max_length=500, description="http(s)://host[:port]/path the alerts are POSTed to")
    secret: str = Field(min_length=16, max_length=200, description="HMAC-SHA256 key shared with the receiver")
    region: str | None = Field(default=None, description="None: every region; else only this region's alerts")
    kinds: list[str] = Field(default_factory=lambda: ["alert"], min_length=1, max_length=20)
    rule_kinds: list[str] = Field(default_factory=list, max_length=50, description="[]: every alert kind")
    min_severity: Severity = Severity.HIGH
    enabled: bool = True

    @field_validator("url")
    @classmethod
    def _url(cls, v: str) -> str:
        parts = urlsplit(v)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http:// or https:// URL with a host, e.g. https://dispatch.local/alerts")
        if parts.username or parts.password:
            raise ValueError("must not carry credentials; the secret signs each delivery instead")
        return v

    @field_validator("region")
    @classmethod
    def _region(cls, v: str | None) -> str | None:
        if v is not None and v not in region_codes():
            raise ValueError(f"unknown region {v!r}; use an ISO 3166-2:KG code such as KG-Y, or null for all")
        return v

    @field_validator("kinds", "rule_kinds")
    @classmethod
    def _kinds(cls, v: list[str]) -> list[str]:
        import re

        for k in v:
            if not re.match(_KIND, k):
                raise ValueError(f"{k!r} is not a kind (lower-case letters, digits, underscores)")
        return sorted(set(v))


class WebhookPatch(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)
    enabled: bool


def webhook_json(r: WebhookRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "url": r.url,
        "region": r.region,
        "kinds": list(r.kinds),
        "rule_kinds": list(r.rule_kinds),
        "min_severity": r.min_severity,
        "enabled": r.enabled,
        "secret_set": bool(r.secret),  # never shown again after creation
        "created_by": r.created_by,
        "created_at": r.created_at.isoformat(),
    }


def delivery_json(r: WebhookDeliveryRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "event_id": r.event_id,
        "kind": r.kind,
        "region": r.region,
        "status": r.status,
        "attempts": r.attempts,
        "response_code": r.response_code,
        "last_error": r.last_error,
        "created_at": r.created_at.isoformat(),
        "updated_at": r.updated_at.isoformat(),
    }


@dataclass(frozen=True)
class Target:
    """A subscription as the dispatcher holds it in memory (reloaded whenever one changes)."""

    id: str
    url: str
    secret: str
    region: str | None
    kinds: frozenset[str]
    rule_kinds: frozenset[str]
    min_rank: int

    def wants(self, e: Event) -> bool:
        if self.region is not None and e.region != self.region:
            return False  # a regional subscription never gets another region's alerts
        if e.kind not in self.kinds or SEVERITY_RANK[e.severity.value] < self.min_rank:
            return False
        # a retraction is raised at its hit's severity, in its region: filtered under the hit's kind, it
        # reaches exactly the subscriptions whose filter let the hit through (and those that ask for it)
        return not self.rule_kinds or alert_kind(e) in self.rule_kinds or topic_kind(e) in self.rule_kinds


@dataclass(order=True)
class _Attempt:
    due: float
    delivery: str = field(compare=False)
    target: Target = field(compare=False)
    body: bytes = field(compare=False)
    kind: str = field(compare=False)
    number: int = field(compare=False, default=1)


def _require_admin(who: Principal) -> None:
    if not who.can(Permission.CAMERAS_WRITE):
        raise Forbidden(f"role {who.role} may not configure webhooks (cameras.write: system configuration)")


class WebhookService:
    """Subscriptions (admin) and their delivery logs; scope: a regional caller sees its region's only."""

    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit
        self.listeners: list[Any] = []

    def list(self, who: Principal) -> list[dict[str, Any]]:
        _require_admin(who)
        with self._db.session() as s:
            rows = s.execute(select(WebhookRow).order_by(WebhookRow.created_at)).scalars()
            return [webhook_json(r) for r in rows if self._visible(who, r)]

    def create(self, who: Principal, body: Any) -> dict[str, Any]:
        _require_admin(who)
        try:
            data = WebhookIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        if not (who.scope.is_national or (data.region is not None and who.scope.allows(data.region))):
            self._audit.record(who, "webhook.create", target_type="webhook", region=data.region, outcome="denied")
            raise Forbidden("a webhook outside your region: name your own region")
        now = datetime.now(UTC)
        row = WebhookRow(id=new_id(), created_by=who.username, created_at=now, updated_at=now)
        for k, v in data.model_dump(mode="json").items():
            setattr(row, k, v)
        with self._db.transaction() as s:
            s.add(row)
        detail = data.model_dump(mode="json", exclude={"secret"})
        self._audit.record(who, "webhook.create", target_type="webhook", target_id=row.id, region=row.region,
                           detail=detail)
        self._changed()
        return webhook_json(row)

    def set_enabled(self, who: Principal, webhook_id: str, body: Any) -> dict[str, Any]:
        _require_admin(who)
        try:
            data = WebhookPatch.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        with self._db.transaction() as s:
            row = self._get(s, who, webhook_id)
            row.enabled, row.updated_at = data.enabled, datetime.now(UTC)
            out = webhook_json(row)
        self._audit.record(who, "webhook.update", target_type="webhook", target_id=webhook_id, region=out["region"],
                           detail={"enabled": data.enabled})
        self._changed()
        return out

    def remove(self, who: Principal, webhook_id: str) -> None:
        _require_admin(who)
        with self._db.transaction() as s:
            row = self._get(s, who, webhook_id)
            region = row.region
            s.delete(row)
            s.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.webhook == webhook_id))
        self._audit.record(who, "webhook.delete", target_type="webhook", target_id=webhook_id, region=region)
        self._changed()

    def deliveries(self, who: Principal, webhook_id: str, limit: int = 100) -> list[dict[str, Any]]:
        _require_admin(who)
        if not 1 <= limit <= 1000:
            raise Invalid("limit: between 1 and 1000")
        with self._db.session() as s:
            self._get(s, who, webhook_id)
            rows = s.execute(
                select(WebhookDeliveryRow)
                .where(WebhookDeliveryRow.webhook == webhook_id)
                .order_by(WebhookDeliveryRow.id.desc())
                .limit(limit)
            ).scalars()
            return [delivery_json(r) for r in rows]

    def targets(self) -> list[Target]:
        with self._db.session() as s:
            rows = s.execute(select(WebhookRow).where(WebhookRow.enabled.is_(True))).scalars()
            return [
                Target(r.id, r.url, r.secret, r.region, frozenset(r.kinds), frozenset(r.rule_kinds),
                       SEVERITY_RANK.get(r.min_severity, 0))
                for r in rows
            ]

    # -- internals -------------------------------------------------------------------------------
    @staticmethod
    def _visible(who: Principal, r: WebhookRow) -> bool:
        return who.scope.is_national or (r.region is not None and who.scope.allows(r.region))

    def _get(self, s: Any, who: Principal, webhook_id: str) -> WebhookRow:
        row = s.get(WebhookRow, webhook_id)
        if row is None:
            raise NotFound(f"no webhook {webhook_id!r}")
        if not self._visible(who, row):
            self._audit.record(who, "webhook.access", target_type="webhook", target_id=webhook_id,
                               region=row.region, outcome="denied")
            raise Forbidden("this webhook belongs to another region")
        return row

    def _changed(self) -> None:
        for listener in list(self.listeners):
            listener()


class WebhookDispatcher:
    """Bus subscriber that delivers matching events to the subscriptions, with retries, off the bus thread."""

    def __init__(
        self,
        bus: Bus,
        service: WebhookService,
        db: Database,
        *,
        attempts: int = 5,
        backoff_s: float = 2.0,
        timeout_s: float = 5.0,
        senders: int = 4,
        log_size: int = 200,
    ) -> None:
        self._bus = bus
        self._service = service
        self._db = db
        self.attempts = attempts
        self.backoff_s = backoff_s
        self.timeout_s = timeout_s
        self.log_size = log_size
        self.reload_s = 5.0
        self._loaded_at = 0.0
        self._n_senders = senders
        self._in: queue.Queue[Event | None] = queue.Queue(maxsize=10_000)
        self._heap: list[_Attempt] = []
        self._cv = threading.Condition()
        self._targets: list[Target] = []
        self._kinds: frozenset[str] = frozenset()
        self._stale = threading.Event()
        self._reload_lock = threading.Lock()
        self._reloading = False
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._sub: Any = None
        self._client: httpx.Client | None = None
        self.delivered = 0
        self.failed = 0
        self.dropped = 0

    def start(self) -> None:
        if self._threads:
            return
        self._reload()
        self._service.listeners.append(self._stale.set)
        self._client = httpx.Client(timeout=self.timeout_s, follow_redirects=False)
        self._threads = [threading.Thread(target=self._match_loop, name="webhook-match", daemon=True)]
        self._threads += [
            threading.Thread(target=self._send_loop, name=f"webhook-send-{i}", daemon=True)
            for i in range(self._n_senders)
        ]
        for t in self._threads:
            t.start()
        # durable: on JetStream the API processes share one consumer, so each event is delivered by one
        # of them (and what was published while all were down is picked up); the memory bus ignores it
        self._sub = self._bus.subscribe("koopsuz.>", self._on_event, durable="webhooks")

    def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
            self._sub = None
        if not self._threads:
            return
        self._stop.set()
        self._in.put(None)
        with self._cv:
            self._cv.notify_all()
        for t in self._threads:
            t.join(self.timeout_s + 2)
        self._threads = []
        if self._client is not None:
            self._client.close()

    def stats(self) -> dict[str, int]:
        with self._cv:
            waiting = len(self._heap)
        return {"delivered": self.delivered, "failed": self.failed, "dropped": self.dropped, "waiting": waiting}

    # -- bus side: cheap --------------------------------------------------------------------------
    def _on_event(self, _subject: str, event: Event) -> None:
        # while a reload runs, the kinds may be the old ones (say none, before the first subscription):
        # let the event through, the matcher decides on the new targets. The flags are read before the
        # kinds: a reload finishing in between then leaves the new kinds to be read, never old kinds
        # judged after the flags say all is settled
        settling = self._stale.is_set() or self._reloading
        if not settling and event.kind not in self._kinds:
            return
        try:
            self._in.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def _reload(self) -> None:
        # the stale flag is cleared before the read, so a change committed meanwhile makes another reload;
        # between the two the bus handler must not drop events by the old kinds (``_reloading``)
        with self._reload_lock:
            self._reloading = True
            try:
                self._stale.clear()
                self._loaded_at = time.monotonic()
                self._targets = self._service.targets()
                self._kinds = frozenset(k for t in self._targets for k in t.kinds)
            finally:
                self._reloading = False

    # -- matching: one thread writes the pending deliveries and schedules their first attempt -----
    def _match_loop(self) -> None:
        while True:
            try:
                event: Event | None = self._in.get(timeout=1.0)
                if event is None:
                    return
            except queue.Empty:
                event = None  # idle: only the periodic reload below
            try:
                # a change made through another API process is seen within reload_s
                if self._stale.is_set() or time.monotonic() - self._loaded_at > self.reload_s:
                    self._reload()
                if event is None:
                    continue
                targets = [t for t in self._targets if t.wants(event)]
                if targets:
                    self._enqueue(event, targets)
            except Exception:
                log.exception("webhooks: could not match event %s", getattr(event, "id", None))

    def _enqueue(self, event: Event, targets: list[Target]) -> None:
        now = datetime.now(UTC)
        attempts = []
        with self._db.transaction() as s:
            for t in targets:
                did = new_id()
                s.add(WebhookDeliveryRow(id=did, webhook=t.id, event_id=event.id, kind=alert_kind(event),
                                         region=event.region, status="pending", attempts=0, created_at=now,
                                         updated_at=now))
                body = json.dumps(
                    {"delivery": did, "subscription": t.id, "kind": alert_kind(event),
                     "event": event.model_dump(mode="json")},
                    ensure_ascii=False, separators=(",", ":"),
                ).encode()
                attempts.append(_Attempt(time.monotonic(), did, t, body, event.kind))
            for t in targets:  # bounded log: the subscription's oldest rows beyond log_size go
                old = select(WebhookDeliveryRow.id).where(WebhookDeliveryRow.webhook == t.id).order_by(
                    WebhookDeliveryRow.id.desc()).offset(self.log_size)
                s.execute(delete(WebhookDeliveryRow).where(WebhookDeliveryRow.id.in_(old.scalar_subquery())))
        with self._cv:
            for a in attempts:
                heapq.heappush(self._heap, a)
            self._cv.notify_all()

    # -- sending: a pool of threads takes due attempts off the heap -------------------------------
    def _send_loop(self) -> None:
        while not self._stop.is_set():
            with self._cv:
                while not self._stop.is_set():
                    wait = self._heap[0].due - time.monotonic() if self._heap else None
                    if wait is not None and wait <= 0:
                        break
                    self._cv.wait(wait)
                if self._stop.is_set():
                    return
                attempt = heapq.heappop(self._heap)
            self._attempt(attempt)

    def _attempt(self, a: _Attempt) -> None:
        assert self._client is not None
        if self._stale.is_set():
            self._reload()
        if not any(t.id == a.target.id for t in self._targets):
            return  # the subscription was removed or disabled meanwhile: no more attempts
        headers = {
            "Content-Type": "application/json",
            SIGNATURE_HEADER: sign(a.target.secret, a.body),
            DELIVERY_HEADER: a.delivery,
            "X-Koopsuz-Event": a.kind,
            "User-Agent": "koopsuz-webhooks",
        }
        code: int | None = None
        error: str | None = None
        try:
            r = self._client.post(a.target.url, content=a.body, headers=headers)
            code = r.status_code
            if not 200 <= code < 300:
                error = f"HTTP {code}: {r.text[:200]}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        retry = error is not None and a.number < self.attempts
        status = "delivered" if error is None else ("pending" if retry else "failed")
        self._record(a, status, code, error)
        if error is None:
            self.delivered += 1
        elif retry:
            a.number += 1
            a.due = time.monotonic() + self.backoff_s * 2 ** (a.number - 2)
            with self._cv:
                heapq.heappush(self._heap, a)
                self._cv.notify_all()
        else:
            self.failed += 1
            log.warning("webhook %s: delivery %s failed after %d attempts: %s", a.target.id, a.delivery,
                        a.number, error)

    def _record(self, a: _Attempt, status: str, code: int | None, error: str | None) -> None:
        try:
            with self._db.transaction() as s:
                row = s.get(WebhookDeliveryRow, a.delivery)
                if row is None:  # pruned from the log, or the subscription was removed
                    return
                row.status, row.attempts, row.response_code, row.last_error = status, a.number, code, error
                row.updated_at = datetime.now(UTC)
        except Exception:
            log.exception("webhooks: could not record delivery %s", a.delivery)
