"""The playback page in headless Chromium on the shared recorded run.

It plays a recorded range of rec-1 through hls.js, shows the timeline with the two gaps the run
made (the killed recorder, the cut camera) and their causes, jumps to an event (a few seconds
before it), and plays rec-1 and rec-2 side by side in sync. Screenshot: artifacts/screenshots/.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn

from koopsuz.domain.events import Event
from koopsuz.security.principal import Scope
from tests.conftest import PASSWORD, free_port, wait_port
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS

from .conftest import Run

pytestmark = [pytest.mark.browser, pytest.mark.slow]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture(scope="module")
def base_url(recorded: Run) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(recorded.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port, 20)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def page(base_url: str) -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, "--autoplay-policy=no-user-gesture-required"]
        )
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
        pg = ctx.new_page()
        pg.set_default_timeout(20000)
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"{base_url}/login")
        pg.get_by_test_id("login-username").fill("national")
        pg.get_by_test_id("login-password").fill(PASSWORD)
        pg.get_by_test_id("login-submit").click()
        pg.wait_for_url(f"{base_url}/")
        pg.goto(f"{base_url}/lang/en?next=/")
        yield pg
        browser.close()
        assert not errors, errors


def iso(t: float) -> str:
    return quote(datetime.fromtimestamp(t, UTC).isoformat())


def wait(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_plays_a_range_shows_gaps_and_jumps_to_an_event(recorded: Run, page: Any, base_url: str) -> None:
    m = recorded.marks
    at = (m["kill"] + m["cut"]) / 2 + 1.0  # inside the session between the crash and the cut
    event = Event(kind="motion", region="KG-Y", camera="rec-1", site="yk-rec", ts=datetime.fromtimestamp(at, UTC))
    recorded.system.writer.write_now([event])
    pre = recorded.system.settings.clip_pre_s
    page.goto(f"{base_url}/cameras/rec-1/playback?start={iso(m['start'] - 5)}&end={iso(m['end'] + 5)}")
    page.wait_for_selector('[data-testid="playback-tile"][data-ready="true"]')
    gaps = page.locator('[data-testid="tl-gap"]')
    assert gaps.count() == 2
    assert [gaps.nth(i).get_attribute("data-cause") for i in range(2)] == ["recorder_crashed", "stream_lost"]
    items = page.get_by_test_id("gap-item")
    assert "Recorder crashed" in items.nth(0).inner_text() and "Stream lost" in items.nth(1).inner_text()
    assert page.locator('[data-testid="tl-span"]').count() == 3
    assert page.evaluate("MediaSource.isTypeSupported('video/mp4; codecs=\"avc1.42E01F\"')")
    page.locator(f'[data-testid="tl-event"][data-event-id="{event.id}"]').click()
    video = page.get_by_test_id("playback-video").first

    def playing_near_the_event() -> bool:
        wall = page.get_by_test_id("playback-clock").get_attribute("data-wall")
        state = video.evaluate("v => [v.currentTime, v.paused, v.readyState, v.videoWidth]")
        return (
            bool(wall)
            and state[2] >= 2
            and not state[1]
            and state[3] == 1280
            and at - pre - 0.5 <= int(wall) / 1000 <= at + 5
        )

    wait(playing_near_the_event, 15, "playback a few seconds before the event")
    t0 = video.evaluate("v => v.currentTime")
    time.sleep(1.0)
    assert video.evaluate("v => v.currentTime") > t0 + 0.5  # it really plays
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "playback.png"))


def test_two_cameras_play_in_sync(recorded: Run, page: Any, base_url: str) -> None:
    m = recorded.marks
    page.goto(f"{base_url}/cameras/rec-2/playback?cameras=rec-1&start={iso(m['start'] - 5)}&end={iso(m['end'] + 5)}")
    wait(lambda: page.locator('[data-testid="playback-tile"][data-ready="true"]').count() == 2, 20, "two players")
    assert page.get_by_test_id("timeline-row").count() == 2
    target = (m["kill"] + m["cut"]) / 2
    box = page.locator(".tl-track").first.bounding_box()
    frac = (target - (m["start"] - 5)) / ((m["end"] + 5) - (m["start"] - 5))
    page.mouse.click(box["x"] + frac * box["width"], box["y"] + box["height"] / 2)
    tiles = page.get_by_test_id("playback-tile")
    videos = page.get_by_test_id("playback-video")

    def in_sync() -> bool:
        walls = [tiles.nth(i).get_attribute("data-wall") for i in range(2)]
        playing = [not videos.nth(i).evaluate("v => v.paused") for i in range(2)]
        if not all(walls) or not all(playing):
            return False
        a, b = (int(w) / 1000 for w in walls)  # type: ignore[arg-type]
        return abs(a - target) < 4 and abs(a - b) < 0.6

    wait(in_sync, 15, "the second camera to play in step with the first")
    page.screenshot(path=str(SHOTS / "playback-two-cameras.png"))


def test_a_clip_download_asks_for_a_legal_basis_first(recorded: Run, page: Any, base_url: str) -> None:
    """Downloading footage is an export (issue 8): without a registered basis the link says so and
    downloads nothing; with one typed in, the clip comes and the audit names the basis."""
    from tests.legal_helpers import register_basis_for

    m = recorded.marks
    page.goto(f"{base_url}/cameras/rec-1/playback?start={iso(m['start'] + 2)}&end={iso(m['start'] + 10)}")
    page.wait_for_selector('[data-testid="playback-tile"][data-ready="true"]')
    link = page.get_by_test_id("export-link").first
    assert link.get_attribute("aria-disabled") == "true"
    link.dispatch_event("click")  # a user can still click it (Playwright refuses aria-disabled)
    page.get_by_text("needs a registered legal basis").first.wait_for()  # the page says what to give
    investigator = recorded.system.users.authenticate("yk.investigator", PASSWORD)
    basis = register_basis_for(recorded.system, investigator, case="CLIP-9/2026")
    page.get_by_test_id("playback-basis").fill(basis)
    assert link.get_attribute("aria-disabled") == "false"
    assert f"legal_basis_id={basis}" in (link.get_attribute("href") or "")
    with page.expect_download() as dl:
        link.click()
    data = Path(dl.value.path()).read_bytes()
    assert data[4:8] == b"ftyp"
    entry = recorded.system.audit.search(Scope.national(), action="playback.export", target_id="rec-1")[0]
    assert entry.actor == "national" and entry.detail["case"] == "CLIP-9/2026"
