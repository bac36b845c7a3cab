"""The capital's health of a region's cameras (services/remote_health.py): the last camera_offline/online
event heard per copied camera, seeded from the store in one query and kept current from the bus.

A real store (SQLite, migrated) and the memory bus; events go through the real EventWriter (stored, then
published), as the hub's store writer does with the regions' events.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event as sa_event

from koopsuz.api.app import create_app
from koopsuz.api.routers.cameras import camera_json
from koopsuz.api.routers.system import render_metrics
from koopsuz.bus.memory import MemoryBus
from koopsuz.domain.events import Event, Severity
from koopsuz.security.principal import Principal, Role
from koopsuz.services.event_writer import EventWriter
from koopsuz.services.regional_registry import placeholder_url
from koopsuz.services.remote_health import RemoteHealth
from koopsuz.store.db import Database
from koopsuz.store.tables import CameraRow, SiteRow
from tests.conftest import PASSWORD

ADMIN = Principal(1, "admin", "Administrator", Role.ADMIN, None)
T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def _copies(db: Database, *ids: str) -> None:
    """Rows as the registry follower writes them: owned by the region's domain."""
    with db.transaction() as s:
        s.add(SiteRow(id="yk-pier", name="Pier", type="tourist_area", region="KG-Y", lat=42.65, lon=77.08,
                      owner_domain="issyk-kul"))  # fmt: skip
    with db.transaction() as s:
        for cid in ids:
            url = placeholder_url("issyk-kul", cid)
            s.add(CameraRow(id=cid, name=cid, site="yk-pier", region="KG-Y", main_url=url, sub_url=url,
                            lat=42.65, lon=77.08, owner_domain="issyk-kul", updated_at=T0))  # fmt: skip


def _health_event(kind: str, camera: str, ts: datetime, error: str | None = None) -> Event:
    return Event(kind=kind, region="KG-Y", camera=camera, site="yk-pier", ts=ts,
                 payload={"error": error, "reconnects": 1}, severity=Severity.MEDIUM)  # fmt: skip


def _health(system: Any, camera_id: str) -> dict[str, Any]:
    row = system.registry.camera(ADMIN, camera_id)
    return camera_json(system, row, system.registry.site(row.site), ADMIN)["health"]


