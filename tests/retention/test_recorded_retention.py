"""Retention over real recordings: simulator cameras over RTSP, ffmpeg, the scheduler thread.

1. Budget: two cameras record 1 s segments; once each has a few, part of one camera's footage is
   locked to a case and the budget is set just above what is stored. As recording goes on, usage
   passes the warning share (``storage_warning``), then the budget (``storage_shed``): the
   scheduled passes delete the oldest unlocked footage first, the locked range survives.
2. Disk full (needs root, for a tmpfs of 1.4 MB): the recorder finds free space under its floor
   and asks retention to shed instead of stopping; once everything is locked it cannot, and the
   gap it records says so.
"""

from __future__ import annotations

import contextlib
import subprocess
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from koopsuz.security.principal import Principal, Role, Scope
from koopsuz.store.retention_repo import RETENTION_CAUSE
from koopsuz.store.tables import EventRow, RecordingGapRow, RecordingSegmentRow, RetentionRunRow
from koopsuz.system import System
from tests.recording.conftest import wait_until
from tests.retention.conftest import make_system

INVESTIGATOR = Principal(7, "yk.investigator", "Investigator", Role.INVESTIGATOR, "KG-Y")


@dataclass
class Budgeted:
    system: System
    before: dict[int, tuple[str, str, datetime, datetime]]  # segment id -> (camera, path, start, end) at lock time
    lock_id: int
    locked: tuple[datetime, datetime]


def seg_rows(system: System) -> list[RecordingSegmentRow]:
    with system.db.session() as s:
        return list(s.query(RecordingSegmentRow).order_by(RecordingSegmentRow.start))


def events(system: System, *kinds: str) -> list[EventRow]:
    with system.db.session() as s:
        rows = s.query(EventRow).filter(EventRow.kind.in_(kinds)).all()
    return sorted(rows, key=lambda e: e.id)


def utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


@pytest.fixture(scope="module")
def budgeted(sim: Any, tmp_path_factory: pytest.TempPathFactory) -> Budgeted:
    base = tmp_path_factory.mktemp("budget")
    cams = [("ret-1", "t-1", "street", "KG-Y"), ("ret-2", "t-2", "school", "KG-C")]
    system = make_system(
        base,
        sim.port,
        cams,
        recording_min_free_mb=0,
        retention_interval_s=1.0,
        storage_warn_fraction=0.6,
        storage_shed_margin=0.15,
    )
    system.start(ingest=False)
    try:

        def enough() -> bool:
            system.recording.flush()
            rows = seg_rows(system)
            return all(sum(r.camera == c for r in rows) >= 3 for c, *_ in cams)

        wait_until(enough, 30, "three segments of each camera")
        rows = seg_rows(system)
        ret1 = [r for r in rows if r.camera == "ret-1"]
        # lock ret-1's second and third segments (a little inside them, so exactly those two)
        a, b = utc(ret1[1].start) + timedelta(milliseconds=100), utc(ret1[2].end) - timedelta(milliseconds=100)
        lock = system.evidence_locks.lock(INVESTIGATOR, "ret-1", a, b, "YK-2026-042", "robbery at the market")
        used = sum(r.size for r in rows)
        system.retention.budget = replace(system.retention.budget, budget_bytes=int(used / 0.5))  # 50 % now
        wait_until(lambda: len(events(system, "storage_shed")) >= 2, 40, "two sheds for the budget")
        system.retention.stop()
        system.recording.flush()
        before = {r.id: (r.camera, r.path, utc(r.start), utc(r.end)) for r in rows}
        return Budgeted(system, before, lock.id, (utc(ret1[1].start), utc(ret1[2].end)))
    finally:
        system.stop()


def test_warning_comes_before_the_shed(budgeted: Budgeted) -> None:
    evs = events(budgeted.system, "storage_warning", "storage_shed")
    kinds = [e.kind for e in evs]
    # raised once, on the pass that first found usage past 60 % and still under the budget: before
    # anything was shed; shedding to 15 % under the budget stays past 60 %, so no second warning
    assert kinds[0] == "storage_warning" and kinds.count("storage_warning") == 1, kinds
    warn, shed = evs[0], evs[1]
    assert utc(warn.ts) < utc(shed.ts) and warn.region == "KG" and shed.region == "KG"
    assert 0.6 * warn.payload["budget_bytes"] <= warn.payload["used_bytes"] < warn.payload["budget_bytes"]
    assert shed.payload["shed_bytes"] > 0 and shed.payload["trigger"] == "schedule"
    assert shed.payload["oldest_kept"] and shed.payload["run"] is not None


