"""Every backend word of the command centre translated; the page shell."""

from __future__ import annotations

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from koopsuz.api.deps import optional_principal
from koopsuz.api.routers import pages
from koopsuz.domain.incidents import IncidentState, Source, UnitStatus
from koopsuz.domain.sop import Category, all_steps
from koopsuz.security.principal import Principal, Role
from koopsuz.web import LANGUAGES, STATIC_DIR, catalogue


@pytest.mark.parametrize("lang", LANGUAGES)
def test_every_category_step_state_and_status_is_translated(lang: str) -> None:
    cat = catalogue(lang)
    keys = {f"category.{c}" for c in Category} | {f"sop.{step}" for _, step in all_steps()}
    keys |= {f"incident.state.{s}" for s in IncidentState} | {f"unit.status.{s}" for s in UnitStatus}
    keys |= {f"incident.source.{s}" for s in Source}
    missing = sorted(k for k in keys if not cat.get(k))
    assert missing == []


def _client(principal: Principal | None) -> TestClient:
    app = FastAPI()
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.dependency_overrides[optional_principal] = lambda: principal
    return TestClient(app, follow_redirects=False)


def test_command_page_needs_sign_in_and_shows_in_the_users_language() -> None:
    r = _client(None).get("/command")
    assert r.status_code == 303 and r.headers["location"].startswith("/login?next=/command")
    op = Principal(7, "yk.operator", "Жээнбекова Айгүл", Role.REGIONAL_OPERATOR, "KG-Y", "ky")
    r = _client(op).get("/command")
    assert r.status_code == 200
    assert catalogue("ky")["command.queue"] in r.text and 'data-testid="nav-command"' in r.text
    assert "/static/js/command.js" in r.text
    auditor = Principal(9, "auditor", "Audit Office", Role.AUDITOR, None, "en")
    r = _client(auditor).get("/command")  # auditors read incidents (the API refuses their acts)
    assert r.status_code == 200 and catalogue("en")["command.incidents"] in r.text
