"""Legal bases through the API and the one check every sensitive act makes (``require``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.domain.legal import Purpose
from koopsuz.security.principal import Scope
from koopsuz.services.errors import Forbidden, Invalid, NotFound
from tests.conftest import PASSWORD
from tests.test_api_scope import login


@pytest.fixture
def client(system):
    system.users.create("test", "ch.investigator", PASSWORD, "investigator", "KG-C")
    with TestClient(create_app(system)) as c:
        yield c


def basis(**over: Any) -> dict[str, Any]:
    body = {
        "case_number": "2026-0412-YK",
        "kind": "criminal_case",
        "authority": "Issyk-Kul regional prosecutor",
        "document_ref": "No. 17/4-2026 of 2026-11-20",
        "purposes": ["watchlist", "face_search"],
        "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    return body | over


def test_register_read_and_scope(client: TestClient, system) -> None:
    login(client, "yk.investigator")
    r = client.post("/api/legal-bases", json=basis())
    assert r.status_code == 201, r.text
    mine = r.json()
    assert mine["regions"] == ["KG-Y"] and mine["valid_now"] and mine["created_by"] == "yk.investigator"
    assert client.post("/api/legal-bases", json=basis(regions=["KG-C"])).status_code == 403
    assert [b["id"] for b in client.get("/api/legal-bases", params={"valid": True}).json()] == [mine["id"]]
    # another region's investigator does not see it; an auditor does, read-only; an operator cannot read
    client.post("/api/auth/logout")
    login(client, "ch.investigator")
    assert client.get("/api/legal-bases").json() == []
    assert client.get(f"/api/legal-bases/{mine['id']}").status_code == 404
    client.post("/api/auth/logout")
    login(client, "auditor")
    assert client.get(f"/api/legal-bases/{mine['id']}").json()["case_number"] == "2026-0412-YK"
    assert client.post("/api/legal-bases", json=basis()).status_code == 403
    client.post("/api/auth/logout")
    login(client, "yk.operator")
    assert client.get("/api/legal-bases").status_code == 403
    entries = system.audit.search(Scope.national(), action="legal.register")
    assert [(e.actor, e.target_id) for e in entries] == [("yk.investigator", mine["id"])]


@pytest.mark.parametrize(
    ("over", "says"),
    [
        ({"valid_until": "2027-01-01T00:00:00"}, "time zone"),
        ({"valid_until": (datetime.now(UTC) + timedelta(days=400)).isoformat()}, "366 days"),
        ({"valid_until": (datetime.now(UTC) - timedelta(days=1)).isoformat()}, "after valid_from"),
        ({"regions": ["KG-Q"]}, "unknown region"),
        ({"purposes": []}, "purposes"),
        ({"kind": "hunch"}, "kind"),
        ({"case_number": ""}, "case_number"),
        ({"authority": None}, "authority"),
    ],
)
def test_bad_bases_are_refused_with_the_field(client: TestClient, over: dict[str, Any], says: str) -> None:
    login(client, "admin")
    r = client.post("/api/legal-bases", json=basis(**over))
    assert r.status_code == 422 and says in r.text, r.text


def test_require_names_why_a_basis_does_not_cover_an_act(client: TestClient, system) -> None:
    login(client, "admin")
    national = client.post("/api/legal-bases", json=basis(purposes=["export"])).json()
    regional = client.post("/api/legal-bases", json=basis(regions=["KG-Y"])).json()
    who = system.users.authenticate("admin", PASSWORD)
    legal = system.legal
    assert legal.require(who, national["id"], Purpose.EXPORT, "KG-C").id == national["id"]
    assert legal.require(who, national["id"], Purpose.EXPORT, None).id == national["id"]
    with pytest.raises(Forbidden, match="does not allow watchlist"):
        legal.require(who, national["id"], Purpose.WATCHLIST, "KG-Y")
    with pytest.raises(Forbidden, match="covers KG-Y, not KG-C"):
        legal.require(who, regional["id"], Purpose.WATCHLIST, "KG-C")
    with pytest.raises(Forbidden, match="covers KG-Y, not the whole country"):
        legal.require(who, regional["id"], Purpose.WATCHLIST, None)
    with pytest.raises(Forbidden, match="expired"):
        legal.require(who, regional["id"], Purpose.WATCHLIST, "KG-Y", at=datetime.now(UTC) + timedelta(days=31))
    with pytest.raises(Invalid, match="needs a legal basis"):
        legal.require(who, None, Purpose.WATCHLIST, "KG-Y")
    with pytest.raises(NotFound):
        legal.require(who, "01NOSUCHBASIS0000000000000", Purpose.WATCHLIST, "KG-Y")
    assert client.post(f"/api/legal-bases/{regional['id']}/revoke", json={}).status_code == 422
    r = client.post(f"/api/legal-bases/{regional['id']}/revoke", json={"reason": "case closed by the court"})
    assert r.status_code == 200 and not r.json()["valid_now"] and r.json()["revoked_by"] == "admin"
    with pytest.raises(Forbidden, match="revoked"):
        legal.require(who, regional["id"], Purpose.WATCHLIST, "KG-Y")
    assert client.post(f"/api/legal-bases/{regional['id']}/revoke", json={"reason": "again"}).status_code == 422
    revoked = system.audit.search(Scope.national(), action="legal.revoke")
    assert [e.detail["reason"] for e in revoked] == ["case closed by the court"]
