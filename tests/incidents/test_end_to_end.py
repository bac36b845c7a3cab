"""Issue 7 acceptance, end to end on real parts: simulator -> rule alert -> queues -> incident -> dispatch -> close.

The simulator serves two cameras over RTSP: one in Karakol (Issyk-Kul) where a person walks into
a zone-entry rule's zone, and a quiet one in Tokmok (Chuy). A real ``System`` ingests them (SSD
detection, tracker, rules) behind a real HTTP server. The alert must reach the Issyk-Kul operator
and the national operator (queue and WebSocket) and never the Chuy operator. The Issyk-Kul
operator claims it, opens an incident, ticks the procedure, is offered the nearer of two patrol
units first (distance, ETA) and dispatches it; the simulator then drives that unit along its road,
posting positions with a Bearer token as the unit's tablet would, and reports it on scene on
arrival. The incident is resolved and closed; every step has a time and an audit entry, and the
dashboard's response-time figures for the period are the recorded times. Bad input on the way:
an unknown unit's position, an SOP step out of order, two operators closing at once, an incident
outside the country.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml

pytest.importorskip("gi")

from koopsuz.config import Settings
from koopsuz.domain.geo import great_circle_m
from koopsuz.sim.render import render_scenario
from koopsuz.sim.rtsp import SimServer
from koopsuz.sim.scenario import Scenario
from koopsuz.sim.units import UnitFleet
from tests.conftest import PASSWORD, ROOT, free_port, wait_port

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]
CAMERA = (42.4916, 78.3951)  # Karakol, on the square; the incident is placed at the alert's camera
NEAR_ROAD = [[42.4898, 78.3940], [42.4898, 78.3951], [42.4916, 78.3951], [42.4930, 78.3951]]  # ~90 m east, north
FAR_ROAD = [[42.5150, 78.3951], [42.4930, 78.3951]]  # 2.6 km north, coming south
ZONE = {"id": "near", "name": "Near pavement", "kind": "zone_entry", "zone": [[0, 0.6], [1, 0.6], [1, 1], [0, 1]],
        "classes": ["person"], "severity": "high"}
USERS = {
    "admin": ("admin", None),
    "national": ("national_operator", None),
    "yk.operator": ("regional_operator", "KG-Y"),
    "yk.operator2": ("regional_operator", "KG-Y"),
    "yk.tablet": ("regional_operator", "KG-Y"),  # the units' tablets report with this account's token
    "yk.head": ("regional_head", "KG-Y"),
    "ch.operator": ("regional_operator", "KG-C"),
    "auditor": ("auditor", None),
}


def scenario() -> Scenario:
    return Scenario.model_validate(
        {
            "seed": 7107,
            "fps": 15,
            "loop_seconds": 10,
            "gop_seconds": 1.0,
            "cameras": [
                {"id": "yk-e2e", "scene": "street", "schedule": [
                    {"id": "p1", "at": 0.5, "kind": "person", "path": [[-0.06, 0.96], [1.06, 0.96]], "duration": 7.0,
                     "scale": 1.5}]},
                {"id": "ch-e2e", "scene": "street", "schedule": []},
            ],
            "units": [
                {"id": "yk-near-1", "call_sign": "Karakol-7", "road": NEAR_ROAD},
                {"id": "yk-far-1", "call_sign": "Karakol-9", "road": FAR_ROAD},
                {"id": "yk-ghost-1", "call_sign": "Ghost-1", "road": FAR_ROAD},  # never registered in Koopsuz
            ],
        }
    )


def wait_for(cond: Any, timeout: float, what: str, step: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


class Feed:
    """A WebSocket client on /api/ws/events (Bearer), keeping every message."""

    def __init__(self, base_url: str, token: str) -> None:
        from websockets.sync.client import connect

        url = base_url.replace("http://", "ws://") + "/api/ws/events"
        self._conn = connect(url, additional_headers={"Authorization": f"Bearer {token}"})
        self.ws = self._conn.__enter__()
        self.messages: list[dict[str, Any]] = []
        self._t = threading.Thread(target=self._run, daemon=True)
        self._t.start()

    def _run(self) -> None:
        try:
            for raw in self.ws:
                self.messages.extend(json.loads(raw))  # a frame is a JSON array of messages
        except Exception:
            pass

    def events(self, kind: str) -> list[dict[str, Any]]:
        return [m["event"] for m in list(self.messages) if m["type"] == "event" and m["event"]["kind"] == kind]

    def close(self) -> None:
        self._conn.__exit__(None, None, None)
        self._t.join(5)


class World:
    def __init__(self, base_url: str, sim: SimServer, tokens: dict[str, str]) -> None:
        self.base_url, self.sim, self.tokens = base_url, sim, tokens
        self.http = httpx.Client(base_url=base_url, timeout=15)
        self.control = httpx.Client(base_url=f"http://127.0.0.1:{sim.control_port}", timeout=15)

    def __call__(self, user: str, method: str, path: str, **kw: Any) -> httpx.Response:
        return self.http.request(method, path, headers={"Authorization": f"Bearer {self.tokens[user]}"}, **kw)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    import uvicorn

    from koopsuz.api.app import create_app
    from koopsuz.system import System

    base = tmp_path_factory.mktemp("e2e-command")
    world = scenario()
    rendered = render_scenario(world, ROOT / "var" / "sim" / "cache", base / "no-faces", workers=1, progress=False)
    sim = SimServer(rendered, port=0, control_port=0, units=UnitFleet(world.units))
    sim.start()
    sites = [
        {"id": "yk-square", "name": "Karakol square", "type": "public_place", "region": "KG-Y", "lat": 42.4915,
         "lon": 78.3950},
        {"id": "ch-street", "name": "Tokmok street", "type": "street", "region": "KG-C", "lat": 42.8417,
         "lon": 75.2911},
    ]
    cams = [
        {"id": cid, "name": cid, "site": site, "lat": lat, "lon": lon, "profile": profile,
         "main_url": f"rtsp://127.0.0.1:{sim.port}/{cid}/main", "sub_url": f"rtsp://127.0.0.1:{sim.port}/{cid}/sub"}
        for cid, site, (lat, lon), profile in (
            ("yk-e2e", "yk-square", CAMERA, "people"),
            ("ch-e2e", "ch-street", (42.8418, 75.2912), "motion"),
        )
    ]
    dep = base / "deployment.yaml"
    dep.write_text(yaml.safe_dump({"name": "command e2e", "sites": sites, "cameras": cams}))
    system = System(Settings(data_dir=base / "var", secret_key="e2e-command", record=False))
    system.load_deployment(dep)
    for user, (role, region) in USERS.items():
        system.users.create("test", user, PASSWORD, role, region)
    admin = system.users.authenticate("admin", PASSWORD)
    system.rules.save(admin, "yk-e2e", {"rules": [ZONE]})
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(system), port=port, log_level="warning", timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        wait_port(port, 60)
        base_url = f"http://127.0.0.1:{port}"
        tokens = {}
        with httpx.Client(base_url=base_url, timeout=15) as c:
            for user in USERS:
                r = c.post("/api/auth/login", json={"username": user, "password": PASSWORD})
                assert r.status_code == 200, r.text
                tokens[user] = r.json()["token"]
        yield World(base_url, sim, tokens)
    finally:
        server.should_exit = True
        thread.join(15)
        sim.stop()


def test_alert_to_closed_incident_through_the_simulator(world: World) -> None:
    w = world
    started = datetime.now(UTC)
    feeds = {u: Feed(w.base_url, w.tokens[u]) for u in ("yk.operator", "national", "ch.operator")}
    try:
        # -- patrol units: registered in Koopsuz, their tablets (the simulator) report where they stand
        for uid, sign in (("yk-near-1", "Karakol-7"), ("yk-far-1", "Karakol-9")):
            r = w("admin", "POST", "/api/units", json={"id": uid, "call_sign": sign, "region": "KG-Y"})
            assert r.status_code == 201, r.text
        tablet = {"api_url": w.base_url, "token": w.tokens["yk.tablet"]}
        for uid in ("yk-near-1", "yk-far-1", "yk-ghost-1"):
            assert w.control.post(f"/units/{uid}/report", json=tablet).status_code == 200
        near = w("yk.operator", "GET", "/api/units/yk-near-1").json()
        assert (near["lat"], near["lon"]) == pytest.approx(tuple(NEAR_ROAD[0]))
        ghost = w.control.get("/units").json()[2]
        assert ghost["id"] == "yk-ghost-1" and ghost["posts"] == 0
        assert "404" in ghost["last_error"] and "no unit 'yk-ghost-1'" in ghost["last_error"]
        r = w("yk.tablet", "POST", "/api/units/no-such-unit/position", json={"lat": 42.49, "lon": 78.39})
        assert r.status_code == 404 and "no unit 'no-such-unit'" in r.json()["detail"]
        bad = w.control.post("/units/yk-near-1/drive", json={"to": [42.49, 78.39], "speed_kmh": -5} | tablet)
        assert bad.status_code == 400 and "speed_kmh" in bad.json()["error"]
        assert w.control.post("/units/nobody/drive", json={"to": [42.49, 78.39]}).status_code == 404

        # -- the rule alert from the simulated camera reaches Issyk-Kul and the nation, not Chuy
        def first_alert() -> dict[str, Any] | None:
            got = [a for a in w("yk.operator", "GET", "/api/alerts/queue").json() if a["camera"] == "yk-e2e"]
            return got[0] if got else None  # most severe, then oldest, first

        try:
            alert = wait_for(first_alert, 60, "a zone-entry alert from yk-e2e in the Issyk-Kul queue")
        except AssertionError as exc:  # say what the camera's analytics saw
            cam = next(c for c in w("admin", "GET", "/api/cameras").json() if c["id"] == "yk-e2e")
            raise AssertionError(f"{exc}; health {cam['health']}; analytics {cam['analytics']}") from None
        assert alert["kind"] == "alert" and alert["region"] == "KG-Y" and alert["payload"]["rule"] == "near"
        assert alert["payload"]["class"] == "person"
        national_queue = {a["id"] for a in w("national", "GET", "/api/alerts/queue").json()}
        assert alert["id"] in national_queue
        chuy_queue = w("ch.operator", "GET", "/api/alerts/queue").json()
        assert all(a["region"] == "KG-C" for a in chuy_queue) and alert["id"] not in {a["id"] for a in chuy_queue}
        assert w("ch.operator", "POST", f"/api/alerts/{alert['id']}/claim").status_code == 403
        wait_for(lambda: alert["id"] in {e["id"] for e in feeds["national"].events("alert")}, 10, "national feed")
        wait_for(lambda: alert["id"] in {e["id"] for e in feeds["yk.operator"].events("alert")}, 10, "Issyk-Kul feed")
        chuy = feeds["ch.operator"].messages
        assert any(m["type"] == "health" and m["camera"] == "ch-e2e" for m in chuy)  # the Chuy feed is live
        assert not [m for m in chuy if m["type"] == "event" and m["event"]["region"] != "KG-C"]
        assert not [m for m in chuy if m["type"] == "health" and m["camera"] != "ch-e2e"]

        # -- claimed by one operator; a second is told who holds it
        r = w("yk.operator", "POST", f"/api/alerts/{alert['id']}/claim")
        assert r.status_code == 200, r.text
        r = w("yk.operator2", "POST", f"/api/alerts/{alert['id']}/claim")
        assert r.status_code == 409 and "yk.operator" in r.json()["detail"]

        # -- an incident from it, placed at the camera; outside the country is refused
        r = w("yk.operator", "POST", "/api/incidents",
              json={"source": "alert", "alerts": [alert["id"]], "category": "public_disorder", "description": "e2e"})
        assert r.status_code == 201, r.text
        inc = r.json()
        iid = inc["id"]
        assert inc["region"] == "KG-Y" and inc["state"] == "new"
        assert (inc["lat"], inc["lon"]) == pytest.approx(CAMERA)
        r = w("national", "POST", "/api/incidents",
              json={"source": "manual", "category": "theft", "lat": 43.2389, "lon": 76.8897})  # Almaty
        assert r.status_code == 422 and "outside" in r.json()["detail"]
        assert alert["id"] not in {a["id"] for a in w("national", "GET", "/api/alerts/queue").json()}

        # -- the procedure in order; a step out of order is refused
        steps = [s["step"] for s in inc["sop"]]
        r = w("yk.operator", "POST", f"/api/incidents/{iid}/sop/{steps[1]}")
        assert r.status_code == 409 and steps[0] in r.json()["detail"]
        assert w("yk.operator", "POST", f"/api/incidents/{iid}/sop/{steps[0]}").status_code == 200

        # -- the nearer available unit first, with distance and ETA; dispatched
        sug = w("yk.operator", "GET", f"/api/incidents/{iid}/suggestions").json()
        assert [u["id"] for u in sug["units"]] == ["yk-near-1", "yk-far-1"]
        first, second = sug["units"]
        assert first["distance_m"] == pytest.approx(great_circle_m(*NEAR_ROAD[0], *CAMERA), abs=1)
        assert first["distance_m"] < 300 < 2000 < second["distance_m"]
        assert first["eta_s"] == pytest.approx(first["distance_m"] / (sug["assumed_speed_kmh"] / 3.6), abs=0.2)
        assert "yk-e2e" in {c["id"] for c in sug["cameras"]}
        time.sleep(1.0)  # the operator reads the suggestions: creation -> dispatch is not zero
        r = w("yk.operator", "POST", f"/api/incidents/{iid}/dispatch", json={"unit": "yk-near-1"})
        assert r.status_code == 200, r.text
        assert r.json()["state"] == "dispatched"
        assert w("yk.operator", "GET", "/api/units/yk-near-1").json()["status"] == "en_route"

        # -- the simulator drives it along its road to the incident, reporting as it goes, then on scene
        order = {"to": [inc["lat"], inc["lon"]], "speed_kmh": 120, "interval_s": 0.5, "on_arrival": "on_scene"}
        r = w.control.post("/units/yk-near-1/drive", json=order | tablet)
        assert r.status_code == 200 and r.json()["driving"], r.text
        seen: list[tuple[float, float]] = []

        def arrived() -> bool:
            u = w("yk.operator", "GET", "/api/units/yk-near-1").json()
            if not seen or seen[-1] != (u["lat"], u["lon"]):
                seen.append((u["lat"], u["lon"]))
            return u["status"] == "on_scene"

        wait_for(arrived, 30, "the unit on scene", step=0.3)
        state = w.control.get("/units").json()[0]
        assert state["last_error"] is None and state["posts"] >= 10 and state["arrived_at"]
        assert len(seen) >= 5, seen  # it moved through several reported positions
        assert seen[-1] == pytest.approx(CAMERA, abs=1e-6)
        # along the road: first east along the southern street, then north, never cutting the corner
        for lat, lon in seen:
            assert lat == pytest.approx(NEAR_ROAD[0][0], abs=1e-6) or lon == pytest.approx(CAMERA[1], abs=1e-6)
        dists = [great_circle_m(lat, lon, *CAMERA) for lat, lon in seen]
        assert dists == sorted(dists, reverse=True)
        inc = w("yk.operator", "GET", f"/api/incidents/{iid}").json()
        assert inc["state"] == "on_scene"

        # -- resolved; two operators close at once: exactly one wins, the other is told who
        assert w("yk.operator", "POST", f"/api/incidents/{iid}/state", json={"state": "resolved"}).status_code == 200
        assert w("yk.operator", "GET", "/api/units/yk-near-1").json()["status"] == "available"
        answers: dict[str, httpx.Response] = {}
        go = threading.Barrier(2)

        def close(user: str) -> None:
            c = httpx.Client(base_url=w.base_url, timeout=15)
            go.wait()
            answers[user] = c.post(f"/api/incidents/{iid}/state", json={"state": "closed"},
                                   headers={"Authorization": f"Bearer {w.tokens[user]}"})

        threads = [threading.Thread(target=close, args=(u,)) for u in ("yk.operator", "yk.operator2")]
        for t in threads:
            t.start()
        for t in threads:
            t.join(20)
        codes = sorted(a.status_code for a in answers.values())
        assert codes == [200, 409], {u: a.text for u, a in answers.items()}
        winner = next(u for u, a in answers.items() if a.status_code == 200)
        loser = next(a for a in answers.values() if a.status_code == 409)
        assert "closed" in loser.json()["detail"] and winner in loser.json()["detail"]

        # -- every step has a time, in order, and an audit entry
        inc = w("yk.operator", "GET", f"/api/incidents/{iid}").json()
        times = [datetime.fromisoformat(inc[k]) for k in
                 ("created_at", "dispatched_at", "on_scene_at", "resolved_at", "closed_at")]
        assert started < times[0] and times == sorted(times)
        assert inc["dispatches"][0]["arrived_at"] and inc["dispatches"][0]["sent_by"] == "yk.operator"
        actions = [h["action"] for h in inc["history"]]
        for a in ("claim", "incident", "create", "sop", "dispatch", "arrived", "state"):
            assert a in actions, actions
        assert all(h["at"] for h in inc["history"])
        audit = w("auditor", "GET", "/api/audit", params={"since": started.isoformat(), "limit": 1000}).json()
        done = {(e["action"], e["target_id"]) for e in audit}
        for action, target in (
            ("alert.claim", alert["id"]),
            ("incident.create", iid),
            ("incident.sop", iid),
            ("incident.dispatch", iid),
            ("unit.status", "yk-near-1"),  # the tablet's arrival
            ("incident.state", iid),
        ):
            assert (action, target) in done, (action, target)
        states = [e["detail"]["state"] for e in audit if e["action"] == "incident.state" and e["target_id"] == iid]
        assert sorted(states) == ["closed", "resolved"]
        arrival = next(e for e in audit if e["action"] == "unit.status" and e["target_id"] == "yk-near-1")
        assert arrival["actor"] == "yk.tablet" and arrival["detail"]["status"] == "on_scene"
        assert all(e["ts"] for e in audit)

        # -- the dashboard's response times for the period are the recorded ones
        period = {"from": (started - timedelta(minutes=1)).isoformat(), "to": (datetime.now(UTC)).isoformat()}
        d = w("yk.head", "GET", "/api/dashboard", params=period)
        assert d.status_code == 200, d.text
        f = d.json()["summary"]
        assert f["incidents"] == 1 and f["by_category"] == {"public_disorder": 1}
        to_dispatch = (times[1] - times[0]).total_seconds()
        to_scene = (times[2] - times[0]).total_seconds()
        assert f["time_to_dispatch"]["n"] == 1 and f["time_to_on_scene"]["n"] == 1
        assert f["time_to_dispatch"]["median_s"] == pytest.approx(to_dispatch, abs=0.01)
        assert f["time_to_on_scene"]["median_s"] == pytest.approx(to_scene, abs=0.01)
        assert to_dispatch >= 1.0 and to_scene - to_dispatch >= 290 / (120 / 3.6) - 1  # the road took its time
        print(f"creation -> dispatch {to_dispatch:.1f} s, -> on scene {to_scene:.1f} s; {len(seen)} positions seen")
    finally:
        for f in feeds.values():
            f.close()
    # the Chuy operator never saw anything of Issyk-Kul, to the end
    assert not [m for m in feeds["ch.operator"].messages if m["type"] == "event" and m["event"]["region"] != "KG-C"]
