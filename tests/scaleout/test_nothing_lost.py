"""Nothing lost across a NATS restart: the real EventWriter of a System on ``nats://`` stores every
event, parks what the bus refused in the outbox, and publishes it when nats-server is back."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select

from koopsuz.bus import make_bus
from koopsuz.bus.nats import NatsBus
from koopsuz.config import Settings
from koopsuz.domain.events import Event
from koopsuz.store.tables import EventRow, OutboxRow
from tests.conftest import DATA
from tests.scaleout.servers import NatsServer, wait_for


def test_events_published_while_nats_is_down_arrive_once_after_it_returns(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    from koopsuz.system import System

    settings = Settings(data_dir=tmp_path / "var", bus_url=nats_server.url, secret_key="t", record=False)
    system = System(settings)
    system.load_deployment(DATA / "two-regions.yaml")
    system.writer.outbox_retry_s = 0.3
    system.start(ingest=False, record=False)
    national = make_bus(nats_server.url)  # another process: the national centre's durable consumer
    got: Counter[str] = Counter()
    lock = threading.Lock()

    def on_event(_s: str, e: Event) -> None:
        if e.kind == "probe":
            with lock:
                got[e.id] += 1

    national.subscribe("koopsuz.probe.>", on_event, durable="national")
    sent: list[str] = []

    def send(n: int) -> None:
        for i in range(n):
            e = Event(kind="probe", region="KG-Y", camera="cam-1", ts=datetime.now(UTC), payload={"i": len(sent) + i})
            system.writer.submit(e)
            sent.append(e.id)

    try:
        send(20)
        assert wait_for(lambda: len(got) == 20, 10)
        nats_server.stop()
        send(20)  # the bus is gone: stored, parked in the outbox
        assert wait_for(lambda: system.writer.written == 40, 20)
        with system.db.session() as s:
            assert s.scalar(select(func.count()).select_from(OutboxRow)) > 0
        nats_server.start()
        send(20)
        assert wait_for(lambda: len(got) == 60, 30), f"{len(got)} of 60 arrived"
        assert set(got) == set(sent)
        assert wait_for(lambda: _outbox_depth(system) == 0, 10)
        with system.db.session() as s:
            assert s.scalar(select(func.count()).select_from(EventRow).where(EventRow.kind == "probe")) == 60
        assert isinstance(national, NatsBus)
        info = national._call(national._js.stream_info("KOOPSUZ", subjects_filter="koopsuz.probe.>"), timeout=5)
        assert info.state.subjects == {"koopsuz.probe.KG-Y.cam-1": 60}  # once each: replays were deduplicated
        assert max(got.values()) == 1
    finally:
        national.close()
        system.stop()


def _outbox_depth(system) -> int:  # type: ignore[no-untyped-def]
    with system.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxRow)) or 0)
