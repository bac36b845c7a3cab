"""The spot-speed calibration page in headless Chromium (/spot-speed, cameras.write).

The national admin picks a plate camera, clicks four points on its picture and types their road positions:
three road points in a line are refused by the API and its reason is shown beside the form; spread out, the
calibration is saved with the clicked picture points, listed, edited and deleted. Scope: another region's
calibration is not listed for a regional head, who may not delete one either; an operator has no page.
"""

from __future__ import annotations

from typing import Any

import pytest

from koopsuz.services.errors import Forbidden, NotFound
from tests.conftest import PASSWORD
from tests.e2e.test_browser import Page, Target, browser, wait_for  # noqa: F401  (browser is a fixture)
from tests.e2e.test_watchlists_browser import sign_in, tabs, target  # noqa: F401  (fixtures)

pytestmark = [pytest.mark.browser]

CLICKS = [(0.30, 0.85), (0.70, 0.85), (0.60, 0.40), (0.40, 0.40)]  # a road's trapezoid, as fractions of the picture
ROAD_IN_A_LINE = [(0, 0), (0, 10), (0, 20), (3.5, 20)]  # the first three on x = 0
ROAD = [(0, 0), (3.5, 0), (3.5, 20), (0, 20)]
CHUY = {
    "camera": "ch-cam-1", "image_points": CLICKS, "road_points": ROAD, "camera_height_m": 5.0, "limit_kmh": 40,
}  # fmt: skip


def fill_road(page: Any, road: list[tuple[float, float]]) -> None:
    rows = page.get_by_test_id("spot-point-row")
    for i, (x, y) in enumerate(road):
        rows.nth(i).get_by_test_id("spot-road-x").fill(str(x))
        rows.nth(i).get_by_test_id("spot-road-y").fill(str(y))


LANE_1 = [(0.05, 0.50), (0.50, 0.50), (0.50, 0.95), (0.05, 0.95)]  # closed by clicking its first point again
LANE_2 = [(0.50, 0.50), (0.95, 0.50), (0.95, 0.95)]  # closed with the button, after a click taken back


def lanes_of(tab: Any, camera: str) -> list[dict[str, Any]]:
    r = tab.page.request.get(tab.url(f"/api/cameras/{camera}"))
    assert r.status == 200, r.text()
    return r.json()["lanes"]


