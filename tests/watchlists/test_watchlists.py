"""Watchlists end to end over the API with real photos and the real face models.

Photos: the face_recognition sdist's obama/obama2/obama3/biden and insightface's six-person t1.jpg
(tests/faces/photos.py fetches them from PyPI once).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.security.principal import Scope
from koopsuz.vision.faces import similarity
from tests.conftest import PASSWORD
from tests.faces.photos import group_photo, portraits
from tests.test_api_scope import login

PHOTOS = portraits()
pytestmark = pytest.mark.skipif(
    not {"obama", "obama2", "biden"} <= PHOTOS.keys(), reason="face photos could not be fetched from PyPI"
)


@pytest.fixture
def client(system):
    system.users.create("test", "yk.head2", PASSWORD, "regional_head", "KG-Y")
    with TestClient(create_app(system)) as c:
        yield c


def as_user(c: TestClient, username: str) -> TestClient:
    c.post("/api/auth/logout")
    login(c, username)
    return c


def jpeg(img: np.ndarray) -> bytes:
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 92])
    assert ok
    return buf.tobytes()


def setup_list_and_entry(c: TestClient) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    as_user(c, "yk.head")
    wl = c.post("/api/watchlists", json={"name": "Missing in Issyk-Kul", "kind": "missing", "region": "KG-Y"})
    assert wl.status_code == 201, wl.text
    as_user(c, "yk.investigator")
    until = datetime.now(UTC) + timedelta(days=60)
    basis = c.post(
        "/api/legal-bases",
        json={
            "case_number": "MP-2026-118",
            "kind": "missing_person",
            "authority": "Karakol city police department",
            "document_ref": "Missing-person report No. 118 of 2026-11-24",
            "purposes": ["watchlist"],
            "valid_until": until.isoformat(),
        },
    ).json()
    entry = c.post(
        f"/api/watchlists/{wl.json()['id']}/entries",
        json={
            "full_name": "Test Person",
            "notes": "last seen at the Karakol bus station",
            "legal_basis_id": basis["id"],
            "expires_at": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
        },
    )
    assert entry.status_code == 201, entry.text
    return wl.json(), basis, entry.json()


def test_enrol_approve_match_expire_remove(client: TestClient, system) -> None:
    wl, _basis, entry = setup_list_and_entry(client)
    assert entry["status"] == "pending" and not entry["matching"] and wl["threshold"] == 0.40
    eid = entry["id"]
    photo = PHOTOS["obama"].read_bytes()
    r = client.post(f"/api/watchlist-entries/{eid}/photos", content=photo, headers={"content-type": "image/jpeg"})
    assert r.status_code == 201, r.text
    photos = r.json()["photos"]
    assert len(photos) == 1 and photos[0]["quality"] > 0.3 and photos[0]["box"][2] > 40
    # multipart works too
    files = {"file": ("obama3.jpg", PHOTOS["obama3"].read_bytes(), "image/jpeg")} if "obama3" in PHOTOS else None
    if files:
        assert client.post(f"/api/watchlist-entries/{eid}/photos", files=files).status_code == 201
    assert system.watchlists.active_faces() == []  # pending: matches nothing
    # the creator cannot approve (an investigator has no approve permission; an admin who created could not either)
    assert client.post(f"/api/watchlist-entries/{eid}/approve", json={}).status_code == 403
    as_user(client, "yk.head")
    r = client.post(f"/api/watchlist-entries/{eid}/approve", json={"note": "report checked"})
    assert r.status_code == 200 and r.json()["status"] == "active" and r.json()["matching"], r.text
    active = system.watchlists.active_faces()
    assert {a.entry_id for a in active} == {eid} and all(a.region == "KG-Y" and a.kind == "missing" for a in active)
    # the enrolled face matches another photo of the same man, not another man
    engine = system.watchlists.enroller.engine
    probe = system.watchlists.enroller.enrol(PHOTOS["obama2"].read_bytes()).embedding
    stranger = system.watchlists.enroller.enrol(PHOTOS["biden"].read_bytes()).embedding
    assert max(similarity(a.embedding, probe) for a in active) >= wl["threshold"] >= engine.threshold - 0.1
    assert max(similarity(a.embedding, stranger) for a in active) < wl["threshold"]
    # expiry: judged at match time
    expires = datetime.fromisoformat(entry["expires_at"])
    assert system.watchlists.active_faces(now=expires - timedelta(seconds=1))
    assert system.watchlists.active_faces(now=expires + timedelta(seconds=1)) == []
    # photos of an approved entry are frozen; the photo is served to readers and the view audited
    as_user(client, "yk.investigator")
    r = client.post(f"/api/watchlist-entries/{eid}/photos", content=photo, headers={"content-type": "image/jpeg"})
    assert r.status_code == 422 and "pending" in r.text
    got = client.get(f"/api/watchlist-entries/{eid}/photos/{photos[0]['id']}")
    assert got.status_code == 200 and got.content == photo
    changed: list[str] = []
    system.watchlists.listeners.append(changed.append)
    assert client.post(f"/api/watchlist-entries/{eid}/remove", json={"reason": "x"}).status_code == 422
    r = client.post(f"/api/watchlist-entries/{eid}/remove", json={"reason": "found safe and well"})
    assert r.status_code == 200 and r.json()["status"] == "removed" and changed == [eid]
    assert system.watchlists.active_faces() == []
    actions = [e.action for e in reversed(system.audit.search(Scope.national(), target_id=eid))]
    assert actions[:1] == ["watchlist.entry.create"] and "watchlist.entry.approve" in actions
    assert {"watchlist.photo.add", "watchlist.photo.view", "watchlist.entry.remove"} <= set(actions)


def test_bad_photos_are_refused_with_a_reason_and_nothing_is_stored(client: TestClient, system, tmp_path) -> None:
    _wl, _basis, entry = setup_list_and_entry(client)
    eid = entry["id"]
    img = cv2.imread(str(PHOTOS["obama"]))
    other = cv2.imread(str(PHOTOS["biden"]))
    h = 400
    pair = np.hstack([cv2.resize(img, (round(img.shape[1] * h / img.shape[0]), h)),
                      cv2.resize(other, (round(other.shape[1] * h / other.shape[0]), h))])
    cases: list[tuple[bytes, str]] = [
        (b"this is not an image", "not an image"),
        (b"", "empty"),
        (jpeg(np.full((300, 300, 3), 128, np.uint8)), "no face"),
        (jpeg(pair), "faces found"),
        (jpeg(cv2.resize(img, (img.shape[1] // 12, img.shape[0] // 12))), "small"),
        (jpeg(cv2.GaussianBlur(img, (0, 0), 6)), "blur"),
    ]
    group = group_photo()
    if group is not None:
        cases.append((group.read_bytes(), "faces found"))
    for data, says in cases:
        r = client.post(f"/api/watchlist-entries/{eid}/photos", content=data, headers={"content-type": "image/jpeg"})
        assert r.status_code == 422 and says in r.text.lower(), (says, r.text)
    assert client.get(f"/api/watchlist-entries/{eid}").json()["photos"] == []
    assert not any((system.settings.data_dir / "watchlists").rglob("*.img"))
    refused = system.audit.search(Scope.national(), action="watchlist.photo.refused")
    assert len(refused) == len(cases) - 1  # the empty upload is refused before the engine


def test_legal_basis_scope_and_two_officers(client: TestClient, system) -> None:
    wl, basis, entry = setup_list_and_entry(client)
    late = (datetime.now(UTC) + timedelta(days=90)).isoformat()
    body = {"full_name": "Another", "legal_basis_id": basis["id"], "expires_at": late}
    r = client.post(f"/api/watchlists/{wl['id']}/entries", json=body)
    assert r.status_code == 422 and "outlive its basis" in r.text
    r = client.post(f"/api/watchlists/{wl['id']}/entries", json=body | {"legal_basis_id": None})
    assert r.status_code == 422
    # a national list is changed nationally only; another region does not even see a regional list
    as_user(client, "admin")
    national = client.post("/api/watchlists", json={"name": "Wanted (national)", "kind": "wanted"}).json()
    assert national["threshold"] == 0.45 and national["region"] is None
    as_user(client, "yk.investigator")
    soon = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    r = client.post(
        f"/api/watchlists/{national['id']}/entries",
        json={"full_name": "Xavier", "legal_basis_id": basis["id"], "expires_at": soon},
    )
    assert r.status_code == 403
    as_user(client, "ch.operator")
    assert client.get("/api/watchlists").status_code == 403  # operators do not browse lists
    # a head approves only after a photo; the creator, even with the permission, cannot
    as_user(client, "yk.head")
    r = client.post(f"/api/watchlist-entries/{entry['id']}/approve", json={})
    assert r.status_code == 422 and "no photo" in r.text
    assert {w["id"] for w in client.get("/api/watchlists").json()} == {wl["id"], national["id"]}
    r = client.post(f"/api/watchlist-entries/{entry['id']}/reject", json={"note": "report withdrawn"})
    assert r.status_code == 200 and r.json()["status"] == "rejected"
    assert client.post(f"/api/watchlist-entries/{entry['id']}/reject", json={}).status_code == 422


def test_the_creator_cannot_approve_their_own_entry(client: TestClient, system) -> None:
    as_user(client, "admin")
    wl = client.post("/api/watchlists", json={"name": "Wanted", "kind": "wanted"}).json()
    until = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    basis = client.post(
        "/api/legal-bases",
        json={"case_number": "CC-77", "kind": "court_order", "authority": "Bishkek city court",
              "document_ref": "Order 77", "purposes": ["watchlist"], "valid_until": until},
    ).json()
    r = client.post(
        f"/api/watchlists/{wl['id']}/entries",
        json={"full_name": "W. Anted", "legal_basis_id": basis["id"], "expires_at": until},
    )
    assert r.status_code == 201, r.text
    entry = r.json()
    data: Path = PHOTOS["obama"]
    url = f"/api/watchlist-entries/{entry['id']}/photos"
    r = client.post(url, content=data.read_bytes(), headers={"content-type": "image/jpeg"})
    assert r.status_code == 201
    r = client.post(f"/api/watchlist-entries/{entry['id']}/approve", json={})
    assert r.status_code == 403 and "second officer" in r.text
