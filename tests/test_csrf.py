"""CSRF protection: cookie-authenticated unsafe requests must echo the session's CSRF token.

The browser attaches the session cookie by itself, so another site could make it send a POST; only
the pages' own script can read ``koopsuz_csrf`` and put it in ``X-CSRF-Token``. Bearer clients hold
their token in code and are exempt. The pages' side (core.js adds the header) is covered by every
browser test that saves something (tests/e2e, tests/*/*_browser.py).
"""

from __future__ import annotations

import json
import re

import pytest
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from tests.conftest import PASSWORD

RENAME = {"name": "Renamed by a forged request"}


@pytest.fixture
def client(system):
    with TestClient(create_app(system, start_system=False)) as c:
        yield c


def sign_in(c: TestClient, username: str = "admin") -> dict[str, object]:
    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
    assert r.status_code == 200, r.text
    return r.json()


def test_cookie_post_without_the_token_is_refused_and_changes_nothing(client) -> None:
    session = sign_in(client)
    before = client.get("/api/cameras/yk-cam-1").json()["name"]  # GET needs no token
    r = client.patch("/api/cameras/yk-cam-1", json=RENAME)
    assert r.status_code == 403
    assert "CSRF token missing" in r.json()["detail"] and "X-CSRF-Token" in r.json()["detail"]
    r = client.patch("/api/cameras/yk-cam-1", json=RENAME, headers={"X-CSRF-Token": "0" * 64})
    assert r.status_code == 403 and "does not match" in r.json()["detail"]
    for method in ("POST", "PUT", "DELETE"):
        r = client.request(method, "/api/cameras/yk-cam-1/rules", json={"rules": []})
        assert r.status_code in (403, 405), method
        if r.status_code == 403:
            assert "CSRF" in r.json()["detail"], method
    assert client.get("/api/cameras/yk-cam-1").json()["name"] == before
    # with the token the same request works
    r = client.patch("/api/cameras/yk-cam-1", json=RENAME, headers={"X-CSRF-Token": session["csrf"]})
    assert r.status_code == 200, r.text
    assert client.get("/api/cameras/yk-cam-1").json()["name"] == RENAME["name"]


def test_the_token_is_bound_to_the_session(client, system) -> None:
    first = sign_in(client)
    with TestClient(create_app(system, start_system=False)) as other:
        second = sign_in(other)
    assert first["csrf"] != second["csrf"]
    # another session's token (say, one an attacker got for their own account) does not pass
    r = client.patch("/api/cameras/yk-cam-1", json=RENAME, headers={"X-CSRF-Token": second["csrf"]})
    assert r.status_code == 403


def test_sign_in_sets_a_readable_strict_cookie_and_sign_out_clears_it(client) -> None:
    r = client.post("/api/auth/login", json={"username": "yk.operator", "password": PASSWORD})
    cookies = [v for k, v in r.headers.multi_items() if k == "set-cookie"]
    csrf_cookie = next(c for c in cookies if c.startswith("koopsuz_csrf="))
    assert "samesite=strict" in csrf_cookie.lower() and "httponly" not in csrf_cookie.lower()
    assert client.cookies["koopsuz_csrf"] == r.json()["csrf"]
    # the page carries it too (a session opened before the cookie existed still works)
    html = client.get("/").text
    boot = json.loads(re.search(r'id="koopsuz-boot"[^>]*>(.*?)</script>', html, re.S).group(1))
    assert boot["csrf"] == r.json()["csrf"]
    # signing out is itself an unsafe request: without the token it is refused
    assert client.post("/api/auth/logout").status_code == 403
    assert client.get("/api/auth/me").status_code == 200
    r = client.post("/api/auth/logout", headers={"X-CSRF-Token": r.json()["csrf"]})
    assert r.status_code == 200
    assert "koopsuz_csrf" not in client.cookies and client.get("/api/auth/me").status_code == 401


def test_bearer_clients_and_signed_out_callers_are_unaffected(system) -> None:
    with TestClient(create_app(system, start_system=False)) as c:
        token = sign_in(c)["token"]
        c.cookies.clear()
        r = c.patch("/api/cameras/yk-cam-1", json=RENAME, headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 200, r.text
        # signing in needs no token (there is no session yet), and a caller without one gets 401, not 403
        assert c.post("/api/cameras/yk-cam-1/disable").status_code == 401
        assert c.post("/api/auth/login", json={"username": "admin", "password": PASSWORD}).status_code == 200
