"""The rule editor and alerts in a real browser, against a server that runs detection.

The shared ``live_system`` server runs its cameras with the ``motion`` profile (no detection), so
this module starts a second ``koopsuz serve`` on the same simulator with two of its cameras:
``mt-2`` with the ``people`` profile (its person walks the near pavement from right to left every
20 s; the shipped SSD tracks that person well, see tests/analytics/test_rule_stage.py),
``mt-3`` at a school site, disabled, to show a site type's default rule, and ``mt-4``, disabled,
to edit rules on without video.

The first test watches ``mt-2``'s live view for its whole length while the server runs detection
on the same frames: before ``DecodedFrame.bgr`` converted each frame once under a lock, this
crashed the server in libswscale (3 of 4 runs), so the test also checks the server is still up.

Headless Chromium draws a line across the person's path with the mouse, saves it, and waits for
the line-crossing alert of that rule to arrive over the WebSocket; confirms it and sees the
verdict survive a reload and reach the API. A zone of two points shows the API's own message
beside the form; a rule is edited, disabled and deleted; a user without ``cameras.write`` sees
the rules but no edit controls, and the API refuses their PUT.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ..conftest import PASSWORD, ROOT, LiveSystem, _stop, csrf_header, free_port, wait_port
from .test_browser import Page, Target, browser, wait_for  # noqa: F401  (browser is a fixture)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CAMERA = "mt-2"
SCHOOL_CAMERA = "mt-3"
EDIT_CAMERA = "mt-4"  # disabled: editing needs no video
ALERT_TIMEOUT_S = 60  # the person passes every 20 s; three passes
USERS = {"admin": "admin", "national_operator": "national"}


def _deployment(rtsp_port: int) -> dict[str, Any]:
    def cam(cid: str, site: str, **extra: Any) -> dict[str, Any]:
        return {
            "id": cid,
            "name": f"Rules camera {cid}",
            "site": site,
            "main_url": f"rtsp://127.0.0.1:{rtsp_port}/{cid}/main",
            "sub_url": f"rtsp://127.0.0.1:{rtsp_port}/{cid}/sub",
            "lat": 42.4908,
            "lon": 78.3937,
            **extra,
        }

    return {
        "name": "rules editor test",
        "sites": [
            {
                "id": "yk-street",
                "name": "Karakol street",
                "type": "street",
                "region": "KG-Y",
                "lat": 42.49,
                "lon": 78.39,
            },
            {"id": "yk-school", "name": "Karakol school", "type": "school", "region": "KG-Y", "lat": 42.5, "lon": 78.4},
        ],
        "cameras": [
            cam(CAMERA, "yk-street", profile="people", motion={"cooldown_s": 2.0}),
            cam(SCHOOL_CAMERA, "yk-school", enabled=False),
            cam(EDIT_CAMERA, "yk-street", enabled=False),
        ],
    }


@pytest.fixture(scope="module")
def target(live_system: LiveSystem) -> Iterator[Target]:
    """A second server with detection on ``mt-2``, on the shared simulator."""
    base = Path(tempfile.mkdtemp(prefix="koopsuz-rules-"))
    port = free_port()
    deployment = base / "deployment.yaml"
    deployment.write_text(yaml.safe_dump(_deployment(live_system.sim.port), sort_keys=False))
    env = os.environ | {
        "PYTHONUNBUFFERED": "1",
        "KOOPSUZ_DATA_DIR": str(base / "var"),
        "KOOPSUZ_SECRET_KEY": "rules-test-secret",
        "KOOPSUZ_INGEST_BACKOFF_MAX_S": "2",
        "KOOPSUZ_INGEST_BACKOFF_INITIAL_S": "0.5",
    }
    for role, username in USERS.items():
        cmd = [sys.executable, "-m", "koopsuz", "user", "add", username, "--role", role, "--password", PASSWORD]
        subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    log = (base / "server.log").open("wb")
    cmd = [sys.executable, "-m", "koopsuz", "serve", "--deployment", str(deployment), "--port", str(port)]
    server = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_port(port, 60, server)
        users = {role: (username, PASSWORD) for role, username in USERS.items()}
        yield Target(
            f"http://127.0.0.1:{port}", users, None, dict.fromkeys((CAMERA, SCHOOL_CAMERA, EDIT_CAMERA), "KG-Y")
        )
    finally:
        _stop(server)
        log.close()
        artifacts = ROOT / "artifacts"
        artifacts.mkdir(exist_ok=True)
        (artifacts / "rules-server.log").write_bytes((base / "server.log").read_bytes())


@pytest.fixture
def tab(browser: Any, target: Target, request: pytest.FixtureRequest) -> Iterator[Page]:  # noqa: F811
    t = Page(browser, target, request.node.name)
    yield t
    t.close()
    assert not t.errors, "browser errors:\n" + "\n".join(t.errors)


def open_camera(tab: Page, camera: str) -> Any:
    page = tab.page
    page.goto(tab.url(f"/cameras/{camera}"))
    card = page.get_by_test_id("rules-card")
    wait_for(lambda: card.get_attribute("data-count") is not None, 20, "the rules to load")
    return card


def click_at(tab: Page, x: float, y: float) -> None:
    """A mouse click at (x, y) in 0..1 of the rule canvas (points within 8 px snap to the edge)."""
    canvas = tab.page.get_by_test_id("rules-canvas")
    canvas.evaluate("el => el.scrollIntoView({block: 'center'})")  # all of it in the viewport
    box = canvas.bounding_box()
    assert box and box["width"] > 300, box
    px = box["x"] + min(max(x * box["width"], 1), box["width"] - 1)
    py = box["y"] + min(max(y * box["height"], 1), box["height"] - 1)
    tab.page.mouse.move(px, py, steps=3)
    tab.page.mouse.click(px, py)


def rules_api(tab: Page, camera: str) -> dict[str, Any]:
    return tab.api(f"/api/cameras/{camera}/rules")


# ---------------------------------------------------------------------------------------------


def test_line_drawn_with_the_mouse_raises_an_alert_that_is_confirmed(tab: Page) -> None:
    page = tab.page
    tab.sign_in("admin")
    card = open_camera(tab, CAMERA)
    page.locator('[data-testid="rules-stage"][data-frame="loaded"]').wait_for()  # the live frame to draw on
    # The MJPEG stream keeps running while detection converts the same frames (the libswscale
    # crash this once caused is fixed in DecodedFrame.bgr); the server must still be alive at the end.
    assert card.get_attribute("data-defaults") == "true"  # a street site brings no default rules
    assert page.get_by_test_id("rule-item").count() == 0
    before = {e["id"] for e in tab.api(f"/api/events?camera={CAMERA}&kind=alert")}

    page.get_by_test_id("rule-new").click()
    page.get_by_test_id("rule-name").fill("Тротуар: переход")
    page.get_by_test_id("rule-kind").select_option("line_crossing")
    page.get_by_test_id("rule-severity").select_option("high")
    # Across the near pavement, from A (mid-frame) to B (the bottom edge: the click snaps onto it).
    click_at(tab, 0.5, 0.45)
    assert page.get_by_test_id("rule-shape-status").get_attribute("data-points") == "1"
    click_at(tab, 0.5, 0.999)
    draft = page.get_by_test_id("rule-draft")
    assert draft.get_by_test_id("rule-vertex").count() == 2
    arrows = draft.get_by_test_id("rule-arrow")
    assert arrows.count() == 2  # both ways
    # The person walks from the frame's right to its left: facing from A down to B, that is from
    # the left-hand side to the right-hand side. One switch makes the line alert that way only.
    page.get_by_test_id("rule-direction-switch").click()
    assert page.get_by_test_id("rule-direction").input_value() == "left_to_right"
    assert arrows.count() == 1 and arrows.first.get_attribute("data-direction") == "left_to_right"
    tab.shot("rules-01-line-drawn", page.get_by_test_id("rules-card"))
    page.get_by_test_id("rule-save").click()
    page.get_by_test_id("rule-form").wait_for(state="hidden")
    saved_at = time.monotonic()

    data = rules_api(tab, CAMERA)
    assert data["defaults"] is False and len(data["rules"]) == 1
    rule = data["rules"][0]
    assert rule["kind"] == "line_crossing" and rule["direction"] == "left_to_right" and rule["severity"] == "high"
    (ax, ay), (bx, by) = rule["line"]
    assert abs(ax - 0.5) < 0.01 and abs(ay - 0.45) < 0.01 and abs(bx - 0.5) < 0.01 and by == 1.0
    assert rule["classes"] == ["person"]
    item = page.locator(f'[data-testid="rule-item"][data-rule-id="{rule["id"]}"]')
    assert item.get_by_test_id("rule-item-name").inner_text() == "Тротуар: переход"
    assert page.locator(f'[data-testid="rule-shape"][data-rule-id="{rule["id"]}"]').count() == 1

    # The running pipeline takes the rule without a restart; its alert arrives over the feed.
    alert = page.locator(f'[data-testid="alert-list"] [data-testid="alert-item"][data-rule="{rule["id"]}"]').first
    alert.wait_for(timeout=ALERT_TIMEOUT_S * 1000)
    waited = time.monotonic() - saved_at
    print(f"line-crossing alert in the page {waited:.1f} s after saving")
    event_id = alert.get_attribute("data-event-id")
    assert event_id not in before
    assert alert.get_by_test_id("alert-rule").inner_text() == "Тротуар: переход"
    assert "sev-high" in (alert.get_attribute("class") or "")
    assert "Человек" in alert.get_by_test_id("alert-summary").inner_text()
    wait_for(
        lambda: alert.get_by_test_id("alert-snapshot").evaluate("i => i.complete && i.naturalWidth > 0"),
        10,
        "the snapshot",
    )
    footage = alert.get_by_test_id("alert-footage").get_attribute("href")
    assert footage.startswith(f"/cameras/{CAMERA}/playback?"), footage
    ev = tab.api(f"/api/events/{event_id}")
    assert ev["payload"]["rule"] == rule["id"] and ev["payload"]["direction"] == "left_to_right"
    assert ev["feedback"] is None

    alert.get_by_test_id("alert-confirm").click()
    wait_for(lambda: alert.get_attribute("data-verdict") == "confirmed", 10, "the verdict")
    assert "Подтверждена" in alert.get_by_test_id("alert-verdict").inner_text()
    tab.shot("rules-02-alert-confirmed")
    assert tab.api(f"/api/events/{event_id}")["feedback"]["verdict"] == "confirmed"
    # the live view ran beside detection all along, and the server survived it
    assert page.get_by_test_id("live-toggle").count() == 1
    assert tab.api("/api/system/health")["status"] == "ok"

    # A fresh page (the event feed) shows it among the alerts with the stored verdict, and
    # "dismiss" there changes it.
    page.goto(tab.url("/events"))
    page.get_by_test_id("alerts-only").click()
    in_feed = page.locator(f'[data-testid="event-list"] [data-alert-id="{event_id}"]')
    in_feed.wait_for()
    assert page.get_by_test_id("filter-kind").input_value() == "alert"
    assert in_feed.get_attribute("data-verdict") == "confirmed"
    assert in_feed.get_by_test_id("alert-confirm").get_attribute("aria-pressed") == "true"
    assert "Подтверждена" in in_feed.get_by_test_id("alert-verdict").inner_text()
    in_feed.get_by_test_id("alert-dismiss").click()
    wait_for(lambda: in_feed.get_attribute("data-verdict") == "dismissed", 10, "the changed verdict")
    assert tab.api(f"/api/events/{event_id}")["feedback"]["verdict"] == "dismissed"


def test_health_page_rates_the_detector_share_of_a_detecting_camera(tab: Page) -> None:
    """The health table's detection column: looks a second, rationed and shed shares over the last
    poll, from the camera's counters; a camera without detection (disabled here) shows a dash."""
    page = tab.page
    tab.sign_in("national_operator")
    page.goto(tab.url("/health"))
    row = page.locator(f'[data-testid="health-row"][data-camera="{CAMERA}"]')
    cell = row.get_by_test_id("health-detection")
    # two readings 5 s apart make a rate; the first comes with the page
    wait_for(lambda: re.match(r"^\d+[.,]\d", cell.inner_text().strip()), 20, "a looks/s rate")
    detect = tab.api(f"/api/cameras/{CAMERA}")["analytics"]["detect"]
    assert detect["frames"] > 0 and detect["detect_frames"] > 0, detect
    off = page.locator(f'[data-testid="health-row"][data-camera="{EDIT_CAMERA}"]').get_by_test_id("health-detection")
    assert off.inner_text().strip() == "—"
    page.locator('th[data-sort="detection"] button').click()  # sortable like the other columns
    assert page.locator('th[data-sort="detection"]').get_attribute("aria-sort") == "ascending"


