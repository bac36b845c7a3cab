"""The road watch in several processes on one bus and one store (scale-out workers, issue 9).

Every worker's road watch sees every plate read (a section's entry and exit cameras may be held by
different workers), but only the worker that made the read (named in it) raises its hotlist hits and
violations: one alert per read however many workers run, also when the camera's lease moved between
the read and its handling. A hotlist edited through another process
(whose in-process listeners this watch is not among) reaches the watch within its reload interval.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from koopsuz.bus.memory import MemoryBus
from koopsuz.domain.events import Event
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Principal, Role
from koopsuz.services.hotlists import HotlistService
from koopsuz.services.road_config import SectionService
from koopsuz.services.road_watch import RoadWatch
from koopsuz.store.db import Database
from koopsuz.system import _reads_made_here

HEAD = Principal(1, "yk.head", "Issyk-Kul Head", Role.REGIONAL_HEAD, "KG-Y")


def _read(camera: str, text: str, compact: str, node: str | None = None) -> Event:
    payload = {"text": text, "compact": compact, "confidence": 0.97, "format": "private"}
    return Event(
        kind="plate_read",
        region="KG-Y",
        camera=camera,
        ts=datetime.now(UTC),
        payload=payload | ({"node": node} if node else {}),
    )


def _wait(cond, timeout: float = 5.0) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.05)
    return bool(cond())


def test_each_read_is_acted_on_once_and_edits_from_another_process_arrive(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'store.db'}")
    db.migrate()
    bus = MemoryBus()
    expires = (datetime.now(UTC) + timedelta(days=3)).isoformat()
    alerts: list[Event] = []
    held = {"w1": {"cam-a"}, "w2": {"cam-b"}}
    alive = {"w1", "w2"}
    watches = []
    for worker in ("w1", "w2"):  # two workers: each its own services over the same store, as two processes
        audit = AuditLog(db)
        hotlists, sections = HotlistService(db, audit), SectionService(db, audit)
        leases = SimpleNamespace(  # what System hands in: this worker, its cameras, the live workers
            worker_id=worker, held=lambda w=worker: held[w], workers=lambda: set(alive)
        )
        watch = RoadWatch(bus, alerts.append, hotlists, sections, db, owns=_reads_made_here(leases), reload_s=0.3)
        watch.start()
        watches.append(watch)
    try:
        other_process = HotlistService(db, AuditLog(db))  # e.g. `koopsuz api`: its listeners are its own
        stolen = other_process.create_list(HEAD, {"name": "Stolen", "kind": "stolen", "region": "KG-Y"})
        other_process.add_entry(
            HEAD, stolen["id"], {"plate": "01 123 ABC", "reason": "stolen", "legal_basis": "c-1", "expires_at": expires}
        )
        time.sleep(0.5)  # past the reload interval: both watches read the list the other process wrote
        for cam in ("cam-a", "cam-b"):
            bus.publish(_read(cam, "01 123 ABC", "01123ABC"))
        assert _wait(lambda: len(alerts) >= 2)
        time.sleep(0.3)
        hits = [a for a in alerts if a.payload.get("rule_kind") == "hotlist_hit"]
        assert sorted(a.camera or "" for a in hits) == ["cam-a", "cam-b"], hits  # once each, not twice
        assert [w.stats()["reads"] for w in watches] == [2, 2]  # both saw both reads
        # a read naming no maker, of a camera nobody holds (between leases): no alert from anyone
        bus.publish(_read("cam-c", "01 123 ABC", "01123ABC"))
        assert _wait(lambda: all(w.stats()["reads"] == 3 for w in watches))
        assert len([a for a in alerts if a.payload.get("rule_kind") == "hotlist_hit"]) == 2
        # w1 read cam-a, then its lease moved to w2 before the read was handled: w1, its maker, acts, once
        held["w1"], held["w2"] = set(), {"cam-a", "cam-b"}
        bus.publish(_read("cam-a", "01 123 ABC", "01123ABC", node="w1"))
        assert _wait(lambda: all(w.stats()["reads"] == 4 for w in watches))
        time.sleep(0.3)
        hits = [a for a in alerts if a.payload.get("rule_kind") == "hotlist_hit"]
        assert len(hits) == 3 and [w.stats()["hits"] for w in watches] == [2, 1], [w.stats() for w in watches]
        # a read made by a worker that died (replayed from its outbox after a restart): the holder acts
        bus.publish(_read("cam-b", "01 123 ABC", "01123ABC", node="w0-dead"))
        assert _wait(lambda: all(w.stats()["reads"] == 5 for w in watches))
        time.sleep(0.3)
        assert [w.stats()["hits"] for w in watches] == [2, 2], [w.stats() for w in watches]
    finally:
        for w in watches:
            w.stop()
        db.dispose()
