"""Every role against every route, exactly as docs/permissions.md says (the test reads the doc)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from koopsuz.api.app import all_routes, create_app
from koopsuz.security.principal import PERMISSIONS, Permission, Role
from tests.conftest import PASSWORD, ROLE_USERS

DOC = Path(__file__).resolve().parents[1] / "docs" / "permissions.md"
IDS = {"camera_id": "yk-cam-1", "site_id": "yk-square", "username": "yk.operator"}
INT_PARAMS = {"segment_id", "photo_id", "entry_id", "lock_id"}
QUERY = {"/api/plates/route": "?plate=01123ABC"}


def tables() -> tuple[dict[str, set[str]], dict[tuple[str, str], str]]:
    roles_row: list[str] = []
    perms: dict[str, set[str]] = {}
    routes: dict[tuple[str, str], str] = {}
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| permission |"):
            roles_row = cells[1:]
        elif line.startswith("| `") and roles_row:
            perms[cells[0].strip("`")] = {r for r, v in zip(roles_row, cells[1:], strict=True) if v == "yes"}
        elif len(cells) == 3 and cells[0] in ("GET", "POST", "PUT", "PATCH", "DELETE"):
            routes[cells[0], cells[1]] = cells[2]
    return perms, routes


def allowed_roles(needs: str) -> set[str] | None:
    """The roles a route admits by its 'needs' cell; None for public and signed-in routes."""
    wanted = re.findall(r"`([a-z.]+)`", needs)
    if not wanted:
        return None
    return {r.value for r in Role if any(Permission(p) in PERMISSIONS[r] for p in wanted)}


def test_the_role_table_is_the_code() -> None:
    perms, _ = tables()
    assert set(perms) == {p.value for p in Permission}, "docs/permissions.md lists other permissions than the code"
    for p in Permission:
        assert perms[p.value] == {r.value for r in Role if p in PERMISSIONS[r]}, p


def test_every_api_route_is_in_the_table(system) -> None:
    _, routes = tables()
    app = create_app(system, start_system=False)
    actual = {
        (m, r.path)
        for r in all_routes(app)
        if isinstance(r, APIRoute) and r.path.startswith("/api")
        for m in r.methods
        if not r.path.startswith("/api/auth/log") and "/unmask" not in r.path
    }
    assert actual - set(routes) == set(), "routes missing from docs/permissions.md"
    assert set(routes) - actual == set(), "docs/permissions.md lists routes the app does not have"


def _url(path: str) -> str:
    def fill(m: re.Match[str]) -> str:
        name = m.group(1)
        return "1" if name in INT_PARAMS else IDS.get(name, "nonexistent1")

    return re.sub(r"\{(\w+)\}", fill, path) + QUERY.get(path, "")


@pytest.mark.parametrize("role", list(ROLE_USERS))
def test_each_role_is_refused_exactly_where_the_table_says(system, role: str) -> None:
    _, routes = tables()
    username, _region = ROLE_USERS[role]
    wrong: list[str] = []
    # the system is not started: no camera runs, so live routes answer at once instead of streaming
    with TestClient(create_app(system, start_system=False)) as c:
        r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200
        c.headers["X-CSRF-Token"] = r.json()["csrf"]  # cookie sessions echo it, like the pages
        for (method, path), needs in sorted(routes.items()):
            allowed = allowed_roles(needs)
            body = {} if method in ("POST", "PUT", "PATCH") else None
            code = c.request(method, _url(path), json=body).status_code
            if allowed is None or role in allowed:
                if code in (401, 403) and "grant" not in needs:
                    wrong.append(f"{method} {path}: {role} may ({needs}) but got {code}")
            elif code != 403 and "after the body" not in needs:
                wrong.append(f"{method} {path}: {role} may not ({needs}) but got {code}")
    assert not wrong, "\n".join(wrong)


def test_signed_out_callers_get_401_except_public_routes(system) -> None:
    _, routes = tables()
    with TestClient(create_app(system, start_system=False)) as c:
        for (method, path), needs in sorted(routes.items()):
            code = c.request(method, _url(path), json={} if method != "GET" else None).status_code
            if needs == "public":
                assert code != 401, path
            else:
                assert code == 401, f"{method} {path} answered {code} to a caller who is not signed in"
