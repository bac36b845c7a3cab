"""Readiness and Prometheus metrics: on the real server with simulated cameras, and with the bus, the
database and the writer each taken away in turn."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.config import Settings
from koopsuz.domain.events import Event
from tests.conftest import DATA, LiveSystem
from tests.scaleout.servers import NatsServer, PostgresServer, wait_for

SAMPLE = re.compile(r"^([a-z_]+)(?:\{(.*)\})? (-?[0-9.e+-]+|NaN)$")


def parse(text: str) -> dict[str, dict[str, float]]:
    """``{family: {labels: value}}``; every line must be a comment or a well-formed sample."""
    out: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        if line.startswith("# "):
            assert line.split()[1] in ("HELP", "TYPE"), line
            continue
        m = SAMPLE.match(line)
        assert m, f"not Prometheus text: {line!r}"
        out.setdefault(m.group(1), {})[m.group(2) or ""] = float(m.group(3))
    return out


def _system(tmp_path: Path, **kw: object):  # type: ignore[no-untyped-def]
    from koopsuz.system import System

    s = System(Settings(data_dir=tmp_path / "var", secret_key="t", record=False, **kw))  # type: ignore[arg-type]
    s.load_deployment(DATA / "two-regions.yaml")
    return s


def _probe() -> Event:
    return Event(kind="probe", region="KG-Y", camera="yk-cam-1", ts=datetime.now(UTC))


@pytest.mark.slow
def test_ready_and_metrics_on_the_running_server(live_system: LiveSystem) -> None:
    base = live_system.base_url
    r = httpx.get(f"{base}/api/system/ready", timeout=10)  # no session: probes cannot sign in
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ready" and body["failing"] == []
    assert set(body["checks"]) == {"database", "bus", "writer", "outbox"}
    assert "yk" not in r.text.lower() and "KG-" not in r.text  # no camera, no region

    def scrape() -> dict[str, dict[str, float]]:
        resp = httpx.get(f"{base}/metrics", timeout=10)  # from loopback: allowed without a token
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
        return parse(resp.text)

    def decoding() -> bool:
        m = scrape()
        fps = m.get("koopsuz_camera_decode_fps", {})
        return len(fps) == len(live_system.cameras) and all(v > 0 for v in fps.values())

    assert wait_for(decoding, 20, step=0.5)
    m = scrape()
    assert m["koopsuz_cameras_held"][""] == len(live_system.cameras)
    for cid, region in live_system.cameras.items():
        key = f'camera="{cid}",region="{region}"'
        assert m["koopsuz_camera_up"][key] == 1
        assert 0 <= m["koopsuz_camera_lag_seconds"][key] < 5
        assert m["koopsuz_frames_analysed_total"][key] > 0
    assert m["koopsuz_events_written_total"][""] > 0  # motion from the scenario
    assert m["koopsuz_event_writer_up"][""] == 1 and m["koopsuz_bus_connected"]['kind="MemoryBus"'] == 1
    before = m["koopsuz_frames_analysed_total"]
    time.sleep(1.0)
    after = scrape()["koopsuz_frames_analysed_total"]
    assert all(after[k] > before[k] for k in before)  # counters advance


def test_ready_names_the_failing_check_and_metrics_need_the_token(tmp_path: Path, nats_server: NatsServer) -> None:
    system = _system(tmp_path, bus_url=nats_server.url, metrics_token="s3cret-scraper")
    system.writer.outbox_retry_s = 0.3
    with TestClient(create_app(system)) as client:
        assert client.get("/api/system/ready").status_code == 200
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
        auth = {"Authorization": "Bearer s3cret-scraper"}
        assert parse(client.get("/metrics", headers=auth).text)["koopsuz_bus_connected"]['kind="NatsBus"'] == 1

        nats_server.stop()
        assert wait_for(lambda: client.get("/api/system/ready").status_code == 503, 10)
        r = client.get("/api/system/ready").json()
        assert r["failing"] == ["bus"] and "outbox" in r["checks"]["bus"]["error"]
        system.writer.write_now([_probe() for _ in range(3)])  # stored; parked in the outbox
        r = client.get("/api/system/ready").json()
        assert r["checks"]["outbox"]["depth"] == 3 and r["checks"]["outbox"]["ok"]
        m = parse(client.get("/metrics", headers=auth).text)
        assert m["koopsuz_bus_connected"]['kind="NatsBus"'] == 0 and m["koopsuz_outbox_depth"][""] == 3

        nats_server.start()
        assert wait_for(lambda: client.get("/api/system/ready").status_code == 200, 15)
        assert wait_for(lambda: client.get("/api/system/ready").json()["checks"]["outbox"]["depth"] == 0, 10)
        m = parse(client.get("/metrics", headers=auth).text)
        assert m["koopsuz_bus_reconnects_total"][""] >= 1 and m["koopsuz_outbox_depth"][""] == 0

        system.writer.stop()
        r = client.get("/api/system/ready")
        assert r.status_code == 503 and r.json()["failing"] == ["writer"]


def test_ready_fails_while_the_database_is_away(tmp_path: Path, pg_server: PostgresServer) -> None:
    system = _system(tmp_path, database_url=pg_server.create_database("ops_ready"))
    system.start(ingest=False, record=False)
    try:
        client = TestClient(create_app(system, start_system=False))
        r = client.get("/api/system/ready")
        assert r.status_code == 200 and r.json()["checks"]["database"]["dialect"] == "postgresql"
        pg_server.stop(remove=False)
        r = client.get("/api/system/ready")
        assert r.status_code == 503 and r.json()["failing"] == ["database"]
        assert "unreachable" in r.json()["checks"]["database"]["error"]
        pg_server.start()
        assert wait_for(lambda: client.get("/api/system/ready").status_code == 200, 15)
    finally:
        system.stop()
