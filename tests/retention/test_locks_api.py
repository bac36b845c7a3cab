"""Evidence locks and storage over the API: permissions, region scope, audit, bad input; the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.security.principal import Scope
from koopsuz.store.tables import RecordingSegmentRow, RecordingSessionRow, RetentionRunRow
from tests.conftest import PASSWORD

NOW = datetime.now(UTC).replace(microsecond=0)
RANGE = {"start": (NOW - timedelta(hours=2)).isoformat(), "end": (NOW - timedelta(hours=1)).isoformat()}


@pytest.fixture
def app(system):
    return create_app(system, start_system=False)


def client(app, username: str | None) -> TestClient:
    c = TestClient(app)
    if username:
        r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf"]  # cookie sessions echo it, like the pages
    return c


def audit(system, action: str):
    return system.audit.search(Scope.national(), action=action)


def test_lock_scope_audit_and_unlock(app, system) -> None:
    inv = client(app, "yk.investigator")
    r = inv.post(
        "/api/evidence/locks", json={"camera": "yk-cam-1", "case_number": "YK-2026-17", "reason": "theft"} | RANGE
    )
    assert r.status_code == 201, r.text
    own = r.json()
    assert own["region"] == "KG-Y" and own["active"] and own["locked_by"] == "yk.investigator"
    entry = audit(system, "evidence.lock")[0]
    assert entry.actor == "yk.investigator" and entry.target_id == "yk-cam-1" and entry.region == "KG-Y"
    assert entry.detail["case_number"] == "YK-2026-17" and entry.detail["reason"] == "theft"
    assert entry.detail["start"].startswith(RANGE["start"][:19])

    # another region's camera: 403, audited; unknown camera: 404
    r = inv.post("/api/evidence/locks", json={"camera": "ch-cam-1", "case_number": "X-1"} | RANGE)
    assert r.status_code == 403 and "outside your region" in r.json()["detail"]
    denied = audit(system, "access.denied")
    assert denied and denied[0].actor == "yk.investigator" and denied[0].target_id == "ch-cam-1"
    assert denied[0].outcome == "denied"
    assert inv.post("/api/evidence/locks", json={"camera": "nope", "case_number": "X"} | RANGE).status_code == 404

    # a national lock on the other region is invisible to the regional investigator
    admin = client(app, "admin")
    foreign = admin.post("/api/evidence/locks", json={"camera": "ch-cam-1", "case_number": "CH-5"} | RANGE).json()
    assert {x["id"] for x in inv.get("/api/evidence/locks").json()} == {own["id"]}
    assert {x["id"] for x in admin.get("/api/evidence/locks").json()} == {own["id"], foreign["id"]}
    assert inv.get("/api/evidence/locks", params={"camera": "ch-cam-1"}).status_code == 403
    r = inv.post(f"/api/evidence/locks/{foreign['id']}/unlock", json={"reason": "mine now"})
    assert r.status_code == 403
    assert audit(system, "access.denied")[0].target_id == str(foreign["id"])
    assert admin.get("/api/evidence/locks", params={"active": "true"}).json()[0]["active"]
    assert inv.post("/api/evidence/locks/99999/unlock", json={"reason": "x"}).status_code == 404

    # unlock needs a reason; it is audited with it; a second unlock is a conflict
    r = inv.post(f"/api/evidence/locks/{own['id']}/unlock", json={"reason": "   "})
    assert r.status_code == 422
    assert inv.post(f"/api/evidence/locks/{own['id']}/unlock", json={}).status_code == 422
    r = inv.post(f"/api/evidence/locks/{own['id']}/unlock", json={"reason": "case closed by court"})
    assert r.status_code == 200 and not r.json()["active"] and r.json()["unlock_reason"] == "case closed by court"
    entry = audit(system, "evidence.unlock")[0]
    assert entry.actor == "yk.investigator" and entry.detail["reason"] == "case closed by court"
    assert entry.detail["case_number"] == "YK-2026-17" and entry.detail["lock"] == own["id"]
    r = inv.post(f"/api/evidence/locks/{own['id']}/unlock", json={"reason": "again"})
    assert r.status_code == 409
    assert [x["id"] for x in inv.get("/api/evidence/locks", params={"active": "false"}).json()] == [own["id"]]
    assert system.evidence_locks.active(Scope.national()) and len(system.evidence_locks.active(Scope.of("KG-Y"))) == 0


def test_bad_input_and_permissions(app) -> None:
    inv = client(app, "yk.investigator")
    bad = [
        ({"camera": "yk-cam-1", "case_number": "C"} | {"start": RANGE["end"], "end": RANGE["start"]}, "before end"),
        ({"camera": "yk-cam-1", "case_number": "  "} | RANGE, "case_number"),
        ({"camera": "yk-cam-1", "case_number": "C", "start": "yesterday", "end": RANGE["end"]}, "start"),
        ({"camera": "yk-cam-1", "case_number": "C", "colour": "red"} | RANGE, "colour"),
        (
            {"camera": "yk-cam-1", "case_number": "C", "start": "2020-01-01T00:00:00", "end": NOW.isoformat()},
            "range too long",
        ),
    ]
    for body, words in bad:
        r = inv.post("/api/evidence/locks", json=body)
        assert r.status_code == 422, (body, r.text)
        assert words in r.text, (words, r.text)
    naive = {"camera": "yk-cam-1", "case_number": "C", "start": "2026-11-01T10:00:00", "end": "2026-11-01T11:00:00"}
    assert inv.post("/api/evidence/locks", json=naive).json()["start"] == "2026-11-01T10:00:00.000Z"
    op = client(app, "yk.operator")
    assert op.post("/api/evidence/locks", json={"camera": "yk-cam-1", "case_number": "C"} | RANGE).status_code == 403
    assert op.get("/api/evidence/locks").status_code == 403
    assert op.get("/api/storage").status_code == 403
    auditor = client(app, "auditor")
    assert auditor.get("/api/evidence/locks").status_code == 200  # storage.read: sees what is held
    assert (
        auditor.post("/api/evidence/locks", json={"camera": "yk-cam-1", "case_number": "C"} | RANGE).status_code == 403
    )
    assert client(app, None).get("/api/evidence/locks").status_code == 401


def seed_footage(system) -> None:
    """Index rows for both regions' cameras (no files: this test reads usage, not footage)."""
    with system.db.transaction() as s:
        for cam, region in (("yk-cam-1", "KG-Y"), ("ch-cam-1", "KG-C")):
            sid = ("01JYK" if cam.startswith("yk") else "01JCH") + "0" * 21
            s.add(
                RecordingSessionRow(
                    id=sid,
                    camera=cam,
                    region=region,
                    started_at=NOW - timedelta(hours=1),
                    dir=f"recordings/{cam}",
                    init_path=f"recordings/{cam}/init.mp4",
                    init_sha256="0" * 64,
                    codec="h264",
                    width=1,
                    height=1,
                )
            )
            s.flush()
            for i in range(3):
                a = NOW - timedelta(hours=1) + timedelta(seconds=4 * i)
                s.add(
                    RecordingSegmentRow(
                        camera=cam,
                        region=region,
                        session=sid,
                        seq=i,
                        start=a,
                        end=a + timedelta(seconds=4),
                        duration_s=4.0,
                        size=1000 * (i + 1),
                        sha256="0" * 64,
                        path=f"recordings/{cam}/seg-{i}.m4s",
                    )
                )
        report = {
            "deleted": {"yk-cam-1": {"video:expired": {"segments": 1}}, "ch-cam-1": {"video:budget": {"segments": 2}}},
            "spared": {"ch-cam-1": {"segments": 1, "locks": [1]}},
            "snapshots": {},
            "oldest_kept": None,
        }
        s.add(
            RetentionRunRow(
                started_at=NOW, finished_at=NOW, trigger="manual", volume="/v", deleted_segments=3, report=report
            )
        )


