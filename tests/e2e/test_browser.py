"""The command-centre pages in a real browser against the running system.

Headless Chromium (Debian's, driven by Playwright; never `playwright install`) signs in, sees the
map with a marker per camera, opens a camera and watches its live view repaint, sees a motion
event arrive in the feed over the WebSocket, sorts the health table and watches a cut camera go
offline and come back, switches language, and checks that a regional operator sees only their
region. Screenshots go to artifacts/screenshots/.

The system is the session fixture ``live_system`` (simulator + ``koopsuz serve``). To run these
against a server that is already up (e.g. ``koopsuz demo``), set KOOPSUZ_E2E_BASE_URL and
KOOPSUZ_E2E_USERS='{"national_operator": ["user", "password"], ...}'; steps that need the
simulator's control API are then skipped.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ONLINE_TIMEOUT_S = 90  # first start of the simulator may still be warming up
EVENT_TIMEOUT_S = 90


@dataclass
class Target:
    base_url: str
    users: dict[str, tuple[str, str]]
    sim: Any | None  # the simulator control (cut/restore a camera), None against a plain server
    cameras: dict[str, str]  # camera id -> region, where known


@pytest.fixture(scope="module")
def target(request: pytest.FixtureRequest) -> Target:
    base = os.environ.get("KOOPSUZ_E2E_BASE_URL")
    if base:
        users = {k: tuple(v) for k, v in json.loads(os.environ.get("KOOPSUZ_E2E_USERS", "{}")).items()}
        return Target(base.rstrip("/"), users, None, {})  # type: ignore[arg-type]
    live = request.getfixturevalue("live_system")
    return Target(live.base_url, dict(live.users), live.sim, dict(live.cameras))


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield b
        b.close()


class Page:
    """A signed-in browser tab that fails the test on any script error."""

    def __init__(self, browser: Any, target: Target, name: str) -> None:
        self.target = target
        self.context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="ru-RU")
        self.page = self.context.new_page()
        self.page.set_default_timeout(20000)
        self.errors: list[str] = []
        self.page.on("pageerror", lambda e: self.errors.append(f"{name}: {e}"))
        self.page.on("console", lambda m: self.errors.append(f"{name}: {m.text}") if m.type == "error" else None)

    def url(self, path: str) -> str:
        return self.target.base_url + path

    def shot(self, name: str, locator: Any | None = None) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        (locator or self.page).screenshot(path=str(path))
        return path

    def sign_in(self, role: str, *, shot: str | None = None) -> None:
        if role not in self.target.users:
            pytest.skip(f"no {role} user for this system")
        username, password = self.target.users[role]
        self.page.goto(self.url("/"))
        self.page.wait_for_url(lambda u: "/login?next=" in u)
        self.page.get_by_test_id("login-username").fill(username)
        self.page.get_by_test_id("login-password").fill(password)
        if shot:
            self.shot(shot)
        self.page.get_by_test_id("login-submit").click()
        self.page.wait_for_url(self.url("/"))

    def api(self, path: str) -> Any:
        r = self.page.request.get(self.url(path))
        assert r.ok, f"GET {path}: {r.status} {r.text()[:200]}"
        return r.json()

    def close(self) -> None:
        self.context.close()


def wait_for(cond: Callable[[], Any], timeout: float, what: str, step: float = 0.25) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = cond()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(step)


@pytest.fixture
def tab(browser: Any, target: Target, request: pytest.FixtureRequest) -> Iterator[Page]:
    t = Page(browser, target, request.node.name)
    yield t
    t.close()
    # Errors a test did not expect (a 403 a test provokes on purpose is cleared by that test).
    assert not t.errors, "browser errors:\n" + "\n".join(t.errors)


def online_camera(tab: Page, timeout: float = ONLINE_TIMEOUT_S) -> dict[str, Any]:
    def pick() -> dict[str, Any] | None:
        cams = [c for c in tab.api("/api/cameras") if c["health"]["state"] == "online"]
        return sorted(cams, key=lambda c: c["id"])[0] if cams else None

    return wait_for(pick, timeout, "a camera to come online")


# ---------------------------------------------------------------------------------------------


def test_sign_in_map_camera_live_view_and_event_feed(tab: Page) -> None:
    page = tab.page
    # A wrong password is refused on the page, in Russian (the default language).
    page.goto(tab.url("/login"))
    page.get_by_test_id("login-username").fill("nobody")
    page.get_by_test_id("login-password").fill("wrong-password")
    page.get_by_test_id("login-submit").click()
    error = page.get_by_test_id("login-error")
    error.wait_for(state="visible")
    assert "Неверное" in error.inner_text()
    tab.errors.clear()  # the 401 of that attempt is logged by the browser; it was intended

    tab.sign_in("national_operator", shot="01-login")
    cameras = tab.api("/api/cameras")
    assert cameras, "the system has no cameras"
    regions = tab.api("/api/regions")

    # The map: every oblast drawn (no tiles), a marker per located camera, coloured by health.
    page.locator('[data-testid="map"][data-ready="true"]').wait_for()
    assert page.locator(".leaflet-tile").count() == 0, "the map must not load tiles"
    oblasts = page.get_by_test_id("oblast")
    assert oblasts.count() == 8
    assert page.locator('[data-testid="oblast"][data-in-scope="true"]').count() == 8  # national
    located = [c for c in cameras if isinstance(c.get("lat"), float | int)]
    markers = page.get_by_test_id("camera-marker")
    assert markers.count() == len(located)
    assert {markers.nth(i).get_attribute("data-camera") for i in range(markers.count())} == {c["id"] for c in located}
    assert page.get_by_test_id("user-role").inner_text() == "Оператор национального центра"
    assert len(regions) == 9
    cam = online_camera(tab)
    marker = page.locator(f'[data-testid="camera-marker"][data-camera="{cam["id"]}"]')
    wait_for(lambda: marker.get_attribute("data-state") == "online", 20, "the marker to turn online")
    assert "state-online" in (marker.get_attribute("class") or "")
    page.get_by_test_id("ws-status").and_(page.locator('[data-state="open"]')).wait_for()
    tab.shot("02-map")

    # The popup leads to the camera page.
    marker.click()
    popup = page.get_by_test_id("camera-popup")
    popup.wait_for()
    assert cam["name"] in popup.inner_text()
    tab.shot("03-map-popup")
    popup.get_by_test_id("popup-camera-link").click()
    page.wait_for_url(tab.url(f"/cameras/{cam['id']}"))

    # Live view: the MJPEG <img> paints frames and keeps repainting.
    live = page.get_by_test_id("live-view")
    wait_for(lambda: live.evaluate("img => img.complete && img.naturalWidth > 0"), 20, "the first live frame")
    assert live.evaluate("img => img.src").endswith(".mjpeg") or ".mjpeg?" in live.evaluate("img => img.src")
    assert page.get_by_test_id("camera-name").inner_text() == cam["name"]
    page.get_by_test_id("live-overlay").wait_for(state="hidden")
    page.get_by_test_id("camera-state").and_(page.locator('[data-state="online"]')).wait_for()
    shots = []  # the scenario's quiet gaps are under 7 s (still scenes encode to equal frames)
    for _ in range(11):
        shots.append(live.screenshot())
        if len(set(shots)) > 1:
            break
        page.wait_for_timeout(1000)
    assert len(set(shots)) > 1, "the live view did not repaint in 10 s"
    # The server side of the same claim: consecutive stills carry increasing frame numbers.
    seqs = []
    for _ in range(2):
        r = page.request.get(tab.url(f"/api/cameras/{cam['id']}/frame.jpg"))
        assert r.ok and r.headers["content-type"] == "image/jpeg"
        seqs.append(int(r.headers.get("x-frame-seq", "0")))
        page.wait_for_timeout(1000)
    if all(seqs):
        assert seqs[1] > seqs[0], f"frame.jpg did not advance: {seqs}"
    tab.shot("04-camera")
    # Pause closes the stream and keeps a still; resume opens it again.
    page.get_by_test_id("live-toggle").click()
    page.get_by_test_id("live-overlay").wait_for(state="visible")
    assert "/frame.jpg" in live.evaluate("img => img.src")
    page.get_by_test_id("live-toggle").click()
    page.get_by_test_id("live-overlay").wait_for(state="hidden")
    assert ".mjpeg" in live.evaluate("img => img.src")

    # The event feed: a motion event arrives over the WebSocket and is prepended, with snapshot.
    page.get_by_test_id("nav-events").click()
    page.wait_for_url(tab.url("/events"))
    page.get_by_test_id("ws-status").and_(page.locator('[data-state="open"]')).wait_for()
    page.wait_for_timeout(500)  # the first page of history is in
    before = set(page.eval_on_selector_all('[data-testid="event-item"]', "els => els.map(e => e.dataset.eventId)"))

    def new_motion() -> Any:
        items = page.locator('[data-testid="event-item"][data-kind="motion"]')
        for i in range(items.count()):
            if items.nth(i).get_attribute("data-event-id") not in before:
                return items.nth(i)
        return None

    item = wait_for(new_motion, EVENT_TIMEOUT_S, "a live motion event in the feed")
    # Prepended: every event that arrived live sits above the history (other events may have
    # arrived just after this one, so it need not be the very first).
    order = page.eval_on_selector_all('[data-testid="event-item"]', "els => els.map(e => e.dataset.eventId)")
    fresh = [i for i, eid in enumerate(order) if eid not in before]
    old = [i for i, eid in enumerate(order) if eid in before]
    assert order.index(item.get_attribute("data-event-id")) in fresh
    assert not old or max(fresh) < min(old), "not prepended"
    assert "Движение" in item.get_by_test_id("event-kind").inner_text()
    snap = item.get_by_test_id("event-snapshot")
    wait_for(lambda: snap.evaluate("img => img.complete && img.naturalWidth > 0"), 10, "the snapshot")
    assert item.locator(".box").count() >= 1, "motion boxes are drawn over the snapshot"
    time_text = item.get_by_test_id("event-time").inner_text()
    assert ":" in time_text
    assert_bishkek_time(page, item)
    tab.shot("05-events")

    # Filtering by camera keeps only that camera's events, in the URL too.
    page.get_by_test_id("filter-camera").select_option(item.get_attribute("data-camera"))
    page.wait_for_url(lambda u: "/events?camera=" in u)
    page.wait_for_timeout(500)
    cams_shown = set(page.eval_on_selector_all('[data-testid="event-item"]', "els => els.map(e => e.dataset.camera)"))
    assert cams_shown == {item.get_attribute("data-camera")}


def assert_bishkek_time(page: Any, item: Any) -> None:
    """The feed shows the stored UTC time as Asia/Bishkek (UTC+6, no daylight saving)."""
    iso = item.get_by_test_id("event-time").get_attribute("datetime")
    shown = item.get_by_test_id("event-time").inner_text()
    expected = page.evaluate(
        """iso => { const d = new Date(/(Z|[+-]\\d\\d:?\\d\\d)$/.test(iso) ? iso : iso + 'Z');
                    const b = new Date(d.getTime() + 6 * 3600 * 1000);
                    const p = n => String(n).padStart(2, '0');
                    return `${p(b.getUTCHours())}:${p(b.getUTCMinutes())}:${p(b.getUTCSeconds())}`; }""",
        iso,
    )
    assert expected in shown, f"event at {iso} shown as {shown!r}, expected Bishkek {expected}"


def test_health_table_sorts_and_follows_a_camera_going_down(tab: Page, target: Target) -> None:
    page = tab.page
    tab.sign_in("national_operator")
    cam = online_camera(tab)
    page.goto(tab.url("/health"))
    rows = page.get_by_test_id("health-row")
    wait_for(lambda: rows.count() == len(tab.api("/api/cameras")), 10, "a row per camera")

    # Sort by camera name, then reverse.
    names = lambda: page.eval_on_selector_all(  # noqa: E731
        '[data-testid="health-row"] td[data-col="name"]', "tds => tds.map(td => td.innerText)"
    )
    page.locator('th[data-sort="name"] button').click()
    assert page.locator('th[data-sort="name"]').get_attribute("aria-sort") == "ascending"
    asc = names()
    assert asc == sorted(asc, key=str.lower) or asc == sorted(asc)
    page.locator('th[data-sort="name"] button').click()
    assert page.locator('th[data-sort="name"]').get_attribute("aria-sort") == "descending"
    assert names() == list(reversed(asc))
    page.locator('th[data-sort="reconnects"] button').click()
    assert page.locator('th[data-sort="reconnects"]').get_attribute("aria-sort") == "ascending"
    row = page.locator(f'[data-testid="health-row"][data-camera="{cam["id"]}"]')
    assert row.get_attribute("data-state") == "online"
    assert row.locator('td[data-col="fps"]').inner_text() not in ("", "—")
    tab.shot("06-health")

    if target.sim is None:
        return
    # Cut the camera at the simulator: with the map open in a second tab, the health row and the
    # map marker both turn offline live (WebSocket, no reload), then both recover.
    map_page = tab.context.new_page()
    map_page.on("pageerror", lambda e: tab.errors.append(f"map tab: {e}"))
    map_page.goto(tab.url("/"))
    map_page.locator('[data-testid="map"][data-ready="true"]').wait_for()
    marker = map_page.locator(f'[data-testid="camera-marker"][data-camera="{cam["id"]}"]')
    assert marker.get_attribute("data-state") == "online"
    map_page.get_by_test_id("ws-status").and_(map_page.locator('[data-state="open"]')).wait_for()
    target.sim.control(f"/cameras/{cam['id']}/cut")
    try:
        wait_for(lambda: row.get_attribute("data-state") == "offline", 60, "the row to turn offline")
        offline = page.get_by_test_id("state-count-offline").locator("b")
        wait_for(lambda: offline.inner_text() != "0", 5, "the summary to count it (redrawn on the next frame)")
        assert row.locator('td[data-col="error"]').inner_text().strip(), "an offline camera says why"
        tab.shot("07-health-offline")
        wait_for(lambda: marker.get_attribute("data-state") == "offline", 10, "the marker to turn offline")
        assert "state-offline" in (marker.get_attribute("class") or "")
        SHOTS.mkdir(parents=True, exist_ok=True)
        map_page.screenshot(path=str(SHOTS / "08-map-offline.png"))
    finally:
        target.sim.control(f"/cameras/{cam['id']}/restore")
    wait_for(lambda: row.get_attribute("data-state") == "online", 90, "the row to come back online")
    wait_for(lambda: marker.get_attribute("data-state") == "online", 10, "the marker to come back online")


def test_language_switch_and_regional_scope(tab: Page, target: Target) -> None:
    page = tab.page
    tab.sign_in("regional_operator")
    cameras = tab.api("/api/cameras")
    assert cameras and {c["region"] for c in cameras} == {"KG-Y"}
    page.locator('[data-testid="map"][data-ready="true"]').wait_for()
    assert page.get_by_test_id("camera-marker").count() == len(cameras)
    scoped = page.locator('[data-testid="oblast"][data-in-scope="true"]')
    assert scoped.count() == 1 and scoped.get_attribute("data-region") == "KG-Y"

    # Kyrgyz, then English, remembered across pages by the cookie.
    page.get_by_test_id("lang-ky").click()
    page.wait_for_function("document.documentElement.lang === 'ky'")
    page.locator('[data-testid="map"][data-ready="true"]').wait_for()
    assert page.get_by_test_id("nav-events").inner_text() == "Окуялар"
    assert page.get_by_test_id("user-region").inner_text() == "Ысык-Көл облусу"
    tab.shot("09-map-ky")
    page.get_by_test_id("nav-health").click()
    page.wait_for_url(tab.url("/health"))
    assert page.locator("html").get_attribute("lang") == "ky"
    page.get_by_test_id("lang-en").click()
    page.wait_for_url(tab.url("/health"))
    assert page.locator("th[data-sort='state']").inner_text().strip().startswith("State")
    page.get_by_test_id("health-row").first.wait_for()
    tab.shot("10-health-en")

    # A camera of another region is refused on its page (403), an unknown one is not found (404).
    others = sorted(cid for cid, region in target.cameras.items() if region != "KG-Y")
    if others:
        page.goto(tab.url(f"/cameras/{others[0]}"))
        page.locator('[data-testid="camera-page"][data-error="403"]').wait_for()
        assert page.get_by_test_id("camera-name").inner_text() == "This camera is outside your region"
        assert page.get_by_test_id("live-view").get_attribute("src") is None
    page.goto(tab.url("/cameras/no-such-camera"))
    page.locator('[data-testid="camera-page"][data-error="404"]').wait_for()
    assert page.get_by_test_id("camera-name").inner_text() == "Camera not found"
    tab.errors.clear()  # the 404/403 of that request is logged by the browser; it was intended

    # Sign out ends the session: the map sends us back to sign-in.
    page.get_by_test_id("sign-out").click()
    page.wait_for_url(lambda u: "/login" in u)
    page.goto(tab.url("/"))
    page.wait_for_url(lambda u: "/login?next=" in u)
