"""The command-centre page in headless Chromium against a real server (uvicorn on a thread).

An Issyk-Kul operator takes an alert from the queue, opens an incident from it, ticks the first
step of the procedure, dispatches the suggested (nearest) unit and sees the incident go
dispatched; the unit's tablet reports arrival through the API and the page shows it on scene;
the operator resolves it. Screenshots go to artifacts/screenshots/command-*.png.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from koopsuz.api.app import create_app
from koopsuz.config import Settings
from tests.conftest import DATA, PASSWORD, csrf_header, free_port, wait_port
from tests.e2e.test_browser import Page, Target, browser  # noqa: F401  (browser is a fixture)

from .conftest import BALYKCHY, CHOLPON_ATA, KARAKOL, add_alert

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    import uvicorn

    from koopsuz.system import System

    base: Path = tmp_path_factory.mktemp("command-ui")
    system = System(Settings(data_dir=base / "var", secret_key="ui-secret", record=False))
    system.load_deployment(DATA / "two-regions.yaml")
    system.users.create("test", "admin", PASSWORD, "admin", None)
    system.users.create("test", "yk.operator", PASSWORD, "regional_operator", "KG-Y")
    admin = system.users.authenticate("admin", PASSWORD)
    for uid, sign, (lat, lon) in (
        ("yk-karakol-1", "Karakol-1", KARAKOL),
        ("yk-cholpon-1", "Cholpon-1", CHOLPON_ATA),
        ("yk-balykchy-1", "Balykchy-1", BALYKCHY),
    ):
        system.units.create(admin, {"id": uid, "call_sign": sign, "region": "KG-Y", "lat": lat, "lon": lon})
    add_alert(system, severity="critical", ts=datetime.now(UTC))
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(system, start_system=False), port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_port(port, 30)
    try:
        yield f"http://127.0.0.1:{port}", system
    finally:
        srv.should_exit = True
        thread.join(10)
        system.stop()


def test_operator_claims_opens_incident_ticks_sop_and_dispatches(browser: Any, server: tuple[str, Any]) -> None:  # noqa: F811
    base_url, _system = server
    tab = Page(browser, Target(base_url, {"regional_operator": ("yk.operator", PASSWORD)}, None, {}), "command")
    try:
        page = tab.page
        tab.sign_in("regional_operator")
        page.get_by_test_id("nav-command").click()
        page.wait_for_url(tab.url("/command"))
        item = page.get_by_test_id("queue-item").first
        item.wait_for()
        item.get_by_test_id("queue-claim").click()
        item.get_by_test_id("queue-holder").wait_for()
        assert "yk.operator" in item.get_by_test_id("queue-holder").inner_text()
        tab.shot("command-01-claimed")
        item.get_by_test_id("queue-incident").click()
        page.get_by_test_id("form-category").select_option("traffic_accident")
        page.get_by_test_id("form-description").fill("Два автомобиля на площади")
        page.get_by_test_id("form-submit").click()
        state = page.get_by_test_id("incident-state")
        page.locator('[data-testid="incident-state"][data-state="new"]').wait_for()
        assert page.get_by_test_id("queue-item").count() == 0  # the alert left the queue
        # the first step of the procedure, time-stamped with who ticked it
        page.get_by_test_id("sop-tick").click()
        done = page.locator('[data-testid="sop-step"][data-step="verify_location"][data-done="true"]')
        done.wait_for()
        assert "yk.operator" in done.get_by_test_id("sop-when").inner_text()
        # the nearest unit is suggested first (the alert's camera is in Karakol), with distance and ETA
        first = page.get_by_test_id("unit-suggestion").first
        assert first.get_attribute("data-unit") == "yk-karakol-1"
        assert "км" in first.inner_text()
        tab.shot("command-02-incident")
        first.get_by_test_id("unit-dispatch").click()
        page.locator('[data-testid="incident-state"][data-state="dispatched"]').wait_for()
        page.locator('[data-testid="dispatched-units"] li[data-unit="yk-karakol-1"][data-status="en_route"]').wait_for()
        # the unit's tablet reports arrival; the page picks up the change
        r = page.request.post(
            tab.url("/api/units/yk-karakol-1/status"), data={"status": "on_scene"}, headers=csrf_header(page)
        )
        assert r.ok, r.text()
        page.locator('[data-testid="incident-state"][data-state="on_scene"]').wait_for(timeout=15000)
        page.get_by_test_id("officer-input").fill("yk.operator")
        page.get_by_test_id("officer-assign").click()
        page.locator('[data-testid="officer-input"][value="yk.operator"]').wait_for()
        assert page.locator('[data-testid="evidence-item"][data-kind="alert"]').count() == 1
        page.get_by_test_id("state-resolved").click()
        page.locator('[data-testid="incident-state"][data-state="resolved"]').wait_for()
        assert state.get_attribute("data-state") == "resolved"
        tab.shot("command-03-resolved")
        # a 102 call: a bad phone is refused on the form with the field named; then it opens
        page.get_by_test_id("new-call").click()
        page.get_by_test_id("form-category").select_option("theft")
        page.get_by_test_id("form-caller-name").fill("Асанов Бакыт")
        page.get_by_test_id("form-caller-phone").fill("позвоните мне")
        page.get_by_test_id("form-lat").fill("42.6490")
        page.get_by_test_id("form-lon").fill("77.2140")
        page.get_by_test_id("form-submit").click()
        error = page.get_by_test_id("form-error")
        error.wait_for()
        assert "caller_phone" in error.inner_text()
        tab.errors.clear()  # the browser logs the intended 422
        page.get_by_test_id("form-caller-phone").fill("+996 555 123 456")
        page.get_by_test_id("form-submit").click()
        page.locator('[data-testid="incident-state"][data-state="new"]').wait_for()
        assert page.get_by_test_id("unit-suggestion").first.get_attribute("data-unit") == "yk-cholpon-1"
        tab.shot("command-04-call")
        assert "null" not in page.get_by_test_id("incident-detail").inner_text()
        incidents = tab.api("/api/incidents")
        assert [(i["source"], i["state"]) for i in incidents] == [("call", "new"), ("alert", "resolved")]
        incidents = incidents[1:]
        detail = tab.api(f"/api/incidents/{incidents[0]['id']}")
        assert [h["action"] for h in detail["history"]][:3] == ["claim", "incident", "create"]
        assert tab.api("/api/units/yk-karakol-1")["status"] == "available"
    finally:
        tab.close()
    assert not tab.errors, "browser errors:\n" + "\n".join(tab.errors)
