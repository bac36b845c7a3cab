"""``koopsuz writer``'s StoreWriter: the national store follows the bus, loses nothing while it is
down (durable consumer), and stores each event once however often it is delivered."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from itertools import count

import pytest
from sqlalchemy import func, select

from koopsuz.bus import make_bus
from koopsuz.domain.events import Event
from koopsuz.services.registry import CONFIG_KIND
from koopsuz.services.store_writer import StoreWriter
from koopsuz.store.db import Database
from koopsuz.store.tables import EventRow
from tests.conftest import ROOT
from tests.scaleout.servers import NatsServer, PostgresServer, wait_for

_n = count()


def _events(n: int, region: str = "KG-Y") -> list[Event]:
    return [Event(kind="alert", region=region, camera=f"cam-{i}", ts=datetime.now(UTC)) for i in range(n)]


def _stored(db: Database) -> dict[str, int]:
    with db.session() as s:
        rows = s.execute(select(EventRow.id, func.count()).group_by(EventRow.id)).all()
    return {i: c for i, c in rows}


def test_national_store_follows_the_bus_exactly_once(nats_server: NatsServer, pg_server: PostgresServer) -> None:
    national = Database(pg_server.create_database(f"national{next(_n)}"))
    national.migrate()
    region_bus, writer_bus = make_bus(nats_server.url), make_bus(nats_server.url)
    w = StoreWriter(national, writer_bus, durable="national")
    w.start()
    try:
        first = _events(5)
        for e in first:
            region_bus.publish(e)
        region_bus.publish(Event(kind=CONFIG_KIND, region="KG-Y", camera="cam-1", ts=datetime.now(UTC)))
        assert wait_for(lambda: len(_stored(national)) == 5, 10)
        w.stop()  # the national writer goes down; the region keeps publishing
        writer_bus.close()
        missed = _events(7, region="KG-C")
        for e in missed:
            region_bus.publish(e)
        writer_bus = make_bus(nats_server.url)
        w = StoreWriter(national, writer_bus, durable="national")
        w.start()
        assert wait_for(lambda: len(_stored(national)) == 12, 10)
        w._on_event("redelivered", first[0])  # at-least-once delivery: a redelivery changes nothing
        w._on_event("redelivered", missed[-1])
        assert wait_for(lambda: w.duplicates == 2, 5)
        stored = _stored(national)
        assert set(stored) == {e.id for e in first + missed} and set(stored.values()) == {1}
    finally:
        w.stop()
        writer_bus.close()
        region_bus.close()
        national.dispose()


@pytest.mark.parametrize("command", ["writer", "worker"])
def test_scaleout_commands_refuse_the_in_process_bus(tmp_path, command: str) -> None:  # type: ignore[no-untyped-def]
    r = subprocess.run(
        [sys.executable, "-m", "koopsuz", command, "--data-dir", str(tmp_path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={"PATH": "/usr/bin:/bin", "KOOPSUZ_BUS_URL": "memory://", "HOME": str(tmp_path)},
    )
    assert r.returncode == 1 and "KOOPSUZ_BUS_URL=nats://" in r.stderr
