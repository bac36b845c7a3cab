"""The live feed's fan-out (api/feed_hub.py): one bus subscription per region key, each event encoded
once, offered only to the sockets entitled to it, and queued messages leaving as one frame."""

from __future__ import annotations

import asyncio
import gc
import json
import time
from datetime import UTC, datetime

from koopsuz.api.feed_hub import FeedClient, FeedHub
from koopsuz.bus.memory import MemoryBus
from koopsuz.domain.events import Event
from koopsuz.security.principal import Scope


def alert(region: str, n: int = 0) -> Event:
    return Event(kind="alert", region=region, camera=f"cam-{region.lower()}", ts=datetime.now(UTC), payload={"n": n})


async def _frames(client: FeedClient, max_items: int = 500) -> list[list[dict]]:
    """Every frame the client has queued now (without waiting for more)."""
    out = []
    while client.depth:
        frame = await client.next_frame(max_items)
        assert frame is not None
        out.append(json.loads(frame))
    return out


def test_events_reach_only_entitled_sockets_encoded_once_and_coalesced() -> None:
    async def main() -> None:
        bus = MemoryBus()
        encodes: list[str] = []

        def encode(e: Event) -> str:
            encodes.append(e.id)
            return json.dumps({"type": "event", "event": {"id": e.id, "region": e.region}})

        hub = FeedHub(bus, asyncio.get_running_loop(), encode, skip=lambda e: e.kind == "camera_config")
        national = [FeedClient(Scope.national(), 100) for _ in range(3)]
        issyk = [FeedClient(Scope.of("KG-Y"), 100) for _ in range(4)]
        chuy = [FeedClient(Scope.of("KG-C"), 100) for _ in range(4)]
        for c in national + issyk + chuy:
            await hub.attach(c)
        # one subscription per key, not per socket
        assert hub.subscriptions == ["koopsuz.*.KG-C.>", "koopsuz.*.KG-Y.>", "koopsuz.>"]
        assert len(bus._subs) == 3

        sent = [alert("KG-Y", 1), alert("KG-C", 2), alert("KG-Y", 3), alert("KG-B", 4)]
        sent.append(Event(kind="camera_config", region="KG-Y", camera="x", ts=datetime.now(UTC)))
        for e in sent:
            bus.publish(e)  # on this thread, as the writer would: nothing is delivered until the loop runs
        assert all(c.depth == 0 for c in national + issyk + chuy)
        await asyncio.sleep(0)  # the one drain the first publish scheduled

        ids = {e.payload.get("n"): e.id for e in sent}
        for c in national:
            frames = await _frames(c)
            assert len(frames) == 1  # four alerts waiting -> one frame
            assert [m["event"]["id"] for m in frames[0]] == [ids[1], ids[2], ids[3], ids[4]]
        for c in issyk:
            assert [[m["event"]["id"] for m in f] for f in await _frames(c)] == [[ids[1], ids[3]]]
        for c in chuy:
            assert [[m["event"]["id"] for m in f] for f in await _frames(c)] == [[ids[2]]]
        # each alert encoded once, although it went to 3 + 4 sockets under two keys
        assert sorted(encodes) == sorted([ids[1], ids[2], ids[3], ids[4]])
        assert hub.stats.offered == 4 * 3 + 2 * 4 + 1 * 4

        # the last socket of a key takes the key's subscription with it
        for c in chuy:
            await hub.detach(c)
        assert hub.subscriptions == ["koopsuz.*.KG-Y.>", "koopsuz.>"]
        bus.publish(alert("KG-C", 5))
        await asyncio.sleep(0)
        assert all(c.depth == 0 for c in chuy)
        assert all(c.depth == 1 for c in national)

    asyncio.run(main())


def test_an_event_under_the_wrong_key_is_not_delivered() -> None:
    """The second scope check: a region key's sockets get only events whose own region is that key."""

    async def main() -> None:
        bus = MemoryBus()
        hub = FeedHub(bus, asyncio.get_running_loop(), lambda e: json.dumps({"id": e.id}))
        issyk = FeedClient(Scope.of("KG-Y"), 10)
        await hub.attach(issyk)
        hub._on_bus("KG-Y", "koopsuz.alert.KG-Y.cam", alert("KG-C"))  # a bus that routed wrongly
        await asyncio.sleep(0)
        assert issyk.depth == 0
        assert hub.stats.out_of_key == 1

    asyncio.run(main())


def test_a_socket_past_its_bound_is_too_slow_and_counted() -> None:
    async def main() -> None:
        bus = MemoryBus()
        hub = FeedHub(bus, asyncio.get_running_loop(), lambda e: json.dumps({"id": e.id}))
        slow = FeedClient(Scope.of("KG-Y"), 5)
        fine = FeedClient(Scope.of("KG-Y"), 50)
        await hub.attach(slow)
        await hub.attach(fine)
        for i in range(6):
            bus.publish(alert("KG-Y", i))
        await asyncio.sleep(0)
        assert slow.too_slow and slow.depth == 0
        assert await slow.next_frame(100) is None  # the handler closes the socket (4408)
        assert fine.depth == 6 and not fine.too_slow
        frame = await fine.next_frame(4)  # frames are capped; the rest waits for the next one
        assert frame is not None and len(json.loads(frame)) == 4
        assert fine.depth == 2
        await hub.detach(slow)
        assert hub.stats.too_slow == 1

    asyncio.run(main())