def test_oldest_unlocked_deleted_first_and_the_lock_survives(budgeted: Budgeted) -> None:
    system = budgeted.system
    now_rows = {r.id: r for r in seg_rows(system)}
    deleted = {i: v for i, v in budgeted.before.items() if i not in now_rows}
    kept_old = {i: v for i, v in budgeted.before.items() if i in now_rows}
    assert deleted, "nothing was shed"
    la, lb = budgeted.locked
    locked = {i for i, (cam, _p, a, b) in budgeted.before.items() if cam == "ret-1" and a < lb and b > la}
    assert len(locked) == 2 and locked <= set(now_rows)  # the locked range survives
    unlocked_kept = [v[2] for i, v in kept_old.items() if i not in locked]
    newest_deleted = max(v[2] for v in deleted.values())
    # oldest first, across both cameras: everything deleted started before anything unlocked that is kept
    assert not unlocked_kept or newest_deleted <= min(unlocked_kept)
    root = system.settings.media_dir.resolve()
    for _cam, path, _a, _b in deleted.values():
        assert not (root / path).exists(), path  # the files are really gone
    for r in now_rows.values():
        assert (root / r.path).exists(), r.path
    # the runs' reports add up to what went, and name the lock that spared footage
    with system.db.session() as s:
        runs = s.query(RetentionRunRow).order_by(RetentionRunRow.id).all()
    shed_runs = [r for r in runs if r.deleted_segments]
    assert sum(r.deleted_segments for r in shed_runs) >= len(deleted)
    for run in shed_runs:
        parts = [v for cam in run.report["deleted"].values() for v in cam.values()]
        assert sum(p["segments"] for p in parts) == run.deleted_segments
        assert sum(p["bytes"] for p in parts) == run.deleted_bytes and run.trigger == "schedule"
        assert all(k.endswith(":budget") for cam in run.report["deleted"].values() for k in cam)
    assert any(budgeted.lock_id in r.report["spared"].get("ret-1", {}).get("locks", []) for r in shed_runs)
    # the oldest footage kept is the locked range (everything older went)
    assert min(utc(r.start) for r in now_rows.values()) == la
    assert shed_runs[-1].report["oldest_kept"] == la.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def test_timeline_no_longer_lists_deleted_spans(budgeted: Budgeted) -> None:
    system = budgeted.system
    ret1 = sorted((v for v in budgeted.before.values() if v[0] == "ret-1"), key=lambda v: v[2])
    a, b = ret1[0][2] - timedelta(seconds=1), datetime.now(UTC)
    tl = system.playback.timeline("ret-1", a, b)
    spans = [(datetime.fromisoformat(x["start"]), datetime.fromisoformat(x["end"])) for x in tl["spans"]]
    first_deleted = ret1[0]  # ret-1's first segment is older than the lock: shed
    ms = timedelta(milliseconds=1)  # the timeline speaks in milliseconds
    assert not any(s < first_deleted[3] - ms and e > first_deleted[2] + ms for s, e in spans), (first_deleted, spans)
    la, lb = budgeted.locked
    assert any(s <= la + ms and e >= lb - ms for s, e in spans)  # the locked island is still listed
    assert tl["unexplained"] == []  # every hole retention made is explained
    assert RETENTION_CAUSE in {g["cause"] for g in tl["gaps"]}
    status = system.retention.status(Scope.of("KG-Y"))
    assert [c["camera"] for c in status["cameras"]] == ["ret-1"]
    assert status["volumes"][0]["budget_bytes"] and status["runs"]


# -- disk full ---------------------------------------------------------------------------------
@contextlib.contextmanager
def tmpfs(path: Path, size: str):
    path.mkdir(parents=True, exist_ok=True)
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs to fill (needs root): {r.stderr.decode().strip()}")
    try:
        yield path
    finally:
        if subprocess.run(["umount", str(path)], capture_output=True).returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_disk_full_sheds_oldest_then_gaps_only_when_all_is_locked(sim: Any, tmp_path: Path) -> None:
    cams = [("full-1", "t-1", "street", "KG-Y"), ("full-2", "t-2", "street", "KG-Y")]
    # 1 MiB floor on a 1.4 MiB disk: a few seconds of two cameras go under it
    with tmpfs(tmp_path / "var" / "media", "1424k"):
        system = make_system(tmp_path, sim.port, cams, recording_min_free_mb=1, retention=False)
        system.start(ingest=False)
        try:

            def shed_runs() -> list[RetentionRunRow]:
                with system.db.session() as s:
                    return s.query(RetentionRunRow).filter_by(trigger="disk_full").all()

            wait_until(lambda: any(r.deleted_segments for r in shed_runs()), 40, "retention shedding for the floor")
            shed_at = datetime.now(UTC)
            system.recording.flush()
            first = shed_runs()[0]
            assert first.report["need_bytes"] > 0 and first.report["shed_bytes"] >= first.report["need_bytes"]
            shed = events(system, "storage_shed")
            assert shed and shed[0].payload["trigger"] == "disk_full"
            warned = events(system, "storage_warning")  # under twice the floor: warned first
            assert warned and utc(warned[0].ts) <= utc(shed[0].ts) and "floor" in warned[0].payload["detail"]
            wait_until(
                lambda: system.recording.recorder("full-1").health.last_segment_end > shed_at + timedelta(seconds=2),
                15,
                "full-1 recording on after the shed",
            )
            with system.db.session() as s:
                assert s.query(RecordingGapRow).filter_by(cause="disk_full").count() == 0  # no gap: room was made
            # now lock everything: nothing can be shed, and the gap says why
            now = datetime.now(UTC)
            for cam, *_ in cams:
                system.evidence_locks.lock(
                    INVESTIGATOR, cam, now - timedelta(hours=1), now + timedelta(hours=1), "C-1", ""
                )

            def full_gap() -> RecordingGapRow | None:
                system.recording.flush()
                with system.db.session() as s:
                    return s.query(RecordingGapRow).filter_by(cause="disk_full").first()

            gap = wait_until(full_gap, 40, "a disk_full gap once everything is locked")
            assert "could not free enough" in gap.detail["detail"], gap.detail
            with system.db.session() as s:
                shed_count = s.query(RetentionRunRow).filter(RetentionRunRow.deleted_segments > 0).count()
            assert shed_count >= 1
            # operators are told the recorder stopped (the event is written by the writer's thread)
            wait_until(lambda: events(system, "recording_gap"), 15, "the recording_gap event")
        finally:
            system.stop()