def test_zone_of_two_points_shows_the_api_error_then_edit_disable_delete(tab: Page) -> None:
    page = tab.page
    tab.sign_in("admin")
    open_camera(tab, EDIT_CAMERA)
    kept = rules_api(tab, EDIT_CAMERA)["rules"]

    page.get_by_test_id("rule-new").click()
    page.get_by_test_id("rule-name").fill("Crosswalk")
    page.get_by_test_id("rule-kind").select_option("zone_entry")
    click_at(tab, 0.2, 0.3)
    click_at(tab, 0.4, 0.3)
    page.get_by_test_id("rule-save").click()
    error = page.get_by_test_id("rule-error")
    error.wait_for()
    text = error.inner_text()
    assert "«Crosswalk»" in text and "at least 3 points" in text, text  # the API's reason, named
    assert not page.get_by_test_id("rule-form").is_hidden()
    assert rules_api(tab, EDIT_CAMERA)["rules"] == kept  # nothing was stored
    tab.errors.clear()  # the browser logs the 422 it was meant to get

    click_at(tab, 0.4, 0.6)
    click_at(tab, 0.2, 0.6)
    click_at(tab, 0.2, 0.3)  # on the first point: closes the zone
    assert page.get_by_test_id("rule-shape-status").get_attribute("data-points") == "4"
    assert page.get_by_test_id("rule-close").is_hidden()
    page.get_by_test_id("rule-save").click()
    page.get_by_test_id("rule-form").wait_for(state="hidden")
    rules = rules_api(tab, EDIT_CAMERA)["rules"]
    zone = next(r for r in rules if r["name"] == "Crosswalk")
    assert len(zone["zone"]) == 4 and zone["kind"] == "zone_entry"
    item = page.locator(f'[data-testid="rule-item"][data-rule-id="{zone["id"]}"]')

    # Edit: rename and make it loitering; the zone is kept.
    item.get_by_test_id("rule-edit").click()
    page.get_by_test_id("rule-name").fill("Crosswalk loitering")
    page.get_by_test_id("rule-kind").select_option("loitering")
    page.get_by_test_id("rule-seconds").fill("45")
    page.get_by_test_id("rule-save").click()
    page.get_by_test_id("rule-form").wait_for(state="hidden")
    edited = next(r for r in rules_api(tab, EDIT_CAMERA)["rules"] if r["id"] == zone["id"])
    assert (edited["name"], edited["kind"], edited["seconds"]) == ("Crosswalk loitering", "loitering", 45.0)
    assert edited["zone"] == zone["zone"]

    # Disable, then delete (a second click within a few seconds confirms).
    item.get_by_test_id("rule-toggle").click()
    wait_for(lambda: item.get_attribute("data-enabled") == "false", 10, "the rule to be disabled")
    assert next(r for r in rules_api(tab, EDIT_CAMERA)["rules"] if r["id"] == zone["id"])["enabled"] is False
    assert "off" in (
        page.locator(f'[data-testid="rule-shape"][data-rule-id="{zone["id"]}"]').get_attribute("class") or ""
    )
    item.get_by_test_id("rule-delete").click()
    assert item.count() == 1  # first click only arms it
    item.get_by_test_id("rule-delete").click()
    item.wait_for(state="detached")
    assert rules_api(tab, EDIT_CAMERA)["rules"] == kept


