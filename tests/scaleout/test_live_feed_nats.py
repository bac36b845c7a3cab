"""The region-scoped live feed on the JetStream bus: a regional operator's WebSocket gets its region's
events from the bus (events written by this process's writer) and nothing of another region."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.config import Settings
from koopsuz.domain.events import Event
from tests.conftest import DATA, PASSWORD
from tests.scaleout.servers import NatsServer


def test_regional_feed_on_jetstream_stays_in_region(tmp_path: Path, nats_server: NatsServer) -> None:
    from koopsuz.system import System

    system = System(Settings(data_dir=tmp_path / "var", bus_url=nats_server.url, secret_key="t", record=False))
    system.load_deployment(DATA / "two-regions.yaml")
    system.users.create("test", "yk.operator", PASSWORD, "regional_operator", "KG-Y")
    with TestClient(create_app(system)) as client:
        assert client.post("/api/auth/login", json={"username": "yk.operator", "password": PASSWORD}).status_code == 200
        with client.websocket_connect("/api/ws/events") as ws:
            time.sleep(0.3)
            mine = Event(kind="alert", region="KG-Y", camera="yk-cam-1", ts=datetime.now(UTC))
            other = Event(kind="alert", region="KG-C", camera="ch-cam-1", ts=datetime.now(UTC))
            t0 = time.monotonic()
            system.writer.write_now([other, mine])
            got: list[str] = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not got:
                for msg in ws.receive_json():  # a frame is a JSON array of messages
                    if msg["type"] == "event":
                        got.append(msg["event"]["id"])
            latency = time.monotonic() - t0
            time.sleep(0.5)
        assert got == [mine.id], got
        assert latency < 1.0, f"store -> JetStream -> WebSocket took {latency:.3f}s"
