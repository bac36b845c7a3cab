"""Speed violations under review: the projection's row and hashes, confirm / reject, the notice, scope, stats.

Violations are made the production way: ``plate_read`` events with real JPEG pictures go through
the event writer, the road watch pairs them over a section and submits the ``speed_violation``,
whose projection writes the ``violations`` row in the same transaction.
"""

from __future__ import annotations

import contextlib
import io
import re
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from sqlalchemy import update

from koopsuz.api.app import create_app
from koopsuz.domain.events import Event
from koopsuz.security.principal import Scope
from koopsuz.store.tables import EventRow, ViolationRow
from tests.conftest import PASSWORD
from tests.test_api_scope import login

SECTION = {
    "id": "a363-ca-bosteri",
    "name": "A363 Cholpon-Ata - Bosteri",
    "entry_camera": "yk-cam-1",
    "exit_camera": "yk-cam-2",
    "length_m": 4500,
    "limit_kmh": 60,
    "tolerance_kmh": 3,
}


def jpeg(text: str, size: tuple[int, int] = (160, 40)) -> bytes:
    img = Image.new("RGB", size, "white")
    ImageDraw.Draw(img).text((8, 12), text, fill="black")
    buf = io.BytesIO()
    img.save(buf, "JPEG", quality=85)
    return buf.getvalue()


def pdf_text(data: bytes) -> bytes:
    """The PDF with every Flate stream inflated, so text set in a core font can be searched."""
    parts = [data]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", data, re.S):
        with contextlib.suppress(zlib.error):  # a picture
            parts.append(zlib.decompress(m.group(1)))
    return b"\n".join(parts)


def add_road(system) -> None:
    """A second plate camera in KG-Y and the section between the two (admin, through the service)."""
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
    system.sections.save(admin, SECTION)


def plate_read(system, camera: str, text: str, ts: datetime, **extra: Any) -> Event:
    e = Event(
        kind="plate_read",
        region="KG-Y",
        camera=camera,
        ts=ts,
        payload={
            "text": text,
            "compact": text.replace(" ", ""),
            "format": "private",
            "plate_region": "KG-Y",
            "confidence": 0.93,
            "vehicle": "car",
            "colour": "white",
            "direction": "towards",
            "timing": "line",
        }
        | extra,
    )
    e.media["snapshot"] = system.media.save_snapshot(camera, e.id, ts, jpeg(f"car {text}", (320, 240)))
    e.media["plate"] = system.media.save_snapshot(camera, f"{e.id}-plate", ts, jpeg(text))
    system.writer.write_now([e])
    return e


def passage(system, text: str, t0: datetime, seconds: float) -> None:
    plate_read(system, "yk-cam-1", text, t0)
    plate_read(system, "yk-cam-2", text, t0 + timedelta(seconds=seconds))
    system.road_watch.flush()