def test_without_cameras_write_rules_are_shown_but_not_editable(tab: Page) -> None:
    page = tab.page
    tab.sign_in("national_operator")
    card = open_camera(tab, SCHOOL_CAMERA)
    # The school's default rule (after hours), shown as the site's default.
    assert card.get_attribute("data-defaults") == "true"
    page.get_by_test_id("rules-defaults").wait_for()
    item = page.get_by_test_id("rule-item")
    assert item.count() == 1 and item.get_attribute("data-rule-id") == "after-hours"
    assert item.get_by_test_id("rule-default-badge").count() == 1
    assert page.get_by_test_id("rule-shape").count() == 1
    for testid in ("rule-new", "rule-form", "rule-edit", "rule-toggle", "rule-delete", "rule-save"):
        assert page.get_by_test_id(testid).count() == 0, f"{testid} shown to a user who may not edit"
    # Drawing does nothing without a draft.
    click_at(tab, 0.3, 0.3)
    assert page.get_by_test_id("rule-draft").count() == 0
    # And the API agrees with the page.
    r = page.request.put(tab.url(f"/api/cameras/{SCHOOL_CAMERA}/rules"), data={"rules": []}, headers=csrf_header(page))
    assert r.status == 403, r.text()
    assert rules_api(tab, SCHOOL_CAMERA)["defaults"] is True


