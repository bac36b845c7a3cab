"""Issue 9, regions: a regional node (leaf nats-server, JetStream domain ``issyk-kul``, its own SQLite
store and command centre) keeps working when its line to the capital is cut, and the national store
(PostgreSQL, fed by ``koopsuz writer`` on the hub, whose stream sources the region) catches up with
every event exactly once when the line returns, even with the national writer killed mid catch-up.
A second region (Chuy, its own leaf and domain) on a line that stays up keeps feeding the capital
meanwhile, and no region's stream holds another's events or the capital's.

All real: two nats-server processes, the leaf connected through a TCP forwarder we cut, the regional
System's event writer, the national writer as a ``koopsuz writer`` process.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from itertools import count
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from koopsuz.bus import make_bus
from koopsuz.bus.federation import Federation
from koopsuz.bus.nats import NatsBus
from koopsuz.cli import app
from koopsuz.config import Settings
from koopsuz.domain.events import Event, Severity
from koopsuz.security.principal import Principal, Role
from koopsuz.store.db import Database
from koopsuz.store.tables import EventRow
from tests.conftest import DATA, ROOT
from tests.scaleout.leafnodes import JetStreamNode
from tests.scaleout.servers import NatsServer, PostgresServer, nats_binary, wait_for

_n = count()
OPERATOR = Principal(1, "issykkul.operator", "Issyk-Kul Operator", Role.REGIONAL_OPERATOR, "KG-Y")


@pytest.fixture
def hub_and_leaves(tmp_path: Path) -> Iterator[tuple[JetStreamNode, JetStreamNode, JetStreamNode]]:
    """The hub; Issyk-Kul's leaf behind the line the test cuts; Chuy's leaf on a line that stays up."""
    if nats_binary() is None:
        pytest.skip("nats-server is not installed (apt-get install nats-server, or make setup)")
    hub = JetStreamNode(tmp_path, "hub", "national", leaf_listen=True).start()
    assert hub.link is not None and hub.leaf_port is not None
    leaf = JetStreamNode(tmp_path, "issyk-kul", "issyk-kul", remote_port=hub.link.port).start()
    chuy = JetStreamNode(tmp_path, "chuy", "chuy", remote_port=hub.leaf_port).start()
    yield hub, leaf, chuy
    chuy.close()
    leaf.close()
    hub.close()


def _alerts(n: int, tag: str, region: str = "KG-Y", camera: str = "yk-cam-1") -> list[Event]:
    now = datetime.now(UTC)
    return [
        Event(kind="alert", region=region, camera=camera, ts=now, severity=Severity.HIGH,
              payload={"rule": "zone", "phase": tag, "i": i})
        for i in range(n)
    ]  # fmt: skip


def _stored(db: Database, region: str = "KG-Y") -> dict[str, int]:
    """Event id -> rows with that id, for the region's alerts."""
    with db.session() as s:
        q = select(EventRow.id, func.count()).where(EventRow.kind == "alert", EventRow.region == region)
        return dict(s.execute(q.group_by(EventRow.id)).all())  # type: ignore[arg-type]


def _messages(bus: NatsBus, subjects: str) -> int:
    """Messages in the bus's stream on subjects matching ``subjects``."""
    info = bus.call(lambda _nc, js: js.stream_info("KOOPSUZ", subjects_filter=subjects))
    return sum((info.state.subjects or {}).values())


