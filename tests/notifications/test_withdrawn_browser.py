"""A hotlist hit taken back is marked "not confirmed" in the browser, and sounds no second alarm.

A real system (started without cameras: road watch, writer, bus) behind uvicorn. A provisional read of a
stolen car's plate makes the road watch raise the hit, which reaches the Issyk-Kul operator's command page
over the live feed: a row, a tone. The vehicle's decided read is another plate: the road watch sends the
``hotlist_unconfirmed`` withdrawal. On the command page the hit's row is greyed with the decided plate, the
withdrawal is no row of its own, no tone sounds and the hit stops flashing; on the event feed (live, then
after a reload, when the withdrawal is loaded before the hit it names) the hit is marked the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from koopsuz.api.app import create_app
from koopsuz.config import Settings
from koopsuz.domain.events import Event
from tests.conftest import DATA, PASSWORD, csrf_header, free_port, wait_port
from tests.e2e.test_browser import Page, Target, browser, wait_for  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser]
LISTED, DECIDED = "01 888 WNT", "01 888 WMT"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    import uvicorn

    from koopsuz.system import System

    base: Path = tmp_path_factory.mktemp("withdrawn-ui")
    system = System(Settings(data_dir=base / "var", secret_key="ui-secret", record=False))
    system.load_deployment(DATA / "two-regions.yaml")
    system.users.create("test", "admin", PASSWORD, "admin", None)
    system.users.create("test", "yk.operator", PASSWORD, "regional_operator", "KG-Y")
    system.start(ingest=False, record=False)  # the road watch and the writer, no cameras
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(system, start_system=False), port=port, log_level="warning",
                       timeout_graceful_shutdown=1)
    )  # fmt: skip
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_port(port, 30)
    try:
        yield f"http://127.0.0.1:{port}", system
    finally:
        srv.should_exit = True
        thread.join(10)
        system.stop()


def plate_event(system: Any, kind: str, text: str, sighting: str) -> Event:
    e = Event(
        kind=kind, region="KG-Y", camera="yk-cam-1", site="yk-square", ts=datetime.now(UTC),
        payload={"text": text, "compact": text.replace(" ", ""), "format": "private", "confidence": 0.9,
                 "vehicle": "car", "timing": "read" if kind == "plate_provisional" else "line",
                 "sighting": sighting},
    )  # fmt: skip
    system.writer.write_now([e])
    return e


def test_withdrawn_hit_is_marked_not_confirmed_without_a_new_alarm(browser: Any, server: tuple[str, Any]) -> None:  # noqa: F811
    base_url, system = server
    admin = system.users.authenticate("admin", PASSWORD)
    stolen = system.hotlists.create_list(admin, {"name": "Stolen", "kind": "stolen", "priority": 1})
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    system.hotlists.add_entry(
        admin, stolen["id"], {"plate": LISTED, "reason": "stolen car", "legal_basis": "case 9", "expires_at": until}
    )
    target = Target(base_url, {"regional_operator": ("yk.operator", PASSWORD)}, None, {})
    cmd, feed = Page(browser, target, "withdrawn-command"), Page(browser, target, "withdrawn-events")
    try:
        cmd.sign_in("regional_operator")
        cmd.page.goto(cmd.url("/command"))
        cmd.page.locator('[data-testid="ws-status"][data-state="open"]').wait_for()
        feed.sign_in("regional_operator")
        feed.page.goto(feed.url("/events?kind=alert"))
        feed.page.locator('[data-testid="ws-status"][data-state="open"]').wait_for()

        plate_event(system, "plate_provisional", LISTED, "w-1")
        hit_row = cmd.page.locator('[data-testid="queue-item"][data-flashing="true"]')
        hit_row.wait_for()
        hit_id = hit_row.get_attribute("data-alert-id")
        assert cmd.page.evaluate("() => window.koopsuzAlertSound.count") == 1  # the hit: critical, one tone
        hit_item = feed.page.locator(f'[data-testid="alert-item"][data-alert-id="{hit_id}"]')
        hit_item.wait_for()
        assert hit_item.get_attribute("data-withdrawn") is None

        plate_event(system, "plate_read", DECIDED, "w-1")  # the decided read: another, unlisted plate
        withdrawn = cmd.page.locator(f'[data-testid="queue-item"][data-alert-id="{hit_id}"][data-withdrawn="true"]')
        withdrawn.wait_for()
        note = withdrawn.get_by_test_id("alert-withdrawn")
        assert "Не подтверждено" in note.inner_text() and DECIDED in note.inner_text() and LISTED in note.inner_text()
        assert withdrawn.get_attribute("data-flashing") == "false"  # nobody is to act on it any more
        assert cmd.page.locator('[data-testid="queue-item"]').count() == 1  # the withdrawal is no row of its own
        assert cmd.page.evaluate("() => window.koopsuzAlertSound.count") == 1  # and no second alarm
        (queued,) = cmd.api("/api/alerts/queue")
        assert queued["id"] == hit_id and queued["queue"]["withdrawn"]["plate"] == DECIDED
        cmd.shot("withdrawn-command")

        # the event feed, live: the hit struck with the decided plate; the withdrawal a muted line
        marked = feed.page.locator(f'[data-testid="alert-item"][data-alert-id="{hit_id}"][data-withdrawn="true"]')
        marked.wait_for()
        assert DECIDED in marked.get_by_test_id("alert-withdrawn-plate").inner_text()
        assert feed.page.locator(f'[data-testid="alert-withdrawal"][data-retracts="{hit_id}"]').count() == 1
        # reloaded: newest first, so the withdrawal is drawn before the hit it names, which is marked all the same
        feed.page.reload()
        marked.wait_for()
        assert DECIDED in marked.get_by_test_id("alert-withdrawn-plate").inner_text()
        feed.shot("withdrawn-events")

        # a second pass: the operator opens an incident on the hit before the decided read takes it back;
        # the incident then says so above everything else, and on the alert in its evidence
        plate_event(system, "plate_provisional", LISTED, "w-2")
        second = cmd.page.locator('[data-testid="queue-item"][data-flashing="true"]')
        second.wait_for()
        second_id = second.get_attribute("data-alert-id")
        r = cmd.page.request.post(
            cmd.url("/api/incidents"), headers=csrf_header(cmd.page),
            data={"source": "alert", "category": "theft", "alerts": [second_id]},
        )  # fmt: skip
        assert r.ok, r.text()
        incident = r.json()["id"]
        cmd.page.locator(f'[data-testid="incident-item"][data-incident-id="{incident}"]').click()
        cmd.page.locator('[data-testid="incident-state"]').wait_for()
        assert cmd.page.get_by_test_id("incident-withdrawn").count() == 0  # not taken back yet
        plate_event(system, "plate_read", DECIDED, "w-2")
        assert wait_for(lambda: cmd.api(f"/api/incidents/{incident}")["evidence"][0].get("withdrawn"), 10,
                        "the incident to know its hit was withdrawn")  # fmt: skip
        cmd.page.locator(f'[data-testid="incident-item"][data-incident-id="{incident}"]').click()
        banner = cmd.page.get_by_test_id("incident-withdrawn")
        banner.wait_for()
        assert DECIDED in banner.inner_text() and LISTED in banner.inner_text()
        item = cmd.page.locator(f'[data-testid="evidence-item"][data-ref="{second_id}"][data-withdrawn="true"]')
        assert item.count() == 1
        assert cmd.errors == [] and feed.errors == []
    finally:
        cmd.close()
        feed.close()
