"""The evidence page in headless Chromium: export from the playback page, watch it build, drop
packages (intact, then tampered) on the verify zone and see exactly which file was altered."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import uvicorn

from tests.conftest import PASSWORD, free_port, wait_port
from tests.e2e.test_browser import CHROMIUM, CHROMIUM_ARGS
from tests.legal_helpers import register_basis

from .conftest import Run
from .evidence_helpers import CASE, Built, built_package, iso, rezip
from .test_evidence_package import flip

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
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="en-GB")
        pg = ctx.new_page()
        pg.set_default_timeout(20000)
        errors: list[str] = []
        pg.on("pageerror", lambda e: errors.append(str(e)))
        pg.goto(f"{base_url}/login")
        pg.get_by_test_id("login-username").fill("yk.investigator")
        pg.get_by_test_id("login-password").fill(PASSWORD)
        pg.get_by_test_id("login-submit").click()
        pg.wait_for_url(f"{base_url}/")
        pg.goto(f"{base_url}/lang/en?next=/")
        yield pg
        browser.close()
        assert not errors, errors


def drop(page: Any, data: bytes, name: str) -> None:
    """A real drop event carrying the file, as a user dragging it from the desktop makes."""
    page.evaluate(
        """([b64, name]) => {
            const bin = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bin], name, { type: "application/zip" }));
            const zone = document.querySelector('[data-testid="verify-drop"]');
            zone.dispatchEvent(new DragEvent("dragover", { dataTransfer: dt, bubbles: true, cancelable: true }));
            zone.dispatchEvent(new DragEvent("drop", { dataTransfer: dt, bubbles: true, cancelable: true }));
        }""",
        [base64.b64encode(data).decode(), name],
    )


@pytest.fixture
def built(recorded: Run, tmp_path_factory: pytest.TempPathFactory) -> Built:
    return built_package(recorded, tmp_path_factory.mktemp("evidence"))


def test_export_from_the_playback_page_and_follow_it(recorded: Run, page: Any, base_url: str) -> None:
    m = recorded.marks
    basis_id = register_basis(recorded.client("investigator"), "B-77/2026", regions=("KG-Y",))
    page.goto(
        f"{base_url}/cameras/rec-1/playback?start={quote(iso(m['restore'] + 3))}&end={quote(iso(m['restore'] + 6))}"
    )
    page.wait_for_selector('[data-testid="playback-tile"][data-ready="true"]')
    page.get_by_test_id("evidence-case").fill("B-77/2026")
    page.wait_for_selector(f'[data-testid="evidence-basis-id"] option[value="{basis_id}"]', state="attached")
    page.get_by_test_id("evidence-basis-id").select_option(basis_id)
    page.get_by_test_id("evidence-basis").fill("court order 12")
    page.get_by_test_id("evidence-submit").click()
    link = page.get_by_test_id("evidence-link")
    link.wait_for()
    export_id = link.get_attribute("data-export-id")
    link.click()
    page.wait_for_url(f"{base_url}/evidence")
    row = page.locator(f'[data-testid="export-row"][data-export-id="{export_id}"]')
    page.wait_for_selector(f'[data-testid="export-row"][data-export-id="{export_id}"][data-status="ready"]')
    assert "B-77/2026" in row.inner_text() and "rec-1" in row.inner_text()
    assert row.get_by_test_id("export-download").get_attribute("href") == f"/api/evidence/exports/{export_id}/package"
    got = recorded.client("investigator").get(f"/api/evidence/exports/{export_id}").json()
    assert got["legal_basis"].endswith(f"[{basis_id}]; court order 12") and got["cameras"][0]["id"] == "rec-1"


def test_drop_intact_then_tampered_packages(recorded: Run, built: Built, page: Any, base_url: str) -> None:
    page.goto(f"{base_url}/evidence")
    result = page.get_by_test_id("verify-result")
    drop(page, built.zip_bytes, "package.zip")
    page.wait_for_selector('[data-testid="verify-result"][data-state="ok"]')
    assert "Verified" in result.inner_text() and CASE in result.inner_text()
    files = built.members()
    files["original/rec-1.mp4"] = flip(files["original/rec-1.mp4"], 4321)
    bad = rezip(files, built.path.parent / "tampered-video.zip").read_bytes()
    drop(page, bad, "tampered-video.zip")
    page.wait_for_selector('[data-testid="verify-result"][data-state="failed"]')
    problems = page.get_by_test_id("verify-problem")
    assert problems.count() == 1
    assert problems.first.get_attribute("data-path") == "original/rec-1.mp4"
    assert problems.first.get_attribute("data-kind") == "file_altered"
    assert "NOT verified" in result.inner_text() and "File altered" in result.inner_text()
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / "evidence-verify-tampered.png"))
    files = built.members()
    files["manifest.json"] = files["manifest.json"].replace(b'"yk.investigator"', b'"yk.investigatoR"')
    bad = rezip(files, built.path.parent / "tampered-manifest.zip").read_bytes()
    drop(page, bad, "tampered-manifest.zip")
    page.wait_for_function(
        """() => [...document.querySelectorAll('[data-testid="verify-problem"]')]
                 .some((li) => li.dataset.kind === "signature_invalid" && li.dataset.path === "manifest.json")"""
    )
