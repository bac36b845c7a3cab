"""Road safety in headless Chromium: plate search and routes, hotlists with CSV import, violations.

An in-process server (the ``system`` fixture: two regions, real SQLite) is served with uvicorn as in
test_watchlists_browser.py; plate reads are written the way the plate stage writes them (``plate_read``
events through the real event writer, so the ``plate_reads`` projection is the production one).

* Issyk-Kul's operator searches a plate exactly and by pattern on /plates and sees the rows (camera,
  format, confidence, colour, the plate crop loaded), draws the plate's route (a line and two
  numbered markers, oldest first), and is told plainly that three days back needs a legal basis;
* the investigator creates a hotlist on /hotlists, adds a plate, imports a CSV file with one bad
  line (the report names line 3 and why) and removes a plate with a reason;
* a ``speed_violation`` is listed on the violations tab with speed, limit, excess, both plate crops
  and both clips; a ``hotlist_hit`` alert on the event feed shows the plate crop, list kind and reason.

Without a browser: the Roads link and the pages only for roles that may use them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.security.principal import Scope
from koopsuz.services.event_writer import clip_ref
from tests.conftest import PASSWORD, ROLE_USERS, csrf_header
from tests.e2e.test_browser import Page, Target, browser, wait_for  # noqa: F401  (browser is a fixture)
from tests.e2e.test_watchlists_browser import sign_in, tabs, target  # noqa: F401  (fixtures)
from tests.test_api_scope import login

pytestmark = [pytest.mark.browser]


def jpeg(text: str, size: tuple[int, int] = (160, 40)) -> bytes:
    """A plate-like picture: black characters on white."""
    w, h = size
    img = np.full((h, w, 3), 255, np.uint8)
    cv2.putText(img, text, (4, h - 10), cv2.FONT_HERSHEY_SIMPLEX, h / 40, (0, 0, 0), 2)
    return cv2.imencode(".jpg", img)[1].tobytes()


def read(system: Any, camera: str, text: str, ts: datetime, colour: str = "white") -> Event:
    e = Event(
        kind="plate_read",
        region="KG-Y",
        camera=camera,
        ts=ts,
        payload={"text": text, "compact": text.replace(" ", ""), "format": "private", "plate_region": "KG-Y",
                 "confidence": 0.93, "vehicle": "car", "colour": colour, "direction": "towards"},
    )
    e.media["plate"] = system.media.save_snapshot(camera, f"{e.id}-plate", ts, jpeg(text))
    e.media["snapshot"] = system.media.save_snapshot(camera, e.id, ts, jpeg(text, (320, 180)))
    system.writer.write_now([e])
    return e


@pytest.fixture
def road(system: Any) -> dict[str, Event]:
    admin = system.users.authenticate("admin", PASSWORD)
    system.registry.add_camera(
        admin,
        {"id": "yk-cam-2", "name": "A363 east", "site": "yk-square", "lat": 42.60, "lon": 77.40, "profile": "plates",
         "main_url": "rtsp://127.0.0.1:9/yk-cam-2/main", "sub_url": "rtsp://127.0.0.1:9/yk-cam-2/sub"},
    )
    system.sections.save(admin, {"id": "a363", "name": "A363 Cholpon-Ata - Bosteri", "entry_camera": "yk-cam-1",
                                 "exit_camera": "yk-cam-2", "length_m": 4500, "limit_kmh": 60})
    now = datetime.now(UTC)
    return {
        "first": read(system, "yk-cam-1", "01 123 ABC", now - timedelta(minutes=40)),
        "other": read(system, "yk-cam-1", "01 124 ABC", now - timedelta(minutes=30), colour="black"),
        "second": read(system, "yk-cam-2", "01 123 ABC", now - timedelta(minutes=20)),
        "stranger": read(system, "yk-cam-1", "09 555 KGA", now - timedelta(minutes=10)),
        "old": read(system, "yk-cam-2", "01 123 ABC", now - timedelta(days=3)),
    }


def rows_text(page: Any) -> list[str]:
    return page.get_by_test_id("pl-plate").all_inner_texts()


def test_search_route_and_the_legal_basis_beyond_a_day(
    tabs: Any, system: Any, road: dict[str, Event]  # noqa: F811
) -> None:
    tab = tabs()
    page = tab.page
    sign_in(tab, "regional_operator", "/")
    page.get_by_test_id("nav-roads").click()
    page.locator('[data-testid="pl-form"][data-ready="true"]').wait_for()

    # Exact plate, typed loosely: both reads of it, newest first, with what the camera saw.
    page.get_by_test_id("pl-q").fill("01 123 abc")
    page.get_by_test_id("pl-submit").click()
    rows = page.get_by_test_id("pl-row")
    wait_for(lambda: rows.count() == 2, 10, "two reads of 01 123 ABC")
    assert rows_text(page) == ["01 123 ABC", "01 123 ABC"]
    assert [rows.nth(i).get_attribute("data-camera") for i in range(2)] == ["yk-cam-2", "yk-cam-1"]
    first = rows.nth(1)
    assert first.get_by_test_id("pl-camera").inner_text() == "Square north"
    assert first.get_by_test_id("pl-confidence").inner_text() == "0.93"
    assert "Частный" in first.inner_text() and "белый" in first.inner_text() and "к камере" in first.inner_text()
    local = (road["first"].ts + timedelta(hours=6)).strftime("%H:%M:%S")  # Bishkek time
    assert local in first.get_by_test_id("pl-time").inner_text()
    crop = first.get_by_test_id("pl-crop")
    assert crop.get_attribute("src") == f"/api/events/{road['first'].id}/plate.jpg"
    wait_for(lambda: crop.evaluate("img => img.complete && img.naturalWidth > 0"), 10, "the plate crop")

    # A pattern: both plates of the 01 12? ABC family, not the stranger.
    page.get_by_test_id("pl-mode").select_option("pattern")
    page.get_by_test_id("pl-q").fill("01 12? A*")
    page.get_by_test_id("pl-submit").click()
    wait_for(lambda: rows.count() == 3, 10, "three pattern rows")
    assert sorted(rows_text(page)) == ["01 123 ABC", "01 123 ABC", "01 124 ABC"]
    tab.shot("plates-search")

    # The route of 01 123 ABC: oldest first, a line through two numbered stops.
    page.locator('[data-testid="pl-row"][data-plate="01 123 ABC"]').first.get_by_test_id("pl-route").click()
    page.locator('[data-testid="pl-route-card"][data-ready="true"]').wait_for()
    markers = page.get_by_test_id("route-marker")
    assert markers.count() == 2
    assert [markers.nth(i).get_attribute("data-n") for i in range(2)] == ["1", "2"]
    assert [markers.nth(i).get_attribute("data-camera") for i in range(2)] == ["yk-cam-1", "yk-cam-2"]
    assert page.locator("path.route-line").count() == 1
    assert page.get_by_test_id("route-stop").count() == 2
    assert "01 123 ABC" in page.get_by_test_id("pl-route-title").inner_text()
    tab.shot("plates-route", page.get_by_test_id("pl-route-card"))

    # Three days back: the page asks for a legal basis (an operator has none to give) and a reason.
    assert page.get_by_test_id("pl-basis-box").is_hidden()
    start = page.get_by_test_id("pl-start")
    three_days = datetime.fromisoformat(f"{start.input_value()}:00") - timedelta(days=2)
    start.fill(three_days.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_test_id("pl-basis-box").wait_for()
    assert "правовое основание" in page.get_by_test_id("pl-basis-needed").inner_text()
    assert page.get_by_test_id("pl-basis").input_value() == ""
    audited = len(system.audit.search(Scope.national(), action="plates.search"))
    page.get_by_test_id("pl-submit").click()
    error = page.get_by_test_id("pl-error")
    error.wait_for()
    assert "24 часов" in error.inner_text() and "правовое основание" in error.inner_text()
    assert len(system.audit.search(Scope.national(), action="plates.search")) == audited  # nothing was sent
    # The server refuses it too, saying what is missing.
    r = page.request.get(tab.url(f"/api/plates/reads?plate=01123ABC&from={three_days.isoformat()}%2B06:00"))
    assert r.status == 422 and "legal basis" in r.text()


def test_hotlist_csv_import_violation_and_hotlist_alert(
    tabs: Any, system: Any, road: dict[str, Event], tmp_path: Path  # noqa: F811
) -> None:
    tab = tabs()
    page = tab.page
    sign_in(tab, "investigator", "/hotlists")
    page.locator('[data-testid="hotlists-page"][data-ready="true"]').wait_for()
    page.get_by_test_id("hl-name").fill("Угон: Иссык-Куль")
    page.get_by_test_id("hl-kind").select_option("stolen")
    assert page.get_by_test_id("hl-region").input_value() == "KG-Y"  # a regional officer's own region
    page.get_by_test_id("hl-submit").click()
    card = page.get_by_test_id("he-card")
    card.wait_for()
    (hl,) = tab.api("/api/hotlists")
    assert hl["kind"] == "stolen" and hl["region"] == "KG-Y"

    # One plate by hand.
    page.get_by_test_id("he-add").locator("summary").click()
    page.get_by_test_id("he-plate").fill("08 777 KGZ")
    page.get_by_test_id("he-reason").fill("угон 24.11")
    page.get_by_test_id("he-basis").fill("заявление № 4410")
    page.get_by_test_id("he-submit").click()
    page.locator('[data-testid="he-row"][data-plate="08 777 KGZ"][data-status="active"]').wait_for()

    # A CSV file with one bad line: two added, line 3 refused with its reason.
    later = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    csv = tmp_path / "stolen.csv"
    csv.write_text(
        "plate,reason,legal_basis,expires_at\n"
        f"01 123 ABC,угон 20.11,заявление № 4411,{later}\n"
        f"hello,угон,заявление № 1,{later}\n"
        f"09 321 BCD,угон 21.11,заявление № 4412,{later}\n",
        encoding="utf-8",
    )
    page.get_by_test_id("he-file").set_input_files(str(csv))
    report = page.get_by_test_id("he-report")
    report.wait_for()
    assert report.get_attribute("data-added") == "2" and report.get_attribute("data-rejected") == "1"
    assert "stolen.csv" in page.get_by_test_id("he-report-summary").inner_text()
    assert report.inner_text().count("\n") >= 2 and "null" not in report.inner_text()
    bad = page.get_by_test_id("he-rejected-row")
    assert bad.count() == 1
    assert bad.get_by_test_id("he-rejected-line").inner_text() == "3"
    assert "not a Kyrgyz plate" in bad.get_by_test_id("he-rejected-reason").inner_text()
    assert "hello" in bad.inner_text()
    wait_for(lambda: page.get_by_test_id("he-row").count() == 3, 10, "three plates listed")
    assert page.get_by_test_id("hl-count").inner_text() == "3"
    tab.shot("hotlists-import", card)

    # Recovered: removed with a reason (asked), the row kept as removed.
    page.once("dialog", lambda d: d.accept("автомобиль найден"))
    page.locator('[data-testid="he-row"][data-plate="09 321 BCD"]').get_by_test_id("he-remove").click()
    page.locator('[data-testid="he-row"][data-plate="09 321 BCD"][data-status="removed"]').wait_for()
    wait_for(lambda: page.get_by_test_id("hl-count").inner_text() == "2", 10, "the count after removal")

    # Three days back with a legal basis (registered by the investigator) and a reason: the old read too.
    later_basis = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    r = page.request.post(
        tab.url("/api/legal-bases"),
        data={"case_number": "CC-2026-9", "kind": "criminal_case", "authority": "Karakol prosecutor",
              "document_ref": "No. 9 of 2026-11-24", "purposes": ["plate_search"], "valid_until": later_basis},
        headers=csrf_header(page),
    )
    assert r.status == 201, r.text()
    basis = r.json()
    page.goto(tab.url("/plates"))
    page.locator('[data-testid="pl-form"][data-ready="true"]').wait_for()
    start = page.get_by_test_id("pl-start")
    typed = (datetime.fromisoformat(f"{start.input_value()}:00") - timedelta(days=3)).strftime("%Y-%m-%dT%H:%M")
    start.fill(typed)
    wait_for(lambda: page.get_by_test_id("pl-basis").input_value() == basis["id"], 10, "the basis offered")
    page.get_by_test_id("pl-reason").fill("угон 20.11, дело CC-2026-9")
    page.get_by_test_id("pl-q").fill("01123ABC")
    page.get_by_test_id("pl-submit").click()
    wait_for(lambda: page.get_by_test_id("pl-row").count() == 3, 10, "three reads over four days")
    assert page.get_by_test_id("pl-row").last.get_attribute("data-read-id") == road["old"].id
    (audit, *_) = system.audit.search(Scope.national(), action="plates.search")
    assert audit.detail["legal_basis"] == basis["id"] and audit.detail["reason"] == "угон 20.11, дело CC-2026-9"
    sent = datetime.fromisoformat(f"{typed}:00+06:00")  # Bishkek wall-clock time, sent with its offset
    assert datetime.fromisoformat(audit.detail["from"]) == sent

    # A section violation as the road watch writes it: both reads, both pictures, both clips.
    entry, exit_ = road["first"], road["second"]
    pre, post = system.settings.clip_pre_s, system.settings.clip_post_s
    v = Event(
        id=new_id(),
        kind="speed_violation",
        region="KG-Y",
        camera="yk-cam-2",
        site="yk-square",
        ts=exit_.ts,
        severity=Severity.MEDIUM,
        media={"entry_plate": entry.media["plate"], "exit_plate": exit_.media["plate"]},
        payload={"section": "a363", "plate": "01 123 ABC", "speed_kmh": 90.0, "limit_kmh": 60, "tolerance_kmh": 5,
                 "over_kmh": 30.0, "length_m": 4500, "seconds": 180.0,
                 "entry": {"read": entry.id, "camera": "yk-cam-1", "ts": entry.ts.isoformat(),
                           "clip": clip_ref(entry, pre, post)},
                 "exit": {"read": exit_.id, "camera": "yk-cam-2", "ts": exit_.ts.isoformat()},
                 "vehicle": "car", "colour": "white"},
    )
    system.writer.write_now([v])
    page.goto(tab.url("/plates"))
    page.get_by_test_id("road-tab-violations").click()
    page.locator('[data-testid="tab-violations"][data-ready="true"]').wait_for()
    item = page.locator(f'[data-testid="vi-item"][data-event-id="{v.id}"]')
    item.wait_for()
    assert item.get_by_test_id("vi-plate").inner_text() == "01 123 ABC"
    assert item.get_by_test_id("vi-speed").inner_text() == "90.0 км/ч (ограничение 60)"
    assert item.get_by_test_id("vi-over").inner_text() == "+30.0 км/ч"
    assert item.get_by_test_id("vi-section").inner_text() == "A363 Cholpon-Ata - Bosteri"
    for side, read_ in (("entry", entry), ("exit", exit_)):
        pic = item.get_by_test_id(f"vi-{side}-plate")
        assert pic.get_attribute("src") == f"/api/events/{v.id}/{side}_plate.jpg"
        wait_for(lambda p=pic: p.evaluate("img => img.complete && img.naturalWidth > 0"), 10, f"{side} crop")
        local = (read_.ts + timedelta(hours=6)).strftime("%H:%M:%S")
        assert local in item.get_by_test_id(f"vi-{side}-time").inner_text()
        href = item.get_by_test_id(f"vi-{side}-clip").get_attribute("href")
        assert href.startswith(f"/cameras/{read_.camera}/playback?start="), href
    tab.shot("plates-violation", item)

    # A hotlist hit on the event feed: the plate crop large, the plate, the list kind and reason.
    hit = Event(
        kind="alert",
        region="KG-Y",
        camera="yk-cam-1",
        site="yk-square",
        ts=datetime.now(UTC),
        severity=Severity.CRITICAL,
        media=dict(entry.media),
        payload={"rule": "hotlist:1", "rule_kind": "hotlist_hit", "rule_name": f"{hl['name']}: 01 123 ABC",
                 "class": "car", "plate": "01 123 ABC", "read": entry.id, "colour": "white", "hotlist": hl["id"],
                 "list_kind": "stolen", "priority": 3, "reason": "угон 20.11", "legal_basis": "заявление № 4411"},
    )
    system.writer.write_now([hit])
    page.goto(tab.url("/events"))
    alert = page.locator(f'[data-testid="alert-item"][data-alert-id="{hit.id}"]')
    alert.wait_for()
    assert alert.get_by_test_id("alert-hotlist-plate").inner_text() == "01 123 ABC"
    assert alert.get_by_test_id("alert-hotlist-kind").inner_text() == "Угон"
    assert alert.get_by_test_id("alert-hotlist-reason").inner_text() == "угон 20.11"
    crop = alert.get_by_test_id("alert-hotlist-crop")
    assert crop.get_attribute("src") == f"/api/events/{hit.id}/plate.jpg"
    wait_for(lambda: crop.evaluate("img => img.complete && img.naturalWidth > 0"), 10, "the hit's crop")
    assert crop.evaluate("img => img.getBoundingClientRect().width") >= 150  # large, to compare by eye
    tab.shot("hotlist-alert", alert)


def test_roads_nav_and_pages_only_for_roles_that_may_use_them(system: Any) -> None:
    with TestClient(create_app(system, start_system=False)) as c:
        # role -> (where the Roads link goes, /plates, /hotlists)
        expected: dict[str, tuple[str | None, int, int]] = {
            "regional_operator": ("/plates", 200, 200),
            "investigator": ("/plates", 200, 200),
            "auditor": ("/hotlists", 403, 200),
        }
        for role, (link, plates, hotlists) in expected.items():
            c.post("/api/auth/logout")
            login(c, ROLE_USERS[role][0])
            html = c.get("/").text
            assert f'href="{link}" data-testid="nav-roads"' in html, role
            assert c.get("/plates").status_code == plates, role
            assert c.get("/hotlists").status_code == hotlists, role
        # Only officers who manage hotlists get the forms.
        assert 'data-testid="hl-form"' not in c.get("/hotlists").text  # the auditor
        c.post("/api/auth/logout")
        login(c, "yk.operator")
        assert 'data-testid="hl-form"' not in c.get("/hotlists").text
        assert 'data-testid="road-tab-violations"' in c.get("/hotlists").text
        c.post("/api/auth/logout")
        login(c, "yk.investigator")
        assert 'data-testid="hl-form"' in c.get("/hotlists").text

