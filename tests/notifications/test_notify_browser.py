"""Alert notifications on the command page in headless Chromium against a real server.

Alerts are written through the real event writer and reach the page over the bus and the live
WebSocket feed. A critical Issyk-Kul alert flashes its queue row and the page title and starts the
WebAudio tone (counted in ``window.koopsuzAlertSound``); a Chuy alert never reaches the Issyk-Kul
operator; a high alert sounds only after the operator chooses "high and critical" (kept in
localStorage); muted, a new critical alert flashes without a tone; claiming acknowledges it. A burst
of alerts that the feed sends as one frame (a JSON array) lists every in-scope alert, sounds one tone
and reloads the queue once or twice, not once per alert.
Screenshots: artifacts/screenshots/notify-*.png.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from koopsuz.api.app import create_app
from koopsuz.config import Settings
from tests.conftest import DATA, PASSWORD, free_port, wait_port
from tests.e2e.test_browser import Page, Target, browser  # noqa: F401  (browser is a fixture)

from .conftest import alert

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any, Any]]:
    import uvicorn

    from koopsuz.system import System

    base: Path = tmp_path_factory.mktemp("notify-ui")
    system = System(Settings(data_dir=base / "var", secret_key="ui-secret", record=False))
    system.load_deployment(DATA / "two-regions.yaml")
    system.users.create("test", "yk.operator", PASSWORD, "regional_operator", "KG-Y")
    port = free_port()
    app = create_app(system, start_system=False)
    srv = uvicorn.Server(
        uvicorn.Config(app, port=port, log_level="warning",
                       timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_port(port, 30)
    try:
        yield f"http://127.0.0.1:{port}", system, app
    finally:
        srv.should_exit = True
        thread.join(10)
        system.stop()


def sounds(page: Any) -> dict[str, Any]:
    return page.evaluate("() => window.koopsuzAlertSound || {count: 0, last: null}")


def row(page: Any, alert_id: str, flashing: str) -> Any:
    return page.locator(f'[data-testid="queue-item"][data-alert-id="{alert_id}"][data-flashing="{flashing}"]')


def test_critical_alert_sounds_and_flashes_until_claimed(browser: Any, server: tuple[str, Any, Any]) -> None:  # noqa: F811
    base_url, system, _app = server
    tab = Page(browser, Target(base_url, {"regional_operator": ("yk.operator", PASSWORD)}, None, {}), "notify")
    try:
        page = tab.page
        tab.sign_in("regional_operator")
        page.goto(tab.url("/command"))
        page.locator('[data-testid="ws-status"][data-state="open"]').wait_for()
        mute = page.get_by_test_id("notify-mute")
        assert mute.get_attribute("aria-pressed") == "false" and "Выключить звук" in mute.inner_text()
        assert page.get_by_test_id("notify-level").input_value() == "critical"
        title = page.title()

        critical = alert("KG-Y", "critical")
        system.writer.write_now([critical])
        row(page, critical.id, "true").wait_for()
        assert sounds(page) == {"count": 1, "last": "critical"}
        page.wait_for_function("() => document.title.startsWith('⚠')")
        assert "1" in page.title()
        tab.shot("notify-01-critical-flashing")

        # another region's critical alert never reaches this operator: no row, no tone
        system.writer.write_now([alert("KG-C", "critical")])
        high = alert("KG-Y", "high")
        system.writer.write_now([high])  # below the default level: listed, silent, not flashing
        row(page, high.id, "false").wait_for()
        assert sounds(page)["count"] == 1
        assert page.locator('[data-testid="queue-item"]').count() == 2

        page.get_by_test_id("notify-level").select_option("high")  # this operator wants high ones too
        high2 = alert("KG-Y", "high")
        system.writer.write_now([high2])
        row(page, high2.id, "true").wait_for()
        assert sounds(page) == {"count": 2, "last": "high"}

        mute.click()
        assert mute.get_attribute("aria-pressed") == "true"
        quiet = alert("KG-Y", "critical")
        system.writer.write_now([quiet])
        row(page, quiet.id, "true").wait_for()  # muted: still flashes, no tone
        assert sounds(page)["count"] == 2

        # claiming is the acknowledgement: the row stops flashing, the others go on
        row(page, critical.id, "true").get_by_test_id("queue-claim").click()
        row(page, critical.id, "false").get_by_test_id("queue-holder").wait_for()
        assert row(page, quiet.id, "true").count() == 1
        tab.shot("notify-02-claimed-muted")
        for a in (high2, quiet):
            row(page, a.id, "true").get_by_test_id("queue-claim").click()
            row(page, a.id, "false").wait_for()
        page.locator('body[data-alerts-waiting="0"]').wait_for()
        page.wait_for_function(f"() => document.title === {title!r}")

        # the choices are the operator's, kept in this browser
        page.reload()
        page.locator('[data-testid="ws-status"][data-state="open"]').wait_for()
        assert page.get_by_test_id("notify-level").input_value() == "high"
        assert page.get_by_test_id("notify-mute").get_attribute("aria-pressed") == "true"
        assert tab.errors == []
    finally:
        tab.close()


def test_a_burst_in_one_frame_lists_every_alert_with_one_tone(browser: Any, server: tuple[str, Any, Any]) -> None:  # noqa: F811
    base_url, system, app = server
    tab = Page(browser, Target(base_url, {"regional_operator": ("yk.operator", PASSWORD)}, None, {}), "notify-burst")
    frames: list[list[dict[str, Any]]] = []
    reloads: list[float] = []
    try:
        page = tab.page
        page.on("websocket", lambda ws: ws.on("framereceived", lambda p: frames.append(json.loads(p))))
        page.on("request", lambda r: reloads.append(time.monotonic()) if "/api/alerts/queue" in r.url else None)
        tab.sign_in("regional_operator")
        page.goto(tab.url("/command"))
        page.locator('[data-testid="ws-status"][data-state="open"]').wait_for()
        page.locator('[data-testid="queue-count"]').wait_for()
        time.sleep(0.5)  # the page's first queue load is done
        tones = sounds(page)["count"]
        burst = [alert("KG-Y" if i % 2 == 0 else "KG-C", "critical") for i in range(30)]
        mine = [a.id for a in burst if a.region == "KG-Y"]
        # hold the server's event loop while the writer publishes, so the whole burst waits in the
        # socket's queue and leaves as one frame (as it does under load)
        app.state.feed_hub.loop.call_soon_threadsafe(time.sleep, 0.5)
        t0 = time.monotonic()
        system.writer.write_now(burst)
        for alert_id in mine:
            row(page, alert_id, "true").wait_for()
        for a in burst:
            if a.region != "KG-Y":
                assert row(page, a.id, "true").count() == 0 and row(page, a.id, "false").count() == 0
        got = [[m["event"]["id"] for m in f if m["type"] == "event"] for f in frames]
        burst_frames = [ids for ids in got if set(ids) & set(mine)]
        assert burst_frames == [mine], burst_frames  # one frame, this region's 15 in order, Chuy's none
        assert sounds(page)["count"] == tones + 1  # one tone for the frame, not fifteen
        reloads_after = [t for t in reloads if t >= t0]
        assert 1 <= len(reloads_after) <= 3, reloads_after  # coalesced (a 4 s poll may add one)
        assert tab.errors == []
    finally:
        tab.close()