class TouchPage(Page):
    """A signed-in tab on a tablet-sized touch screen (the narrow camera layout)."""

    def __init__(self, chromium: Any, target: Target, name: str) -> None:
        self.target = target
        self.context = chromium.new_context(viewport={"width": 1024, "height": 1300}, locale="ru-RU", has_touch=True)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20000)
        self.errors = []
        self.page.on("pageerror", lambda e: self.errors.append(f"{name}: {e}"))
        self.page.on("console", lambda m: self.errors.append(f"{name}: {m.text}") if m.type == "error" else None)


def test_a_line_drawn_by_touch(browser: Any, target: Target) -> None:  # noqa: F811
    tab = TouchPage(browser, target, "touch")
    try:
        page = tab.page
        tab.sign_in("admin")
        open_camera(tab, EDIT_CAMERA)
        page.get_by_test_id("rule-new").tap()
        page.get_by_test_id("rule-kind").select_option("line_crossing")
        canvas = page.get_by_test_id("rules-canvas")
        canvas.evaluate("el => el.scrollIntoView({block: 'center'})")
        box = canvas.bounding_box()
        assert box is not None
        page.touchscreen.tap(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.7)
        page.touchscreen.tap(box["x"] + box["width"] * 0.7, box["y"] + box["height"] * 0.7)
        assert page.get_by_test_id("rule-shape-status").get_attribute("data-points") == "2"
        assert page.get_by_test_id("rule-draft").get_by_test_id("rule-arrow").count() == 2
        page.get_by_test_id("rule-cancel").tap()
        assert page.get_by_test_id("rule-draft").count() == 0
        assert not tab.errors, tab.errors
    finally:
        tab.close()