def test_a_copy_reports_what_its_region_last_said(system: Any) -> None:
    _copies(system.db, "yk-a", "yk-b", "yk-c")
    w = system.writer
    w.write_now([_health_event("camera_offline", "yk-a", T0, "connection refused")])
    w.write_now([_health_event("camera_online", "yk-a", T0 + timedelta(minutes=5))])  # the newest wins
    w.write_now([_health_event("camera_offline", "yk-b", T0 + timedelta(minutes=1), "timeout")])
    w.write_now([_health_event("camera_offline", "yk-cam-1", T0)])  # a local camera's: not a copy's business

    statements: list[str] = []

    def seen(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    sa_event.listen(system.db.engine, "before_cursor_execute", seen)
    try:
        assert system.remote_health.seed() == 3
    finally:
        sa_event.remove(system.db.engine, "before_cursor_execute", seen)
    assert len([q for q in statements if q.lstrip().upper().startswith("SELECT")]) == 1  # one for every copy

    a, b, c = (_health(system, cid) for cid in ("yk-a", "yk-b", "yk-c"))
    assert (a["state"], a["since"], a["remote"], a["stale"]) == ("online", (T0 + timedelta(minutes=5)).isoformat(),
                                                                 "issyk-kul", False)  # fmt: skip
    assert (b["state"], b["since"], b["error"]) == ("offline", (T0 + timedelta(minutes=1)).isoformat(), "timeout")
    assert (c["state"], c["since"], c["remote"]) == ("unknown", None, "issyk-kul")  # never heard of
    copy_json = camera_json(system, system.registry.camera(ADMIN, "yk-c"), None, ADMIN)
    assert copy_json["recording"] is None  # recorded (or not) in its region, not "stopped" here
    local = _health(system, "yk-cam-1")
    assert local["state"] == "disabled" and "remote" not in local  # the local ingest's (not running here)

    # then from the bus: the region says yk-a went down; an older event arriving late changes nothing
    system.remote_health.start()
    try:
        down = T0 + timedelta(minutes=9)
        w.write_now([_health_event("camera_offline", "yk-a", down, "no route to host")])
        w.write_now([_health_event("camera_online", "yk-a", T0 + timedelta(minutes=7))])
        a = _health(system, "yk-a")
        assert (a["state"], a["since"], a["error"]) == ("offline", down.isoformat(), "no route to host")
        assert _health(system, "yk-cam-1")["state"] == "disabled"
        metrics = render_metrics(system)
        assert 'koopsuz_regional_camera_up{camera="yk-a",region="KG-Y",domain="issyk-kul"} 0' in metrics
        assert 'koopsuz_regional_camera_up{camera="yk-b",region="KG-Y",domain="issyk-kul"} 0' in metrics
        assert 'camera="yk-c"' not in metrics  # unknown: no sample rather than a guess
        assert 'koopsuz_camera_up{camera="yk-a"' not in metrics  # not this process's camera
        w.write_now([_health_event("camera_online", "yk-b", T0 + timedelta(minutes=10))])
        assert 'koopsuz_regional_camera_up{camera="yk-b",region="KG-Y",domain="issyk-kul"} 1' in render_metrics(system)
        # the live feed's health messages (what map pins follow) say the same, not this node's "disabled"
        with TestClient(create_app(system, start_system=False)) as client:
            r = client.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
            assert r.status_code == 200, r.text
            with client.websocket_connect("/api/ws/events") as ws:
                health: dict[str, Any] = {}
                deadline = time.monotonic() + 5
                while time.monotonic() < deadline and not {"yk-a", "yk-b", "yk-cam-1"} <= set(health):
                    health |= {m["camera"]: m["health"] for m in ws.receive_json() if m["type"] == "health"}
        assert (health["yk-a"]["state"], health["yk-a"]["remote"]) == ("offline", "issyk-kul")
        assert health["yk-b"]["state"] == "online" and health["yk-cam-1"]["state"] == "disabled"
    finally:
        system.remote_health.stop()


def test_a_region_the_capital_cannot_hear_is_not_shown_online(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'k.db'}")
    db.migrate()
    bus = MemoryBus()
    _copies(db, "yk-up", "yk-down")
    EventWriter(db, bus).write_now([_health_event("camera_online", "yk-up", T0)])
    EventWriter(db, bus).write_now([_health_event("camera_offline", "yk-down", T0)])
    links = {"issyk-kul": True}
    rh = RemoteHealth(db, bus, lambda: links)
    rh.seed()
    rh.refresh_links()
    assert rh.health("yk-up", "issyk-kul")["state"] == "online"
    links["issyk-kul"] = False  # the line is down: the hub has not heard from the region lately
    rh.refresh_links()
    up, down = rh.health("yk-up", "issyk-kul"), rh.health("yk-down", "issyk-kul")
    assert (up["state"], up["last_state"], up["stale"], up["since"]) == ("unknown", "online", True, T0.isoformat())
    assert (down["state"], down["stale"]) == ("offline", True)  # the last fact stands, marked stale
    assert rh.health("yk-up", "naryn")["stale"]  # a domain the hub does not source at all: not heard

    def hub_away() -> dict[str, bool]:
        raise ConnectionError("nats: no servers available")

    away = RemoteHealth(db, bus, hub_away)
    away.seed()
    away.refresh_links()
    assert away.health("yk-up", "issyk-kul")["state"] == "unknown"  # cannot even ask the hub: nothing is heard
    assert RemoteHealth(db, bus).health("yk-up", "issyk-kul")["stale"] is False  # no hub to ask: never stale

    class BusComingUp(MemoryBus):
        refusals = 1

        def subscribe(self, pattern: str, handler: Any, *, durable: str | None = None) -> Any:
            if self.refusals:
                self.refusals -= 1
                raise ConnectionError("JetStream not ready")
            return super().subscribe(pattern, handler, durable=durable)

    late_bus = BusComingUp()
    late = RemoteHealth(db, late_bus, status_interval_s=0.05)
    late.start()  # the bus refused: the process still starts, the thread subscribes again
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and late.health("yk-up", "issyk-kul")["state"] != "offline":
            late_bus.publish(_health_event("camera_offline", "yk-up", T0 + timedelta(minutes=1)))
            time.sleep(0.05)
        assert late.health("yk-up", "issyk-kul")["state"] == "offline"
    finally:
        late.stop()
    db.dispose()
