"""The violations tab shows which limit applied and a spot speed as the weaker evidence (headless Chromium).

A section violation of a truck under its class limit and a spot-speed violation are written through the
real event writer (the rows come from the production projection); a regional head sees the class limit
with the general one, and the spot one badged as of lower evidential weight, in Russian.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from koopsuz.domain.events import Event, Severity, new_id
from tests.e2e.test_browser import Page, Target, browser, wait_for  # noqa: F401  (browser is a fixture)
from tests.e2e.test_watchlists_browser import sign_in, tabs, target  # noqa: F401  (fixtures)
from tests.road.test_violations import SECTION, add_road, jpeg

pytestmark = [pytest.mark.browser]


def seed(system: Any, plate: str, ts: datetime, **payload: Any) -> Event:
    media = {f"{side}_plate": system.media.save_snapshot("yk-cam-1", f"{new_id()}-plate", ts, jpeg(plate))
             for side in ("entry", "exit")}  # fmt: skip
    v = Event(
        id=new_id(), kind="speed_violation", region="KG-Y", camera="yk-cam-1", site="yk-square", ts=ts,
        severity=Severity.MEDIUM, media=media,
        payload={"plate": plate, "tolerance_kmh": 3, "vehicle": "truck", "colour": "white",
                 "entry": {"read": new_id(), "camera": "yk-cam-1", "ts": (ts - timedelta(seconds=1)).isoformat()},
                 "exit": {"read": new_id(), "camera": "yk-cam-1", "ts": ts.isoformat()}} | payload,
    )  # fmt: skip
    system.writer.write_now([v])
    return v


def test_class_limit_and_spot_speed_are_shown_for_what_they_are(system: Any, target: Target, tabs: Any) -> None:  # noqa: F811
    add_road(system)
    now = datetime.now(UTC)
    truck = seed(system, "01 301 TRK", now - timedelta(minutes=9), section=SECTION["id"], method="section",
                 speed_kmh=55.0, limit_kmh=45, limit_class="truck", section_limit_kmh=60, over_kmh=10.0,
                 length_m=4500, seconds=294.5)  # fmt: skip
    spot = seed(system, "01 302 SPT", now - timedelta(minutes=8), section="spot-yk-cam-1", method="spot",
                evidential_weight="lower", speed_kmh=52.0, limit_kmh=40, limit_class=None, section_limit_kmh=40,
                over_kmh=12.0, length_m=17.3, seconds=1.2)  # fmt: skip
    tab = tabs()
    page = tab.page
    sign_in(tab, "regional_head", "/plates?tab=violations")
    page.locator('[data-testid="tab-violations"][data-ready="true"]').wait_for()
    item = page.locator(f'[data-testid="vi-item"][data-event-id="{truck.id}"]')
    assert item.get_by_test_id("vi-class-limit").inner_text() == "Грузовик: ограничение 45 км/ч (общее 60)"
    assert item.get_by_test_id("vi-method").count() == 0  # average speed over a section: no badge
    item = page.locator(f'[data-testid="vi-item"][data-event-id="{spot.id}"]')
    assert item.get_by_test_id("vi-method").inner_text() == "Мгновенная скорость: доказательная сила ниже"
    assert "17.3 м за 1.2 с" in item.inner_text()
    wait_for(lambda: item.get_by_test_id("vi-review").get_attribute("data-status") == "pending", 5, "its review state")