def test_a_waiting_socket_wakes_on_an_event_from_another_thread() -> None:
    async def main() -> None:
        bus = MemoryBus()
        hub = FeedHub(bus, asyncio.get_running_loop(), lambda e: json.dumps({"id": e.id}))
        c = FeedClient(Scope.national(), 10)
        await hub.attach(c)
        e = alert("KG-N")
        t0 = time.monotonic()
        waiter = asyncio.create_task(c.next_frame(10))
        await asyncio.sleep(0.05)
        assert not waiter.done()
        await asyncio.to_thread(bus.publish, e)  # the writer's thread
        frame = await asyncio.wait_for(waiter, 2)
        assert json.loads(frame) == [{"id": e.id}]
        assert time.monotonic() - t0 < 1.0
        c.close()
        assert await c.next_frame(10) is None

    asyncio.run(main())


def test_the_route_sends_arrays_in_order_and_only_in_scope(system) -> None:
    """Through the real route: a batch the writer commits at once reaches a regional operator's sockets
    as JSON-array frames holding its region's alerts only, in order, and a national operator's as all of
    them; the process holds one bus subscription per key however many sockets are open, and drops them
    with the last socket. (How many frames a burst takes depends on how the writer's publishing and
    the event loop interleave; the unit tests above pin the coalescing itself.)"""
    from fastapi.testclient import TestClient

    from koopsuz.api.app import create_app
    from tests.conftest import PASSWORD

    app = create_app(system)
    with TestClient(app) as client:
        subs_before = len(system.bus._subs)  # the started system's own (webhooks, ingest...)
        tokens = {}
        for user in ("yk.operator", "national"):
            r = client.post("/api/auth/login", json={"username": user, "password": PASSWORD})
            assert r.status_code == 200, r.text
            tokens[user] = {"Authorization": f"Bearer {r.json()['token']}"}
            client.cookies.clear()
        with client.websocket_connect("/api/ws/events", headers=tokens["yk.operator"]) as a, \
                client.websocket_connect("/api/ws/events", headers=tokens["yk.operator"]) as b, \
                client.websocket_connect("/api/ws/events", headers=tokens["national"]) as n:
            time.sleep(0.3)
            hub = app.state.feed_hub
            assert hub.clients == 3
            assert hub.subscriptions == ["koopsuz.*.KG-Y.>", "koopsuz.>"]  # one per key, not per socket
            assert len(system.bus._subs) - subs_before == 2
            burst = [alert("KG-Y", i) if i % 2 == 0 else alert("KG-C", i) for i in range(10)]
            system.writer.write_now(burst)
            for ws, want in ((a, "KG-Y"), (b, "KG-Y"), (n, None)):
                frames = []
                while sum(1 for f in frames for m in f if m["type"] == "event") < (5 if want else 10):
                    frame = ws.receive_json()
                    assert isinstance(frame, list) and frame
                    frames.append(frame)
                events = [m["event"] for f in frames for m in f if m["type"] == "event"]
                assert [e["id"] for e in events] == [e.id for e in burst if want in (None, e.region)]
            assert hub.stats.encoded == 10  # once per alert, though 3 sockets under 2 keys got them
            from koopsuz.api.routers.system import render_metrics

            gc.collect()  # hubs of earlier tests (unreachable cycles) leave the process's totals
            text = render_metrics(system)
            assert "koopsuz_live_feed_sockets 3" in text
            assert "koopsuz_live_feed_messages_total" in text and "koopsuz_live_feed_too_slow_total 0" in text
        deadline = time.monotonic() + 5
        while hub.clients and time.monotonic() < deadline:  # the handlers finish after the close
            time.sleep(0.05)
        assert hub.subscriptions == []
        while len(system.bus._subs) != subs_before and time.monotonic() < deadline + 5:
            time.sleep(0.05)  # the bus subscription is closed on the hub's thread, just after
        assert len(system.bus._subs) == subs_before


def test_a_bus_that_refuses_leaves_the_hub_clean_and_the_next_socket_retries() -> None:
    """JetStream away: attaching fails, the handler closes the socket (1011) and detaches; the hub
    holds nothing for it, and the next socket of the key subscribes again."""

    class Refusing(MemoryBus):
        refuse = True

        def subscribe(self, pattern, handler, *, durable=None):  # type: ignore[no-untyped-def]
            if self.refuse:
                raise ConnectionError("bus away")
            return super().subscribe(pattern, handler, durable=durable)

    async def main() -> None:
        bus = Refusing()
        hub = FeedHub(bus, asyncio.get_running_loop(), lambda e: json.dumps({"id": e.id}))
        c = FeedClient(Scope.of("KG-Y"), 10)
        try:
            await hub.attach(c)
            raise AssertionError("attach should have failed")
        except ConnectionError:
            pass
        await hub.detach(c)
        assert hub.clients == 0 and hub.subscriptions == []
        bus.refuse = False
        c2 = FeedClient(Scope.of("KG-Y"), 10)
        await hub.attach(c2)
        assert hub.subscriptions == ["koopsuz.*.KG-Y.>"]
        bus.publish(alert("KG-Y"))
        await asyncio.sleep(0)
        assert c2.depth == 1
        hub.close()
        assert bus._subs == []

    asyncio.run(main())