def draw_lanes_save_reload_and_refuse_a_duplicate(tab: Any) -> None:
    """The lanes editor under the calibration: two lanes drawn by clicking, saved with PATCH, drawn again after
    a reload; a duplicate name is refused by the API and its reason shown; a deleted lane is gone once saved."""
    page = tab.page
    card = page.get_by_test_id("lanes-card")
    assert card.get_attribute("data-camera") == "yk-cam-2"
    assert page.get_by_test_id("lanes-empty").is_visible() and page.get_by_test_id("lane-shape").count() == 0
    svg = page.get_by_test_id("lanes-svg")
    box = svg.bounding_box()

    def click(x: float, y: float) -> None:
        svg.click(position={"x": x * box["width"], "y": y * box["height"]})

    page.get_by_test_id("lanes-close").click()  # nothing drawn: said, nothing added
    assert page.get_by_test_id("lanes-error").inner_text() == "Сначала щёлкните на кадре хотя бы три точки полосы."
    page.get_by_test_id("lanes-name").fill("1")
    for x, y in [*LANE_1, LANE_1[0]]:
        click(x, y)
    assert page.get_by_test_id("lane-shape").count() == 1 and page.get_by_test_id("lanes-error").is_hidden()
    page.get_by_test_id("lanes-name").fill("2")
    for x, y in [*LANE_2, (0.2, 0.1)]:
        click(x, y)
    assert page.get_by_test_id("lanes-stage").get_attribute("data-draft") == "4"
    page.get_by_test_id("lanes-undo").click()  # the misplaced fourth click
    assert page.get_by_test_id("lanes-stage").get_attribute("data-draft") == "3"
    page.get_by_test_id("lanes-close").click()
    assert page.get_by_test_id("lane-shape").evaluate_all("ps => ps.map(p => p.dataset.name)") == ["1", "2"]
    assert page.get_by_test_id("lanes-dirty").is_visible()
    page.get_by_test_id("lanes-save").click()
    wait_for(lambda: card.get_attribute("data-dirty") == "false", 10, "the lanes saved")
    saved = lanes_of(tab, "yk-cam-2")
    assert [lane["name"] for lane in saved] == ["1", "2"]
    for lane, clicked in zip(saved, [LANE_1, LANE_2], strict=True):
        assert len(lane["zone"]) == len(clicked)
        for (x, y), (sx, sy) in zip(clicked, lane["zone"], strict=True):
            assert abs(x - sx) < 0.01 and abs(y - sy) < 0.01  # what was clicked, as fractions of the picture

    page.goto(tab.url("/spot-speed?camera=yk-cam-2"))  # a reload: drawn from what the API keeps
    page.locator('[data-testid="spot-page"][data-ready="true"]').wait_for()
    assert page.get_by_test_id("lane-shape").evaluate_all("ps => ps.map(p => p.dataset.name)") == ["1", "2"]
    assert page.get_by_test_id("lane-label").evaluate_all("ts => ts.map(t => t.textContent)") == ["1", "2"]
    rows = page.get_by_test_id("lane-row")
    error = page.get_by_test_id("lanes-error")
    for name, why in (
        ("a/b", "Полоса «a/b»: String should match pattern"),  # the lane named, not its index in the list
        ("1", "each lane needs its own name (got 1, 1)"),
    ):
        rows.nth(1).get_by_test_id("lane-rename").fill(name)
        rows.nth(1).get_by_test_id("lane-rename").press("Tab")
        page.get_by_test_id("lanes-save").click()
        wait_for(lambda why=why: error.is_visible() and error.inner_text().startswith(why), 10, "the API's refusal")
        tab.errors.clear()  # the browser logs the 422 it was meant to get
    assert [lane["name"] for lane in lanes_of(tab, "yk-cam-2")] == ["1", "2"]
    page.once("dialog", lambda d: d.dismiss())  # another camera with unsaved lanes: asked, the operator stays
    page.get_by_test_id("spot-camera").select_option("ch-cam-1")
    assert page.get_by_test_id("spot-camera").input_value() == "yk-cam-2" and rows.count() == 2
    rows.nth(1).get_by_test_id("lane-delete").click()
    page.get_by_test_id("lanes-save").click()
    wait_for(lambda: card.get_attribute("data-dirty") == "false", 10, "the lanes saved")
    assert [lane["name"] for lane in lanes_of(tab, "yk-cam-2")] == ["1"]
    assert error.is_hidden() and page.get_by_test_id("lane-shape").count() == 1
    tab.shot("spot-lanes")


