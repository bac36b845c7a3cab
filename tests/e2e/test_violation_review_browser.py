"""A regional head reviews speed violations on /plates?tab=violations in headless Chromium.

Two ``speed_violation`` events (with real JPEG plate crops) are written through the real event
writer, so the ``violations`` rows come from the production projection. In the browser the head
rejects one (the reason is required before anything is sent) and confirms the other, then
downloads its notice: a PDF with the plate and the evidence hash in it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.security.principal import Scope
from koopsuz.store.tables import ViolationRow
from tests.conftest import PASSWORD
from tests.e2e.test_browser import Page, Target, browser, wait_for  # noqa: F401  (browser is a fixture)
from tests.e2e.test_watchlists_browser import sign_in, tabs, target  # noqa: F401  (fixtures)
from tests.road.test_violations import SECTION, add_road, jpeg, pdf_text

pytestmark = [pytest.mark.browser]


def seed(system: Any, plate: str, ts: datetime) -> Event:
    """A violation as the road watch makes it: both reads' crops, speed, limit, the section."""
    entry_ts = ts - timedelta(seconds=180)
    media = {}
    for side, cam, at in (("entry", "yk-cam-1", entry_ts), ("exit", "yk-cam-2", ts)):
        media[f"{side}_plate"] = system.media.save_snapshot(cam, f"{new_id()}-plate", at, jpeg(plate))
    v = Event(
        id=new_id(), kind="speed_violation", region="KG-Y", camera="yk-cam-2", site="yk-square", ts=ts,
        severity=Severity.MEDIUM, media=media,
        payload={"section": SECTION["id"], "plate": plate, "speed_kmh": 90.0, "limit_kmh": 60, "tolerance_kmh": 3,
                 "over_kmh": 30.0, "length_m": 4500, "seconds": 180.0,
                 "entry": {"read": new_id(), "camera": "yk-cam-1", "ts": entry_ts.isoformat()},
                 "exit": {"read": new_id(), "camera": "yk-cam-2", "ts": ts.isoformat()},
                 "vehicle": "car", "colour": "white"},
    )
    system.writer.write_now([v])
    return v


def test_a_head_rejects_one_confirms_one_and_downloads_the_notice(
    system: Any, target: Target, tabs: Any, tmp_path: Path  # noqa: F811
) -> None:
    add_road(system)
    now = datetime.now(UTC)
    fine = seed(system, "01 777 KGA", now - timedelta(minutes=20))
    old = seed(system, "01 555 KGC", now - timedelta(days=40))  # older than the list's default 30 days
    system.violations.confirm(system.users.authenticate("yk.head", PASSWORD), old.id)
    misread = seed(system, "01 888 KGB", now - timedelta(minutes=10))
    tab = tabs()
    page = tab.page
    sign_in(tab, "regional_head", "/plates?tab=violations")
    page.locator('[data-testid="tab-violations"][data-ready="true"]').wait_for()
    # reviewed weeks ago: shown as reviewed, with its notice, not offered for review again
    reviewed = page.locator(f'[data-testid="vi-item"][data-event-id="{old.id}"]')
    assert reviewed.get_by_test_id("vi-review").get_attribute("data-status") == "confirmed"
    assert reviewed.get_by_test_id("vi-confirm").count() == 0 and reviewed.get_by_test_id("vi-notice").count() == 1

    # rejecting needs a reason: nothing is sent without one
    item = page.locator(f'[data-testid="vi-item"][data-event-id="{misread.id}"]')
    panel = item.get_by_test_id("vi-review")
    assert panel.get_attribute("data-status") == "pending"
    assert item.get_by_test_id("vi-status").inner_text() == "Ожидает проверки"
    assert "не проверены" in item.get_by_test_id("vi-clock").inner_text()  # no clock data: said plainly
    item.get_by_test_id("vi-reject").click()
    wait_for(lambda: "причину" in page.locator("#toast").inner_text(), 5, "the reason is asked for")
    assert item.get_by_test_id("vi-review").get_attribute("data-status") == "pending"
    item.get_by_test_id("vi-reason-input").fill("номер на выезде прочитан неверно")
    item.get_by_test_id("vi-reject").click()
    item.locator('[data-testid="vi-review"][data-status="rejected"]').wait_for()
    assert item.get_by_test_id("vi-reason").inner_text() == "номер на выезде прочитан неверно"
    assert item.get_by_test_id("vi-notice").count() == 0

    item = page.locator(f'[data-testid="vi-item"][data-event-id="{fine.id}"]')
    item.get_by_test_id("vi-confirm").click()
    item.locator('[data-testid="vi-review"][data-status="confirmed"]').wait_for()
    assert item.get_by_test_id("vi-status").inner_text() == "Подтверждено"
    with page.expect_download() as download:
        item.get_by_test_id("vi-notice").click()
    saved = tmp_path / "notice.pdf"
    download.value.save_as(saved)
    data = saved.read_bytes()
    assert data.startswith(b"%PDF")
    with system.db.session() as s:
        row = s.get(ViolationRow, fine.id)
        rejected = s.get(ViolationRow, misread.id)
    assert (row.status, row.reviewed_by) == ("confirmed", "yk.head")
    assert (rejected.status, rejected.reason) == ("rejected", "номер на выезде прочитан неверно")
    text = pdf_text(data)
    assert b"(01 777 KGA)" in text and f"({row.evidence_sha256})".encode() in text
    tab.shot("violation-reviewed", item)

    actions = {a.action for a in system.audit.search(Scope.national(), actor="yk.head", action="violation.*")}
    assert actions == {"violation.reject", "violation.confirm", "violation.notice"}
    assert len(system.audit.search(Scope.national(), actor="yk.head", action="violation.confirm")) == 2
