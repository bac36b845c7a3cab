"""The dashboard page in headless Chromium against a real server (uvicorn on a thread).

An Issyk-Kul regional head opens the dashboard from the nav and sees the day's figures drawn as
SVG bar charts (categories, hours, response times, precision per rule, uptime and coverage per
camera), then downloads the CSV; a national operator sees the ranking of regions and picks a
region. Screenshots go to artifacts/screenshots/dashboard-*.png.
"""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from koopsuz.api.app import create_app
from koopsuz.services.dashboard import CSV_COLUMNS
from tests.conftest import PASSWORD, free_port, wait_port
from tests.e2e.test_browser import Page, Target, browser  # noqa: F401  (browser is a fixture)

from .conftest import day_start, make_system, seed

pytestmark = [pytest.mark.browser]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """(base URL, the seeded day on the Bishkek clock as YYYY-MM-DD)."""
    import uvicorn

    system = make_system(tmp_path_factory.mktemp("dashboard-ui"), record=False)
    day = day_start(datetime.now(UTC) - timedelta(days=2))  # inside the page's default week
    seed(system, day)
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(
            create_app(system, start_system=False), port=port, log_level="warning", timeout_graceful_shutdown=1
        )
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_port(port, 30)
    try:
        yield f"http://127.0.0.1:{port}", f"{day + timedelta(hours=6):%Y-%m-%d}"
    finally:
        srv.should_exit = True
        thread.join(10)
        system.stop()


def bars(page: Any, testid: str) -> list[float]:
    return [float(v or 0) for v in page.locator(f'[data-testid="{testid}"] rect.chart-bar').evaluate_all(
        "rs => rs.map(r => r.getAttribute('data-value'))"
    )]


def show(page: Any, day: str) -> None:
    """Pick one day as the period and wait for the figures."""
    page.evaluate("document.body.dataset.dashboard = ''")
    page.get_by_test_id("dash-from").fill(day)
    page.get_by_test_id("dash-to").fill(day)
    page.get_by_test_id("dash-apply").click()
    page.locator('body[data-dashboard="ready"]').wait_for()


def test_head_sees_charts_and_downloads_the_csv(browser: Any, server: tuple[str, str], tmp_path: Path) -> None:  # noqa: F811
    server, day = server
    users = {"regional_head": ("yk.head", PASSWORD), "national_operator": ("national", PASSWORD)}
    tab = Page(browser, Target(server, users, None, {}), "dashboard")
    try:
        page = tab.page
        tab.sign_in("regional_head")
        page.get_by_test_id("nav-dashboard").click()
        page.wait_for_url(tab.url("/dashboard"))
        page.locator('body[data-dashboard="ready"]').wait_for()  # the default period: the last seven days
        assert page.get_by_test_id("kpi-incidents").locator("strong").inner_text() == "2"
        show(page, day)
        assert page.get_by_test_id("dash-region").is_hidden()  # a regional head has one region
        assert "Иссык-Кульская область" in page.get_by_test_id("dash-title").inner_text()
        assert page.get_by_test_id("kpi-incidents").locator("strong").inner_text() == "2"
        assert page.get_by_test_id("kpi-precision").locator("strong").inner_text() == "75.0 %"
        # real SVG charts with one bar per item, sized by their values
        assert sorted(bars(page, "svg-category")) == [1.0, 1.0]
        hours = bars(page, "svg-hour")
        assert len(hours) == 24 and hours[9] == 2.0 and sum(hours) == 2.0
        assert sum(bars(page, "svg-response")) == 3.0  # two dispatches and one arrival
        assert sorted(bars(page, "svg-precision")) == [0.6667, 1.0]
        assert sorted(bars(page, "svg-uptime")) == [0.75, 0.9167]
        widths = page.locator('[data-testid="svg-uptime"] rect.chart-bar').evaluate_all(
            "rs => rs.map(r => Number(r.getAttribute('width')))"
        )
        assert widths[0] < widths[1]  # the lower uptime draws the shorter bar (lowest first)
        assert page.get_by_test_id("unprotected-site").inner_text().startswith("Karakol kindergarten 5")
        assert page.get_by_test_id("dash-districts").is_visible() and page.get_by_test_id("dash-ranking").is_hidden()
        tab.shot("dashboard-01-region")
        with page.expect_download() as info:
            page.get_by_test_id("dash-csv").click()
        path = tmp_path / "dash.csv"
        info.value.save_as(path)
        rows = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8-sig"))))
        assert tuple(rows[0]) == CSV_COLUMNS and info.value.suggested_filename.startswith("koopsuz-dashboard-KG-Y-")
        assert {(r["figure"], r["value"]) for r in rows if r["item"] == "total"} >= {("incidents", "2")}
    finally:
        tab.close()
    assert not tab.errors, "browser errors:\n" + "\n".join(tab.errors)

    nat = Page(browser, Target(server, users, None, {}), "dashboard-national")
    try:
        page = nat.page
        nat.sign_in("national_operator")
        page.goto(nat.url("/dashboard"))
        page.locator('body[data-dashboard="ready"]').wait_for()
        assert page.get_by_test_id("dash-ranking").is_visible()
        assert len(bars(page, "svg-ranking")) == 2  # Issyk-Kul and Chuy have figures, the rest none
        assert "Иссык-Кульская область" in page.locator('[data-testid="svg-ranking"] text').first.text_content()
        nat.shot("dashboard-02-national")
        page.get_by_test_id("dash-region").select_option("KG-C")
        show(page, day)
        assert "Чуйская область" in page.get_by_test_id("dash-title").inner_text()
        assert page.get_by_test_id("dash-ranking").is_hidden()
        assert "region=KG-C" in (page.get_by_test_id("dash-pdf").get_attribute("href") or "")
    finally:
        nat.close()
    assert not nat.errors, "browser errors:\n" + "\n".join(nat.errors)