def test_calibration_clicked_saved_listed_edited_and_deleted(system: Any, target: Target, tabs: Any) -> None:  # noqa: F811
    admin = system.users.authenticate("admin", PASSWORD)
    system.registry.add_camera(
        admin,
        {"id": "yk-cam-2", "name": "A363 east", "site": "yk-square", "lat": 42.60, "lon": 77.40, "profile": "plates",
         "main_url": "rtsp://127.0.0.1:9/yk-cam-2/main", "sub_url": "rtsp://127.0.0.1:9/yk-cam-2/sub"},
    )  # fmt: skip
    system.sections.save_spot(admin, CHUY)
    tab = tabs()
    page = tab.page
    sign_in(tab, "admin", "/spot-speed")
    page.locator('[data-testid="spot-page"][data-ready="true"]').wait_for()
    assert page.get_by_test_id("road-tab-spot").get_attribute("aria-current") == "page"
    assert page.locator('[data-testid="spot-row"][data-camera="ch-cam-1"]').count() == 1  # national: every region
    options = page.get_by_test_id("spot-camera").locator("option").evaluate_all("os => os.map(o => o.value)")
    assert "yk-cam-2" in options and "yk-cam-1" not in options  # plate cameras (and calibrated ones) only
    page.get_by_test_id("spot-camera").select_option("yk-cam-2")
    # not ingested here: no still, said so; the points go on the blank frame all the same
    assert "yk-cam-2" not in (page.get_by_test_id("spot-still").get_attribute("src") or "")
    assert page.get_by_test_id("spot-still-note").is_visible()

    page.get_by_test_id("spot-save").click()  # nothing placed yet: said before asking the API
    assert page.get_by_test_id("spot-error").inner_text() == "Сначала поставьте на кадре все четыре точки."
    svg = page.get_by_test_id("spot-svg")
    box = svg.bounding_box()
    for x, y in [*CLICKS, (0.5, 0.5)]:  # a fifth click is ignored
        svg.click(position={"x": x * box["width"], "y": y * box["height"]})
    assert page.get_by_test_id("spot-stage").get_attribute("data-points") == "4"
    assert page.get_by_test_id("spot-marker").count() == 4
    fill_road(page, ROAD_IN_A_LINE)
    page.locator('[name="camera_height_m"]').fill("6.5")
    page.locator('[name="limit_kmh"]').fill("60")
    page.get_by_test_id("spot-class-truck").fill("50")
    page.get_by_test_id("spot-save").click()
    error = page.get_by_test_id("spot-error")
    wait_for(lambda: error.is_visible() and error.inner_text(), 10, "the API's refusal")
    assert "three of the four road points lie on one line" in error.inner_text()
    tab.errors.clear()  # the browser logs the 422 it was meant to get
    assert "yk-cam-2" not in [s["camera"] for s in system.sections.list_spots(admin)]

    fill_road(page, ROAD)
    page.locator('[name="camera_height_m"]').fill("0.2")  # below the API's floor: refused, the field named
    page.get_by_test_id("spot-save").click()
    wait_for(lambda: error.inner_text().startswith("Высота камеры над дорогой, м: "), 10, "the field's refusal")
    tab.errors.clear()
    page.locator('[name="camera_height_m"]').fill("6.5")
    page.get_by_test_id("spot-save").click()
    row = page.locator('[data-testid="spot-row"][data-camera="yk-cam-2"]')
    row.wait_for()
    assert row.get_by_test_id("spot-row-limit").inner_text() == "60 км/ч + 3"
    assert row.get_by_test_id("spot-row-class").inner_text() == "Грузовик: 50"
    assert error.is_hidden()
    tab.shot("spot-calibration")
    (saved,) = [s for s in system.sections.list_spots(admin) if s["camera"] == "yk-cam-2"]
    for (x, y), (sx, sy) in zip(CLICKS, saved["image_points"], strict=True):
        assert abs(x - sx) < 0.01 and abs(y - sy) < 0.01  # what was clicked, as fractions of the picture
    assert [tuple(p) for p in saved["road_points"]] == ROAD
    assert saved["camera_height_m"] == 6.5 and saved["plate_height_m"] == 0.45
    assert saved["class_limits"] == {"truck": 50}

    # edit: the form comes back filled (points drawn), a new limit saved over the old
    page.get_by_test_id("spot-camera").select_option("")
    row.get_by_test_id("spot-edit").click()
    assert page.get_by_test_id("spot-marker").count() == 4
    assert page.locator('[name="camera_height_m"]').input_value() == "6.5"
    page.locator('[name="limit_kmh"]').fill("70")
    page.get_by_test_id("spot-save").click()
    wait_for(lambda: row.get_by_test_id("spot-row-limit").inner_text() == "70 км/ч + 3", 10, "the new limit")

    draw_lanes_save_reload_and_refuse_a_duplicate(tab)

    page.once("dialog", lambda d: d.accept())
    row.get_by_test_id("spot-delete").click()
    row.wait_for(state="detached")
    assert [s["camera"] for s in system.sections.list_spots(admin)] == ["ch-cam-1"]

    # scope: Issyk-Kul's head does not see Chuy's calibration and may not delete one (only national admins
    # hold cameras.write); an unknown camera is not found; an operator has no page and no tab
    yk_head = system.users.authenticate("yk.head", PASSWORD)
    assert system.sections.list_spots(yk_head) == []
    with pytest.raises(Forbidden):
        system.sections.delete_spot(yk_head, "ch-cam-1")
    with pytest.raises(NotFound):
        system.sections.delete_spot(admin, "yk-cam-2")  # deleted above
    op = tabs()
    op.sign_in("regional_operator")
    assert op.page.request.get(op.url("/spot-speed")).status == 403
    op.page.goto(op.url("/hotlists"))
    op.page.get_by_test_id("road-tabs").wait_for()
    assert op.page.get_by_test_id("road-tab-hotlists").count() == 1
    assert op.page.get_by_test_id("road-tab-spot").count() == 0
