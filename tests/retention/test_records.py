"""Retention of store records: plate reads (row and event) and events go at their days, locks spare them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from koopsuz.domain.events import Event
from koopsuz.store.tables import EventRow, LineCountRow, PlateReadRow
from tests.conftest import PASSWORD


def test_plate_reads_and_events_expire_by_policy_and_locks_spare_them(system) -> None:
    now = datetime.now(UTC)

    def ev(kind: str, days: float, **payload: object) -> Event:
        return Event(kind=kind, region="KG-Y", camera="yk-cam-1", ts=now - timedelta(days=days), payload=payload)

    old_read = ev("plate_read", 40, text="01 123 ABC", compact="01123ABC", format="private", confidence=0.9)
    new_read = ev("plate_read", 10, text="01 124 ABC", compact="01124ABC", format="private", confidence=0.9)
    # the provisional read sent before it was decided is the same plate: the plate-read days, not the events'
    old_guess = ev("plate_provisional", 40, text="01 123 ABC", compact="01123ABC", format="private", confidence=0.97)
    ancient = ev("motion", 400, area=0.1)
    locked = ev("alert", 380, rule="r", rule_kind="zone_entry")
    recent = ev("alert", 100, rule="r", rule_kind="zone_entry")
    crossed = ev("track_crossed", 500, rule="gate", direction="left_to_right", **{"class": "person"})
    system.writer.write_now([old_read, old_guess, new_read, ancient, locked, recent, crossed])
    investigator = system.users.authenticate("yk.investigator", PASSWORD)
    system.evidence_locks.lock(
        investigator, "yk-cam-1", locked.ts - timedelta(minutes=1), locked.ts + timedelta(minutes=1), "CC-1", "hold"
    )
    dry = system.retention.run("manual", dry_run=True)
    assert dry.report["records"] == {"plate_read": 2, "event": 2}
    with system.db.session() as s:
        assert s.execute(select(func.count()).select_from(EventRow)).scalar() == 7  # a dry run deletes nothing
    result = system.retention.run("manual")
    assert result.report["records"] == {"plate_read": 2, "event": 2}
    with system.db.session() as s:
        left = set(s.execute(select(EventRow.id)).scalars())
        reads = set(s.execute(select(PlateReadRow.id)).scalars())
        counts = s.execute(select(func.sum(LineCountRow.count))).scalar()
    assert left == {new_read.id, locked.id, recent.id}
    assert reads == {new_read.id}  # the read's row went with its event
    assert counts == 1  # the line counts outlive the crossing events they were counted from
    assert system.retention.run("manual").report["records"] == {"plate_read": 0, "event": 0}
