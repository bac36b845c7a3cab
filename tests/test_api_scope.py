"""Region scope through every route the API has, plus bad input and audit of sensitive calls."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.testclient import TestClient

from koopsuz.api.app import all_routes, create_app
from koopsuz.domain.events import Event
from koopsuz.security.principal import Scope
from tests.conftest import PASSWORD

# Every API route must be listed here with how scope applies to it, so a new route cannot be
# added without deciding (and testing) what a regional user may see through it.
SCOPED_BY_CAMERA = {
    "/api/cameras/{camera_id}",
    "/api/cameras/{camera_id}/frame.jpg",
    "/api/cameras/{camera_id}/live.mjpeg",
    "/api/cameras/{camera_id}/timeline",
    "/api/cameras/{camera_id}/playback.m3u8",
    "/api/cameras/{camera_id}/export.mp4",
    "/api/cameras/{camera_id}/rules",
    "/api/cameras/{camera_id}/counts",
    "/api/cameras/{camera_id}/masked.mp4",  # recorded footage with privacy masks burnt in
}
# Recorded files: scoped by camera and served only with a playlist's grant (tests/recording).
RECORDING_FILES = {
    "/api/cameras/{camera_id}/segments/{segment_id}.m4s",
    "/api/cameras/{camera_id}/init/{session_id}.mp4",
}
SCOPED_BY_EVENT = {"/api/events/{event_id}", "/api/events/{event_id}/{name}.jpg"}
LISTS = {
    "/api/audit/export",  # auditors only; entries of the auditor's regions (tests/test_audit_api.py)
    "/api/audit/verify",  # auditors only; the whole chain's health, no entry content
    # auditors only; the accounts of the caller's regions with their last uses (tests/test_access_review.py)
    "/api/admin/access-review",
    "/api/cameras",
    "/api/events",
    "/api/regions",
    "/api/audit",
    "/api/sites",
    "/api/cities",
    "/api/districts",
    "/api/alerts/precision",
}
WRITES_BY_CAMERA = {
    ("PATCH", "/api/cameras/{camera_id}"),
    ("POST", "/api/cameras/{camera_id}/disable"),
    ("POST", "/api/cameras/{camera_id}/enable"),
    ("PUT", "/api/cameras/{camera_id}/rules"),
}
# Operator actions on one event: scoped by the event's region (tests/analytics/test_rules_api.py).
WRITES_BY_EVENT = {("POST", "/api/events/{event_id}/feedback")}
SITE_ROUTES = {"/api/sites/{site_id}", "/api/users/{username}"}
# Evidence packages: an export is visible only if every camera's region is in scope; creating one
# checks each camera; verify needs only a signed-in user (tests/recording/test_evidence_package.py).
EVIDENCE = {
    "/api/evidence/exports",
    "/api/evidence/exports/{export_id}",
    "/api/evidence/exports/{export_id}/package",
    "/api/evidence/verify",
}
# Evidence locks: a lock's region is its camera's; locking, listing and unlocking another region's
# camera or lock answers 403 and is audited. Storage: volume totals, per-camera usage and run reports
# cut to the caller's regions (tests/retention/test_locks_api.py).
LOCKS_AND_STORAGE = {"/api/evidence/locks", "/api/evidence/locks/{lock_id}/unlock", "/api/storage"}
# Legal bases and watchlists: a basis is seen where its regions reach (country-wide ones by all);
# a national list by every reader, changed nationally; a regional list only in its region; every
# refusal audited (tests/watchlists/).
LEGAL_AND_WATCHLISTS = {
    "/api/legal-bases",
    "/api/legal-bases/{basis_id}",
    "/api/legal-bases/{basis_id}/revoke",
    "/api/watchlists",
    "/api/watchlists/{watchlist_id}/entries",
    "/api/watchlist-entries/{entry_id}",
    "/api/watchlist-entries/{entry_id}/photos",
    "/api/watchlist-entries/{entry_id}/photos/{photo_id}",
    "/api/watchlist-entries/{entry_id}/approve",
    "/api/watchlist-entries/{entry_id}/reject",
    "/api/watchlist-entries/{entry_id}/remove",
    # face searches: a legal basis per region searched; seen by their investigator and auditors only
    "/api/faces/searches",
    "/api/faces/searches/{search_id}",
    "/api/faces/searches/{search_id}/cancel",
    "/api/faces/searches/{search_id}/{name}.jpg",
}
# Plates: reads searched within the caller's regions (a legal basis beyond 24 h); hotlists scoped
# like watchlists; sections by their cameras' region (tests/plates/test_road_api.py).
PLATES = {
    "/api/plates/reads",
    "/api/plates/route",
    "/api/hotlists",
    "/api/hotlists/{hotlist_id}/entries",
    "/api/hotlists/{hotlist_id}/import",
    "/api/hotlists/{hotlist_id}/entries/{entry_id}/remove",
    "/api/sections",
    "/api/spot-cameras",  # calibrations for spot speed, by their camera's region (tests/road/test_road_limits.py)
    "/api/spot-cameras/{camera_id}",  # delete one: another region's is not found (tests/road/test_spot_page_browser.py)
}
# Violations: listed and counted within the caller's regions; one violation, its review and its
# notice scoped by its region (another region's: 403, audited) (tests/road/test_violations.py).
VIOLATIONS = {
    "/api/violations",
    "/api/violations/stats",
    "/api/violations/{violation_id}",
    "/api/violations/{violation_id}/confirm",
    "/api/violations/{violation_id}/reject",
    "/api/violations/{violation_id}/notice.pdf",
}
# Command centres: the alert queue and claims are scoped by the alert's region, incidents by
# theirs, units by theirs, measures by the region asked for; every refusal answers 403 and is
# audited, unknown ids 404 (tests/incidents/test_api.py).
COMMAND = {
    "/api/alerts/queue",
    "/api/alerts/{event_id}/state",
    "/api/alerts/{event_id}/claim",
    "/api/alerts/{event_id}/release",
    "/api/alerts/{event_id}/escalate",
    "/api/sop",
    "/api/incidents",
    "/api/incidents/{incident_id}",
    "/api/incidents/{incident_id}/state",
    "/api/incidents/{incident_id}/sop/{step}",
    "/api/incidents/{incident_id}/notes",
    "/api/incidents/{incident_id}/evidence",
    "/api/incidents/{incident_id}/escalate",
    "/api/incidents/{incident_id}/suggestions",
    "/api/incidents/{incident_id}/dispatch",
    "/api/units",
    "/api/units/{unit_id}",
    "/api/units/{unit_id}/position",
    "/api/units/{unit_id}/status",
    "/api/stats/response",
    # accountability dashboard: a regional caller's own region only (another: 403, audited), the
    # country and the ranking for national callers; exports audited (tests/dashboard/test_api.py)
    "/api/dashboard",
    "/api/dashboard.csv",
    "/api/dashboard.pdf",
}
# Privacy masks: an unmask request is scoped by its camera (another region's: 403, audited); a
# decision or revocation by the request's region; the list cut to the caller's regions
# (tests/privacy/).
PRIVACY = {
    "/api/cameras/{camera_id}/unmask",
    "/api/unmask",
    "/api/unmask/{grant_id}/approve",
    "/api/unmask/{grant_id}/reject",
    "/api/unmask/{grant_id}/revoke",
}
# PTZ: every route asks the registry for the camera with ``ptz.control`` (another region's: 403,
# audited); moves hold a lease per camera, a second operator gets 409 (tests/ptz/test_ptz_api.py).
PTZ = {
    "/api/cameras/{camera_id}/ptz",
    "/api/cameras/{camera_id}/ptz/move",
    "/api/cameras/{camera_id}/ptz/stop",
    "/api/cameras/{camera_id}/ptz/release",
    "/api/cameras/{camera_id}/ptz/presets",
    "/api/cameras/{camera_id}/ptz/presets/{token}",
    "/api/cameras/{camera_id}/ptz/preset/{token}",
    "/api/cameras/{camera_id}/ptz/tours",
    "/api/cameras/{camera_id}/ptz/tours/stop",
    "/api/cameras/{camera_id}/ptz/tours/{tour_id}/start",
}
# Alert webhooks: admins (cameras.write) only; a subscription is seen and changed within the
# caller's regions, a regional one receives its region's alerts only (tests/notifications/).
NOTIFICATIONS = {"/api/webhooks", "/api/webhooks/{webhook_id}", "/api/webhooks/{webhook_id}/deliveries",
                 "/api/webhooks/{webhook_id}/test"}
OTHER = {
    "/api/transparency",  # public by design: counts per region and month, no personal data
    "/api/auth/login",
    "/api/auth/logout",
    "/api/auth/me",
    "/api/geo/regions",
    "/api/system/health",
    # public like health: probes cannot sign in; it names checks and counts, no camera, region or event
    # (tests/scaleout/test_operations.py)
    "/api/system/ready",
    "/api/users",
    "/api/ws/events",
}


@pytest.fixture
def client(system):
    app = create_app(system)
    with TestClient(app) as c:
        yield c


def login(c: TestClient, username: str) -> None:
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    c.headers["X-CSRF-Token"] = r.json()["csrf"]  # what the pages' fetch helper sends (cookie sessions)


def seed_events(system) -> dict[str, Event]:
    out = {}
    for region, cam, site in (("KG-Y", "yk-cam-1", "yk-square"), ("KG-C", "ch-cam-1", "ch-school")):
        e = Event(kind="motion", region=region, camera=cam, site=site, ts=datetime.now(UTC), payload={"area": 0.1})
        e.media["snapshot"] = system.media.save_snapshot(cam, e.id, e.ts, b"\xff\xd8fakejpeg\xff\xd9")
        system.writer.write_now([e])
        out[region] = e
    return out


def test_every_route_is_classified(system) -> None:
    app = create_app(system, start_system=False)
    known = SCOPED_BY_CAMERA | SCOPED_BY_EVENT | LISTS | OTHER | SITE_ROUTES | RECORDING_FILES
    known |= EVIDENCE | LOCKS_AND_STORAGE | LEGAL_AND_WATCHLISTS | PLATES
    known |= COMMAND | PRIVACY | VIOLATIONS | PTZ | NOTIFICATIONS
    known |= {p for _, p in WRITES_BY_CAMERA | WRITES_BY_EVENT}
    routes = [r for r in all_routes(app) if isinstance(r, APIRoute | APIWebSocketRoute)]
    paths = {r.path for r in routes if r.path.startswith("/api")}
    assert len(paths) > 80  # the lazy include must be flattened, or this test checks nothing
    assert paths - known == set(), "new API routes need a scope decision and a test"


def test_regional_operator_sees_nothing_of_another_region(client, system) -> None:
    events = seed_events(system)
    login(client, "yk.operator")
    cams = client.get("/api/cameras").json()
    assert [c["id"] for c in cams] == ["yk-cam-1"]
    listed = client.get("/api/events").json()
    assert listed and all(e["region"] == "KG-Y" for e in listed)
    assert client.get("/api/events", params={"camera": "ch-cam-1"}).json() == []
    for path in SCOPED_BY_CAMERA:
        r = client.get(path.format(camera_id="ch-cam-1"))
        assert r.status_code == 403, (path, r.status_code)
    foreign = events["KG-C"]
    for path in SCOPED_BY_EVENT:
        r = client.get(path.format(event_id=foreign.id, name="snapshot"))
        assert r.status_code == 403, (path, r.status_code)
    own = events["KG-Y"]
    assert client.get(f"/api/events/{own.id}").status_code == 200
    snap = client.get(f"/api/events/{own.id}/snapshot.jpg")
    assert snap.status_code == 200 and snap.headers["content-type"] == "image/jpeg"
    assert [x["id"] for x in client.get("/api/sites").json()] == ["yk-square"]
    assert [x["id"] for x in client.get("/api/cities").json()] == ["karakol"]
    regions = {r["code"]: r["in_scope"] for r in client.get("/api/regions").json()}
    assert regions["KG-Y"] and not regions["KG-C"] and len(regions) == 9
    # an unknown id is a 404, not a 403: nothing to leak
    assert client.get("/api/cameras/no-such-cam").status_code == 404
    denied = system.audit.search(Scope.national(), action="access.denied")
    assert {r.target_id for r in denied} >= {"ch-cam-1", foreign.id}
    assert all(r.actor == "yk.operator" and r.outcome == "denied" for r in denied)


def test_regional_admin_actions_are_refused_and_national_sees_all(client, system) -> None:
    seed_events(system)
    login(client, "yk.head")
    for method, path in WRITES_BY_CAMERA:
        r = client.request(method, path.format(camera_id="yk-cam-1"), json={"name": "x"})
        assert r.status_code == 403, (method, path)
    assert client.get("/api/users").status_code == 403
    assert client.get("/api/audit").status_code == 403
    login(client, "national")
    assert {c["id"] for c in client.get("/api/cameras").json()} == {"yk-cam-1", "ch-cam-1"}
    assert {e["region"] for e in client.get("/api/events").json()} >= {"KG-Y", "KG-C"}


def test_live_feed_carries_only_the_callers_region(client, system) -> None:
    login(client, "yk.operator")
    with client.websocket_connect("/api/ws/events") as ws:
        time.sleep(0.3)
        events = seed_events(system)
        got = []
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and len([m for m in got if m["type"] == "event"]) < 1:
            got.extend(ws.receive_json())  # a frame is a JSON array of messages
        time.sleep(0.5)
        seen_events = [m["event"]["id"] for m in got if m["type"] == "event"]
        seen_health = {m["camera"] for m in got if m["type"] == "health"}
    assert seen_events == [events["KG-Y"].id]
    assert seen_health <= {"yk-cam-1"}
    assert system.audit.search(Scope.national(), action="live.feed")[0].actor == "yk.operator"


def test_unauthenticated_calls_are_refused(client) -> None:
    assert client.get("/api/cameras").status_code == 401
    assert client.get("/api/events").status_code == 401
    assert client.get("/api/cameras/yk-cam-1/frame.jpg").status_code == 401
    with pytest.raises(Exception), client.websocket_connect("/api/ws/events") as ws:  # noqa: B017
        ws.receive_json()
    client.cookies.set("koopsuz_session", "forged.token.value")
    assert client.get("/api/cameras").status_code == 401


def test_bad_payloads_get_clear_errors_and_change_nothing(client, system) -> None:
    login(client, "admin")
    r = client.post(
        "/api/cameras",
        json={
            "id": "yk-new",
            "site": "yk-square",
            "name": "n",
            "main_url": "rtsp://h/m",
            "sub_url": "rtsp://h/s",
            "lat": 95,
            "lon": 78.4,
        },
    )
    assert r.status_code == 422 and "lat" in r.json()["detail"]
    r = client.post(
        "/api/cameras",
        json={
            "id": "yk-new",
            "site": "nowhere",
            "name": "n",
            "main_url": "rtsp://h/m",
            "sub_url": "rtsp://h/s",
            "lat": 42.5,
            "lon": 78.4,
        },
    )
    assert r.status_code == 422 and "unknown site" in r.json()["detail"]
    r = client.patch("/api/cameras/yk-cam-1", json={"heading": 400})
    assert r.status_code == 422 and "heading" in r.json()["detail"]
    assert client.post("/api/auth/login", json={"username": "x"}).status_code == 422
    assert client.get("/api/events", params={"limit": 100000}).status_code == 422
    assert client.get("/api/cameras/yk-cam-1").json()["heading"] is None
    ids = {c["id"] for c in client.get("/api/cameras").json()}
    assert "yk-new" not in ids


def test_camera_changes_are_audited_without_credentials(client, system) -> None:
    login(client, "admin")
    r = client.patch("/api/cameras/ch-cam-1", json={"name": "School gate (east)", "heading": 90})
    assert r.status_code == 200 and r.json()["heading"] == 90
    assert "secret" not in r.json()["main_url"]
    r = client.post(
        "/api/cameras",
        json={
            "id": "yk-new",
            "site": "yk-square",
            "name": "New",
            "main_url": "rtsp://u:pw@10.0.0.5/main",
            "sub_url": "rtsp://u:pw@10.0.0.5/sub",
            "lat": 42.49,
            "lon": 78.39,
        },
    )
    assert r.status_code == 201 and r.json()["region"] == "KG-Y"
    assert client.post("/api/cameras/yk-new/disable").json()["enabled"] is False
    entries = system.audit.search(Scope.national(), actor="admin")
    actions = [e.action for e in entries]
    assert {"camera.update", "camera.create"} <= set(actions)
    assert all("pw@" not in str(e.detail) for e in entries)
    assert system.audit.verify().ok


def test_sites_are_editable_within_scope(client, system) -> None:
    login(client, "admin")
    site = {
        "id": "yk-beach",
        "name": "Cholpon-Ata beach",
        "type": "tourist_area",
        "region": "KG-Y",
        "lat": 42.64,
        "lon": 77.08,
    }
    r = client.post("/api/sites", json=site)
    assert r.status_code == 201 and r.json()["type"] == "tourist_area"
    assert client.post("/api/sites", json=site).status_code == 409
    r = client.patch("/api/sites/yk-beach", json={"opening_hours": {"mon": ["08:00-20:00"], "xyz": []}})
    assert r.status_code == 422 and "xyz" in r.json()["detail"]
    r = client.patch("/api/sites/yk-beach", json={"address": "ул. Советская, 1"})
    assert r.status_code == 200 and r.json()["address"] == "ул. Советская, 1" and r.json()["lat"] == 42.64
    login(client, "yk.operator")
    assert client.patch("/api/sites/yk-beach", json={"name": "x"}).status_code == 403
    assert {e.action for e in system.audit.search(Scope.national(), target_id="yk-beach")} == {
        "site.create",
        "site.update",
    }


def test_user_administration_is_audited_and_takes_effect_at_once(client, system) -> None:
    r = client.post("/api/auth/login", json={"username": "yk.operator", "password": PASSWORD})
    operator = {"Authorization": f"Bearer {r.json()['token']}"}
    assert client.get("/api/cameras", headers=operator).status_code == 200
    login(client, "admin")
    r = client.patch("/api/users/yk.operator", json={"region": "KG-C"})
    assert r.status_code == 200 and r.json()["region"] == "KG-C"
    assert client.patch("/api/users/yk.operator", json={"clear_region": True}).status_code == 422
    assert client.patch("/api/users/admin", json={"active": False}).status_code == 422
    assert client.patch("/api/users/nobody", json={"active": False}).status_code == 404
    # the new scope applies to the session already open
    assert [c["id"] for c in client.get("/api/cameras", headers=operator).json()] == ["ch-cam-1"]
    assert client.patch("/api/users/yk.operator", json={"active": False}).status_code == 200
    assert client.get("/api/cameras", headers=operator).status_code == 401
    assert client.post("/api/auth/login", json={"username": "yk.operator", "password": PASSWORD}).status_code == 401
    changes = [e.detail for e in system.audit.search(Scope.national(), action="user.update", target_id="yk.operator")]
    assert {"active": False} in changes and {"region": ["KG-Y", "KG-C"]} in changes


def test_security_headers_on_pages_and_api(client) -> None:
    for path in ("/login", "/api/system/health", "/static/js/core.js"):
        r = client.get(path)
        assert r.headers["x-frame-options"] == "DENY" and r.headers["x-content-type-options"] == "nosniff"
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"]
        assert "script-src 'self';" in r.headers["content-security-policy"]
        assert r.headers["referrer-policy"] == "no-referrer"
