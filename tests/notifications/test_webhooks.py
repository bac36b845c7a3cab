"""Alert webhooks against a real local HTTP receiver: signed deliveries, retries after a 500, region
scope and filters, the bounded delivery log, and the admin API (audited, refused to operators)."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any

from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.store.webhook_tables import WebhookDeliveryRow, WebhookRow
from tests.conftest import PASSWORD

from .conftest import Receiver, alert

SECRET = "s3cret-shared-with-dispatch"


def wait_for(pred: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = pred()
        if out:
            return out
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def _clean(system: Any) -> None:
    from sqlalchemy import delete

    with system.db.transaction() as s:
        s.execute(delete(WebhookDeliveryRow))
        s.execute(delete(WebhookRow))
    system.webhooks._changed()


def admin(system: Any) -> Any:
    return system.users.authenticate("admin", PASSWORD)


def test_signed_delivery_retry_after_500_and_region_scope(notif_system: Any, receiver: Receiver) -> None:
    system = notif_system
    _clean(system)
    who = admin(system)
    national = system.webhooks.create(who, {"name": "Ministry dispatch", "url": receiver.url + "/national",
                                            "secret": SECRET, "min_severity": "high"})
    regional = system.webhooks.create(who, {"name": "Issyk-Kul SMS", "url": receiver.url + "/yk",
                                            "secret": SECRET + "-yk", "region": "KG-Y",
                                            "rule_kinds": ["zone"], "min_severity": "critical"})
    assert "secret" not in national and national["secret_set"]
    receiver.codes = [500]  # the first POST fails: it must come again, signed the same way
    chuy = alert("KG-C", "critical")
    system.writer.write_now([chuy])
    got = receiver.wait(2)
    assert [p for _h, _b, p in got[:2]] == ["/national", "/national"]  # the regional one never sees Chuy
    (h1, b1, _), (h2, b2, _) = got[:2]
    assert b1 == b2 and h1["x-koopsuz-delivery"] == h2["x-koopsuz-delivery"]  # same delivery id: a retry
    expected = "sha256=" + hmac.new(SECRET.encode(), b2, hashlib.sha256).hexdigest()
    assert h2["x-koopsuz-signature"] == expected
    body = json.loads(b2)
    assert body["delivery"] == h2["x-koopsuz-delivery"] and body["event"]["id"] == chuy.id
    assert body["kind"] == "zone" and body["event"]["region"] == "KG-C"
    log = wait_for(lambda: [d for d in system.webhooks.deliveries(who, national["id"]) if d["status"] == "delivered"])
    assert log[0]["attempts"] == 2 and log[0]["response_code"] == 200 and log[0]["event_id"] == chuy.id
    # Issyk-Kul: a critical zone alert goes to both; a high one and a loitering one only to the national
    yk = alert("KG-Y", "critical")
    system.writer.write_now([yk, alert("KG-Y", "high"), alert("KG-Y", "critical", rule_kind="loitering"),
                             alert("KG-Y", "medium")])
    got = receiver.wait(6)
    time.sleep(0.5)  # nothing more may come
    got = receiver.requests
    by_path: dict[str, list[dict[str, Any]]] = {}
    for h, b, p in got:
        by_path.setdefault(p, []).append(json.loads(b))
        key = SECRET + "-yk" if p == "/yk" else SECRET
        assert h["x-koopsuz-signature"] == "sha256=" + hmac.new(key.encode(), b, hashlib.sha256).hexdigest()
    assert [b["event"]["id"] for b in by_path["/yk"]] == [yk.id]
    assert {b["event"]["region"] for b in by_path["/yk"]} == {"KG-Y"}
    assert len({b["event"]["id"] for b in by_path["/national"]}) == 4  # Chuy + 3 of 4 (medium is below high)
    assert system.webhooks.deliveries(who, regional["id"])[0]["event_id"] == yk.id


def test_failing_receiver_gives_up_and_never_blocks_the_bus(notif_system: Any, receiver: Receiver) -> None:
    system = notif_system
    _clean(system)
    who = admin(system)
    dead = system.webhooks.create(who, {"name": "Dead", "url": "http://127.0.0.1:9/none", "secret": SECRET})
    live = system.webhooks.create(who, {"name": "Live", "url": receiver.url, "secret": SECRET})
    t0 = time.monotonic()
    system.writer.write_now([alert("KG-Y", "critical") for _ in range(3)])
    assert time.monotonic() - t0 < 1.0  # the writer (and the bus) did not wait for any receiver
    receiver.wait(3)
    assert len(receiver.requests) == 3  # the live one is not held up by the dead one's retries
    attempts = system.settings.webhook_attempts
    failed = wait_for(lambda: [d for d in system.webhooks.deliveries(who, dead["id"]) if d["status"] == "failed"]
                      if len([d for d in system.webhooks.deliveries(who, dead["id"]) if d["status"] == "failed"]) == 3
                      else None, timeout=20)
    assert all(d["attempts"] == attempts and d["last_error"] for d in failed)
    assert all(d["status"] == "delivered" for d in system.webhooks.deliveries(who, live["id"]))


def test_delivery_log_is_bounded(notif_system: Any, receiver: Receiver) -> None:
    system = notif_system
    _clean(system)
    who = admin(system)
    hook = system.webhooks.create(who, {"name": "Bounded", "url": receiver.url, "secret": SECRET})
    old = system.webhook_dispatcher.log_size
    system.webhook_dispatcher.log_size = 5
    try:
        events = [alert() for _ in range(12)]
        for e in events:
            system.writer.write_now([e])
        receiver.wait(12)
        log = wait_for(lambda: (d := system.webhooks.deliveries(who, hook["id"], 1000)) and
                       all(x["status"] == "delivered" for x in d) and d)
        assert len(log) <= 5 + 1 and log[0]["event_id"] == events[-1].id  # newest kept, oldest pruned
    finally:
        system.webhook_dispatcher.log_size = old


def test_api_admin_only_validated_and_audited(notif_system: Any, receiver: Receiver) -> None:
    system = notif_system
    _clean(system)
    app = create_app(system, start_system=False)
    with TestClient(app) as c:
        tokens = {u: c.post("/api/auth/login", json={"username": u, "password": PASSWORD}).json()["token"]
                  for u in ("admin", "yk.operator")}
        c.cookies.clear()

        def call(user: str, method: str, path: str, **kw: Any) -> Any:
            c.cookies.clear()
            return c.request(method, path, headers={"Authorization": f"Bearer {tokens[user]}"}, **kw)

        good = {"name": "Dispatch", "url": receiver.url, "secret": SECRET, "region": "KG-Y"}
        assert call("yk.operator", "POST", "/api/webhooks", json=good).status_code == 403
        assert call("yk.operator", "GET", "/api/webhooks").status_code == 403
        for bad, word in (({**good, "url": "ftp://x/y"}, "url"), ({**good, "secret": "short"}, "secret"),
                          ({**good, "region": "KG-XX"}, "region"), ({**good, "min_severity": "loud"}, "min_severity"),
                          ({**good, "kinds": ["Alert!"]}, "kinds")):
            r = call("admin", "POST", "/api/webhooks", json=bad)
            assert r.status_code == 422 and word in r.text, (bad, r.text)
        r = call("admin", "POST", "/api/webhooks", json=good)
        assert r.status_code == 201, r.text
        hid = r.json()["id"]
        assert SECRET not in json.dumps(call("admin", "GET", "/api/webhooks").json())
        assert call("admin", "PATCH", f"/api/webhooks/{hid}", json={"enabled": False}).json()["enabled"] is False
        system.writer.write_now([alert()])
        time.sleep(0.5)
        assert receiver.requests == []  # disabled: nothing sent
        assert call("admin", "GET", f"/api/webhooks/{hid}/deliveries").json() == []
        assert call("admin", "GET", "/api/webhooks/nope/deliveries").status_code == 404
        assert call("admin", "DELETE", f"/api/webhooks/{hid}").status_code == 204
        assert call("admin", "GET", "/api/webhooks").json() == []
    from koopsuz.security.principal import Scope

    rows = system.audit.search(Scope.national(), action="webhook.*", target_id=hid)
    assert {r.action for r in rows} == {"webhook.create", "webhook.update", "webhook.delete"}
    assert all(SECRET not in json.dumps(r.detail or {}) for r in rows)  # the secret never reaches the log
