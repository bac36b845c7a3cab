"""A hotlist hit taken back reaches whoever was told of the hit (webhooks and MQTT topics).

The real road watch of ``notif_system`` raises the hit on a provisional read and, when the decided read
is another plate, a ``hotlist_unconfirmed`` alert naming it (``retracts``). A subscription filtered on
``hotlist_hit`` gets both, from a real local HTTP receiver's point of view; one filtered on other kinds
gets neither; MQTT puts the withdrawal on the hit's topic.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from koopsuz.domain.events import Event, Severity
from koopsuz.services.mqtt_publisher import topic_for
from koopsuz.services.webhooks import Target, topic_kind

from .conftest import Receiver
from .test_webhooks import SECRET, _clean, admin

LISTED = "01 777 HIT"
DECIDED = "01 777 HLT"  # one letter apart: the provisional read was wrong


def plate_event(system: Any, kind: str, text: str, sighting: str, ts: datetime) -> Event:
    e = Event(
        kind=kind, region="KG-Y", camera="yk-cam-1", site="yk-square", ts=ts,
        payload={"text": text, "compact": text.replace(" ", ""), "format": "private", "confidence": 0.9,
                 "vehicle": "car", "timing": "read" if kind == "plate_provisional" else "line",
                 "sighting": sighting},
    )  # fmt: skip
    system.writer.write_now([e])
    return e


def test_subscriber_of_hits_receives_the_withdrawal_of_a_hit(notif_system: Any, receiver: Receiver) -> None:
    system = notif_system
    _clean(system)
    who = admin(system)
    stolen = system.hotlists.create_list(who, {"name": "Stolen (retractions)", "kind": "stolen", "priority": 1})
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    system.hotlists.add_entry(who, stolen["id"], {"plate": LISTED, "reason": "stolen car", "legal_basis": "case 7",
                                                  "expires_at": until})
    system.webhooks.create(who, {"name": "Hits only", "url": receiver.url + "/hits", "secret": SECRET,
                                 "rule_kinds": ["hotlist_hit"], "min_severity": "high"})
    system.webhooks.create(who, {"name": "Zones only", "url": receiver.url + "/zones", "secret": SECRET,
                                 "rule_kinds": ["zone"], "min_severity": "info"})
    now = datetime.now(UTC)
    plate_event(system, "plate_provisional", LISTED, "retract-1", now)
    first = receiver.wait(1, timeout=30)  # returns at once when it comes; generous for a loaded machine
    assert first, "the hit never reached the receiver"
    hit = json.loads(first[0][1])
    assert hit["kind"] == "hotlist_hit" and hit["event"]["payload"]["provisional"] is True
    plate_event(system, "plate_read", DECIDED, "retract-1", now)
    got = receiver.wait(2, timeout=30)
    time.sleep(0.5)  # nothing more may come
    bodies = [(p, json.loads(b)) for _h, b, p in receiver.requests]
    assert [p for p, _b in bodies] == ["/hits", "/hits"], bodies  # the zones subscription hears of neither
    back = bodies[1][1]
    assert back["kind"] == "hotlist_unconfirmed" and back["event"]["payload"]["retracts"] == hit["event"]["id"]
    assert back["event"]["payload"]["plate"] == DECIDED and back["event"]["payload"]["listed_plate"] == LISTED
    assert got[1][0]["x-koopsuz-event"] == "alert"
    hooks = {h["name"]: h["id"] for h in system.webhooks.list(who)}
    log = system.webhooks.deliveries(who, hooks["Hits only"])
    assert {d["kind"] for d in log} == {"hotlist_hit", "hotlist_unconfirmed"}


def test_a_withdrawal_is_filtered_and_published_under_the_kind_it_takes_back() -> None:
    back = Event(kind="alert", region="KG-Y", camera="yk-cam-1", severity=Severity.CRITICAL, ts=datetime.now(UTC),
                 payload={"rule_kind": "hotlist_unconfirmed", "retracts": "01HIT", "plate": DECIDED})
    assert topic_kind(back) == "hotlist_hit" and topic_for(back) == "koopsuz/alerts/KG-Y/hotlist_hit"
    hits = Target("t", "http://x", SECRET, None, frozenset({"alert"}), frozenset({"hotlist_hit"}), 0)
    own = Target("t", "http://x", SECRET, None, frozenset({"alert"}), frozenset({"hotlist_unconfirmed"}), 0)
    chuy = Target("t", "http://x", SECRET, "KG-C", frozenset({"alert"}), frozenset({"hotlist_hit"}), 0)
    assert hits.wants(back) and own.wants(back) and not chuy.wants(back)
    # without ``retracts`` it takes nothing back: an alert of its own kind, not a hit's
    lone = back.model_copy(update={"payload": {"rule_kind": "hotlist_unconfirmed"}})
    assert topic_kind(lone) == "hotlist_unconfirmed" and not hits.wants(lone)


def test_the_queue_folds_a_withdrawal_into_its_hit_and_keeps_one_whose_hit_has_left() -> None:
    from koopsuz.services.alert_queue import _fold_withdrawals

    now = datetime.now(UTC)
    hit = Event(kind="alert", region="KG-Y", severity=Severity.CRITICAL, ts=now,
                payload={"rule_kind": "hotlist_hit", "plate": LISTED})  # fmt: skip
    back = Event(kind="alert", region="KG-Y", severity=Severity.CRITICAL, ts=now + timedelta(seconds=1),
                 payload={"rule_kind": "hotlist_unconfirmed", "retracts": hit.id, "plate": DECIDED,
                          "listed_plate": LISTED, "rule_name": "Stolen: not confirmed"})  # fmt: skip
    zone = Event(kind="alert", region="KG-Y", severity=Severity.HIGH, ts=now, payload={"rule_kind": "zone"})
    folded = _fold_withdrawals([(hit, {"alert": hit.id}), (zone, {"alert": zone.id}), (back, {"alert": back.id})])
    assert [e.id for e, _st in folded] == [hit.id, zone.id]  # the withdrawal is shown on its hit
    withdrawn = folded[0][1]["withdrawn"]
    assert withdrawn["by"] == back.id and withdrawn["plate"] == DECIDED and withdrawn["listed_plate"] == LISTED
    assert "withdrawn" not in folded[1][1]
    # the hit already in an incident (out of the queue): the withdrawal stays, naming what it takes back
    (alone,) = _fold_withdrawals([(back, {"alert": back.id})])
    assert alone[1]["retracts"] == hit.id
