"""The calibration page on a real camera: the still comes from the live system (simulator over RTSP +
``koopsuz serve``, the session's ``live_system``), and the points are drawn over it at its own size.

A live camera is calibrated through the API first (the simulator's cameras run the motion profile, so the
page lists them once calibrated); the page, opened on it, shows its current frame from ``frame.jpg``
with the four saved points over it; the calibration is deleted again through the page.
"""

from __future__ import annotations

import pytest

from tests.conftest import csrf_header
from tests.e2e.test_browser import Page, browser, online_camera, tab, target  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser]

CALIBRATION = {
    "image_points": [(0.16, 0.9), (0.84, 0.9), (0.62, 0.45), (0.38, 0.45)],
    "road_points": [(0, 0), (7, 0), (7, 30), (0, 30)],
    "camera_height_m": 6.0,
    "limit_kmh": 60,
}


def test_the_still_of_a_live_camera_carries_the_points(tab: Page) -> None:  # noqa: F811
    page = tab.page
    tab.sign_in("admin")
    cam = online_camera(tab)
    r = page.request.post(tab.url("/api/spot-cameras"), data={"camera": cam["id"], **CALIBRATION},
                          headers=csrf_header(page))  # fmt: skip
    assert r.ok, r.text()
    try:
        page.goto(tab.url(f"/spot-speed?camera={cam['id']}"))
        page.locator('[data-testid="spot-stage"][data-still="loaded"]').wait_for(timeout=30000)
        size = page.get_by_test_id("spot-still").evaluate("img => [img.naturalWidth, img.naturalHeight]")
        assert size[0] > 0 and size[1] > 0
        assert page.get_by_test_id("spot-svg").get_attribute("viewBox") == f"0 0 {size[0]} {size[1]}"
        assert page.get_by_test_id("spot-marker").count() == 4  # the saved points, over the picture
        assert page.get_by_test_id("spot-still-note").is_hidden()
        tab.shot("spot-live-still")
        page.once("dialog", lambda d: d.accept())
        page.locator(f'[data-testid="spot-row"][data-camera="{cam["id"]}"]').get_by_test_id("spot-delete").click()
        page.locator(f'[data-testid="spot-row"][data-camera="{cam["id"]}"]').wait_for(state="detached")
    finally:
        page.request.delete(tab.url(f"/api/spot-cameras/{cam['id']}"), headers=csrf_header(page))
    assert tab.errors == []
