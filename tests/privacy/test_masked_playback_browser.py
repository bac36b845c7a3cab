"""The playback page for a viewer without an unmask grant: it plays the masked copy, mask solid.

Headless Chromium against the privacy fixture's running system (tests/privacy/conftest.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn

from tests.conftest import PASSWORD, free_port, wait_port
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.privacy.conftest import Masked
from tests.recording.conftest import wait_until

pytestmark = [pytest.mark.browser]

# the top-left quarter of the current video frame, drawn on a canvas: [max, mean] of its pixels
QUARTER_STATS = """v => {
  const c = document.createElement("canvas");
  c.width = v.videoWidth; c.height = v.videoHeight;
  const g = c.getContext("2d");
  g.drawImage(v, 0, 0);
  const d = g.getImageData(4, 4, c.width / 2 - 12, c.height / 2 - 12).data;
  let max = 0, sum = 0, n = 0;
  for (let i = 0; i < d.length; i += 4) {
    for (let k = 0; k < 3; k++) { max = Math.max(max, d[i + k]); sum += d[i + k]; n++; }
  }
  const r = g.getImageData(c.width / 2 + 8, c.height / 2 + 8, c.width / 2 - 16, c.height / 2 - 16).data;
  let rs = 0, rs2 = 0;
  for (let i = 0; i < r.length; i += 4) { rs += r[i + 1]; rs2 += r[i + 1] * r[i + 1]; }
  const m = rs / (r.length / 4);
  return [max, sum / n, Math.sqrt(rs2 / (r.length / 4) - m * m)];
}"""


@pytest.fixture(scope="module")
def base_url(masked: Masked) -> Iterator[str]:
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(masked.app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port, 20)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def _signed_in(browser: Any, base_url: str, username: str, errors: list[str]) -> Any:
    """A new tab signed in as ``username``; its script errors go into ``errors``."""
    pg = browser.new_context(viewport={"width": 1200, "height": 900}, locale="en-GB").new_page()
    pg.set_default_timeout(20000)
    pg.on("pageerror", lambda e: errors.append(str(e)))
    pg.goto(f"{base_url}/login")
    pg.get_by_test_id("login-username").fill(username)
    pg.get_by_test_id("login-password").fill(PASSWORD)
    pg.get_by_test_id("login-submit").click()
    pg.wait_for_url(f"{base_url}/")
    return pg


def test_playback_page_plays_the_masked_copy(masked: Masked, base_url: str) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    end = datetime.now(UTC) + timedelta(seconds=5)
    start = end - timedelta(minutes=2)
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        errors: list[str] = []
        pg = _signed_in(browser, base_url, "yk.operator", errors)
        pg.goto(f"{base_url}/cameras/pm-1/playback?start={quote(start.isoformat())}&end={quote(end.isoformat())}")
        tile = pg.locator('[data-testid="playback-tile"][data-masked="true"][data-ready="true"]')
        tile.wait_for()
        video = pg.get_by_test_id("playback-video").first
        assert "/api/cameras/pm-1/masked.mp4?" in video.evaluate("v => v.src")
        video.evaluate("v => { v.muted = true; v.currentTime = 1.0; }")
        wait_until(lambda: video.evaluate("v => v.readyState >= 2 && !v.seeking"), 10, "the masked frame")
        time.sleep(0.3)
        top_max, top_mean, rest_std = video.evaluate(QUARTER_STATS)
        assert top_max <= 24 and top_mean < 6, (top_max, top_mean)
        assert rest_std > 5  # the rest is the picture
        # an investigator's download of the masked copy is an export: it asks for the basis like any clip
        inv = _signed_in(browser, base_url, "yk.investigator", errors)
        inv.goto(f"{base_url}/cameras/pm-1/playback?start={quote(start.isoformat())}&end={quote(end.isoformat())}")
        inv.locator('[data-testid="playback-tile"][data-masked="true"]').wait_for()
        link = inv.get_by_test_id("export-link").first
        wait_until(lambda: "masked.mp4" in (link.get_attribute("href") or ""), 10, "the masked download link")
        assert link.get_attribute("aria-disabled") == "true"  # no basis given yet
        inv.locator("#playback-basis").fill("01JBASIS")
        href = link.get_attribute("href") or ""
        assert "download=true" in href and "legal_basis_id=01JBASIS" in href, href
        assert link.get_attribute("aria-disabled") == "false"
        browser.close()
    assert not errors, errors
