"""The command-centre API end to end in process: queue, claims, escalation, incidents, dispatch,
unit status, measures, scope and bad input. Times come from a controlled clock."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest

from koopsuz.domain.geo import great_circle_m
from koopsuz.security.principal import Scope
from koopsuz.store.db import Database
from koopsuz.store.incident_repo import IncidentRepo
from koopsuz.store.tables import EventRow

from .conftest import BOSTERI, T0, TOKMOK, add_alert, add_units


def test_queue_orders_by_severity_then_age_and_is_scoped(api, system, clock) -> None:
    old_med = add_alert(system, severity="medium", ts=T0 - timedelta(minutes=9))
    new_crit = add_alert(system, severity="critical", ts=T0 - timedelta(minutes=1))
    old_crit = add_alert(system, severity="critical", ts=T0 - timedelta(minutes=5))
    foreign = add_alert(system, "KG-C", severity="critical", ts=T0 - timedelta(minutes=30))
    q = api("yk.operator", "GET", "/api/alerts/queue").json()
    assert [a["id"] for a in q] == [old_crit.id, new_crit.id, old_med.id]
    assert q[0]["queue"]["claimed_by"] is None and q[0]["media"] is not None
    assert foreign.id in [a["id"] for a in api("national", "GET", "/api/alerts/queue").json()]
    # a dismissed alert leaves the queue
    r = api("yk.operator", "POST", f"/api/events/{old_med.id}/feedback", json={"verdict": "dismissed"})
    assert r.status_code == 200
    assert old_med.id not in [a["id"] for a in api("yk.operator", "GET", "/api/alerts/queue").json()]


def test_one_operator_claims_an_alert_at_a_time(api, system, clock) -> None:
    a = add_alert(system)
    clock.at(30)
    r = api("yk.operator", "POST", f"/api/alerts/{a.id}/claim")
    assert r.status_code == 200 and r.json()["claimed_by"] == "yk.operator"
    clock.at(60)
    r = api("yk.operator2", "POST", f"/api/alerts/{a.id}/claim")
    assert r.status_code == 409 and "held by yk.operator" in r.json()["detail"]
    assert api("yk.operator2", "POST", f"/api/alerts/{a.id}/release").status_code == 409
    # the holder releases: the other takes it; the first acknowledgement is kept
    assert api("yk.operator", "POST", f"/api/alerts/{a.id}/release").status_code == 200
    r = api("yk.operator2", "POST", f"/api/alerts/{a.id}/claim")
    assert r.status_code == 200 and r.json()["claimed_by"] == "yk.operator2"
    assert r.json()["acknowledged_by"] == "yk.operator" and r.json()["acknowledged_at"] == clock.at(30).isoformat()
    # an idle claim expires: after claim_idle_s without a touch, another operator may take it
    clock.at(60 + system.alert_queue.claim_idle_s - 1)
    assert api("yk.operator", "POST", f"/api/alerts/{a.id}/claim").status_code == 409
    clock.at(60 + system.alert_queue.claim_idle_s + 1)
    r = api("yk.operator", "POST", f"/api/alerts/{a.id}/claim")
    assert r.status_code == 200 and r.json()["claimed_by"] == "yk.operator"
    actions = [h["action"] for h in api("yk.head", "GET", f"/api/alerts/{a.id}/state").json()["history"]]
    assert actions == ["claim", "release", "claim", "claim"]
    audited = system.audit.search(Scope.national(), target_id=a.id)
    assert [x.action for x in reversed(audited)] == ["alert.claim", "alert.release", "alert.claim", "alert.claim"]


def test_escalation_goes_to_the_national_queue_and_keeps_the_history(api, system, clock) -> None:
    a = add_alert(system)
    b = add_alert(system, severity="low")
    api("yk.operator", "POST", f"/api/alerts/{a.id}/claim")
    clock.at(40)
    r = api("yk.operator", "POST", f"/api/alerts/{a.id}/escalate", json={"reason": "armed, needs national"})
    assert r.status_code == 200 and r.json()["escalated_by"] == "yk.operator" and r.json()["claimed_by"] is None
    assert api("yk.operator", "POST", f"/api/alerts/{a.id}/escalate", json={"reason": "again"}).status_code == 409
    assert api("national", "POST", f"/api/alerts/{b.id}/escalate", json={"reason": "up"}).status_code == 422
    r = api("yk.operator", "POST", f"/api/alerts/{b.id}/escalate", json={})
    assert r.status_code == 422 and "reason" in r.json()["detail"]
    national = api("national", "GET", "/api/alerts/queue", params={"escalated": True}).json()
    assert [x["id"] for x in national] == [a.id]
    # the national centre takes it and opens the incident; the history shows the whole path
    clock.at(100)
    assert api("national", "POST", f"/api/alerts/{a.id}/claim").status_code == 200
    clock.at(130)
    r = api("national", "POST", "/api/incidents", json={"source": "alert", "alerts": [a.id], "category": "assault"})
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["region"] == "KG-Y" and (inc["lat"], inc["lon"]) == (42.4916, 78.3951)  # the camera's place
    steps = [(h["target_type"], h["action"], h["by"]) for h in inc["history"]]
    assert steps == [
        ("alert", "claim", "yk.operator"),
        ("alert", "escalate", "yk.operator"),
        ("alert", "claim", "national"),
        ("alert", "incident", "national"),
        ("incident", "create", "national"),
    ]
    assert inc["history"][1]["detail"]["reason"] == "armed, needs national"
    assert a.id not in [x["id"] for x in api("yk.operator", "GET", "/api/alerts/queue").json()]
    # the incident itself is escalated once, by the region
    r = api("yk.operator", "POST", f"/api/incidents/{inc['id']}/escalate", json={"reason": "needs a national team"})
    assert r.status_code == 200 and r.json()["escalated_by"] == "yk.operator"
    assert [i["id"] for i in api("national", "GET", "/api/incidents", params={"escalated": True}).json()] == [inc["id"]]
    assert system.audit.search(Scope.national(), action="incident.escalate")[0].target_id == inc["id"]


def test_incident_from_a_claimed_alert_needs_the_holder(api, system, clock) -> None:
    a = add_alert(system)
    api("yk.operator", "POST", f"/api/alerts/{a.id}/claim")
    body = {"source": "alert", "alerts": [a.id], "category": "theft"}
    r = api("yk.operator2", "POST", "/api/incidents", json=body)
    assert r.status_code == 409 and "held by yk.operator" in r.json()["detail"]
    assert api("yk.operator", "POST", "/api/incidents", json=body).status_code == 201
    r = api("yk.operator", "POST", "/api/incidents", json=body)
    assert r.status_code == 409 and "already in incident" in r.json()["detail"]


def test_dispatch_suggests_the_nearest_available_unit_and_units_follow_the_incident(api, system, clock) -> None:
    add_units(api)
    call = {
        "source": "call",
        "category": "traffic_accident",
        "caller_name": "Айгүл Асанова",
        "caller_phone": "+996 555 123 456",
        "lat": BOSTERI[0],
        "lon": BOSTERI[1],
        "description": "two cars on the shore road",
    }
    r = api("yk.operator", "POST", "/api/incidents", json=call)
    assert r.status_code == 201, r.text
    inc = r.json()
    assert inc["region"] == "KG-Y" and inc["state"] == "new" and inc["caller_phone"] == "+996 555 123 456"
    sug = api("yk.operator", "GET", f"/api/incidents/{inc['id']}/suggestions").json()
    # Cholpon-Ata 11 km, Balykchy 87 km, Karakol 98 km; Bosteri-1 is off duty, Tokmok is in Chuy
    assert [u["call_sign"] for u in sug["units"]] == ["Cholpon-1", "Balykchy-1", "Karakol-1"]
    d = [u["distance_m"] for u in sug["units"]]
    assert d == sorted(d) and 10_000 < d[0] < 12_000 and 80_000 < d[1] < 95_000 and 90_000 < d[2] < 105_000
    assert sug["units"][0]["eta_s"] == pytest.approx(d[0] / (sug["assumed_speed_kmh"] / 3.6), rel=1e-3)
    assert sug["cameras"] == []  # no camera within 2 km of Bosteri
    national = api("national", "GET", f"/api/incidents/{inc['id']}/suggestions").json()
    assert "Tokmok-1" in [u["call_sign"] for u in national["units"]]
    # dispatch the nearest: unit en route, incident dispatched, who and when recorded
    clock.at(120)
    r = api("yk.operator", "POST", f"/api/incidents/{inc['id']}/dispatch", json={"unit": "yk-cholpon-1"})
    assert r.status_code == 200, r.text
    inc = r.json()
    assert inc["state"] == "dispatched" and inc["dispatched_at"] == clock.t.isoformat()
    assert inc["dispatches"][0] | {"distance_m": 0} == inc["dispatches"][0] | {"distance_m": 0}
    assert inc["dispatches"][0]["sent_by"] == "yk.operator" and inc["dispatches"][0]["unit"] == "yk-cholpon-1"
    assert api("yk.operator", "GET", "/api/units/yk-cholpon-1").json()["status"] == "en_route"
    r = api("yk.operator2", "POST", f"/api/incidents/{inc['id']}/dispatch", json={"unit": "yk-cholpon-1"})
    assert r.status_code == 409 and "en_route" in r.json()["detail"]
    assert "Cholpon-1" not in [
        u["call_sign"] for u in api("yk.operator", "GET", f"/api/incidents/{inc['id']}/suggestions").json()["units"]
    ]
    # the unit's tablet: position, then arrival moves the incident on scene
    clock.at(400)
    r = api("yk.operator", "POST", "/api/units/yk-cholpon-1/position", json={"lat": 42.6493, "lon": 77.2100})
    assert r.status_code == 200 and r.json()["lat"] == 42.6493
    clock.at(720)
    r = api("yk.operator", "POST", "/api/units/yk-cholpon-1/status", json={"status": "on_scene"})
    assert r.status_code == 200 and r.json()["status"] == "on_scene"
    inc = api("yk.operator", "GET", f"/api/incidents/{inc['id']}").json()
    assert inc["state"] == "on_scene" and inc["on_scene_at"] == clock.t.isoformat()
    assert inc["dispatches"][0]["arrived_at"] == clock.t.isoformat()
    # resolving frees the unit; closing twice: the second operator is told who closed it
    clock.at(1800)
    assert (
        api("yk.operator", "POST", f"/api/incidents/{inc['id']}/state", json={"state": "resolved"}).status_code == 200
    )
    unit = api("yk.operator", "GET", "/api/units/yk-cholpon-1").json()
    assert unit["status"] == "available" and unit["incident"] is None
    assert api("yk.operator", "POST", f"/api/incidents/{inc['id']}/state", json={"state": "closed"}).status_code == 200
    r = api("yk.operator2", "POST", f"/api/incidents/{inc['id']}/state", json={"state": "closed"})
    assert r.status_code == 409 and "closed" in r.json()["detail"] and "yk.operator" in r.json()["detail"]
    actions = {x.action for x in system.audit.search(Scope.national(), target_id=inc["id"])}
    assert actions >= {"incident.create", "incident.dispatch", "incident.state"}


def test_state_machine_and_checklist_refusals(api, system, clock) -> None:
    r = api(
        "yk.operator",
        "POST",
        "/api/incidents",
        json={"source": "manual", "category": "theft", "lat": 42.4915, "lon": 78.3950},
    )
    inc = r.json()
    iid = inc["id"]
    assert [s["step"] for s in inc["sop"]] == [
        "verify_location",
        "review_cameras",
        "dispatch_unit",
        "secure_footage",
        "take_statement",
    ]
    assert inc["source"] == "manual" and inc["region"] == "KG-Y"
    r = api("yk.operator", "POST", f"/api/incidents/{iid}/state", json={"state": "on_scene"})
    assert r.status_code == 409 and "dispatch one first" in r.json()["detail"]
    r = api("yk.operator", "POST", f"/api/incidents/{iid}/state", json={"state": "closed"})
    assert r.status_code == 409 and "only a resolved incident" in r.json()["detail"]
    r = api("yk.operator", "POST", f"/api/incidents/{iid}/state", json={"state": "dispatched"})
    assert r.status_code == 422 and "state" in r.json()["detail"]
    r = api("yk.operator", "POST", f"/api/incidents/{iid}/state", json={"state": "flying"})
    assert r.status_code == 422 and "state" in r.json()["detail"]
    r = api("yk.operator", "POST", f"/api/incidents/{iid}/sop/review_cameras")
    assert r.status_code == 409 and "out of order" in r.json()["detail"] and "verify_location" in r.json()["detail"]
    clock.at(15)
    r = api("yk.operator", "POST", f"/api/incidents/{iid}/sop/verify_location")
    assert r.status_code == 200
    step = r.json()["sop"][0]
    assert step == {"step": "verify_location", "done": True, "at": clock.t.isoformat(), "by": "yk.operator"}
    assert api("yk.operator", "POST", f"/api/incidents/{iid}/sop/verify_location").status_code == 409
    assert api("yk.operator", "POST", f"/api/incidents/{iid}/sop/no_such_step").status_code == 409
    r = api("yk.operator", "POST", f"/api/incidents/{iid}/notes", json={"text": "shop owner on the line"})
    assert r.json()["notes"][0] == {"text": "shop owner on the line", "by": "yk.operator", "at": clock.t.isoformat()}
    r = api("yk.operator", "PATCH", f"/api/incidents/{iid}", json={"officer": "yk.head"})
    assert r.status_code == 200 and r.json()["officer"] == "yk.head"
    r = api("yk.operator", "PATCH", f"/api/incidents/{iid}", json={"officer": "ch.operator"})
    assert r.status_code == 422 and "officer" in r.json()["detail"]
    ev = add_alert(system, severity="low")
    r = api("yk.operator", "POST", f"/api/incidents/{iid}/evidence", json={"kind": "event", "event": ev.id})
    assert r.status_code == 200 and r.json()["evidence"][0]["ref"] == ev.id
    clip = {
        "kind": "clip",
        "camera": "yk-cam-1",
        "start": "2026-11-20T14:55:00+06:00",
        "end": "2026-11-20T15:05:00+06:00",
    }
    r = api("yk.operator", "POST", f"/api/incidents/{iid}/evidence", json=clip)
    assert r.status_code == 200 and r.json()["evidence"][1]["detail"]["camera"] == "yk-cam-1"
    # resolved without a unit (a false alarm), then closed: nothing changes after
    assert api("yk.operator", "POST", f"/api/incidents/{iid}/state", json={"state": "resolved"}).status_code == 200
    assert api("yk.operator", "POST", f"/api/incidents/{iid}/state", json={"state": "closed"}).status_code == 200
    assert api("yk.operator", "POST", f"/api/incidents/{iid}/sop/review_cameras").status_code == 409
    assert api("yk.operator", "POST", f"/api/incidents/{iid}/dispatch", json={"unit": "x"}).status_code == 404


def test_a_regional_operator_never_sees_or_touches_another_region(api, system, clock) -> None:
    add_units(api)
    foreign_alert = add_alert(system, "KG-C")
    r = api(
        "ch.operator",
        "POST",
        "/api/incidents",
        json={"source": "manual", "category": "fire", "lat": TOKMOK[0], "lon": TOKMOK[1]},
    )
    assert r.status_code == 201 and r.json()["region"] == "KG-C"
    foreign = r.json()["id"]
    yk = "yk.operator"
    assert api(yk, "GET", "/api/incidents").json() == []
    assert {u["region"] for u in api(yk, "GET", "/api/units").json()} == {"KG-Y"}
    assert foreign_alert.id not in [a["id"] for a in api(yk, "GET", "/api/alerts/queue").json()]
    denied = [
        ("GET", f"/api/incidents/{foreign}", None),
        ("GET", f"/api/incidents/{foreign}/suggestions", None),
        ("POST", f"/api/incidents/{foreign}/state", {"state": "resolved"}),
        ("POST", f"/api/incidents/{foreign}/sop/call_fire_service", None),
        ("POST", f"/api/incidents/{foreign}/notes", {"text": "x"}),
        ("POST", f"/api/incidents/{foreign}/dispatch", {"unit": "yk-karakol-1"}),
        ("POST", f"/api/incidents/{foreign}/escalate", {"reason": "not mine"}),
        ("PATCH", f"/api/incidents/{foreign}", {"description": "x"}),
        ("GET", f"/api/alerts/{foreign_alert.id}/state", None),
        ("POST", f"/api/alerts/{foreign_alert.id}/claim", None),
        ("POST", f"/api/alerts/{foreign_alert.id}/escalate", {"reason": "not mine"}),
        ("GET", "/api/units/ch-tokmok-1", None),
        ("POST", "/api/units/ch-tokmok-1/position", {"lat": 42.84, "lon": 75.29}),
        ("POST", "/api/units/ch-tokmok-1/status", {"status": "off_duty"}),
        ("GET", "/api/stats/response?region=KG-C", None),
    ]
    for method, path, body in denied:
        r = api("yk.head" if "stats" in path else yk, method, path, json=body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
    # a unit of another region cannot be sent to one's own incident either
    own = api(
        yk,
        "POST",
        "/api/incidents",
        json={"source": "manual", "category": "other", "lat": BOSTERI[0], "lon": BOSTERI[1]},
    ).json()["id"]
    assert api(yk, "POST", f"/api/incidents/{own}/dispatch", json={"unit": "ch-tokmok-1"}).status_code == 403
    # a 102 call placed in Chuy is not Issyk-Kul's to take
    r = api(
        yk,
        "POST",
        "/api/incidents",
        json={
            "source": "call",
            "category": "theft",
            "caller_name": "A",
            "caller_phone": "102102",
            "lat": TOKMOK[0],
            "lon": TOKMOK[1],
        },
    )
    assert r.status_code == 403
    # unknown ids: 404, nothing to leak
    assert api(yk, "GET", "/api/incidents/01JZZZZZZZZZZZZZZZZZZZZZZZ").status_code == 404
    assert api(yk, "POST", "/api/units/no-such-unit/position", json={"lat": 42.5, "lon": 78.4}).status_code == 404
    refusals = system.audit.search(Scope.national(), action="access.denied", actor=yk, limit=500)
    assert {r.target_id for r in refusals} >= {foreign, foreign_alert.id, "ch-tokmok-1"}
    assert all(r.outcome == "denied" for r in refusals)
    # the auditor reads but never acts
    assert api("auditor", "GET", f"/api/incidents/{foreign}").status_code == 200
    assert api("auditor", "POST", f"/api/incidents/{foreign}/notes", json={"text": "x"}).status_code == 403


def test_bad_payloads_name_the_field(api, system, clock) -> None:
    add_units(api)
    cases = [
        ("/api/incidents", {"source": "call", "category": "theft", "lat": 42.5, "lon": 78.3}, "caller_name"),
        (
            "/api/incidents",
            {
                "source": "call",
                "category": "theft",
                "caller_name": "A",
                "caller_phone": "call me",
                "lat": 42.5,
                "lon": 78.3,
            },
            "caller_phone",
        ),
        ("/api/incidents", {"source": "manual", "category": "theft", "lat": 43.2389, "lon": 76.8897}, "outside"),
        ("/api/incidents", {"source": "manual", "category": "theft", "lat": 142, "lon": 76}, "lat"),
        ("/api/incidents", {"source": "manual", "category": "arson!", "lat": 42.5, "lon": 78.3}, "category"),
        ("/api/incidents", {"source": "manual", "category": "theft"}, "lat"),
        ("/api/incidents", {"source": "alert", "category": "theft", "alerts": []}, "alerts"),
        ("/api/incidents", {"source": "fax", "category": "theft"}, "source"),
        ("/api/incidents", {"source": "manual", "category": "theft", "lat": 42.5, "lon": 78.3, "x": 1}, "x"),
        ("/api/units", {"id": "Bad Id", "call_sign": "B", "region": "KG-Y"}, "id"),
        ("/api/units", {"id": "yk-new", "call_sign": "B", "region": "KG-Q"}, "region"),
        ("/api/units/yk-karakol-1/position", {"lat": "north", "lon": 78.4}, "lat"),
        ("/api/units/yk-karakol-1/position", {"lat": 42.49}, "lon"),
        ("/api/units/yk-karakol-1/status", {"status": "sleeping"}, "status"),
        ("/api/units/yk-karakol-1/status", {"status": "en_route"}, "status"),
    ]
    for path, body, field in cases:
        r = api("yk.operator", "POST", path, json=body)
        assert r.status_code == 422, (path, body, r.status_code, r.text)
        assert field in r.json()["detail"], (path, body, r.json())
    # a position 250 km away one minute later is a GPS fault, refused
    clock.at(60)
    r = api("yk.operator", "POST", "/api/units/yk-karakol-1/position", json={"lat": 40.5, "lon": 78.0})
    assert r.status_code == 422 and "km/h" in r.json()["detail"]
    r = api("admin", "POST", "/api/units", json={"id": "yk-karakol-1", "call_sign": "K", "region": "KG-Y"})
    assert r.status_code == 409
    r = api(
        "yk.head", "GET", "/api/stats/response", params={"from": "2026-11-21T00:00:00Z", "to": "2026-11-20T00:00:00Z"}
    )
    assert r.status_code == 422 and "to" in r.json()["detail"]
    assert api("yk.head", "GET", "/api/stats/response", params={"region": "XX"}).status_code == 422
    assert api("yk.operator", "GET", "/api/incidents", params={"state": "lost"}).status_code == 422
    assert api("yk.operator", "GET", "/api/incidents").json() == []  # nothing was created by the refusals


def test_measures_come_from_the_recorded_times(api, system, clock) -> None:
    add_units(api)
    yk = "yk.operator"
    # incident 1 from an alert raised at T0: claimed +30 s, opened +60 s, dispatched +120 s,
    # on scene +720 s, resolved +1800 s
    a = add_alert(system, ts=T0)
    clock.at(30)
    api(yk, "POST", f"/api/alerts/{a.id}/claim")
    clock.at(60)
    i1 = api(yk, "POST", "/api/incidents", json={"source": "alert", "alerts": [a.id], "category": "theft"}).json()["id"]
    clock.at(120)
    api(yk, "POST", f"/api/incidents/{i1}/dispatch", json={"unit": "yk-karakol-1"})
    clock.at(720)
    api(yk, "POST", "/api/units/yk-karakol-1/status", json={"status": "on_scene"})
    clock.at(1800)
    api(yk, "POST", f"/api/incidents/{i1}/state", json={"state": "resolved"})
    # incident 2, a call opened +100 s, dispatched +400 s, resolved +1000 s without arriving
    clock.at(100)
    i2 = api(
        yk,
        "POST",
        "/api/incidents",
        json={
            "source": "call",
            "category": "assault",
            "caller_name": "B",
            "caller_phone": "+996700000000",
            "lat": BOSTERI[0],
            "lon": BOSTERI[1],
        },
    ).json()["id"]
    clock.at(400)
    api(yk, "POST", f"/api/incidents/{i2}/dispatch", json={"unit": "yk-cholpon-1"})
    clock.at(1000)
    assert api(yk, "POST", f"/api/incidents/{i2}/state", json={"state": "resolved"}).status_code == 200
    # in Chuy, not counted for Issyk-Kul
    api(
        "ch.operator",
        "POST",
        "/api/incidents",
        json={"source": "manual", "category": "fire", "lat": TOKMOK[0], "lon": TOKMOK[1]},
    )
    period = {"from": T0.isoformat(), "to": (T0 + timedelta(hours=1)).isoformat()}
    s = api("yk.head", "GET", "/api/stats/response", params=period).json()
    assert s["regions"] == ["KG-Y"] and s["incidents"] == 2
    assert s["by_category"] == {"assault": 1, "theft": 1} and s["by_source"] == {"alert": 1, "call": 1}
    assert s["time_to_acknowledge"] == {"n": 1, "median_s": 30.0, "p90_s": 30.0, "mean_s": 30.0, "max_s": 30.0}
    assert s["time_to_dispatch"]["n"] == 2 and s["time_to_dispatch"]["median_s"] == 180.0  # 60 and 300
    assert s["time_to_dispatch"]["p90_s"] == pytest.approx(60 + 0.9 * 240)
    assert s["time_to_arrive"] == {"n": 1, "median_s": 600.0, "p90_s": 600.0, "mean_s": 600.0, "max_s": 600.0}
    assert s["time_to_resolve"]["median_s"] == (1740 + 900) / 2
    national = api("national", "GET", "/api/stats/response", params=period).json()
    assert national["incidents"] == 3 and national["regions"] is None
    assert national["by_region"] == {
        "KG-C": {"incidents": 1, "median_dispatch_s": None, "median_arrive_s": None, "median_resolve_s": None},
        "KG-Y": {"incidents": 2, "median_dispatch_s": 180.0, "median_arrive_s": 600.0, "median_resolve_s": 1320.0},
    }
    chuy = api("national", "GET", "/api/stats/response", params=period | {"region": "KG-C"}).json()
    assert chuy["by_category"] == {"fire": 1} and chuy["time_to_dispatch"]["n"] == 0
    later = {"from": (T0 + timedelta(hours=1)).isoformat(), "to": (T0 + timedelta(hours=2)).isoformat()}
    assert api("yk.head", "GET", "/api/stats/response", params=later).json()["incidents"] == 0
    assert api("yk.operator", "GET", "/api/stats/response").status_code == 403  # operators do not read measures


def test_nearby_cameras_are_listed_with_distance(api, system, clock) -> None:
    r = api(
        "yk.operator",
        "POST",
        "/api/incidents",
        json={"source": "manual", "category": "suspicious", "lat": 42.4907, "lon": 78.3936},
    )
    sug = api("yk.operator", "GET", f"/api/incidents/{r.json()['id']}/suggestions").json()
    assert [c["id"] for c in sug["cameras"]] == ["yk-cam-1"]
    expected = great_circle_m(42.4907, 78.3936, 42.4916, 78.3951)
    assert sug["cameras"][0]["distance_m"] == pytest.approx(expected, abs=0.1) and 100 < expected < 200


def test_two_claims_at_once_one_wins_without_any_lock_in_python(system) -> None:
    """Two engines (as two server processes would have) race on the same row: exactly one wins."""
    alert = add_alert(system)
    with system.db.transaction() as s:
        IncidentRepo(s).ensure_alert_state(s.get(EventRow, alert.id))
    dbs = [Database(system.db.url) for _ in range(2)]
    barrier = threading.Barrier(2)
    won: list[str] = []

    def claim(db: Database, who: str) -> None:
        barrier.wait()
        with db.transaction() as s:
            if IncidentRepo(s).try_claim(alert.id, who, T0, T0 - timedelta(minutes=10)):
                won.append(who)

    threads = [threading.Thread(target=claim, args=(db, f"op{i}")) for i, db in enumerate(dbs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for db in dbs:
        db.dispose()
    assert len(won) == 1
    with system.db.session() as s:
        assert IncidentRepo(s).alert_state(alert.id).claimed_by == won[0]
