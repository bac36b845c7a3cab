"""PTZ control across API processes: two Systems (two apps, as two ``koopsuz api`` processes behind a
load balancer) on one database see one lease per camera. The second operator gets 409 whichever
process serves them; a supervisor's take-over in one holds in the other; a tour running in one
process stops when its operator moves the camera through the other; a release frees it for both.
And the lease itself: racing takers on separate connections, exactly one wins each round, on SQLite
and on PostgreSQL."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.config import Settings
from koopsuz.security.principal import Scope
from koopsuz.sim.rtsp import SimServer
from koopsuz.store.db import Database
from koopsuz.store.ptz_leases import PtzLeaseRepo
from tests.conftest import PASSWORD
from tests.scaleout.conftest import pg_server  # noqa: F401  (a fixture: a throw-away PostgreSQL)

pytestmark = pytest.mark.timeout(120)


def signed_in(app, username: str) -> TestClient:  # type: ignore[no-untyped-def]
    c = TestClient(app)
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf"]
    return c


def wait_idle(c: TestClient) -> dict:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        st = c.get("/api/cameras/yk-dome/ptz").json()
        if not st["moving"]:
            return st
        time.sleep(0.1)
    raise AssertionError("still moving")


def test_one_lease_across_two_api_processes(ptz_system, dome: SimServer, tmp_path: Path) -> None:
    from koopsuz.system import System

    head = dome.ptz_heads["yk-dome"]
    first = ptz_system
    second = System(Settings(data_dir=tmp_path / "var", secret_key="test-secret"))  # the same database
    try:
        app_a, app_b = create_app(first, start_system=False), create_app(second, start_system=False)
        with TestClient(app_a), TestClient(app_b):
            op1_a = signed_in(app_a, "yk.operator")
            op2_b = signed_in(app_b, "yk.operator2")
            r = op1_a.post("/api/cameras/yk-dome/ptz/move", json={"mode": "absolute", "pan": 0.4, "zoom": 0.0})
            assert r.status_code == 200, r.text
            wait_idle(op1_a)

            # the other process refuses the second operator, naming the holder; nothing reaches the dome
            r = op2_b.post("/api/cameras/yk-dome/ptz/move", json={"mode": "relative", "pan": 0.2})
            assert r.status_code == 409, r.text
            assert "yk.operator" in r.json()["detail"]
            assert head.position()[0] == pytest.approx(0.4, abs=1e-3)
            assert op2_b.get("/api/cameras/yk-dome/ptz").json()["controlled_by"] == "yk.operator"

            # a supervisor takes over through process B; process A now refuses the first operator
            head_b = signed_in(app_b, "yk.head")
            r = head_b.post("/api/cameras/yk-dome/ptz/move", json={"mode": "relative", "zoom": 0.1, "take_over": True})
            assert r.status_code == 200, r.text
            assert op1_a.post("/api/cameras/yk-dome/ptz/stop").status_code == 409
            wait_idle(head_b)

            # a tour started through B (it runs in B) stops when its operator moves the dome through A
            gate = head_b.post("/api/cameras/yk-dome/ptz/presets", json={"name": "gate"}).json()["token"]
            head_b.post("/api/cameras/yk-dome/ptz/move", json={"mode": "absolute", "pan": -0.5, "zoom": 0.0})
            wait_idle(head_b)
            home = head_b.post("/api/cameras/yk-dome/ptz/presets", json={"name": "home"}).json()["token"]
            steps = [{"preset": gate, "dwell_s": 1}, {"preset": home, "dwell_s": 1}]
            tour = head_b.post("/api/cameras/yk-dome/ptz/tours", json={"name": "sq", "steps": steps}).json()
            r = head_b.post(f"/api/cameras/yk-dome/ptz/tours/{tour['id']}/start")
            assert r.status_code == 200 and r.json()["tour"] == tour["id"], r.text
            head_a = signed_in(app_a, "yk.head")
            assert head_a.get("/api/cameras/yk-dome/ptz").json()["tour"] == tour["id"]  # A sees B's tour
            assert op1_a.post("/api/cameras/yk-dome/ptz/stop").status_code == 409  # still held (by the tour)
            r = head_a.post("/api/cameras/yk-dome/ptz/move", json={"mode": "absolute", "pan": 0.9, "zoom": 0.0})
            assert r.status_code == 200 and r.json()["tour"] is None, r.text
            wait_idle(head_a)
            deadline = time.monotonic() + 6
            while time.monotonic() < deadline and second.ptz._tours.get("yk-dome", ("", None))[1] is not None \
                    and not second.ptz._tours["yk-dome"][1].done():
                time.sleep(0.1)
            assert second.ptz._tours["yk-dome"][1].done(), "the tour in process B kept running"
            time.sleep(2.5)  # more than a dwell: the tour, had it gone on, would have moved the dome
            assert head.position()[0] == pytest.approx(0.9, abs=1e-3)
            assert head_b.get("/api/cameras/yk-dome/ptz").json()["tour"] is None

            # released through A: free in B too
            assert head_a.post("/api/cameras/yk-dome/ptz/release").json()["controlled_by"] is None
            r = op2_b.post("/api/cameras/yk-dome/ptz/move", json={"mode": "relative", "pan": -0.1})
            assert r.status_code == 200 and r.json()["controlled_by"] == "yk.operator2", r.text
            wait_idle(op2_b)
            for token in (gate, home):  # the simulated dome is shared by the package's tests
                assert op2_b.delete(f"/api/cameras/yk-dome/ptz/presets/{token}").status_code == 204
            op2_b.post("/api/cameras/yk-dome/ptz/move", json={"mode": "absolute", "pan": 0.0, "tilt": 0.0, "zoom": 0.0})
            wait_idle(op2_b)
    finally:
        second.stop()
    acts = {(a.action, a.actor, a.outcome) for a in first.audit.search(Scope.national()) if a.action.startswith("ptz.")}
    assert {("ptz.locked", "yk.operator2", "denied"), ("ptz.takeover", "yk.head", "ok"),
            ("ptz.locked", "yk.operator", "denied"), ("ptz.tour.start", "yk.head", "ok")} <= acts


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_racing_takers_on_separate_connections_one_wins(backend: str, tmp_path: Path, request) -> None:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'leases.db'}"
    else:
        pg = request.getfixturevalue("pg_server")
        url = pg.create_database(f"ptz_leases_{int(time.time() * 1000)}")
    Database(url).migrate()
    dbs = [Database(url) for _ in range(4)]  # four "processes", each with its own engine
    rounds = 15
    winners: list[list[str]] = [[] for _ in range(rounds)]
    barrier = threading.Barrier(len(dbs))
    errors: list[BaseException] = []

    def contender(i: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait(10)
                now = 1000.0 + r * 100  # each round starts after the previous lease (30 s) expired
                with dbs[i].transaction() as s:
                    other = PtzLeaseRepo(s).take("dome", "KG-Y", f"op{i}", f"Op {i}", now + 30, now)
                if other is None:
                    winners[r].append(f"op{i}")
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(len(dbs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert all(len(w) == 1 for w in winners), winners
    with dbs[0].session() as s:
        held = PtzLeaseRepo(s).current("dome", 1000.0 + (rounds - 1) * 100)
    assert held is not None and held.username == winners[-1][0]
    for db in dbs:
        db.dispose()
