"""PTZ through the API: moves reach the dome, one operator at a time (409 for the second, a
supervisor takes over), presets and tours, region scope, fixed and dead cameras, all audited."""

from __future__ import annotations

import time

import pytest
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.security.principal import Scope
from koopsuz.sim.rtsp import SimServer
from tests.conftest import PASSWORD

pytestmark = pytest.mark.timeout(120)


def signed_in(app, username: str) -> TestClient:  # type: ignore[no-untyped-def]
    c = TestClient(app)
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf"]
    return c


def idle(c: TestClient, cam: str = "yk-dome") -> dict:
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        st = c.get(f"/api/cameras/{cam}/ptz").json()
        if not st["moving"]:
            return st
        time.sleep(0.1)
    raise AssertionError("still moving")


def test_operators_steer_one_at_a_time_and_every_act_is_audited(ptz_system, dome: SimServer) -> None:
    system = ptz_system
    head = dome.ptz_heads["yk-dome"]
    app = create_app(system, start_system=False)
    with TestClient(app):  # one event loop for the app's lifetime (the ONVIF client lives on it)
        op1, op2 = signed_in(app, "yk.operator"), signed_in(app, "yk.operator2")
        r = op1.post("/api/cameras/yk-dome/ptz/move", json={"mode": "absolute", "pan": 0.5, "tilt": 0.0, "zoom": 0.0})
        assert r.status_code == 200, r.text
        assert r.json()["controlled_by"] == "yk.operator"
        st = idle(op1)
        assert st["pan"] == pytest.approx(0.5, abs=1e-3) and head.position()[0] == pytest.approx(0.5, abs=1e-3)

        # the second operator is told who holds the camera and until when
        r = op2.post("/api/cameras/yk-dome/ptz/move", json={"mode": "relative", "pan": 0.1})
        assert r.status_code == 409
        assert "yk-dome is being moved by" in r.json()["detail"] and "yk.operator" in r.json()["detail"]
        assert "UTC" in r.json()["detail"]
        assert head.position()[0] == pytest.approx(0.5, abs=1e-3)  # nothing reached the camera
        r = op2.post("/api/cameras/yk-dome/ptz/move", json={"mode": "relative", "pan": 0.1, "take_over": True})
        assert r.status_code == 409  # only a supervisor may take over

        # a supervisor takes over; then the first operator is the one refused
        head_c = signed_in(app, "yk.head")
        r = head_c.post("/api/cameras/yk-dome/ptz/move", json={"mode": "relative", "zoom": 0.1, "take_over": True})
        assert r.status_code == 200, r.text and r.json()["controlled_by"] == "yk.head"
        assert op1.post("/api/cameras/yk-dome/ptz/stop").status_code == 409
        idle(head_c)
        r = head_c.post("/api/cameras/yk-dome/ptz/presets", json={"name": "gate"})
        assert r.status_code == 201, r.text
        gate = r.json()["token"]
        assert head_c.post("/api/cameras/yk-dome/ptz/release").json()["controlled_by"] is None

        # presets: listed, recalled (the dome goes back), unknown token 404
        presets = op2.get("/api/cameras/yk-dome/ptz/presets").json()
        assert [(p["token"], p["name"]) for p in presets] == [(gate, "gate")]
        assert presets[0]["zoom"] == pytest.approx(0.1, abs=1e-3)
        op2.post("/api/cameras/yk-dome/ptz/move", json={"mode": "absolute", "pan": -0.3, "zoom": 0.0})
        idle(op2)
        assert op2.post(f"/api/cameras/yk-dome/ptz/preset/{gate}").status_code == 200
        st = idle(op2)
        assert (st["pan"], st["zoom"]) == (pytest.approx(0.5, abs=1e-3), pytest.approx(0.1, abs=1e-3))
        assert op2.post("/api/cameras/yk-dome/ptz/preset/nope").status_code == 404

        # a tour runs in the background, and a manual move ends it
        op2.post("/api/cameras/yk-dome/ptz/move", json={"mode": "absolute", "pan": -0.5, "zoom": 0.0})
        idle(op2)
        home = op2.post("/api/cameras/yk-dome/ptz/presets", json={"name": "home"}).json()["token"]
        nope = {"name": "x", "steps": [{"preset": "nope", "dwell_s": 1}]}
        bad = op2.post("/api/cameras/yk-dome/ptz/tours", json=nope)
        assert bad.status_code == 422 and "nope" in bad.json()["detail"]
        steps = [{"preset": gate, "dwell_s": 1}, {"preset": home, "dwell_s": 1}]
        tour = op2.post("/api/cameras/yk-dome/ptz/tours", json={"name": "square", "steps": steps})
        assert tour.status_code == 201, tour.text
        r = op2.post(f"/api/cameras/yk-dome/ptz/tours/{tour.json()['id']}/start")
        assert r.status_code == 200 and r.json()["tour"] == tour.json()["id"]
        seen = set()
        deadline = time.monotonic() + 6
        while time.monotonic() < deadline and len(seen) < 2:
            p = head.position()[0]
            seen |= {name for name, x in (("gate", 0.5), ("home", -0.5)) if abs(p - x) < 1e-3}
            time.sleep(0.05)
        assert seen == {"gate", "home"}  # the dome visited both presets by itself
        assert op2.get("/api/cameras/yk-dome/ptz/tours").json()[0]["running"] is True
        r = op2.post("/api/cameras/yk-dome/ptz/move", json={"mode": "continuous", "pan": 0.2, "timeout_s": 0.5})
        assert r.status_code == 200 and r.json()["tour"] is None
        assert op2.get("/api/cameras/yk-dome/ptz/tours").json()[0]["running"] is False

        # bad input: clear 4xx
        assert op2.post("/api/cameras/yk-dome/ptz/move", json={"mode": "spin"}).status_code == 422
        assert op2.post("/api/cameras/yk-dome/ptz/move", json={"mode": "relative"}).status_code == 422
        r = op2.post("/api/cameras/yk-cam-1/ptz/move", json={"mode": "relative", "pan": 0.1})
        assert r.status_code == 422 and "fixed camera" in r.json()["detail"]

        # region scope: Chuy's operator cannot see or steer Issyk-Kul's dome; an auditor cannot steer at all
        ch = signed_in(app, "ch.operator")
        assert ch.post("/api/cameras/yk-dome/ptz/move", json={"mode": "relative", "pan": 0.1}).status_code == 403
        assert ch.get("/api/cameras/yk-dome/ptz/presets").status_code == 403
        assert signed_in(app, "auditor").get("/api/cameras/yk-dome/ptz").status_code == 403

        # a dome that does not answer: 503 with what to check, quickly
        t0 = time.monotonic()
        r = ch.post("/api/cameras/ch-dome/ptz/move", json={"mode": "relative", "pan": 0.1})
        assert r.status_code == 503 and "does not answer over ONVIF" in r.json()["detail"]
        assert time.monotonic() - t0 < 11

    audit = system.audit.search(Scope.national())
    acts = [(a.action, a.actor, a.outcome) for a in audit if a.action.startswith("ptz.")]
    assert ("ptz.move", "yk.operator", "ok") in acts
    assert ("ptz.locked", "yk.operator2", "denied") in acts
    assert ("ptz.takeover", "yk.head", "ok") in acts
    assert ("ptz.locked", "yk.operator", "denied") in acts
    assert ("ptz.preset.set", "yk.head", "ok") in acts
    assert ("ptz.preset.goto", "yk.operator2", "ok") in acts
    assert ("ptz.tour.start", "yk.operator2", "ok") in acts
    taken = next(a for a in audit if a.action == "ptz.takeover")
    assert taken.detail == {"from": "yk.operator"} and taken.target_id == "yk-dome" and taken.region == "KG-Y"
    denied = [a for a in audit if a.action == "access.denied" and a.actor == "ch.operator"]
    assert {a.target_id for a in denied} == {"yk-dome"}
    assert "dome-secret" not in str([a.detail for a in audit])  # ONVIF credentials never reach the log
