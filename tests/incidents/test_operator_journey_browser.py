"""Issue 7 acceptance in the browser: a national-centre operator follows an alert to a closed incident
and then reads the dashboard, in headless Chromium against a real server (uvicorn on a thread).

The operator sees the Issyk-Kul alert in the queue, claims it, opens an incident, ticks the first
procedure step, dispatches the suggested (nearest) unit and watches it come: the simulator's patrol
units (``koopsuz.sim.units``) drive it along its road, posting positions with a Bearer token as the
unit's tablet would, and report it on scene on arrival. The operator resolves and closes the
incident, opens /dashboard and sees the SVG charts drawn from it. Screenshots at every step go to
artifacts/screenshots/journey-*.png; the DOM is checked at every step.
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
from koopsuz.sim.units import SimUnit, UnitFleet
from tests.conftest import DATA, PASSWORD, free_port, wait_port
from tests.e2e.test_browser import Page, Target, browser  # noqa: F401  (browser is a fixture)

from .conftest import add_alert

pytestmark = [pytest.mark.browser]
SQUARE = (42.4916, 78.3951)  # yk-cam-1 in tests/data/two-regions.yaml: the alert's camera, the incident's place
# a street ~90 m east then ~200 m north to the square, and a road from 2.6 km north
NEAR_ROAD = [(42.4898, 78.3940), (42.4898, 78.3951), SQUARE, (42.4930, 78.3951)]
FAR_ROAD = [(42.5150, 78.3951), (42.4930, 78.3951)]
UNITS = [
    SimUnit(id="yk-near-1", call_sign="Karakol-7", road=NEAR_ROAD),
    SimUnit(id="yk-far-1", call_sign="Karakol-9", road=FAR_ROAD),
]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, UnitFleet]]:
    import uvicorn

    from koopsuz.system import System

    base: Path = tmp_path_factory.mktemp("journey-ui")
    system = System(Settings(data_dir=base / "var", secret_key="journey-secret", record=False))
    system.load_deployment(DATA / "two-regions.yaml")
    system.users.create("test", "admin", PASSWORD, "admin", None)
    system.users.create("test", "national", PASSWORD, "national_operator", None)
    system.users.create("test", "yk.tablet", PASSWORD, "regional_operator", "KG-Y")
    admin = system.users.authenticate("admin", PASSWORD)
    for u in UNITS:
        system.units.create(admin, {"id": u.id, "call_sign": u.call_sign, "region": "KG-Y"})
    add_alert(system, severity="high", ts=datetime.now(UTC), rule="near")
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(system, start_system=False), port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_port(port, 30)
    base_url = f"http://127.0.0.1:{port}"
    import httpx

    token = httpx.post(f"{base_url}/api/auth/login", json={"username": "yk.tablet", "password": PASSWORD}).json()
    fleet = UnitFleet(UNITS, base_url, token["token"])
    for u in UNITS:  # the tablets switch on: each reports where it stands
        fleet.report(u.id)
    try:
        yield base_url, system, fleet
    finally:
        fleet.close()
        srv.should_exit = True
        thread.join(10)
        system.stop()


def test_operator_follows_an_alert_to_a_closed_incident_and_the_dashboard(
    browser: Any,  # noqa: F811
    server: tuple[str, Any, UnitFleet],
) -> None:
    base_url, _system, fleet = server
    tab = Page(browser, Target(base_url, {"national_operator": ("national", PASSWORD)}, None, {}), "journey")
    try:
        page = tab.page
        tab.sign_in("national_operator")
        # 1. the queue: the Issyk-Kul alert, with its camera one click away
        page.get_by_test_id("nav-command").click()
        page.wait_for_url(tab.url("/command"))
        item = page.get_by_test_id("queue-item").first
        item.wait_for()
        assert page.get_by_test_id("queue-count").inner_text() == "1"
        assert item.get_by_test_id("queue-live").inner_text() == "yk-cam-1"
        assert "Иссык-Куль" in item.inner_text()
        tab.shot("journey-01-queue")
        # 2. claimed: held by this operator
        item.get_by_test_id("queue-claim").click()
        item.get_by_test_id("queue-holder").wait_for()
        assert "national" in item.get_by_test_id("queue-holder").inner_text()
        tab.shot("journey-02-claimed")
        # 3. an incident from it: it leaves the queue
        item.get_by_test_id("queue-incident").click()
        page.get_by_test_id("form-category").select_option("public_disorder")
        page.get_by_test_id("form-description").fill("Драка у площади, видно с камеры")
        page.get_by_test_id("form-submit").click()
        page.locator('[data-testid="incident-state"][data-state="new"]').wait_for()
        assert page.get_by_test_id("queue-item").count() == 0
        assert page.locator('[data-testid="evidence-item"][data-kind="alert"]').count() == 1
        tab.shot("journey-03-incident")
        # 4. the first procedure step, time-stamped with who ticked it; only the next one is offered
        page.get_by_test_id("sop-tick").click()
        done = page.locator('[data-testid="sop-step"][data-step="verify_location"][data-done="true"]')
        done.wait_for()
        assert "national" in done.get_by_test_id("sop-when").inner_text()
        assert page.get_by_test_id("sop-tick").count() == 1
        # 5. the nearest unit first, with distance and ETA; the far one after it
        suggestions = page.get_by_test_id("unit-suggestion")
        assert [suggestions.nth(i).get_attribute("data-unit") for i in range(suggestions.count())] == [
            "yk-near-1",
            "yk-far-1",
        ]
        first = suggestions.first
        assert "0.2 км" in first.inner_text() and "мин" in first.inner_text()
        assert "2.6 км" in suggestions.nth(1).inner_text()
        tab.shot("journey-04-suggested")
        first.get_by_test_id("unit-dispatch").click()
        page.locator('[data-testid="incident-state"][data-state="dispatched"]').wait_for()
        sent = page.locator('[data-testid="dispatched-units"] li[data-unit="yk-near-1"][data-status="en_route"]')
        sent.wait_for()
        start = float(sent.get_attribute("data-distance") or "nan")
        assert 200 < start < 240 and "км" in sent.inner_text()
        # 6. the unit drives along its road; the page follows its reported positions
        fleet.drive("yk-near-1", {"to": list(SQUARE), "speed_kmh": 100, "interval_s": 0.5, "on_arrival": "on_scene"})
        page.wait_for_function(
            """start => {
                const li = document.querySelector('[data-testid="dispatched-units"] li[data-unit="yk-near-1"]');
                return li && li.dataset.distance && Number(li.dataset.distance) < start - 20;
            }""",
            arg=start,
            timeout=15000,
        )
        tab.shot("journey-05-moving")
        page.locator('[data-testid="incident-state"][data-state="on_scene"]').wait_for(timeout=20000)
        arrived = page.locator('[data-testid="dispatched-units"] li[data-unit="yk-near-1"]')
        assert arrived.get_attribute("data-status") == "on_scene"
        assert float(arrived.get_attribute("data-distance") or "nan") < 1
        state = fleet.unit("yk-near-1")
        assert state["last_error"] is None and state["posts"] >= 10
        tab.shot("journey-06-on-scene")
        # 7. resolved, then closed
        page.get_by_test_id("state-resolved").click()
        page.locator('[data-testid="incident-state"][data-state="resolved"]').wait_for()
        page.get_by_test_id("state-closed").click()
        page.locator('[data-testid="incident-state"][data-state="closed"]').wait_for()
        assert page.get_by_test_id("state-resolved").count() == 0 and page.get_by_test_id("sop-tick").count() == 0
        history = page.get_by_test_id("history").inner_text()
        assert history.count("national") >= 5 and "yk.tablet" in history  # the tablet's arrival is on record
        tab.shot("journey-07-closed")
        incidents = tab.api("/api/incidents")
        assert [(i["state"], i["source"]) for i in incidents] == [("closed", "alert")]
        inc = tab.api(f"/api/incidents/{incidents[0]['id']}")
        created, dispatched, on_scene = (datetime.fromisoformat(inc[k]) for k in ("created_at", "dispatched_at",
                                                                                  "on_scene_at"))
        # 8. the dashboard: charts drawn from that incident
        page.get_by_test_id("nav-dashboard").click()
        page.wait_for_url(tab.url("/dashboard"))
        page.locator('body[data-dashboard="ready"]').wait_for()
        assert page.get_by_test_id("kpi-incidents").locator("strong").inner_text() == "1"
        for testid, since in (("kpi-dispatch", dispatched), ("kpi-on-scene", on_scene)):  # the recorded times
            shown = page.get_by_test_id(testid).locator("strong").inner_text()
            assert shown.split()[0] == str(int((since - created).total_seconds() + 0.5)), (testid, shown)
        assert bars(page, "svg-category") == [1.0]
        hours = bars(page, "svg-hour")
        assert len(hours) == 24 and sum(hours) == 1.0
        assert sum(bars(page, "svg-response")) == 2.0  # one dispatch and one arrival
        heights = page.locator('[data-testid="svg-category"] rect.chart-bar').evaluate_all(
            "rs => rs.map(r => Number(r.getAttribute('width')) * Number(r.getAttribute('height')))"
        )
        assert heights and all(h > 0 for h in heights)  # drawn, not only listed
        tab.shot("journey-08-dashboard")
    finally:
        tab.close()
    assert not tab.errors, "browser errors:\n" + "\n".join(tab.errors)


def bars(page: Any, testid: str) -> list[float]:
    return [
        float(v or 0)
        for v in page.locator(f'[data-testid="{testid}"] rect.chart-bar').evaluate_all(
            "rs => rs.map(r => r.getAttribute('data-value'))"
        )
    ]