def _writer(hub_url: str, db_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = os.environ | {
        "KOOPSUZ_BUS_URL": f"{hub_url}?ack_wait_s=3",  # what a killed writer held comes back after 3 s, not 30
        "KOOPSUZ_DATABASE_URL": db_url,
        # the national writer links the regions at start, each pinned to its own region's events
        "KOOPSUZ_REGIONAL_DOMAINS": "issyk-kul=KG-Y,chuy=KG-C",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [sys.executable, "-m", "koopsuz", "writer", "--durable", "national", "--data-dir", str(log.parent)]
    return subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT)


def test_cut_off_region_keeps_working_and_the_national_store_catches_up_exactly(
    tmp_path: Path, hub_and_leaves: tuple[JetStreamNode, JetStreamNode, JetStreamNode], pg_server: PostgresServer
) -> None:
    from koopsuz.system import System

    hub, leaf, chuy = hub_and_leaves
    assert hub.link is not None
    national_url = pg_server.create_database(f"national_regions{next(_n)}")
    national = Database(national_url)
    national.migrate()
    region = System(Settings(data_dir=tmp_path / "region", bus_url=leaf.url, secret_key="t", record=False))
    region.load_deployment(DATA / "two-regions.yaml")
    region.writer.outbox_retry_s = 0.3
    region.start(ingest=False, record=False)
    hub_bus = make_bus(hub.url)  # the national centre's own view (its API, a national worker)
    chuy_bus = make_bus(chuy.url)  # Chuy's regional event writer, on its own leaf
    assert isinstance(hub_bus, NatsBus) and isinstance(region.bus, NatsBus) and isinstance(chuy_bus, NatsBus)
    writer_log = tmp_path / "national" / "writer.log"
    writer_log.parent.mkdir()
    writer = _writer(hub.url, national_url, writer_log)
    sent: list[str] = []

    def raise_alerts(n: int, tag: str) -> list[str]:
        batch = _alerts(n, tag)
        for e in batch:
            region.writer.submit(e)  # as the region's analytics do: regional store first, then its bus
        sent.extend(e.id for e in batch)
        return [e.id for e in batch]

    try:
        # linked: the region's alerts reach the national store (the first contact waits for the
        # writer process to start and link the region, and for the hub to open the source)
        raise_alerts(20, "linked")
        chuy_sent = _alerts(20, "linked", "KG-C", "ch-cam-1")
        chuy_bus.publish_many(chuy_sent)
        # Chuy's centre filing an alert under Issyk-Kul (misconfigured, or forged): the pin keeps it in Chuy
        chuy_bus.publish(_alerts(1, "forged", "KG-Y", "yk-cam-1")[0])
        # and one on Chuy's own subject whose body says Issyk-Kul: copied to the hub (its subject is
        # Chuy's), dropped by every reader there because body and subject disagree
        body = _alerts(1, "forged-body", "KG-Y", "yk-cam-1")[0].model_dump_json().encode()

        async def publish_forged(_nc: Any, js: Any) -> None:
            await js.publish("koopsuz.alert.KG-C.ch-cam-1", body, stream=chuy_bus.options.stream)

        chuy_bus.call(publish_forged)
        assert wait_for(lambda: len(_stored(national)) == 20, 30), f"{len(_stored(national))} of 20 before the cut"
        assert wait_for(lambda: len(_stored(national, "KG-C")) == 20, 10)
        assert [(s.domain, s.region) for s in Federation(hub_bus).status()] == [("chuy", "KG-C"), ("issyk-kul", "KG-Y")]
        national_only = Event(kind="alert", region="KG-GB", camera="gb-cam-1", ts=datetime.now(UTC))
        hub_bus.publish(national_only)  # published in the capital: never crosses to the region's stream
        live: list[str] = []  # the national centre's live feed on Issyk-Kul (an ephemeral consumer on the hub)
        hub_bus.subscribe("koopsuz.alert.KG-Y.>", lambda _s, e: live.append(e.id))

        # cut: the regional node runs on its own
        hub.link.cut()
        t0 = time.monotonic()
        cut_ids = raise_alerts(500, "cut-1")
        assert wait_for(lambda: len(_stored(region.db)) == 520, 10), "the regional store stalled while cut off"
        regional_s = time.monotonic() - t0
        assert wait_for(lambda: region.writer.outbox_depth() == 0, 5)  # the leaf's JetStream took every one
        assert _messages(region.bus, "koopsuz.alert.KG-Y.>") == 520
        queue = region.alert_queue.queue(OPERATOR, hours=1, limit=1000)  # the regional command centre
        assert set(cut_ids) <= {e.id for e, _ in queue}
        claimed = region.alert_queue.claim(OPERATOR, cut_ids[-1])  # an operator acknowledges one
        assert claimed["claimed_by"] == OPERATOR.username
        hub_view = Federation(hub_bus)
        assert wait_for(lambda: not hub_view.status()[1].linked, 15, step=0.5)  # what the national operator sees
        assert hub_view.status()[0].linked  # Chuy's line is up: its events keep arriving meanwhile
        more = _alerts(50, "issyk-kul cut", "KG-C", "ch-cam-1")
        chuy_bus.publish_many(more)
        chuy_sent += more
        assert wait_for(lambda: len(_stored(national, "KG-C")) == 70, 10)
        assert len(_stored(national)) == 20, "the national store got events through a cut line"

        # restored: the hub resumes the source where it stopped
        hub.link.restore()
        t1 = time.monotonic()
        assert wait_for(lambda: len(_stored(national)) == 520, 30), f"{len(_stored(national))} of 520 after restore"
        catch_up_s = time.monotonic() - t1
        assert wait_for(lambda: len(live) == 500, 5) and set(live) == set(cut_ids)

        # second cut, 3000 alerts; the national writer is SIGKILLed in the middle of its catch-up
        hub.link.cut()
        raise_alerts(3000, "cut-2")
        assert wait_for(lambda: len(_stored(region.db)) == 3520, 30)
        assert wait_for(lambda: region.writer.outbox_depth() == 0, 10)
        hub.link.restore()
        t2 = time.monotonic()
        assert wait_for(lambda: len(_stored(national)) > 520, 30, step=0.01)
        writer.send_signal(signal.SIGKILL)
        writer.wait(10)
        at_kill = len(_stored(national))
        assert wait_for(lambda: _messages(hub_bus, "koopsuz.alert.KG-Y.>") == 3520, 30)  # the hub holds them all
        writer = _writer(hub.url, national_url, writer_log)
        assert wait_for(lambda: len(_stored(national)) == 3520, 40), f"{len(_stored(national))} of 3520"
        second_s = time.monotonic() - t2

        time.sleep(0.5)  # nothing more trickles in
        stored = _stored(national)
        assert set(stored) == set(sent) and len(sent) == 3520
        assert set(stored.values()) == {1}, "an event stored twice in the national store"
        assert _stored(national, "KG-C") == {e.id: 1 for e in chuy_sent}
        assert _stored(national, "KG-GB") == {national_only.id: 1}
        assert _messages(hub_bus, "koopsuz.alert.KG-Y.>") == 3520  # each copied once into the hub's stream
        assert _messages(hub_bus, "koopsuz.alert.KG-C.>") == 71  # Chuy's 70 and the forged body
        assert _messages(region.bus, "koopsuz.alert.KG-GB.>") == 0  # the capital's events stay out of the region
        assert _messages(region.bus, "koopsuz.alert.KG-C.>") == 0  # and so do the other regions'
        assert _messages(chuy_bus, "koopsuz.alert.KG-Y.>") == 1  # the forged one: in Chuy's stream, not the hub's
        states = Federation(hub_bus).status()
        assert [(st.domain, st.linked, st.lag) for st in states] == [("chuy", True, 0), ("issyk-kul", True, 0)]
        print(
            f"\nregional store took 500 alerts while cut off in {regional_s:.2f} s; national catch-up of 500"
            f" {catch_up_s:.2f} s after the line returned; 3000 with the writer killed at {at_kill - 520}"
            f" stored: all in {second_s:.2f} s"
        )
        assert 520 < at_kill < 3520, f"the writer was killed at {at_kill}: not in the middle of its catch-up"
    finally:
        if writer.poll() is None:
            writer.send_signal(signal.SIGTERM)
            try:
                writer.wait(10)
            except subprocess.TimeoutExpired:
                writer.kill()
        hub_bus.close()
        chuy_bus.close()
        region.stop()
        national.dispose()


def test_federation_cli_links_regions_and_the_hub_keeps_them(nats_server: NatsServer) -> None:
    runner = CliRunner()
    r = runner.invoke(app, ["federation", "link", "issyk-kul=KG-Y", "chuy", "--bus-url", nats_server.url])
    assert r.exit_code == 0, r.output
    assert "sources: issyk-kul, chuy" in r.output
    assert "chuy is not pinned to a region" in r.output
    again = make_bus(nats_server.url)  # a national process (re)starting brings the stream to its limits
    again.close()
    r = runner.invoke(app, ["federation", "status", "--json", "--bus-url", nats_server.url])
    rows = [json.loads(line) for line in r.stdout.splitlines()]
    assert [(x["domain"], x["region"], x["linked"]) for x in rows] == [
        ("chuy", None, False),
        ("issyk-kul", "KG-Y", False),  # no leaf yet
    ]
    r = runner.invoke(app, ["federation", "link", "issyk-kul=KG-Z", "--bus-url", nats_server.url])
    assert r.exit_code == 1 and "'KG-Z' is not a region code" in r.output
    r = runner.invoke(app, ["federation", "link", "issyk.kul", "--bus-url", nats_server.url])
    assert r.exit_code == 1 and "letters, digits" in r.output
    r = runner.invoke(app, ["federation", "status", "--bus-url", "memory://"])
    assert r.exit_code == 1 and "KOOPSUZ_BUS_URL=nats://" in r.output
    r = runner.invoke(app, ["federation", "link", "issyk-kul", "--bus-url", nats_server.url])  # chuy unlinked
    assert r.exit_code == 0 and "sources: issyk-kul" in r.output and "chuy" not in r.output
