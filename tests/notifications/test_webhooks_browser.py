"""The webhooks admin page in headless Chromium against a real server and a real HTTP receiver.

An administrator reaches it from the navigation, is told what is wrong with a bad subscription (a
short secret) in the page's words, adds one for Issyk-Kul's critical alerts, test-fires it (the
receiver gets one POST whose signature checks out with the secret; the row shows the answer),
reads the delivery of a real alert written through the event writer (status, attempts, answer),
switches it off, sees a dead address's test fail with the reason, and removes a subscription. A
regional operator has no link and gets 403. Screenshots: artifacts/screenshots/webhooks-*.png.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from koopsuz.api.app import create_app
from koopsuz.config import Settings
from koopsuz.security.principal import Scope
from tests.conftest import DATA, PASSWORD, free_port, wait_port
from tests.e2e.test_browser import Page, Target, browser, wait_for  # noqa: F401  (browser is a fixture)

from .conftest import Receiver, alert

pytestmark = [pytest.mark.browser]
SECRET = "a-shared-secret-of-32-characters"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Any]]:
    import uvicorn

    from koopsuz.system import System

    base: Path = tmp_path_factory.mktemp("webhooks-ui")
    system = System(Settings(data_dir=base / "var", secret_key="ui-secret", record=False, webhook_timeout_s=2.0))
    system.load_deployment(DATA / "two-regions.yaml")
    system.users.create("test", "admin", PASSWORD, "admin", None)
    system.users.create("test", "yk.operator", PASSWORD, "regional_operator", "KG-Y")
    system.start(ingest=False, record=False)  # the writer and the webhook dispatcher: real deliveries
    port = free_port()
    srv = uvicorn.Server(
        uvicorn.Config(create_app(system, start_system=False), port=port, log_level="warning",
                       timeout_graceful_shutdown=1)
    )
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    wait_port(port, 30)
    try:
        yield f"http://127.0.0.1:{port}", system
    finally:
        srv.should_exit = True
        thread.join(10)
        system.stop()


def row(page: Any, name: str) -> Any:
    return page.locator('[data-testid="webhook-row"]', has_text=name)


def fill(page: Any, name: str, url: str, secret: str, region: str = "", severity: str = "high") -> None:
    page.get_by_test_id("webhook-name").fill(name)
    page.get_by_test_id("webhook-url").fill(url)
    page.get_by_test_id("webhook-secret").fill(secret)
    page.get_by_test_id("webhook-region").select_option(region)
    page.get_by_test_id("webhook-severity").select_option(severity)


def test_admin_adds_tests_switches_off_and_removes_webhooks(browser: Any, server: tuple[str, Any]) -> None:  # noqa: F811
    base_url, system = server
    receiver = Receiver()
    users = {"admin": ("admin", PASSWORD), "regional_operator": ("yk.operator", PASSWORD)}
    tab = Page(browser, Target(base_url, users, None, {}), "webhooks")
    try:
        page = tab.page
        page.on("dialog", lambda d: d.accept())  # the removal's confirmation
        tab.sign_in("admin")
        page.get_by_test_id("nav-webhooks").click()
        page.locator('[data-testid="webhooks-page"][data-ready="true"]').wait_for()
        assert page.get_by_test_id("webhooks-empty").is_visible()

        # a secret too short: the API's reason, with the field named in the page's language
        fill(page, "Диспетчерская", f"{receiver.url}/hook", "short")
        page.get_by_test_id("webhook-submit").click()
        error = page.get_by_test_id("webhook-error")
        error.wait_for()
        assert "Общий секрет" in error.inner_text() and "16" in error.inner_text()
        assert page.locator('[data-testid="webhook-row"]').count() == 0

        fill(page, "Диспетчерская", f"{receiver.url}/hook", SECRET, region="KG-Y", severity="critical")
        page.get_by_test_id("webhook-submit").click()
        dispatch = row(page, "Диспетчерская")
        dispatch.wait_for()
        assert error.is_hidden()
        assert dispatch.get_attribute("data-enabled") == "true"
        assert page.get_by_test_id("webhook-secret").input_value() == ""  # the form forgets the secret

        # test-fire: one signed POST reaches the receiver, the row shows the answer
        dispatch.get_by_test_id("webhook-test").click()
        page.locator('[data-testid="webhook-row"]', has_text="Диспетчерская").locator(
            '[data-testid="webhook-test-result"][data-ok="true"]').wait_for()
        assert "HTTP 200" in row(page, "Диспетчерская").get_by_test_id("webhook-test-result").inner_text()
        (headers, raw, path), = receiver.wait(1)
        assert path == "/hook"
        assert headers["x-koopsuz-signature"] == "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest()
        sent = json.loads(raw)
        assert sent["kind"] == "test" and sent["test"] is True and sent["by"] == "admin"
        tab.shot("webhooks-01-tested")

        # a real alert: delivered by the dispatcher, and its row in the subscription's deliveries
        hit = alert("KG-Y", "critical")
        system.writer.write_now([hit])
        receiver.wait(2)
        assert receiver.bodies()[1]["event"]["id"] == hit.id
        hook_id = row(page, "Диспетчерская").get_attribute("data-webhook-id")
        wait_for(lambda: tab.api(f"/api/webhooks/{hook_id}/deliveries")[0]["status"] == "delivered", 10,
                 "the delivery recorded as delivered")  # the answer is recorded just after the POST returns
        row(page, "Диспетчерская").get_by_test_id("webhook-log").click()
        delivered = page.locator(f'[data-testid="webhook-delivery"][data-event-id="{hit.id}"]')
        delivered.wait_for()
        assert delivered.get_attribute("data-status") == "delivered"
        assert "HTTP 200" in delivered.inner_text() and "Доставлено" in delivered.inner_text()
        assert page.locator('[data-testid="webhook-delivery"]').count() == 1  # the test-fire is not logged
        tab.shot("webhooks-02-deliveries")

        # switched off, it stays listed as off (and the API agrees)
        row(page, "Диспетчерская").get_by_test_id("webhook-toggle").click()
        page.locator('[data-testid="webhook-row"][data-enabled="false"]', has_text="Диспетчерская").wait_for()
        assert row(page, "Диспетчерская").get_by_test_id("webhook-state").inner_text() == "Выключен"
        assert [w["enabled"] for w in tab.api("/api/webhooks")] == [False]

        # a dead address: the test fails and says why
        fill(page, "SMS-шлюз", "http://127.0.0.1:9/sms", SECRET)
        page.get_by_test_id("webhook-submit").click()
        sms = row(page, "SMS-шлюз")
        sms.wait_for()
        sms.get_by_test_id("webhook-test").click()
        failed = row(page, "SMS-шлюз").locator('[data-testid="webhook-test-result"][data-ok="false"]')
        failed.wait_for()
        assert "Не доставлено" in failed.inner_text() and "Connect" in failed.inner_text()
        tab.shot("webhooks-03-failed-test")

        # removed: gone from the page and the API
        row(page, "SMS-шлюз").get_by_test_id("webhook-remove").click()
        row(page, "SMS-шлюз").wait_for(state="detached")
        assert "SMS-шлюз" in page.locator("#toast").inner_text()  # "removed", in the page's words
        assert [w["name"] for w in tab.api("/api/webhooks")] == ["Диспетчерская"]
        # the browser logs the refused (422) add as a failed load; nothing else may go wrong
        assert [e for e in tab.errors if "status of 422" not in e] == [], tab.errors
    finally:
        tab.close()
        receiver.close()

    tests = [a for a in system.audit.search(Scope.national()) if a.action == "webhook.test"]
    assert sorted(a.outcome for a in tests) == ["error", "ok"]
    assert all(a.actor == "admin" for a in tests)

    # a regional operator: no link, 403 for the page and the test route
    op = Page(browser, Target(base_url, users, None, {}), "webhooks-op")
    try:
        op.sign_in("regional_operator")
        assert op.page.get_by_test_id("nav-webhooks").count() == 0
        assert op.page.request.get(op.url("/webhooks")).status == 403
    finally:
        op.close()
    with httpx.Client(base_url=base_url) as c:
        tokens = {}
        for user in ("admin", "yk.operator"):
            r = c.post("/api/auth/login", json={"username": user, "password": PASSWORD})
            tokens[user] = {"Authorization": f"Bearer {r.json()['token']}"}
            c.cookies.clear()
        hook = c.get("/api/webhooks", headers=tokens["admin"]).json()[0]["id"]
        r = c.post(f"/api/webhooks/{hook}/test", headers=tokens["yk.operator"])
        assert r.status_code == 403 and "cameras.write" in r.json()["detail"]
        r = c.post("/api/webhooks/nope/test", headers=tokens["admin"])
        assert r.status_code == 404 and "nope" in r.json()["detail"]
