"""The capital's view of a region's cameras' health (issue 9, regions).

A regional centre's cameras are copied into the national store (services/regional_registry.py) but never
ingested here, so the local ingest can only say "disabled" for them. What the capital does hear is the
region's own health transitions: its ingest turns them into ``camera_offline`` / ``camera_online``
events (services/ingest.py), which the hub stream sources with every other event. The last of those per
camera *is* the camera's state as its region saw it, and its ``ts`` is when that state began.

So this service keeps, per camera, the newest such event: seeded at start from the store with one query
over every copy (not one per camera: a capital holds thousands), then kept current from the bus. It
subscribes before seeding and keeps whichever of two events is newer (``ts``, then id), so an event
arriving during the seed is not lost nor overwritten by an older stored one. The seed is repeated every
``reseed_s``: a copy the registry follower adds after start may have health events stored before it
existed here (a region linked for the first time sends its backlog and its registry together).

What a copy's health says (``health``): ``state`` ``online`` / ``offline`` since the event's ``ts``, or
``unknown`` when no event was ever heard (a camera that has been online since its region started emits
none: only transitions are events). ``remote`` names the regional domain the state was heard from: it
tells every consumer that this is relayed, not measured here, so there is no fps, lag or last frame.

Staleness: the capital hears nothing from a region whose line is down, so "online" there would only mean
"online when we last heard". Where this process is national on the NATS bus, ``link_status`` (the hub's
``Federation.status()``) is polled; a region not linked marks its cameras ``stale``. A stale camera last
heard online is reported ``unknown`` (with ``last_state`` ``online``): the capital must never show a
camera as working on evidence it cannot refresh, since that hides an outage. One last heard offline stays
``offline`` (still the last fact, and it errs towards someone checking, not towards silence). Either way
the events of the cut period come when the line returns (the hub's source resumes) and correct the state.
Where there is no hub to ask (memory bus, or not a national process), nothing is ever marked stale.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from koopsuz.bus import Bus
from koopsuz.domain.events import Event
from koopsuz.store.dashboard_repo import HEALTH_KINDS
from koopsuz.store.db import Database
from koopsuz.store.recording_repo import utc
from koopsuz.store.tables import CameraRow, EventRow

log = logging.getLogger(__name__)
LinkStatus = Callable[[], Mapping[str, bool]]  # regional domain -> linked now (bus/federation.py)


@dataclass(frozen=True, slots=True)
class Heard:
    """The newest health event of one camera."""

    kind: str
    ts: datetime
    event_id: str
    error: str | None

    def newer_than(self, other: Heard | None) -> bool:
        return other is None or (self.ts, self.event_id) > (other.ts, other.event_id)


@dataclass(frozen=True, slots=True)
class Copy:
    region: str
    domain: str


class RemoteHealth:
    """Last heard health of the cameras the capital holds as copies of a region's (``owner_domain`` set)."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        link_status: LinkStatus | None = None,
        *,
        status_interval_s: float = 5.0,
        reseed_s: float = 30.0,
    ) -> None:
        self._db, self._bus, self._link_status = db, bus, link_status
        self._status_interval, self._reseed_s = status_interval_s, reseed_s
        self._lock = threading.Lock()
        self._heard: dict[str, Heard] = {}
        self._copies: dict[str, Copy] = {}
        self._linked: Mapping[str, bool] | None = None  # None: never asked (nothing is stale)
        self._subs: list[Any] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0  # subscribe-and-seed rounds failed in a row

    def start(self) -> None:
        """Subscribe first, then seed: an event arriving meanwhile is kept (newest wins either way). Neither
        failing stops the process (a capital's API must come up with its bus or store away): the thread
        tries both again."""
        self._subscribe_and_seed()
        self._thread = threading.Thread(target=self._run, name="remote-health", daemon=True)
        self._thread.start()

    def _subscribe_and_seed(self) -> None:
        try:
            if not self._subs:
                subs: list[Any] = []
                try:
                    for kind in HEALTH_KINDS:
                        subs.append(self._bus.subscribe(f"koopsuz.{kind}.>", self.on_event))
                except Exception:
                    for sub in subs:
                        sub.close()  # half subscribed: start over next time
                    raise
                self._subs = subs
            self.seed()
            self.failures = 0
        except Exception as exc:
            self.failures += 1
            if self.failures in (1, 10) or self.failures % 100 == 0:
                log.warning("remote health: could not follow the regions' health events (%r); retrying", exc)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)  # first: it may be subscribing
        for sub in self._subs:
            sub.close()
        self._subs = []

    def seed(self) -> int:
        """One query: every copy, with its newest health event if it has one. Returns how many copies."""
        latest = (
            select(EventRow.camera.label("camera"), func.max(EventRow.id).label("id"))
            .join(CameraRow, CameraRow.id == EventRow.camera)
            .where(CameraRow.owner_domain.is_not(None), EventRow.kind.in_(HEALTH_KINDS))
            .group_by(EventRow.camera)
            .subquery()
        )
        cols = (CameraRow.id, CameraRow.region, CameraRow.owner_domain, EventRow.id, EventRow.kind, EventRow.ts)
        q = (
            select(*cols, EventRow.payload)
            .select_from(CameraRow)
            .outerjoin(latest, latest.c.camera == CameraRow.id)
            .outerjoin(EventRow, EventRow.id == latest.c.id)
            .where(CameraRow.owner_domain.is_not(None))
        )
        with self._db.session() as s:
            rows = s.execute(q).all()
        copies = {cid: Copy(region, domain) for cid, region, domain, *_ in rows}
        with self._lock:
            self._copies = copies
            for cid, _region, _domain, eid, kind, ts, payload in rows:
                if eid is not None:
                    self._keep(cid, Heard(kind, utc(ts), eid, _error(kind, payload)))
        return len(copies)

    def on_event(self, _subject: str, event: Event) -> None:
        if event.camera is None or event.kind not in HEALTH_KINDS:
            return
        heard = Heard(event.kind, utc(event.ts), event.id, _error(event.kind, event.payload))
        with self._lock:
            self._keep(event.camera, heard)

    def _keep(self, camera: str, heard: Heard) -> None:
        if heard.newer_than(self._heard.get(camera)):
            self._heard[camera] = heard

    def stale(self, domain: str) -> bool:
        """The capital cannot hear this region now (only known where ``link_status`` was given)."""
        linked = self._linked
        return linked is not None and not linked.get(domain, False)

    def health(self, camera_id: str, domain: str) -> dict[str, Any]:
        """The copy's health in the shape of the local ingest's (``CameraHealth.to_json``), plus ``remote``,
        ``stale`` and ``last_state``; what is only measured by the ingest (fps, lag, frames) is None."""
        with self._lock:
            heard = self._heard.get(camera_id)
        last = None if heard is None else ("offline" if heard.kind == "camera_offline" else "online")
        stale = self.stale(domain)
        state = last or "unknown"
        if stale and state == "online":
            state = "unknown"  # never "online" on evidence the capital cannot refresh (module docstring)
        return {
            "state": state,
            "since": heard.ts.isoformat() if heard else None,
            "last_state": last,
            "remote": domain,
            "stale": stale,
            "error": heard.error if heard else None,
            "fps": None,
            "lag_s": None,
            "last_frame_at": None,
            "reconnects": None,
        }

    def copies(self) -> dict[str, Copy]:
        """The copies as of the last seed (camera -> region, domain): for /metrics, which asks no store."""
        with self._lock:
            return dict(self._copies)

    def refresh_links(self) -> None:
        if self._link_status is None:
            return
        try:
            linked = dict(self._link_status())
        except Exception as exc:  # the hub itself does not answer: no region can be heard
            log.warning("remote health: cannot read the regions' link status (%r); every copy is stale", exc)
            linked = {}
        self._linked = linked

    def _run(self) -> None:
        since_seed = 0.0
        while not self._stop.is_set():
            self.refresh_links()
            self._stop.wait(self._status_interval)
            since_seed += self._status_interval
            if since_seed >= self._reseed_s or not self._subs:
                since_seed = 0.0
                self._subscribe_and_seed()


def _error(kind: str, payload: Mapping[str, Any] | None) -> str | None:
    """An offline event carries why (the region's ingest error); an online one has nothing to say."""
    if kind != "camera_offline" or not payload:
        return None
    err = payload.get("error")
    return str(err) if err else None
