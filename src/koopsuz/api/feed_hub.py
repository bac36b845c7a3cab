"""Fan-out of bus events to the live-feed sockets of one API process.

Why this exists: with one bus subscription per socket, every alert cost the publishing thread a
pattern match per socket, a JSON copy and a thread hand-off per entitled socket, and the event loop
one task and one WebSocket frame per message; at 1,000 alerts a second to 100 operator browsers the
feed fell seconds behind (docs/benchmarks.md, command centre fan-out). Here:

- the process holds one bus subscription per *index key* (a region, or ``None`` for the whole
  country) that has at least one socket, not one per socket;
- events cross from the publisher's thread to the event loop in batches (one wake-up for whatever
  piled up meanwhile);
- each event is encoded to JSON once, whatever the number of sockets it goes to (the message does
  not depend on who reads it; if it ever does, the cache key becomes the view);
- it is offered only to the sockets indexed under its region and the national ones, so an alert
  costs O(entitled sockets), not O(all sockets);
- each socket sends everything its queue holds as one frame, a JSON array of messages.

Scope is applied twice: the bus subscription of a region key is on that region's subjects only
(``koopsuz.*.<region>.>``), and each event's own ``region`` must equal the key it arrived under
before it is offered to that key's sockets. A socket whose queue reaches its bound is marked too slow
and closed by its handler (it reconnects and reloads from the REST API) instead of growing without
limit.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import weakref
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from koopsuz.bus.base import Bus, Subscription
from koopsuz.domain.events import Event
from koopsuz.security.principal import Scope

log = logging.getLogger(__name__)

NATIONAL: None = None  # the index key of sockets that see the whole country
RECENT = 256  # encoded events kept for the second key an event arrives under


def index_keys(scope: Scope) -> list[str | None]:
    """Where a socket with this scope is indexed: the national key, or each of its regions."""
    return [NATIONAL] if scope.is_national else sorted(scope.regions or ())


def pattern_for(key: str | None) -> str:
    return "koopsuz.>" if key is None else f"koopsuz.*.{key}.>"


class FeedClient:
    """One socket's side of the hub: a bounded queue of encoded messages and a wake-up.

    Lives on the event loop's thread only (the hub offers from there), so it needs no lock.
    """

    def __init__(self, scope: Scope, max_queue: int) -> None:
        self.scope = scope
        self.max_queue = max_queue
        self._q: deque[str] = deque()
        self._wake = asyncio.Event()
        self.too_slow = False
        self.closed = False
        self.sent_messages = 0
        self.sent_frames = 0

    def offer(self, text: str) -> None:
        """Queue one encoded message; past the bound the socket is too slow (its queue is dropped)."""
        if self.too_slow or self.closed:
            return
        if len(self._q) >= self.max_queue:
            self.too_slow = True
            self._q.clear()
        else:
            self._q.append(text)
        self._wake.set()

    def close(self) -> None:
        self.closed = True
        self._wake.set()

    @property
    def depth(self) -> int:
        return len(self._q)

    async def next_frame(self, max_items: int) -> str | None:
        """The next frame to send: a JSON array of up to ``max_items`` queued messages, oldest first.

        Waits while the queue is empty; None once the socket is closed or found too slow.
        """
        while not self._q and not self.too_slow and not self.closed:
            self._wake.clear()
            await self._wake.wait()
        if self.too_slow or self.closed:
            return None
        n = min(len(self._q), max_items)
        items = [self._q.popleft() for _ in range(n)]
        self.sent_messages += n
        self.sent_frames += 1
        return "[" + ",".join(items) + "]"


@dataclass
class HubStats:
    events: int = 0  # events handed to the loop (one per index key they arrived under)
    encoded: int = 0  # JSON encodings (fewer than events when the national and a region key share one)
    offered: int = 0  # messages queued to sockets
    out_of_key: int = 0  # events whose region did not match the key they arrived under (dropped)
    too_slow: int = 0  # sockets closed because their queue reached its bound


_HUBS: weakref.WeakSet[FeedHub] = weakref.WeakSet()  # this process's hubs, for /metrics


def live_totals() -> dict[str, int]:
    """Sockets open now and lifetime counters over this process's hubs (what /metrics shows)."""
    hubs = list(_HUBS)
    return {
        "sockets": sum(h.clients for h in hubs),
        "offered": sum(h.stats.offered for h in hubs),
        "too_slow": sum(h.stats.too_slow for h in hubs),
    }