def test_storage_is_scoped_where_it_shows_cameras(app, system) -> None:
    seed_footage(system)
    head = client(app, "yk.head")
    s = head.get("/api/storage").json()
    vol = s["volumes"][0]
    assert vol["segment_bytes"] == 12000 and vol["segments"] == 6 and vol["budget_bytes"] is None
    assert vol["state"] == "ok" and vol["oldest_kept"]
    assert [c["camera"] for c in s["cameras"]] == ["yk-cam-1"] and s["cameras"][0]["bytes"] == 6000
    run = s["runs"][0]
    assert set(run["report"]["deleted"]) == {"yk-cam-1"} and run["report"]["spared"] == {}
    assert s["policy"]["school"]["video"] == 14
    national = client(app, "auditor").get("/api/storage").json()
    assert {c["camera"] for c in national["cameras"]} == {"yk-cam-1", "ch-cam-1"}
    assert set(national["runs"][0]["report"]["deleted"]) == {"yk-cam-1", "ch-cam-1"}
    assert client(app, "auditor").get("/api/storage", params={"runs": 1000}).status_code == 422


def test_storage_page_and_nav(app) -> None:
    head = client(app, "yk.head")
    page = head.get("/storage")
    assert page.status_code == 200 and 'data-testid="storage-volumes"' in page.text
    assert 'data-testid="nav-storage"' in page.text and "/static/js/storage.js" in page.text
    inv = client(app, "yk.investigator").get("/storage")  # locks only: no volume panel
    assert inv.status_code == 200 and 'data-testid="storage-locks"' in inv.text
    assert 'data-testid="storage-volumes"' not in inv.text
    op = client(app, "yk.operator")
    assert op.get("/storage").status_code == 403
    assert 'data-testid="nav-storage"' not in op.get("/health").text
    anon = client(app, None).get("/storage", follow_redirects=False)
    assert anon.status_code == 303 and anon.headers["location"].startswith("/login")
