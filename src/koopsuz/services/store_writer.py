"""``koopsuz writer``: events from the bus into a store, idempotently.

Workers write their events to their own store first (the outbox guarantees they reach the bus).
A store that is not theirs (the national store fed by regional nodes, a second site's replica)
follows the bus with this writer: a durable JetStream consumer, so nothing published while it was
down is missed; idempotent by event id, so the redeliveries and replays that at-least-once delivery
brings never show twice. Projections (line-crossing tallies, plate reads) run for new events only,
in the same transaction, exactly as the embedded writer does.

Each event is handed back to the bus as a Future settled when its batch commits: the JetStream adapter
acknowledges it only then, so a writer killed with events queued but not yet stored gets them again
from its durable consumer (exactly once in the store across a crash, not just a clean stop).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future

from sqlalchemy import select

from koopsuz.bus.base import Bus, Subscription
from koopsuz.domain.events import Event
from koopsuz.services.event_writer import Projection
from koopsuz.services.registry import CONFIG_KIND
from koopsuz.store.db import Database
from koopsuz.store.event_repo import to_row
from koopsuz.store.tables import EventRow

log = logging.getLogger(__name__)


class StoreWriter:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        pattern: str = "koopsuz.>",
        durable: str = "store-writer",
        projections: Sequence[Projection] = (),
        batch: int = 500,
    ) -> None:
        self._db = db
        self._bus = bus
        self._pattern = pattern
        self._durable = durable
        self._projections = list(projections)
        self._batch = batch
        self._q: queue.Queue[tuple[Event, Future[None]]] = queue.Queue()
        self._pending: dict[str, Future[None]] = {}  # queued, not yet committed (by event id)
        self._pending_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="store-writer", daemon=True)
        self._sub: Subscription | None = None
        self.written = 0
        self.duplicates = 0

    def start(self) -> None:
        self._thread.start()
        self._sub = self._bus.subscribe(self._pattern, self._on_event, durable=self._durable)

    def stop(self, timeout: float = 10.0) -> None:
        if self._sub is not None:
            self._sub.close()
        self._stop.set()
        self._thread.join(timeout)

    def _on_event(self, _subject: str, event: Event) -> Future[None] | None:
        if event.kind == CONFIG_KIND:  # change notices, not events: never stored
            return None
        with self._pending_lock:  # redelivered while its first copy waits for a commit: one queued copy
            stored = self._pending.get(event.id)  # (a store down past ack_wait does not pile them up)
            if stored is not None:
                return stored
            stored = self._pending[event.id] = Future()
        self._q.put((event, stored))
        return stored

    def _run(self) -> None:
        while not (self._stop.is_set() and self._q.empty()):
            try:
                items = [self._q.get(timeout=0.2)]
            except queue.Empty:
                continue
            while len(items) < self._batch:
                try:
                    items.append(self._q.get_nowait())
                except queue.Empty:
                    break
            events = [e for e, _ in items]
            delay = 0.2
            while True:
                try:
                    self._store(events)
                    break
                except Exception as exc:  # the store away: hold the batch, never drop it
                    log.error("store writer: %d event(s) not stored (%s); retrying in %.1fs", len(events), exc, delay)
                    time.sleep(delay)
                    delay = min(delay * 2, 10.0)
            with self._pending_lock:
                for e, _ in items:
                    self._pending.pop(e.id, None)
            for _, stored in items:
                stored.set_result(None)  # committed: the bus may acknowledge it (and its redeliveries) now

    def _store(self, events: list[Event]) -> None:
        unique = list({e.id: e for e in events}.values())
        with self._db.transaction() as s:
            have = set(s.scalars(select(EventRow.id).where(EventRow.id.in_([e.id for e in unique]))))
            new = [e for e in unique if e.id not in have]
            s.add_all([to_row(e) for e in new])
            for project in self._projections:
                project(s, new)
        self.written += len(new)
        self.duplicates += len(events) - len(new)
