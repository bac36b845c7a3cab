"""The access review page in headless Chromium: accounts with their last uses, flags, the CSV download."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import uvicorn

from koopsuz.api.app import create_app
from koopsuz.security.principal import Scope
from tests.conftest import PASSWORD, free_port, wait_port
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = [pytest.mark.browser]
SHOTS = Path(__file__).resolve().parent.parent / "artifacts" / "screenshots"


@pytest.fixture
def base_url(system: Any) -> Iterator[str]:
    system.audit.record("yk.investigator", "auth.login", region="KG-Y")
    system.audit.record("yk.investigator", "legal.register", target_type="legal_basis", target_id="7", region="KG-Y")
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


def test_access_review_page(base_url: str, system: Any) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"{CHROMIUM} is not installed (Debian package chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 1400, "height": 900}, locale="en-GB")
            page = context.new_page()
            page.set_default_timeout(15000)
            errors: list[str] = []
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{base_url}/login?next=/access-review")
            page.get_by_test_id("login-username").fill("auditor")
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            page.wait_for_url("**/access-review")
            page.locator('[data-testid="access-page"][data-ready="true"]').wait_for()
            assert page.get_by_test_id("nav-access-review").get_attribute("aria-current") == "page"
            rows = page.get_by_test_id("access-row")
            assert rows.count() == len(system.users.list())
            inv = page.locator('[data-testid="access-row"][data-username="yk.investigator"]')
            used = inv.locator('[data-testid="access-perm"][data-permission="legal.manage"]')
            assert used.get_attribute("data-unused") == "false" and "1 раз" in used.inner_text()  # Russian account
            assert inv.locator('[data-permission="faces.search"]').get_attribute("data-unused") == "true"
            assert "никогда" in inv.locator('[data-permission="faces.search"]').inner_text()
            national = page.locator('[data-testid="access-row"][data-username="national"]')
            assert "no_sign_in" in national.get_attribute("data-flags")
            assert "ни разу не входил" in national.inner_text()
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / "access-review.png"), full_page=True)
            # another period reloads the report and points the CSV link at it
            page.get_by_test_id("access-days").select_option("30")
            page.wait_for_function("document.getElementById('access-csv').href.endsWith('days=30')")
            with page.expect_download() as dl:
                page.get_by_test_id("access-csv").click()
            text = Path(dl.value.path()).read_text()
            assert text.startswith("username,full_name,role,region,active,last_sign_in")
            assert "yk.investigator" in text and "legal.manage" in text
            assert errors == []
            # a regional operator neither sees the link nor the page
            context.clear_cookies()
            page.goto(f"{base_url}/login?next=/")
            page.get_by_test_id("login-username").fill("yk.operator")
            page.get_by_test_id("login-password").fill(PASSWORD)
            page.get_by_test_id("login-submit").click()
            page.get_by_test_id("nav-map").wait_for()
            assert page.get_by_test_id("nav-access-review").count() == 0
            assert page.goto(f"{base_url}/access-review").status == 403
        finally:
            browser.close()
    reads = system.audit.search(Scope.national(), action="access.review", actor="auditor")
    assert {r.detail["format"] for r in reads} == {"json", "csv"}
