"""The Bus protocol every adapter implements."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

from koopsuz.domain.events import Event

# A handler may return a concurrent.futures.Future: the JetStream adapter then acknowledges the message
# when it completes without error (a writer that commits in batches acks only what it stored).
Handler = Callable[[str, Event], object]


class Subscription(Protocol):
    def close(self) -> None: ...


class Bus(Protocol):
    def publish(self, event: Event) -> None:
        """Deliver ``event`` on ``event.subject`` to every matching subscriber."""

    def subscribe(self, pattern: str, handler: Handler, *, durable: str | None = None) -> Subscription:
        """Call ``handler(subject, event)`` for each event whose subject matches the NATS-style pattern.

        ``durable``: a consumer name whose position survives restarts (JetStream); an adapter without
        persistence (the in-process bus) accepts and ignores it.
        """

    def close(self) -> None: ...
