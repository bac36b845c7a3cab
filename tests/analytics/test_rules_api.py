"""Rules, line counts and alert feedback through the API: scope, validation, audit, live effect."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from koopsuz.api.app import create_app
from koopsuz.domain.events import Event
from koopsuz.security.principal import Scope
from koopsuz.store.tables import EventRow
from tests.test_api_scope import login

GATE = {"id": "gate", "name": "Gate line", "kind": "line_crossing", "line": [[0.5, 1.0], [0.5, 0.2]]}
YARD = {"id": "yard", "name": "Yard", "kind": "loitering", "zone": [[0.1, 0.1], [0.9, 0.1], [0.9, 0.9]], "seconds": 30}


@pytest.fixture
def client(system):
    with TestClient(create_app(system)) as c:
        yield c


def test_rules_read_defaults_validate_save_and_audit(client, system) -> None:
    login(client, "admin")
    school = client.get("/api/cameras/ch-cam-1/rules").json()
    assert school["defaults"] and [r["kind"] for r in school["rules"]] == ["after_hours"]
    assert school["opening_hours"]["mon"] == ["07:30-18:00"]
    square = client.get("/api/cameras/yk-cam-1/rules").json()
    assert square["defaults"] and square["rules"] == []  # a public place has no default rule
    bad = [
        ({"rules": [GATE | {"line": [[0.5, 1.5], [0.5, 0.2]]}]}, "outside 0..1"),
        ({"rules": [GATE, GATE]}, "unique"),
        ({"rules": [YARD | {"seconds": None}]}, "needs seconds"),
        ({"rules": [GATE | {"kind": "teleport"}]}, "kind"),
        ({"rules": [GATE | {"classes": ["dog"]}]}, "classes"),
        ({"rulez": []}, "rulez"),
    ]
    for body, words in bad:
        r = client.put("/api/cameras/yk-cam-1/rules", json=body)
        assert r.status_code == 422 and words in r.json()["detail"], (body, r.text)
    assert client.get("/api/cameras/yk-cam-1/rules").json()["defaults"]  # nothing stored
    r = client.put("/api/cameras/yk-cam-1/rules", json={"rules": [GATE, YARD]})
    assert r.status_code == 200 and not r.json()["defaults"]
    assert [x["id"] for x in client.get("/api/cameras/yk-cam-1/rules").json()["rules"]] == ["gate", "yard"]
    assert client.put("/api/cameras/ch-cam-1/rules", json={"rules": []}).json()["rules"] == []  # defaults off
    (entry, _) = system.audit.search(Scope.national(), action="rules.update")
    assert entry.actor == "admin" and entry.region == "KG-C"
    assert system.audit.verify().ok


def test_rules_are_region_scoped_and_writes_need_cameras_write(client, system) -> None:
    login(client, "yk.operator")
    assert client.get("/api/cameras/yk-cam-1/rules").status_code == 200
    assert client.get("/api/cameras/ch-cam-1/rules").status_code == 403
    assert client.put("/api/cameras/yk-cam-1/rules", json={"rules": [GATE]}).status_code == 403
    assert client.get("/api/cameras/ch-cam-1/counts").status_code == 403
    assert client.get("/api/cameras/nowhere/rules").status_code == 404
    denied = system.audit.search(Scope.national(), action="access.denied")
    assert "ch-cam-1" in {d.target_id for d in denied}


def alert(system, region: str, camera: str, rule: str) -> Event:
    e = Event(
        kind="alert",
        region=region,
        camera=camera,
        ts=datetime.now(UTC),
        payload={"rule": rule, "rule_kind": "zone_entry", "class": "person", "track": "t"},
        severity="high",
    )
    system.writer.write_now([e])
    return e


def test_feedback_is_scoped_audited_listed_and_gives_precision(client, system) -> None:
    yk = [alert(system, "KG-Y", "yk-cam-1", "yard") for _ in range(3)]
    ch = alert(system, "KG-C", "ch-cam-1", "after-hours")
    motion = Event(kind="motion", region="KG-Y", camera="yk-cam-1", ts=datetime.now(UTC))
    system.writer.write_now([motion])
    login(client, "yk.operator")
    r = client.post(f"/api/events/{yk[0].id}/feedback", json={"verdict": "confirmed", "note": "climbing the fence"})
    assert r.status_code == 200 and r.json()["by"] == "yk.operator" and r.json()["verdict"] == "confirmed"
    assert client.post(f"/api/events/{yk[1].id}/feedback", json={"verdict": "dismissed"}).status_code == 200
    assert client.post(f"/api/events/{ch.id}/feedback", json={"verdict": "confirmed"}).status_code == 403
    assert client.post(f"/api/events/{motion.id}/feedback", json={"verdict": "confirmed"}).status_code == 422
    assert client.post(f"/api/events/{yk[2].id}/feedback", json={"verdict": "maybe"}).status_code == 422
    assert (
        client.post("/api/events/01NOSUCHEVENT0000000000000/feedback", json={"verdict": "confirmed"}).status_code == 404
    )
    listed = {e["id"]: e for e in client.get("/api/events", params={"kind": "alert"}).json()}
    assert set(listed) == {e.id for e in yk}  # scoped
    assert listed[yk[0].id]["feedback"]["note"] == "climbing the fence"
    assert listed[yk[2].id]["feedback"] is None
    assert client.get(f"/api/events/{yk[1].id}").json()["feedback"]["verdict"] == "dismissed"
    prec = client.get("/api/alerts/precision").json()
    assert prec == [{"camera": "yk-cam-1", "rule": "yard", "confirmed": 1, "dismissed": 1, "precision": 0.5}]
    # a changed verdict replaces the old one; both stay in the audit log
    client.post(f"/api/events/{yk[1].id}/feedback", json={"verdict": "confirmed"})
    assert client.get("/api/alerts/precision").json()[0]["precision"] == 1.0
    login(client, "admin")
    client.post(f"/api/events/{ch.id}/feedback", json={"verdict": "dismissed"})
    assert {(p["camera"], p["precision"]) for p in client.get("/api/alerts/precision").json()} == {
        ("yk-cam-1", 1.0),
        ("ch-cam-1", 0.0),
    }
    login(client, "auditor")  # no events.read
    assert client.get("/api/alerts/precision").status_code == 403
    assert client.post(f"/api/events/{yk[2].id}/feedback", json={"verdict": "confirmed"}).status_code == 403
    fb = system.audit.search(Scope.national(), action="alert.feedback")
    assert len(fb) == 4 and {e.actor for e in fb} == {"yk.operator", "admin"}
    assert {e.action for e in system.audit.search(Scope.national(), target_id=ch.id)} >= {"access.denied"}


def test_line_counts_per_hour_class_and_direction(client, system) -> None:
    base = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    crossings = [(0, "person", "left_to_right")] * 3 + [(10, "car", "right_to_left"), (70, "person", "left_to_right")]
    system.writer.write_now(
        [
            Event(
                kind="track_crossed",
                region="KG-Y",
                camera="yk-cam-1",
                ts=base + timedelta(minutes=m),
                payload={"rule": "gate", "class": cls, "direction": d, "track": f"t{i}"},
            )
            for i, (m, cls, d) in enumerate(crossings)
        ]
    )
    login(client, "yk.operator")
    q = {"from": base.isoformat(), "to": (base + timedelta(hours=2)).isoformat()}
    got = client.get("/api/cameras/yk-cam-1/counts", params=q).json()
    assert [(c["hour"][11:16], c["class"], c["direction"], c["count"]) for c in got] == [
        ("09:00", "car", "right_to_left", 1),
        ("09:00", "person", "left_to_right", 3),
        ("10:00", "person", "left_to_right", 1),
    ]
    # the tally is its own table, written with the events: it outlives them (retention) and adds up
    with system.db.transaction() as s:
        s.execute(delete(EventRow).where(EventRow.kind == "track_crossed"))
    system.writer.write_now(
        [
            Event(
                kind="track_crossed",
                region="KG-Y",
                camera="yk-cam-1",
                ts=base + timedelta(minutes=5),
                payload={"rule": "gate", "class": "person", "direction": "left_to_right", "track": "t9"},
            )
        ]
    )
    got = client.get("/api/cameras/yk-cam-1/counts", params=q).json()
    assert [(c["hour"][11:16], c["class"], c["count"]) for c in got] == [
        ("09:00", "car", 1),
        ("09:00", "person", 4),
        ("10:00", "person", 1),
    ]
    bad = {"from": base.isoformat(), "to": (base - timedelta(hours=1)).isoformat()}
    assert client.get("/api/cameras/yk-cam-1/counts", params=bad).status_code == 422
    assert client.get("/api/cameras/yk-cam-1/counts", params={"from": "yesterday"}).status_code == 422


def test_saved_rules_reach_the_running_pipeline_without_a_restart(client, system) -> None:
    login(client, "admin")
    assert client.patch("/api/cameras/yk-cam-1", json={"profile": "people"}).status_code == 200
    run = _wait(lambda: (r := system.ingest._running.get("yk-cam-1")) and r.rule_stage and r)
    worker = run.worker
    assert run.rule_stage.engine.rules == []  # public place: no defaults
    assert client.put("/api/cameras/yk-cam-1/rules", json={"rules": [GATE]}).status_code == 200
    _wait(lambda: [r.id for r in run.rule_stage.engine.rules] == ["gate"])
    assert system.ingest._running["yk-cam-1"].worker is worker  # swapped in place, no reconnect


def _wait(cond, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = cond()
        if got:
            return got
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_migration_backfills_line_counts_from_existing_events(tmp_path) -> None:
    """An installation upgraded past 0005 keeps the counts its events already held."""
    from alembic import command
    from sqlalchemy import select

    from koopsuz.store.db import Database, alembic_config
    from koopsuz.store.tables import LineCountRow

    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config(db.url)
    with db.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004")
    ts = datetime(2026, 11, 25, 9, 30, tzinfo=UTC)
    with db.engine.begin() as conn:
        for i in range(3):
            conn.execute(
                EventRow.__table__.insert().values(
                    id=f"01JD00000000000000000000{i:02d}",
                    kind="track_crossed",
                    region="KG-Y",
                    camera="yk-cam-1",
                    site=None,
                    ts=ts,
                    severity="info",
                    payload={"rule": "gate", "class": "person", "direction": "left_to_right"},
                    media={},
                )
            )
    db.migrate()
    with db.session() as s:
        rows = s.execute(select(LineCountRow)).scalars().all()
    assert [(r.camera, r.rule, r.cls, r.direction, r.count, r.region) for r in rows] == [
        ("yk-cam-1", "gate", "person", "left_to_right", 3, "KG-Y")
    ]
    assert rows[0].hour.replace(tzinfo=UTC) == datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
    db.dispose()
