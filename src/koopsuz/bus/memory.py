"""In-process bus for the embedded mode.

Handlers run on the publisher's thread and must be quick (they hand work to a queue). One failing
handler is logged and never stops delivery to the others. Durability does not live here: events are
written to the store (with an outbox row) before they are published.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field

from koopsuz.bus.base import Handler
from koopsuz.domain.events import Event, subject_matches

log = logging.getLogger(__name__)


@dataclass(eq=False)
class _Sub:
    bus: MemoryBus
    pattern: str
    handler: Handler
    closed: bool = field(default=False)

    def close(self) -> None:
        self.closed = True
        self.bus._remove(self)


class MemoryBus:
    def __init__(self) -> None:
        self._subs: list[_Sub] = []
        self._lock = threading.Lock()

    def publish(self, event: Event) -> None:
        subject = event.subject
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            if sub.closed or not subject_matches(sub.pattern, subject):
                continue
            try:
                sub.handler(subject, event)
            except Exception:
                log.exception("bus handler for %s failed on %s", sub.pattern, subject)

    def subscribe(self, pattern: str, handler: Handler, *, durable: str | None = None) -> _Sub:  # durable: ignored
        sub = _Sub(self, pattern, handler)
        with self._lock:
            self._subs.append(sub)
        return sub

    def _remove(self, sub: _Sub) -> None:
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)

    def close(self) -> None:
        with self._lock:
            self._subs.clear()
