"""NATS JetStream adapter: the same synchronous Bus, backed by a replicated, persistent stream.

Why one stream (``KOOPSUZ`` over ``koopsuz.>``) rather than one per event kind: a JetStream consumer
reads one stream, and the platform's consumers subscribe across kinds (the live feed takes
``koopsuz.*.<region>.>``, the writer takes everything). Per-kind streams would turn one subscription
into one consumer per stream and lose the single order of a region's events. Retention per kind,
where it is needed, belongs to the store, which keeps events for years; the stream is a transport
buffer (``max_age``, default 7 days) that lets consumers catch up after an outage.

Threads: nats-py is asyncio, the rest of Koopsuz is threads. A private event loop runs on its own
thread; ``publish`` and ``subscribe`` are coroutines submitted to it and waited for. Each
subscription has its own delivery thread, so a slow handler never stalls the loop (and never stalls
other subscriptions); the message is acknowledged after the handler returns (or, when the handler
returns a Future, once that completes: the store writer's batched commit), so a durable consumer
that dies mid-handler gets it again.

Durability: ``publish`` returns only once JetStream has stored the event (the ack), and sets
``Nats-Msg-Id`` to the event id, so the outbox replaying an event after a crash is dropped as a
duplicate inside the stream's ``duplicate_window``. Consumers are pull consumers re-checked after
every reconnect: an ephemeral one the server lost is recreated from the last sequence it delivered,
a durable one keeps its position on the server.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import queue
import threading
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qs, urlsplit, urlunsplit

import nats
from nats.errors import TimeoutError as NatsTimeout
from nats.js import api
from nats.js.errors import BadRequestError, NotFoundError

from koopsuz.bus.base import Handler
from koopsuz.domain.events import Event

log = logging.getLogger(__name__)
T = TypeVar("T")
_STOP = object()


class BusUnavailableError(RuntimeError):
    """The bus did not take an event; the caller keeps it (the event writer's outbox) and retries."""


@dataclass(frozen=True)
class NatsOptions:
    """Read from the URL's query: ``nats://h:4222,h2:4222?stream=KOOPSUZ&max_age_h=168&dup_window_s=600``."""

    servers: list[str]
    stream: str = "KOOPSUZ"
    max_age_s: float = 7 * 86400.0
    duplicate_window_s: float = 600.0  # an outbox replayed within 10 min of the first publish is deduplicated
    publish_timeout_s: float = 2.0
    connect_timeout_s: float = 5.0  # at start only: later outages are retried for ever
    replicas: int = 1
    ack_wait_s: float = 30.0  # a consumer that died holding messages: others get them again after this

    @classmethod
    def from_url(cls, url: str) -> NatsOptions:
        parts = urlsplit(url)
        if parts.scheme not in ("nats", "tls"):
            raise ValueError(f"not a NATS URL: {url!r} (expected nats://host:4222)")
        q = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        hosts = [h for h in parts.netloc.split(",") if h]
        if not hosts:
            raise ValueError(f"NATS URL {url!r} names no server (expected nats://host:4222)")
        servers = [urlunsplit((parts.scheme, h, "", "", "")) for h in hosts]
        try:
            return cls(
                servers=servers,
                stream=q.get("stream", "KOOPSUZ"),
                max_age_s=float(q.get("max_age_h", 168)) * 3600,
                duplicate_window_s=float(q.get("dup_window_s", 600)),
                publish_timeout_s=float(q.get("timeout_s", 2.0)),
                connect_timeout_s=float(q.get("connect_timeout_s", 5.0)),
                replicas=int(q.get("replicas", 1)),
                ack_wait_s=float(q.get("ack_wait_s", 30.0)),
            )
        except ValueError as exc:
            raise ValueError(f"bad option in NATS URL {url!r}: {exc}") from exc


@dataclass(eq=False)
class _NatsSub:
    bus: NatsBus
    pattern: str
    handler: Handler
    durable: str | None
    psub: Any = None  # nats PullSubscription, touched on the loop only
    consumer: str | None = None
    last_stream_seq: int = 0
    delivered: int = 0
    closed: bool = False
    task: asyncio.Task[None] | None = None
    q: queue.Queue[object] = field(default_factory=queue.Queue)
    thread: threading.Thread | None = None

    def close(self) -> None:
        self.bus._close_sub(self)

    @property
    def backlog(self) -> int:
        """Messages fetched but not yet handled (consumer lag on this side of the wire)."""
        return self.q.qsize()


class NatsBus:
    """A Bus on NATS JetStream. Construct with :meth:`connect`; ``close`` stops the loop thread."""

    def __init__(self, options: NatsOptions) -> None:
        self.options = options
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="nats-loop", daemon=True)
        self._thread.start()
        self._nc: Any = None
        self._js: Any = None
        self._subs: list[_NatsSub] = []
        self._lock = threading.Lock()
        self.published = 0
        self.duplicates = 0
        self.reconnects = 0
        self._closing = False

    @classmethod
    def connect(cls, url: str) -> NatsBus:
        bus = cls(NatsOptions.from_url(url))
        try:
            wait = bus.options.connect_timeout_s
            bus._call(asyncio.wait_for(bus._connect(), wait), timeout=wait + 5)
        except Exception as exc:
            bus._stop_loop()
            raise BusUnavailableError(
                f"cannot reach NATS at {url}: {exc!r}; start nats-server with -js or fix KOOPSUZ_BUS_URL"
            ) from exc
        return bus

    # -- sync facade ---------------------------------------------------------------------------

    def _call(self, coro: Coroutine[Any, Any, T], timeout: float) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(timeout)

    @property
    def connected(self) -> bool:
        return bool(self._nc is not None and self._nc.is_connected)

    def publish(self, event: Event) -> None:
        timeout = self.options.publish_timeout_s
        try:
            ack = self._call(self._publish(event, timeout), timeout=timeout + 1.0)
        except Exception as exc:
            raise BusUnavailableError(f"JetStream did not store event {event.id} on {event.subject}: {exc!r}") from exc
        self.published += 1
        if ack.duplicate:
            self.duplicates += 1

    def publish_many(self, events: Sequence[Event]) -> None:
        """Publish a batch with the acks awaited together (pipelined): one round trip, not one per event.

        If any is refused the whole batch counts as not published; the outbox replays it and the
        stream drops the ones it already had (same ``Nats-Msg-Id``)."""
        if not events:
            return
        timeout = self.options.publish_timeout_s
        try:
            acks = self._call(self._publish_many(events, timeout), timeout=timeout + 2.0)
        except Exception as exc:
            raise BusUnavailableError(f"JetStream did not store a batch of {len(events)} event(s): {exc!r}") from exc
        self.published += len(acks)
        self.duplicates += sum(1 for a in acks if a.duplicate)

    def subscribe(self, pattern: str, handler: Handler, *, durable: str | None = None) -> _NatsSub:
        """Deliver events on subjects matching ``pattern`` from now on (or, for a ``durable`` name
        seen before, from where that consumer stopped: nothing published meanwhile is missed)."""
        if durable is not None and not durable.replace("-", "").replace("_", "").isalnum():
            raise ValueError(f"durable name {durable!r}: use letters, digits, '-' and '_' only")
        sub = _NatsSub(self, pattern, handler, durable)
        sub.thread = threading.Thread(target=self._deliver, args=(sub,), name=f"nats-sub-{pattern}", daemon=True)
        sub.thread.start()
        try:
            self._call(self._bind(sub, fresh=True), timeout=10)
        except Exception as exc:
            sub.q.put(_STOP)
            raise BusUnavailableError(f"cannot subscribe to {pattern} on JetStream: {exc!r}") from exc
        sub.task = asyncio.run_coroutine_threadsafe(self._spawn_pump(sub), self._loop).result(5)
        with self._lock:
            self._subs.append(sub)
        return sub

    def call(self, fn: Callable[[Any, Any], Coroutine[Any, Any, T]], timeout: float = 10.0) -> T:
        """Run ``fn(nc, js)`` on the bus's loop and return its result (admin work: bus/federation.py)."""
        return self._call(fn(self._nc, self._js), timeout)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            subs = list(self._subs)
        return {
            "connected": self.connected,
            "published": self.published,
            "duplicates": self.duplicates,
            "reconnects": self.reconnects,
            "subscriptions": [
                {"pattern": s.pattern, "durable": s.durable, "delivered": s.delivered, "backlog": s.backlog}
                for s in subs
            ],
        }

    def close(self) -> None:
        self._closing = True
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            self._close_sub(sub)
        if self._nc is not None:
            with contextlib.suppress(Exception):
                self._call(self._nc.close(), timeout=5)
        self._stop_loop()

    def _stop_loop(self) -> None:
        if self._loop.is_running():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    def _close_sub(self, sub: _NatsSub) -> None:
        if sub.closed:
            return
        sub.closed = True
        with self._lock:
            if sub in self._subs:
                self._subs.remove(sub)
        if self._loop.is_running():
            with contextlib.suppress(Exception):
                self._call(self._unbind(sub), timeout=5)
        sub.q.put(_STOP)
        if sub.thread is not None and sub.thread is not threading.current_thread():
            sub.thread.join(5)

    # -- on the loop -------------------------------------------------------------------------

    async def _connect(self) -> None:
        async def disconnected() -> None:
            if not self._closing:
                log.warning("NATS disconnected; publishes fail over to the outbox until it returns")

        async def reconnected() -> None:
            self.reconnects += 1
            log.info("NATS reconnected to %s", self._nc.connected_url.netloc if self._nc.connected_url else "?")
            await self._ensure_stream()
            for sub in list(self._subs):
                with contextlib.suppress(Exception):
                    await self._rebind_if_lost(sub)

        async def error(exc: Exception) -> None:
            log.debug("NATS client error: %r", exc)

        self._nc = await nats.connect(
            servers=self.options.servers,
            name="koopsuz",
            connect_timeout=2,
            reconnect_time_wait=0.5,
            max_reconnect_attempts=-1,
            allow_reconnect=True,
            disconnected_cb=disconnected,
            reconnected_cb=reconnected,
            error_cb=error,
        )
        self._js = self._nc.jetstream()
        await self._ensure_stream()

    async def _ensure_stream(self) -> None:
        o = self.options
        cfg = api.StreamConfig(
            name=o.stream,
            subjects=["koopsuz.>"],
            storage=api.StorageType.FILE,
            retention=api.RetentionPolicy.LIMITS,
            max_age=o.max_age_s,
            duplicate_window=o.duplicate_window_s,
            num_replicas=o.replicas,
        )
        try:
            await self._js.add_stream(cfg)
        except BadRequestError:  # exists with other limits: bring it to ours
            # keeping the regional sources bus/federation.py gave it (a hub's stream): they are not ours to drop
            with contextlib.suppress(Exception):
                cfg.sources = (await self._js.stream_info(o.stream)).config.sources
            await self._js.update_stream(cfg)

    async def _publish(self, event: Event, timeout: float) -> api.PubAck:
        return await self._js.publish(
            event.subject,
            event.model_dump_json().encode(),
            timeout=timeout,
            stream=self.options.stream,
            headers={"Nats-Msg-Id": event.id},
        )

    async def _publish_many(self, events: Sequence[Event], timeout: float) -> list[api.PubAck]:
        return list(await asyncio.gather(*(self._publish(e, timeout) for e in events)))

    async def _bind(self, sub: _NatsSub, *, fresh: bool) -> None:
        cfg = api.ConsumerConfig(
            filter_subject=sub.pattern, ack_policy=api.AckPolicy.EXPLICIT, ack_wait=self.options.ack_wait_s
        )
        if sub.durable is None:
            cfg.inactive_threshold = 60.0  # the server forgets an ephemeral consumer whose process died
            if fresh or not sub.last_stream_seq:
                cfg.deliver_policy = api.DeliverPolicy.NEW
            else:  # lost by the server (restart): carry on after the last event delivered
                cfg.deliver_policy = api.DeliverPolicy.BY_START_SEQUENCE
                cfg.opt_start_seq = sub.last_stream_seq + 1
        else:
            cfg.deliver_policy = api.DeliverPolicy.NEW  # only on creation; an existing durable resumes
        sub.psub = await self._js.pull_subscribe(
            sub.pattern, durable=sub.durable, stream=self.options.stream, config=cfg
        )
        sub.consumer = sub.psub._consumer

    async def _rebind_if_lost(self, sub: _NatsSub) -> None:
        if sub.closed:
            return
        try:
            await self._js.consumer_info(self.options.stream, sub.consumer)
        except NotFoundError:
            log.warning("JetStream lost consumer for %s; recreating it", sub.pattern)
            with contextlib.suppress(Exception):
                await sub.psub.unsubscribe()
            await self._bind(sub, fresh=False)

    async def _unbind(self, sub: _NatsSub) -> None:
        if sub.task is not None:
            sub.task.cancel()
            with contextlib.suppress(BaseException):
                await sub.task
        if sub.psub is not None:
            with contextlib.suppress(Exception):
                await sub.psub.unsubscribe()
            if sub.durable is None and sub.consumer:  # a durable keeps its place for the next start
                with contextlib.suppress(Exception):
                    await self._js.delete_consumer(self.options.stream, sub.consumer)

    async def _spawn_pump(self, sub: _NatsSub) -> asyncio.Task[None]:
        return asyncio.create_task(self._pump(sub))

    async def _pump(self, sub: _NatsSub) -> None:
        """Fetch in batches and hand messages to the subscription's thread; survive outages."""
        failures = 0
        while not sub.closed:
            try:
                msgs = await sub.psub.fetch(batch=256, timeout=1.0)
                failures = 0
            except (TimeoutError, NatsTimeout):
                continue
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures += 1
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning("fetch for %s failed (%r); retrying", sub.pattern, exc)
                await asyncio.sleep(min(0.2 * failures, 2.0))
                if self.connected:
                    with contextlib.suppress(Exception):
                        await self._rebind_if_lost(sub)
                continue
            for m in msgs:
                sub.q.put(m)

    # -- delivery thread -----------------------------------------------------------------------

    def _deliver(self, sub: _NatsSub) -> None:
        while True:
            m = sub.q.get()
            if m is _STOP:
                return
            try:
                event = Event.model_validate_json(m.data)  # type: ignore[attr-defined]
            except Exception:
                log.exception("dropping a malformed message on %s", getattr(m, "subject", "?"))
                self._ack(m)
                continue
            if m.subject != event.subject:  # type: ignore[attr-defined]
                # the subject is what scope and federation pins filter on (koopsuz.*.KG-Y.>): a body that
                # names another kind, region or camera would slip past them (a forged or broken publisher)
                log.error("dropping an event whose body (%s) does not match its subject %s", event.subject, m.subject)  # type: ignore[attr-defined]
                self._ack(m)
                continue
            receipt: object = None
            try:
                receipt = sub.handler(m.subject, event)  # type: ignore[attr-defined]
            except Exception:
                log.exception("bus handler for %s failed on %s", sub.pattern, event.subject)
            sub.delivered += 1
            with contextlib.suppress(Exception):
                sub.last_stream_seq = m.metadata.sequence.stream  # type: ignore[attr-defined]
            if isinstance(receipt, concurrent.futures.Future):
                # the handler batches its work (the store writer): acknowledge once it is done, so a
                # process killed before its commit gets the message again instead of losing it
                receipt.add_done_callback(lambda f, m=m: None if f.cancelled() or f.exception() else self._ack(m))
            else:
                self._ack(m)

    def _ack(self, m: Any) -> None:
        if self._loop.is_running():
            asyncio.run_coroutine_threadsafe(_quiet_ack(m), self._loop)


async def _quiet_ack(m: Any) -> None:
    with contextlib.suppress(Exception):
        await m.ack()
