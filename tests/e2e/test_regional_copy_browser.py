"""The capital's camera page for a region's camera (a copy carried by services/regional_registry.py).

The copy has no stream, recordings, rules or ONVIF address in the capital (the API answers 409 for
them), so the page must say where they are instead of a dead picture, and ask for none of them. Its
health is the region's last camera_offline/online event (services/remote_health.py), on the camera page
and the health page, moved live by such an event on the feed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import uvicorn

from koopsuz.api.app import create_app
from koopsuz.domain.events import Event, Severity
from koopsuz.services.regional_registry import placeholder_url
from koopsuz.store.tables import CameraRow, SiteRow
from koopsuz.web import catalogue
from tests.conftest import PASSWORD, free_port, wait_port
from tests.e2e.test_browser import Page, Target, browser  # noqa: F401  (browser is a fixture)


@pytest.fixture
def base_url(system: Any) -> Iterator[str]:
    with system.db.transaction() as s:  # as the follower writes them: owned by the region's domain
        s.add(SiteRow(id="yk-pier", name="Cholpon-Ata pier", type="tourist_area", region="KG-Y", lat=42.65,
                      lon=77.08, owner_domain="issyk-kul"))  # fmt: skip
    with system.db.transaction() as s:
        url = placeholder_url("issyk-kul", "yk-copy")
        s.add(CameraRow(id="yk-copy", name="Pier north", site="yk-pier", region="KG-Y", main_url=url, sub_url=url,
                        lat=42.65, lon=77.08, ptz=True, owner_domain="issyk-kul",
                        updated_at=datetime.now(UTC)))  # fmt: skip
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(create_app(system), host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port, 20)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _heard(system: Any, kind: str, ts: datetime) -> None:
    """A health event of the copy, as the hub's store writer takes it from the region's stream."""
    event = Event(kind=kind, region="KG-Y", camera="yk-copy", site="yk-pier", ts=ts,
                  payload={"error": "connection timed out", "reconnects": 3}, severity=Severity.MEDIUM)  # fmt: skip
    system.writer.write_now([event])


def test_a_regional_copy_says_where_its_video_is(system: Any, browser: Any, base_url: str) -> None:  # noqa: F811
    tab = Page(browser, Target(base_url, {"admin": ("admin", PASSWORD)}, None, {}), "regional-copy")
    refused: list[str] = []
    tab.page.on("response", lambda r: refused.append(r.url) if r.status == 409 else None)
    try:
        tab.sign_in("admin")
        pg = tab.page
        pg.goto(tab.url("/cameras/yk-copy"))
        pg.locator('[data-testid="camera-page"][data-regional-copy="issyk-kul"]').wait_for()
        overlay = pg.get_by_test_id("live-overlay")
        want = catalogue("ru")["camera.regional_copy"].replace("{domain}", "issyk-kul")  # the user's language
        assert overlay.is_visible() and overlay.inner_text() == want
        assert pg.get_by_test_id("camera-name").inner_text() == "Pier north"
        assert not pg.get_by_test_id("rules-card").is_visible()
        assert not pg.get_by_test_id("ptz-card").is_visible()  # a PTZ camera, steered in its region
        assert not pg.get_by_test_id("playback-link").is_visible()
        pg.wait_for_timeout(500)  # the page asked for no stream, rules or PTZ status it would be refused
        assert refused == [] and (pg.get_by_test_id("live-view").get_attribute("src") or "") == ""
        assert pg.get_by_test_id("alert-list").count() == 1  # its events are the capital's too: the list is there

        ru = catalogue("ru")
        assert pg.get_by_test_id("camera-state").get_attribute("data-state") == "unknown"  # nothing heard yet
        down = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
        _heard(system, "camera_offline", down)  # the region says it went down: the page hears it on the feed
        pg.locator('[data-testid="camera-state"][data-state="offline"]').wait_for()
        shown = pg.evaluate("async (iso) => (await import('/static/js/core.js')).formatDateTime(iso)", down.isoformat())
        health = pg.get_by_test_id("camera-health").inner_text()
        assert ru["state.offline"] in health and shown in health and "connection timed out" in health

        pg.goto(tab.url("/health"))  # the national health page: the copy with its region's state and since
        row = pg.locator('[data-testid="health-row"][data-camera="yk-copy"]')
        row.locator('[data-testid="health-state"]').wait_for()
        assert row.get_attribute("data-state") == "offline" and row.get_attribute("data-remote") == "issyk-kul"
        assert row.get_by_test_id("health-regional").inner_text() == ru["health.regional"].format(domain="issyk-kul")
        assert row.locator('td[data-col="since"]').get_attribute("title") == shown
        local = pg.locator('[data-testid="health-row"][data-camera="yk-cam-1"]')
        assert local.get_attribute("data-remote") == "" and local.get_by_test_id("health-regional").count() == 0
        _heard(system, "camera_online", down + timedelta(minutes=2))  # back: the row follows the feed
        pg.locator('[data-testid="health-row"][data-camera="yk-copy"][data-state="online"]').wait_for()
        assert tab.errors == []
    finally:
        tab.close()
