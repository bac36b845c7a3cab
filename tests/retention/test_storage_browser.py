"""The storage page in headless Chromium: usage against the budget, a run, a lock released with a reason."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from koopsuz.api.app import create_app
from koopsuz.security.principal import SYSTEM, Scope
from tests.conftest import PASSWORD, free_port, wait_port
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.retention.test_locks_api import seed_footage

pytestmark = [pytest.mark.browser]
SHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"


@pytest.fixture
def base_url(system: Any) -> Iterator[str]:
    seed_footage(system)  # 12 kB of index rows in two regions and one retention run
    system.retention.budget = replace(system.retention.budget, budget_bytes=13_000)  # 92 %: "near the budget"
    now = datetime.now(UTC)
    system.evidence_locks.lock(SYSTEM, "yk-cam-1", now - timedelta(hours=2), now - timedelta(hours=1), "YK-77", "fight")
    system.evidence_locks.lock(SYSTEM, "ch-cam-1", now - timedelta(hours=2), now - timedelta(hours=1), "CH-3", "")
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(create_app(system, start_system=False), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port, 20)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(10)


def test_storage_page_shows_usage_runs_and_unlocks(base_url: str, system: Any) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_context(viewport={"width": 1300, "height": 900}, locale="en-GB").new_page()
            page.set_default_timeout(15000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base_url}/login?next=/storage")
            page.get_by_test_id("login-username").fill("yk.head")
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            page.wait_for_url("**/storage")
            page.get_by_test_id("nav-storage").wait_for()
            state = page.get_by_test_id("volume-state")
            state.wait_for()
            assert state.inner_text() == "Близко к лимиту"  # the account's language: Russian
            assert page.get_by_test_id("usage-bar").get_attribute("aria-valuenow") == "92"
            assert page.get_by_test_id("volume-budget").inner_text() == "13,0 КБ"
            assert page.get_by_test_id("storage-runs").locator("tbody tr").count() == 1
            assert "14" in page.get_by_test_id("storage-policy").inner_text()  # schools keep video 14 days
            rows = page.get_by_test_id("lock-row")
            rows.first.wait_for()
            assert rows.count() == 1 and "YK-77" in rows.first.inner_text()  # Chuy's lock is not shown
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "storage.png"), full_page=True)
            page.once("dialog", lambda d: d.accept("released by the prosecutor"))
            rows.first.get_by_test_id("unlock").click()
            page.get_by_test_id("locks-empty").wait_for(state="visible")
            assert errors == []
        finally:
            browser.close()
    entry = system.audit.search(Scope.national(), action="evidence.unlock")[0]
    assert entry.actor == "yk.head" and entry.detail["reason"] == "released by the prosecutor"
    assert entry.detail["case_number"] == "YK-77"
    assert len(system.evidence_locks.active(Scope.national())) == 1