class FeedHub:
    """Holds the bus subscriptions and the index of sockets by region for one event loop."""

    def __init__(
        self,
        bus: Bus,
        loop: asyncio.AbstractEventLoop,
        encode: Callable[[Event], str],
        skip: Callable[[Event], bool] = lambda _e: False,
    ) -> None:
        self._bus = bus
        self.loop = loop
        self._encode = encode
        self._skip = skip
        self._index: dict[str | None, set[FeedClient]] = {}
        self._subs: dict[str | None, Subscription] = {}
        self._lock = asyncio.Lock()  # attach/detach may await a bus (JetStream) subscribe or close
        self._pending: list[tuple[str | None, Event]] = []
        self._pending_lock = threading.Lock()
        # event id -> its text, for the last few events: an event arrives once per key it matches
        # (national and its region), possibly in two drains when the loop runs between the two
        self._recent: OrderedDict[str, str] = OrderedDict()
        self.stats = HubStats()
        _HUBS.add(self)

    @property
    def clients(self) -> int:
        return len({c for cs in self._index.values() for c in cs})

    @property
    def subscriptions(self) -> list[str]:
        return sorted(pattern_for(k) for k in self._subs)

    async def attach(self, client: FeedClient) -> None:
        async with self._lock:
            for key in index_keys(client.scope):
                self._index.setdefault(key, set()).add(client)
                if key not in self._subs:
                    handler = partial(self._on_bus, key)
                    self._subs[key] = await asyncio.to_thread(self._bus.subscribe, pattern_for(key), handler)

    async def detach(self, client: FeedClient) -> None:
        if client.too_slow:
            self.stats.too_slow += 1
        async with self._lock:
            for key in index_keys(client.scope):
                members = self._index.get(key)
                if members is None:
                    continue
                members.discard(client)
                if not members:
                    del self._index[key]
                    sub = self._subs.pop(key, None)
                    if sub is not None:
                        # handed to the executor at once, not awaited: the socket's handler may be
                        # cancelled right here (its connection gone), and an awaited close would then
                        # never run, leaving a bus subscription behind for good
                        self.loop.run_in_executor(None, sub.close)

    def close(self) -> None:
        """Drop the bus subscriptions (a hub replaced because its event loop ended with sockets open)."""
        for sub in self._subs.values():
            try:
                sub.close()
            except Exception:
                log.exception("live feed: could not close a bus subscription")
        self._subs.clear()
        self._index.clear()

    def _on_bus(self, key: str | None, _subject: str, event: Event) -> None:
        """On the publisher's thread: queue the event; wake the loop only if nothing was waiting."""
        with self._pending_lock:
            self._pending.append((key, event))
            first = len(self._pending) == 1
        if first:
            try:
                self.loop.call_soon_threadsafe(self._drain)
            except RuntimeError:  # the loop has closed (server shutting down)
                with self._pending_lock:
                    self._pending.clear()

    def _drain(self) -> None:
        with self._pending_lock:
            batch, self._pending = self._pending, []
        recent = self._recent
        stats = self.stats
        for key, event in batch:
            stats.events += 1
            if key is not None and event.region != key:
                stats.out_of_key += 1
                log.error("event %s of region %s arrived under %s: not delivered", event.id, event.region, key)
                continue
            if self._skip(event):
                continue
            members = self._index.get(key)
            if not members:
                continue
            text = recent.get(event.id)
            if text is None:
                try:
                    text = recent[event.id] = self._encode(event)
                except Exception:  # one bad event must not cost the rest of the batch
                    log.exception("live feed: could not encode event %s", event.id)
                    continue
                stats.encoded += 1
                if len(recent) > RECENT:
                    recent.popitem(last=False)
            for client in members:
                client.offer(text)
            stats.offered += len(members)


def encode_message(message: dict[str, object]) -> str:
    return json.dumps(message, ensure_ascii=False)
