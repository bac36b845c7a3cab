"""The one write path for events: store first (with an outbox row), then the bus.

Pipelines on many camera threads hand events to a queue; one writer thread commits them in
batches (SQLite likes one writer) and only then publishes. An event that was committed but not yet
published when the process died is still in the outbox and is published at the next start, so no
event is lost between pipeline and store, and none reaches the live feed without being stored.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from datetime import timedelta

from sqlalchemy.orm import Session

from koopsuz.bus.base import Bus
from koopsuz.domain.events import Event
from koopsuz.store.db import Database
from koopsuz.store.event_repo import EventRepo

log = logging.getLogger(__name__)
_STOP = object()


def clip_ref(event: Event, pre_s: float, post_s: float) -> str:
    """The footage around an event as an ISO 8601 interval (``start/end``, UTC) on its camera."""
    fmt = "%Y-%m-%dT%H:%M:%S.%fZ"
    return f"{(event.ts - timedelta(seconds=pre_s)):{fmt}}/{(event.ts + timedelta(seconds=post_s)):{fmt}}"


Projection = Callable[[Session, Sequence[Event]], None]  # keeps a summary table in step with events


class EventWriter:
    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        batch: int = 200,
        max_queue: int = 50_000,
        clip_s: tuple[float, float] | None = None,
        projections: Sequence[Projection] = (),
    ) -> None:
        self._db = db
        self._projections = list(projections)
        self._bus = bus
        self._batch = batch
        self._clip_s = clip_s  # (pre-roll, post-roll): every event with a camera points at its footage
        self._q: queue.Queue[object] = queue.Queue(maxsize=max_queue)
        self._thread = threading.Thread(target=self._run, name="event-writer", daemon=True)
        self.written = 0
        self.outbox_retry_s = 1.0
        self._outbox_dirty = False  # the bus refused a publish: the outbox holds events to replay
        self._last_replay = 0.0

    @property
    def started(self) -> bool:
        return self._thread.ident is not None

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def outbox_depth(self) -> int:
        """Events stored but not yet taken by the bus (a bus outage shows here first)."""
        with self._db.session() as s:
            return EventRepo(s).outbox_depth()

    @property
    def queue_depth(self) -> int:
        return self._q.qsize()

    def start(self) -> None:
        self._replay_outbox()
        self._thread.start()

    def submit(self, event: Event) -> None:
        """Queue an event for writing. Blocks (back-pressure) rather than dropping when full."""
        self._q.put(self._with_clip(event))

    def write_now(self, events: list[Event]) -> None:
        """Synchronous path for callers that must know the event is stored (API actions, tests)."""
        self._commit_and_publish([self._with_clip(e) for e in events])

    def _with_clip(self, event: Event) -> Event:
        if self._clip_s is not None and event.camera and "clip" not in event.media:
            event.media["clip"] = clip_ref(event, *self._clip_s)
        return event

    def stop(self, timeout: float = 10.0) -> None:
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join(timeout)

    def _run(self) -> None:
        while True:
            try:
                item = self._q.get(timeout=self.outbox_retry_s)  # dirty may be set by write_now's thread
            except queue.Empty:
                if self._outbox_dirty:
                    self._replay_outbox()
                continue
            if item is _STOP:
                return
            events = [item]
            stop = False
            while len(events) < self._batch:
                try:
                    nxt = self._q.get_nowait()
                except queue.Empty:
                    break
                if nxt is _STOP:
                    stop = True
                    break
                events.append(nxt)
            self._write_with_retry(events)  # type: ignore[arg-type]
            if self._outbox_dirty and time.monotonic() - self._last_replay >= self.outbox_retry_s:
                self._replay_outbox()  # under steady load the queue never idles: replay on a timer too
            if stop:
                return

    def _write_with_retry(self, events: list[Event]) -> None:
        delay = 0.2
        while True:
            try:
                self._commit_and_publish(events)
                return
            except Exception as exc:  # a locked or full database must not lose the batch
                log.error("could not store %d event(s): %s; retrying in %.1fs", len(events), exc, delay)
                time.sleep(delay)
                delay = min(delay * 2, 10.0)

    def _commit_and_publish(self, events: list[Event]) -> None:
        with self._db.transaction() as s:
            EventRepo(s).add_with_outbox(events)
            for project in self._projections:  # in the same transaction: tallies never drift from events
                project(s, events)
        self.written += len(events)
        try:
            self._publish(events)
        except Exception as exc:  # stored is what counts: the bus (NATS) being away must not fail the write
            self._outbox_dirty = True
            log.warning("bus unavailable (%s): %d event(s) wait in the outbox", exc, len(events))

    def _publish(self, events: list[Event]) -> None:
        many = getattr(self._bus, "publish_many", None)  # JetStream: one pipelined round trip per batch
        if many is not None:
            many(events)
        else:
            for e in events:
                self._bus.publish(e)
        with self._db.transaction() as s:
            EventRepo(s).mark_published([e.id for e in events])

    def _replay_outbox(self) -> None:
        """Publish what the outbox holds; if the bus is still away, try again ``outbox_retry_s`` later."""
        self._last_replay = time.monotonic()
        try:
            self._flush_outbox()
            self._outbox_dirty = False
        except Exception as exc:
            self._outbox_dirty = True
            log.warning("outbox replay failed (%s); retrying in %.1fs", exc, self.outbox_retry_s)

    def _flush_outbox(self) -> None:
        while True:
            with self._db.session() as s:
                pending = EventRepo(s).pending_outbox()
            if not pending:
                return
            log.info("publishing %d event(s) left in the outbox", len(pending))
            self._publish(pending)