def violation_of(system, plate: str, timeout: float = 5.0) -> ViolationRow:
    """The row the projection wrote (the road watch submits asynchronously)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with system.db.session() as s:
            row = s.query(ViolationRow).filter(ViolationRow.plate == plate).one_or_none()
        if row is not None:
            return row
        time.sleep(0.05)
    raise AssertionError(f"no violation row for {plate}")


@pytest.fixture
def client(system):
    system.users.create("test", "ch.head", PASSWORD, "regional_head", "KG-C")
    add_road(system)
    with TestClient(create_app(system)) as c:
        yield c


def as_user(c: TestClient, username: str) -> None:
    c.post("/api/auth/logout")
    login(c, username)


def test_a_violation_is_reviewed_confirmed_and_noticed(client: TestClient, system) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=10)
    passage(system, "01 111 AAA", t0, 180)  # 4.5 km in 3 min: 90 km/h
    passage(system, "01 222 BBB", t0 + timedelta(seconds=5), 300)  # 54 km/h: a passage, no violation
    row = violation_of(system, "01 111 AAA")
    assert row.status == "pending" and row.clock_trusted is None and row.speed_kmh == pytest.approx(90.0)
    assert set(row.media_sha256) >= {"entry_plate", "entry_snapshot", "exit_plate", "exit_snapshot"}
    assert all(len(h) == 64 for h in row.media_sha256.values()) and len(row.evidence_sha256) == 64

    as_user(client, "yk.operator")  # may read, may not review
    listed = client.get("/api/violations", params={"status": "pending"}).json()["violations"]
    assert [v["plate"] for v in listed] == ["01 111 AAA"] and listed[0]["section_name"] == SECTION["name"]
    assert client.post(f"/api/violations/{row.id}/confirm").status_code == 403
    assert client.get("/api/violations", params={"status": "nonsense"}).status_code == 422

    as_user(client, "yk.head")
    v = client.get(f"/api/violations/{row.id}").json()
    assert v["evidence"]["intact"] is True and v["evidence"]["problems"] == []
    assert v["reads"]["entry"]["text"] == "01 111 AAA" and v["reads"]["exit"]["camera"] == "yk-cam-2"
    assert client.get(v["pictures"]["entry_plate"]).content[:2] == b"\xff\xd8"
    assert v["notice"] is None
    assert client.get(f"/api/violations/{row.id}/notice.pdf").status_code == 409  # pending: no notice yet

    r = client.post(f"/api/violations/{row.id}/confirm")
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed" and r.json()["reviewed_by"] == "yk.head"
    assert client.post(f"/api/violations/{row.id}/confirm").status_code == 409  # decided once
    assert client.post(f"/api/violations/{row.id}/reject", json={"reason": "changed my mind"}).status_code == 409

    pdf = client.get(f"/api/violations/{row.id}/notice.pdf")
    assert pdf.status_code == 200 and pdf.headers["content-type"] == "application/pdf"
    assert pdf.content.startswith(b"%PDF")
    text = pdf_text(pdf.content)
    assert b"(01 111 AAA)" in text and f"({row.evidence_sha256})".encode() in text
    assert pdf.content.count(b"/Subtype /Image") == 2  # both plate crops embedded

    audit = system.audit.search(Scope.national(), action="violation.confirm")
    assert [(a.actor, a.outcome) for a in audit] == [("yk.head", "refused"), ("yk.head", "ok")]
    assert audit[-1].detail["evidence_sha256"] == row.evidence_sha256
    assert len(system.audit.search(Scope.national(), action="violation.notice")) == 1

    stats = client.get("/api/violations/stats").json()
    [sec] = stats["sections"]
    assert (sec["passages"], sec["violations"], sec["confirmed"]) == (2, 1, 1)
    assert sec["speeding_share"] == pytest.approx(0.5) and stats["top_sections"] == [SECTION["id"]]
    assert sum(n for _, n in sec["per_hour"]) == 2
    assert (
        client.get(
            "/api/violations/stats", params={"from": "2026-01-01T00:00:00Z", "to": "2025-01-01T00:00:00Z"}
        ).status_code
        == 422
    )


def test_reject_needs_a_reason_and_leaves_no_notice_and_scope_holds(client: TestClient, system) -> None:
    passage(system, "01 333 CCC", datetime.now(UTC) - timedelta(minutes=5), 150)  # 108 km/h
    row = violation_of(system, "01 333 CCC")

    as_user(client, "ch.head")  # a head of another region: not found in lists, refused by id, audited
    assert client.get("/api/violations").json()["violations"] == []
    assert client.get("/api/violations/stats").json()["sections"] == []
    for method, path in (("GET", ""), ("POST", "/confirm"), ("GET", "/notice.pdf")):
        assert client.request(method, f"/api/violations/{row.id}{path}").status_code == 403, path
    denied = system.audit.search(Scope.national(), action="access.denied")
    assert any(a.target_id == row.id and a.actor == "ch.head" for a in denied)

    as_user(client, "yk.head")
    assert client.post(f"/api/violations/{row.id}/reject", json={}).status_code == 422
    assert client.post(f"/api/violations/{row.id}/reject", json={"reason": " "}).status_code == 422
    assert client.get("/api/violations/nonexistent1").status_code == 404
    r = client.post(f"/api/violations/{row.id}/reject", json={"reason": "exit plate misread: 01 383 CCC"})
    assert r.status_code == 200 and r.json()["status"] == "rejected" and r.json()["reason"].startswith("exit plate")
    assert client.get(f"/api/violations/{row.id}/notice.pdf").status_code == 409
    assert client.post(f"/api/violations/{row.id}/confirm").status_code == 409
    [audit] = system.audit.search(Scope.national(), action="violation.reject")
    assert audit.actor == "yk.head" and audit.detail["reason"] == "exit plate misread: 01 383 CCC"
    assert client.get("/api/violations", params={"status": "rejected"}).json()["violations"][0]["id"] == row.id


def test_altered_evidence_or_an_untrusted_clock_cannot_be_confirmed(client: TestClient, system) -> None:
    t0 = datetime.now(UTC) - timedelta(minutes=8)
    passage(system, "01 444 DDD", t0, 120)  # 135 km/h
    passage(system, "01 555 EEE", t0 + timedelta(seconds=3), 120)
    swapped, edited = violation_of(system, "01 444 DDD"), violation_of(system, "01 555 EEE")
    with system.db.session() as s:
        ref = s.get(EventRow, swapped.id).media["exit_plate"]
    system.media.path(ref).write_bytes(jpeg("01 999 ZZZ"))  # another car's plate put in its place
    with system.db.transaction() as s:
        payload = dict(s.get(EventRow, edited.id).payload) | {"speed_kmh": 150.0}
        s.execute(update(EventRow).where(EventRow.id == edited.id).values(payload=payload))

    as_user(client, "yk.head")
    ev = client.get(f"/api/violations/{swapped.id}").json()["evidence"]
    assert ev["intact"] is False and ev["files"]["exit_plate"]["state"] == "altered"
    assert ev["files"]["entry_plate"]["state"] == "ok"
    assert client.post(f"/api/violations/{swapped.id}/confirm").status_code == 409
    ev = client.get(f"/api/violations/{edited.id}").json()["evidence"]
    assert ev["intact"] is False and any(p.startswith("payload") for p in ev["problems"])
    assert client.post(f"/api/violations/{edited.id}/confirm").status_code == 409

    # a camera whose clock is known to be off: the violation is recorded, but never confirmable
    untrusted = Event(
        kind="speed_violation",
        region="KG-Y",
        camera="yk-cam-2",
        ts=t0 + timedelta(seconds=200),
        payload={
            "section": SECTION["id"],
            "plate": "01 666 FFF",
            "speed_kmh": 99.0,
            "limit_kmh": 60,
            "tolerance_kmh": 3,
            "over_kmh": 39.0,
            "length_m": 4500,
            "seconds": 163.6,
            "entry": {"read": "x", "camera": "yk-cam-1", "ts": t0.isoformat(), "clock_trusted": False},
            "exit": {"read": "y", "camera": "yk-cam-2", "ts": t0.isoformat()},
        },
    )
    system.writer.write_now([untrusted])
    assert client.get(f"/api/violations/{untrusted.id}").json()["clock_trusted"] is False
    r = client.post(f"/api/violations/{untrusted.id}/confirm")
    assert r.status_code == 409 and "clock" in r.json()["detail"]
    refused = [a for a in system.audit.search(Scope.national(), action="violation.confirm") if a.outcome == "refused"]
    assert len(refused) == 3

    # a malformed violation still gets stored and reviewed; it never fails the writer's batch
    odd = Event(
        kind="speed_violation",
        region="KG-Y",
        camera="yk-cam-2",
        ts=t0,
        payload={"section": SECTION["id"], "plate": "01 777 GGG", "speed_kmh": "fast", "entry": "nowhere"},
    )
    system.writer.write_now([odd])
    v = client.get(f"/api/violations/{odd.id}").json()
    assert (v["status"], v["speed_kmh"], v["entry"]["camera"]) == ("pending", 0.0, "")
