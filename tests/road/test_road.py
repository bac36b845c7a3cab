"""Road safety over the API and the road watch: hotlists (CSV, scope, hits), reads search, average speed.

Plate reads are fed as ``plate_read`` events through the real event writer (the path the plate
stage uses), so the projection, the bus, the road watch and the alerts are the production ones.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.domain.events import Event
from koopsuz.domain.road import Section, SectionTracker, Sighting, parse_hotlist_csv
from koopsuz.security.principal import Scope
from koopsuz.store.event_repo import EventRepo
from tests.conftest import PASSWORD
from tests.test_api_scope import login

LATER = (datetime.now(UTC) + timedelta(days=30)).isoformat()


@pytest.fixture
def client(system):
    system.users.create("test", "ch.investigator", PASSWORD, "investigator", "KG-C")
    admin = system.users.authenticate("admin", PASSWORD)
    system.registry.add_camera(
        admin,
        {
            "id": "yk-cam-2",
            "name": "A363 east",
            "site": "yk-square",
            "lat": 42.60,
            "lon": 77.40,
            "profile": "plates",
            "main_url": "rtsp://127.0.0.1:9/yk-cam-2/main",
            "sub_url": "rtsp://127.0.0.1:9/yk-cam-2/sub",
        },
    )
    with TestClient(create_app(system)) as c:
        yield c


def as_user(c: TestClient, username: str) -> None:
    c.post("/api/auth/logout")
    login(c, username)


def read(system, camera: str, text: str, ts: datetime, region: str = "KG-Y", **extra: Any) -> Event:
    e = Event(
        kind="plate_read",
        region=region,
        camera=camera,
        ts=ts,
        payload={
            "text": text,
            "compact": text.replace(" ", ""),
            "format": "private",
            "plate_region": "KG-Y",
            "confidence": 0.9,
            "vehicle": "car",
            "colour": "white",
            "direction": "towards",
            "timing": "line",
        }
        | extra,
    )
    system.writer.write_now([e])
    return e


def alerts(system, kind: str = "alert") -> list[Event]:
    system.road_watch.flush()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and system.writer._q.qsize():  # submitted alerts are written async
        time.sleep(0.05)
    time.sleep(0.2)
    with system.db.session() as s:
        return EventRepo(s).search(Scope.national(), kind=kind, limit=100)


def test_hotlist_csv_import_reports_every_refused_line() -> None:
    text = (
        "plate,reason,legal_basis,expires_at\n"
        f"01 123 ABC,stolen 2026-11-20,report 4411,{LATER}\n"
        f"O9 7O7 KGA,stolen,report 4412,{LATER}\n"  # letters O for zeros: fixed by position? refused: not exact
        f"hello,stolen,report 1,{LATER}\n"
        "08 555 XYZ,stolen,report 2,2020-01-01T00:00:00+06:00\n"
        f"01 123 ABC,again,report 3,{LATER}\n"
        "09 321 BCD,too few columns\n"
        f"09 321 BCD,fines,decision 77,{LATER}\n"
    )
    entries, rejected = parse_hotlist_csv(text)
    assert [e.plate for e in entries] == ["01 123 ABC", "09 321 BCD"]
    reasons = {r.line: r.reason for r in rejected}
    assert set(reasons) == {3, 4, 5, 6, 7}
    assert "not a Kyrgyz plate" in reasons[3] and "not a Kyrgyz plate" in reasons[4]
    assert "past" in reasons[5] and "listed again" in reasons[6] and "columns" in reasons[7]
    assert parse_hotlist_csv("plate,reason\n")[1][0].reason.startswith("the header lacks")


def test_hotlists_scope_import_hits_and_removal(client: TestClient, system) -> None:
    as_user(client, "admin")
    stolen = client.post("/api/hotlists", json={"name": "Stolen vehicles", "kind": "stolen", "priority": 1}).json()
    as_user(client, "ch.investigator")
    chuy = client.post("/api/hotlists", json={"name": "Chuy operation", "kind": "operation", "region": "KG-C"})
    assert chuy.status_code == 201
    assert client.post(f"/api/hotlists/{stolen['id']}/entries", json={}).status_code == 403  # national list
    r = client.post(
        f"/api/hotlists/{chuy.json()['id']}/entries",
        json={"plate": "09 777 KGZ", "reason": "operation Tulpar", "legal_basis": "order 12", "expires_at": LATER},
    )
    assert r.status_code == 201, r.text
    as_user(client, "yk.investigator")
    assert {h["id"] for h in client.get("/api/hotlists").json()} == {stolen["id"]}  # Chuy's list is not seen
    assert client.get(f"/api/hotlists/{chuy.json()['id']}/entries").status_code == 404
    as_user(client, "admin")
    csv = f"plate,reason,legal_basis,expires_at\n01 123 ABC,stolen,report 4411,{LATER}\nbad,x,y,z\n"
    report = client.post(
        f"/api/hotlists/{stolen['id']}/import", content=csv.encode(), headers={"content-type": "text/csv"}
    ).json()
    assert report["added"] == 1 and [r["line"] for r in report["rejected"]] == [3]
    again = client.post(
        f"/api/hotlists/{stolen['id']}/import", content=csv.encode(), headers={"content-type": "text/csv"}
    ).json()
    assert again["added"] == 0 and again["already_listed"] == ["01 123 ABC"]
    # reads: the stolen plate on a KG-Y camera alerts at once; Chuy's operation plate does not (other region)
    now = datetime.now(UTC)
    hit_read = read(system, "yk-cam-1", "01 123 ABC", now)
    read(system, "yk-cam-1", "09 777 KGZ", now)
    found = [a for a in alerts(system) if a.payload.get("rule_kind") == "hotlist_hit"]
    assert len(found) == 1, [a.payload for a in found]
    a = found[0]
    assert a.payload["plate"] == "01 123 ABC" and a.payload["read"] == hit_read.id and a.severity == "critical"
    assert a.payload["list_kind"] == "stolen" and a.payload["legal_basis"] == "report 4411" and a.region == "KG-Y"
    # removal: the next read of it is silent; removal needs a reason and is audited
    entry = client.get(f"/api/hotlists/{stolen['id']}/entries").json()[0]
    url = f"/api/hotlists/{stolen['id']}/entries/{entry['id']}/remove"
    assert client.post(url, json={}).status_code == 422
    assert client.post(url, json={"reason": "vehicle recovered"}).json()["active"] is False
    read(system, "yk-cam-1", "01 123 ABC", now + timedelta(seconds=5))
    assert len([a for a in alerts(system) if a.payload.get("rule_kind") == "hotlist_hit"]) == 1
    actions = {e.action for e in system.audit.search(Scope.national(), target_id=stolen["id"])}
    assert {"hotlist.create", "hotlist.import", "hotlist.entry.remove"} <= actions


def test_reads_search_exact_pattern_near_and_legal_basis_beyond_a_day(client: TestClient, system) -> None:
    now = datetime.now(UTC)
    for i, text in enumerate(["01 123 ABC", "01 124 ABC", "09 555 KGA"]):
        read(system, "yk-cam-1", text, now - timedelta(minutes=10 - i))
    read(system, "ch-cam-1", "01 123 ABC", now - timedelta(minutes=3), region="KG-C")
    old = read(system, "yk-cam-1", "01 123 ABC", now - timedelta(days=3))
    as_user(client, "yk.operator")
    got = client.get("/api/plates/reads", params={"plate": "01 123 abc"}).json()
    assert [r["camera"] for r in got["reads"]] == ["yk-cam-1"]  # KG-C's read is out of scope
    assert got["reads"][0]["lat"] == pytest.approx(42.49, abs=0.1)
    pattern = client.get("/api/plates/reads", params={"pattern": "01 12? A*"}).json()
    assert sorted(r["text"] for r in pattern["reads"]) == ["01 123 ABC", "01 124 ABC"]
    near = client.get("/api/plates/reads", params={"near": "01 128 ABC", "max_distance": 1}).json()
    assert sorted(r["text"] for r in near["reads"]) == ["01 123 ABC", "01 124 ABC"]
    assert client.get("/api/plates/reads", params={"pattern": "*"}).status_code == 422
    assert client.get("/api/plates/reads", params={"plate": "01 1", "near": "x"}).status_code == 422
    week = {"plate": "01 123 ABC", "from": (now - timedelta(days=7)).isoformat()}
    r = client.get("/api/plates/reads", params=week)
    assert r.status_code == 422 and "legal basis" in r.text  # an operator has no basis to give
    as_user(client, "yk.investigator")
    basis = client.post(
        "/api/legal-bases",
        json={
            "case_number": "CC-9",
            "kind": "criminal_case",
            "authority": "Prosecutor",
            "document_ref": "No. 9",
            "purposes": ["plate_search"],
            "valid_until": LATER,
        },
    ).json()
    route = client.get("/api/plates/route", params=week | {"legal_basis_id": basis["id"], "reason": "theft"}).json()
    assert route["reads"][0]["id"] == old.id and len(route["route"]) == 2  # oldest first
    audit = system.audit.search(Scope.national(), action="plates.search")
    assert audit and audit[0].detail["legal_basis"] == basis["id"] and audit[0].detail["reason"] == "theft"


def test_average_speed_over_a_section_makes_a_violation_with_both_reads(client: TestClient, system) -> None:
    as_user(client, "yk.operator")
    body = {
        "id": "a363-ca-bosteri",
        "name": "A363 Cholpon-Ata - Bosteri",
        "entry_camera": "yk-cam-1",
        "exit_camera": "yk-cam-2",
        "length_m": 4500,
        "limit_kmh": 60,
    }
    assert client.post("/api/sections", json=body).status_code == 403
    as_user(client, "admin")
    assert client.post("/api/sections", json=body | {"exit_camera": "yk-cam-1"}).status_code == 422
    assert client.post("/api/sections", json=body | {"exit_camera": "nowhere"}).status_code == 422
    assert client.post("/api/sections", json=body).json()["region"] == "KG-Y"
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    fast_in = read(system, "yk-cam-1", "01 111 AAA", t0)
    read(system, "yk-cam-1", "01 222 BBB", t0 + timedelta(seconds=5))
    read(system, "yk-cam-2", "01 111 AAA", t0 + timedelta(seconds=180))  # 4.5 km in 3 min: 90 km/h
    read(system, "yk-cam-2", "01 222 BBB", t0 + timedelta(seconds=5 + 280))  # 57.9 km/h: within the limit
    read(system, "yk-cam-2", "01 333 CCC", t0 + timedelta(seconds=300))  # never entered: nothing
    read(system, "yk-cam-1", "01 444 DDD", t0 + timedelta(seconds=10))
    # fast too, but its exit time is a first read, not a timing-line crossing: no fine on that
    read(system, "yk-cam-2", "01 444 DDD", t0 + timedelta(seconds=110), timing="first_read")
    # fast, line-timed, but the exit camera's clock had just jumped: no fine on that either
    read(system, "yk-cam-1", "01 555 EEE", t0 + timedelta(seconds=20), clock_trusted=True)
    read(system, "yk-cam-2", "01 555 EEE", t0 + timedelta(seconds=140), clock_trusted=False)
    found = alerts(system, "speed_violation")
    assert len(found) == 1
    v = found[0].payload
    assert v["plate"] == "01 111 AAA" and v["speed_kmh"] == pytest.approx(90.0) and v["over_kmh"] == pytest.approx(30.0)
    assert v["entry"]["read"] == fast_in.id and v["seconds"] == pytest.approx(180.0) and v["limit_kmh"] == 60
    assert v["clock_trusted"] is None and v["exit"]["clock_trusted"] is None  # no clock data: none invented
    st = system.road_watch.stats()
    assert st["passages"] == 4 and st["untimed"] == 1 and st["untrusted"] == 1 and st["violations"] == 1
    # both clocks checked: the violation says so, and the review service reads it
    read(system, "yk-cam-1", "01 666 FFF", t0 + timedelta(seconds=30), clock_trusted=True, clock_offset_s=0.04)
    read(system, "yk-cam-2", "01 666 FFF", t0 + timedelta(seconds=150), clock_trusted=True, clock_offset_s=0.05)
    (trusted,) = [e for e in alerts(system, "speed_violation") if e.payload["plate"] == "01 666 FFF"]
    assert trusted.payload["clock_trusted"] is True and trusted.payload["entry"]["clock_offset_s"] == 0.04


def test_section_tracker_ignores_implausible_and_stale_entries() -> None:
    sec = Section("s", "a", "b", 4500, 60)
    t = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    tr = SectionTracker([sec], max_pending=2)
    tr.see(Sighting("1", "P1", "a", t))
    (p,) = tr.see(Sighting("2", "P1", "b", t + timedelta(seconds=20)))  # 810 km/h: a misread, not a fine
    assert not p.plausible and not p.violation
    tr.see(Sighting("3", "P2", "a", t))
    assert tr.see(Sighting("4", "P2", "b", t + timedelta(hours=3))) == []  # 1.5 km/h: stale entry
    for i in range(5):
        tr.see(Sighting(str(10 + i), f"Q{i}", "a", t))
    assert tr.pending("s") == 2  # bounded
    assert tr.expire(t + timedelta(hours=3)) == 2 and tr.pending("s") == 0


def test_section_tracker_refuses_untimed_reads_and_untrusted_clocks() -> None:
    sec = Section("s", "a", "b", 4500, 60)
    t = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    tr = SectionTracker([sec])
    at = t + timedelta(seconds=180)  # 90 km/h
    cases = [  # (entry timed, entry clock, exit timed, exit clock) -> (violation, refused, clock_trusted)
        ((True, None, True, None), (True, None, None)),
        ((True, True, True, True), (True, None, True)),
        ((True, True, True, False), (False, "clock_untrusted", False)),
        ((True, False, True, True), (False, "clock_untrusted", False)),
        ((False, True, True, True), (False, "untimed", True)),
        ((True, True, False, False), (False, "untimed", False)),
    ]
    for n, ((et, ec, xt, xc), want) in enumerate(cases):
        tr.see(Sighting(f"e{n}", f"P{n}", "a", t, timed=et, clock_trusted=ec))
        (p,) = tr.see(Sighting(f"x{n}", f"P{n}", "b", at, timed=xt, clock_trusted=xc))
        assert (p.violation, p.refused, p.clock_trusted) == want, (n, p)
        assert p.speed_kmh == pytest.approx(90.0)
    tr.see(Sighting("e9", "Q", "a", t, clock_trusted=False))
    (slow,) = tr.see(Sighting("x9", "Q", "b", t + timedelta(seconds=300)))  # 54 km/h: no refusal to make
    assert not slow.violation and slow.refused is None
