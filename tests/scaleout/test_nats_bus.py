"""The JetStream bus against a real nats-server: wildcards, dedup by event id, durable consumers."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime

import pytest

from koopsuz.bus import make_bus
from koopsuz.bus.nats import BusUnavailableError, NatsBus, NatsOptions
from koopsuz.domain.events import Event
from tests.scaleout.servers import NatsServer, wait_for


def _event(kind: str = "motion", region: str = "KG-Y", camera: str = "cam-1") -> Event:
    return Event(kind=kind, region=region, camera=camera, ts=datetime.now(UTC))


class Collector:
    def __init__(self) -> None:
        self.events: list[Event] = []
        self.threads: set[str] = set()
        self._lock = threading.Lock()

    def __call__(self, subject: str, event: Event) -> None:
        assert subject == event.subject
        with self._lock:
            self.events.append(event)
            self.threads.add(threading.current_thread().name)

    @property
    def ids(self) -> list[str]:
        with self._lock:
            return [e.id for e in self.events]


def test_url_options_and_bad_urls() -> None:
    o = NatsOptions.from_url("nats://a:4222,b:4222?stream=KG&dup_window_s=30")
    assert o.servers == ["nats://a:4222", "nats://b:4222"] and o.stream == "KG" and o.duplicate_window_s == 30
    with pytest.raises(ValueError, match="no server"):
        NatsOptions.from_url("nats://")
    with pytest.raises(ValueError, match="bad option"):
        NatsOptions.from_url("nats://a:1?max_age_h=forever")
    with pytest.raises(ValueError, match="memory://"):
        make_bus("kafka://x")


def test_unreachable_server_is_a_clear_error() -> None:
    from tests.conftest import free_port

    with pytest.raises(BusUnavailableError, match="nats-server with -js"):
        make_bus(f"nats://127.0.0.1:{free_port()}?connect_timeout_s=1")


def test_wildcards_region_filters_and_dedup(nats_server: NatsServer) -> None:
    bus = make_bus(nats_server.url)
    assert isinstance(bus, NatsBus) and bus.connected
    try:
        everything, yssyk, motion_c = Collector(), Collector(), Collector()
        bus.subscribe("koopsuz.>", everything)
        bus.subscribe("koopsuz.*.KG-Y.>", yssyk)
        bus.subscribe("koopsuz.motion.KG-C.*", motion_c)
        a, b, c = _event(), _event(region="KG-C", camera="cam-9"), _event(kind="alert", region="KG-C")
        for e in (a, b, c):
            bus.publish(e)
        bus.publish(a)  # the outbox replaying an event already stored in the stream
        assert wait_for(lambda: len(everything.ids) >= 3, 5)
        assert wait_for(lambda: yssyk.ids == [a.id] and motion_c.ids == [b.id], 5)
        assert sorted(everything.ids) == sorted([a.id, b.id, c.id])  # a only once: deduplicated by id
        assert bus.duplicates == 1 and bus.published == 4
        got = everything.events[[e.id for e in everything.events].index(a.id)]
        assert got == a  # the whole envelope survives the wire
        assert all(t.startswith("nats-sub-") for t in everything.threads)  # off the publisher's thread
    finally:
        bus.close()


def test_a_steady_trickle_of_events_arrives_at_once_not_a_fetch_timeout_later(nats_server: NatsServer) -> None:
    """A consumer slower than a full fetch batch (a region's feed gets a few hundred events a second
    at 10,000 cameras) gets each event within a fraction of a second: the pump takes what is there,
    it does not keep collecting towards 256 until the fetch times out."""
    bus = make_bus(nats_server.url)
    assert isinstance(bus, NatsBus)
    try:
        arrived: dict[str, float] = {}
        bus.subscribe("koopsuz.>", lambda _s, e: arrived.setdefault(e.id, time.monotonic()))
        time.sleep(0.5)  # the consumer is bound
        sent: dict[str, float] = {}
        for i in range(100):  # 50 events a second for 2 s
            e = _event(camera=f"trickle-{i}")
            sent[e.id] = time.monotonic()
            bus.publish(e)
            time.sleep(0.02)
        assert wait_for(lambda: len(arrived) == len(sent), 10)
        delays = sorted(arrived[k] - sent[k] for k in sent)
        assert delays[89] < 0.5, delays[80:]  # p90 (1-2 ms here; a pump waiting out its 1 s fetch would fail)
    finally:
        bus.close()


def test_a_pipelined_batch_is_deduplicated_like_single_publishes(nats_server: NatsServer) -> None:
    bus = make_bus(nats_server.url)
    assert isinstance(bus, NatsBus)
    try:
        got = Collector()
        bus.subscribe("koopsuz.>", got)
        first = [_event(camera=f"cam-{i}") for i in range(50)]
        bus.publish_many(first)
        again = [*first[:10], *(_event(camera=f"new-{i}") for i in range(50))]  # an outbox replay plus new
        bus.publish_many(again)
        assert wait_for(lambda: len(got.ids) >= 100, 5)
        time.sleep(0.3)
        assert sorted(got.ids) == sorted({e.id for e in first + again})
        assert got.ids[:50] == [e.id for e in first]  # the batch keeps its order in the stream
        assert bus.duplicates == 10 and bus.published == 110
    finally:
        bus.close()


def test_a_durable_consumer_gets_what_was_published_while_it_was_down(nats_server: NatsServer) -> None:
    pub = make_bus(nats_server.url)
    try:
        first = Collector()
        sub = pub.subscribe("koopsuz.*.KG-Y.>", first, durable="writer-kg-y")
        before = _event()
        pub.publish(before)
        assert wait_for(lambda: first.ids == [before.id], 5)
        sub.close()  # the consumer's process stops; its position stays on the server

        missed = [_event(camera=f"cam-{i}") for i in range(5)]
        for e in missed:
            pub.publish(e)
        pub.publish(_event(region="KG-C"))  # not its region

        again = make_bus(nats_server.url)  # a new process with the same durable name
        try:
            second = Collector()
            again.subscribe("koopsuz.*.KG-Y.>", second, durable="writer-kg-y")
            assert wait_for(lambda: len(second.ids) >= 5, 5)
            assert second.ids == [e.id for e in missed]  # in order, nothing older, nothing twice
        finally:
            again.close()
    finally:
        pub.close()


def test_subscriptions_survive_a_server_restart(nats_server: NatsServer) -> None:
    bus = make_bus(nats_server.url)
    try:
        live, durable = Collector(), Collector()
        bus.subscribe("koopsuz.>", live)
        bus.subscribe("koopsuz.>", durable, durable="archive")
        e1 = _event()
        bus.publish(e1)
        assert wait_for(lambda: live.ids == [e1.id] and durable.ids == [e1.id], 5)
        nats_server.stop()
        assert wait_for(lambda: not bus.connected, 5)
        with pytest.raises(BusUnavailableError, match="did not store event"):
            bus.publish(_event())
        nats_server.start()
        assert wait_for(lambda: bus.connected, 10)
        e2 = _event(camera="cam-2")
        assert wait_for(lambda: _try_publish(bus, e2), 10)
        assert wait_for(lambda: e2.id in live.ids and e2.id in durable.ids, 10)
        assert bus.reconnects >= 1
    finally:
        bus.close()


def _try_publish(bus: NatsBus, e: Event) -> bool:
    try:
        bus.publish(e)
        return True
    except BusUnavailableError:
        return False
