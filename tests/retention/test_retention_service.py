"""The retention service over a real store and real files (no cameras): days, clips, locks, snapshots.

Footage is laid out the way the recorder lays it out (``recordings/<camera>/<day>/<session>/``,
init and segment files, index rows), dated weeks back, so a pass has something to expire.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ulid import ULID

from koopsuz.config import Settings
from koopsuz.domain.events import Event, Severity
from koopsuz.security.principal import SYSTEM, Scope
from koopsuz.store.retention_repo import RETENTION_CAUSE
from koopsuz.store.tables import EventRow, RecordingGapRow, RecordingSegmentRow, RecordingSessionRow, RetentionRunRow
from koopsuz.system import System
from tests.conftest import DATA

NOW = datetime.now(UTC)
SEG = timedelta(seconds=4)


@pytest.fixture
def system(tmp_path: Path):
    s = System(
        Settings(data_dir=tmp_path / "var", secret_key="t", recording_min_free_mb=0, clip_pre_s=2, clip_post_s=2)
    )
    s.load_deployment(DATA / "two-regions.yaml")  # yk-cam-1: public place (KG-Y); ch-cam-1: school (KG-C)
    yield s
    s.stop()


def lay_session(system: System, camera: str, region: str, start: datetime, n: int, *, ended: bool = True) -> str:
    sid = str(ULID.from_datetime(start))
    rel = f"recordings/{camera}/{start:%Y-%m-%d}/{sid}"
    d = system.settings.media_dir / rel
    d.mkdir(parents=True)
    (d / "init.mp4").write_bytes(b"i" * 100)
    with system.db.transaction() as s:
        s.add(
            RecordingSessionRow(
                id=sid,
                camera=camera,
                region=region,
                started_at=start,
                ended_at=start + n * SEG if ended else None,
                dir=rel,
                init_path=f"{rel}/init.mp4",
                init_sha256="0" * 64,
                codec="h264",
                width=1,
                height=1,
            )
        )
        s.flush()
        for i in range(n):
            name = f"seg-{i:06d}.m4s"
            (d / name).write_bytes(b"s" * 1000)
            s.add(
                RecordingSegmentRow(
                    camera=camera,
                    region=region,
                    session=sid,
                    seq=i,
                    start=start + i * SEG,
                    end=start + (i + 1) * SEG,
                    duration_s=4.0,
                    size=1000,
                    sha256="0" * 64,
                    path=f"{rel}/{name}",
                )
            )
    return sid


def snapshot(system: System, camera: str, ts: datetime) -> Path:
    eid = str(ULID.from_datetime(ts))
    return system.settings.media_dir / system.media.save_snapshot(camera, eid, ts, b"\xff\xd8jpeg\xff\xd9")


def segments(system: System, camera: str) -> list[tuple[str, int]]:
    with system.db.session() as s:
        q = s.query(RecordingSegmentRow).filter_by(camera=camera).order_by(RecordingSegmentRow.start)
        return [(r.session, r.seq) for r in q]


def test_expiry_by_site_type_event_clips_locks_and_snapshots(system: System) -> None:
    media = system.settings.media_dir
    old = (NOW - timedelta(days=40)).replace(microsecond=0)
    yk_old = lay_session(system, "yk-cam-1", "KG-Y", old, 6)  # public place: 30 days of video
    yk_new = lay_session(system, "yk-cam-1", "KG-Y", NOW - timedelta(hours=1), 3, ended=False)
    ch_old = lay_session(system, "ch-cam-1", "KG-C", NOW - timedelta(days=20), 4)  # school: 14 days of video
    ch_gone = lay_session(system, "ch-cam-1", "KG-C", NOW - timedelta(days=19), 2)  # nothing locked: all goes
    alert_ts = old + 2 * SEG + timedelta(seconds=1)  # 9 s in; its clip [7 s, 11 s] touches segments 1 and 2
    system.writer.write_now(
        [
            Event(
                id=str(ULID.from_datetime(alert_ts)),
                kind="alert",
                region="KG-Y",
                camera="yk-cam-1",
                ts=alert_ts,
                severity=Severity.HIGH,
            ),
            Event(  # info events (motion) do not make clips
                id=str(ULID.from_datetime(old + 5 * SEG)),
                kind="motion",
                region="KG-Y",
                camera="yk-cam-1",
                ts=old + 5 * SEG + timedelta(seconds=1),
            ),
        ]
    )
    lock = system.evidence_locks.lock(
        SYSTEM, "ch-cam-1", NOW - timedelta(days=20) + SEG, NOW - timedelta(days=20) + 2 * SEG, "CH-1", "assault"
    )
    snaps = {
        "yk_old": snapshot(system, "yk-cam-1", old),
        "yk_new": snapshot(system, "yk-cam-1", NOW - timedelta(days=20)),  # 30 days for snapshots: kept
        "ch_locked": snapshot(system, "ch-cam-1", NOW - timedelta(days=20) + SEG + timedelta(seconds=1)),
        "ch_free": snapshot(system, "ch-cam-1", NOW - timedelta(days=20) + timedelta(hours=1)),
    }

    dry = system.retention.run("manual", dry_run=True)
    assert dry.run_id is None and len(dry.plan.delete) == 4 + 3 + 2 and all(p.exists() for p in snaps.values())
    assert len(segments(system, "yk-cam-1")) == 9

    result = system.retention.run("manual")
    # yk: segments 0, 3, 4, 5 of the old session were plain video; 1 and 2 lie in the alert's clip (90 days)
    assert segments(system, "yk-cam-1") == [(yk_old, 1), (yk_old, 2)] + [(yk_new, i) for i in range(3)]
    # ch (school, 14 days): only the locked segment 1 of the first session stays; the second session is gone
    assert segments(system, "ch-cam-1") == [(ch_old, 1)]
    rep = result.report
    assert rep["deleted"]["yk-cam-1"]["video:expired"]["segments"] == 4
    assert len(rep["deleted"]["yk-cam-1"]["video:expired"]["ranges"]) == 2  # [0] and [3, 5]
    assert rep["deleted"]["ch-cam-1"]["video:expired"] == {
        "segments": 5,
        "bytes": 5000,
        "ranges": rep["deleted"]["ch-cam-1"]["video:expired"]["ranges"],
    }
    assert rep["spared"]["ch-cam-1"]["locks"] == [lock.id] and rep["spared"]["ch-cam-1"]["segments"] == 1
    assert rep["snapshots"]["yk-cam-1"]["files"] == 1 and rep["snapshots"]["ch-cam-1"] == {
        "files": 1,
        "bytes": len(b"\xff\xd8jpeg\xff\xd9"),
        "spared_locked": 1,
    }
    # files really gone, the emptied session folder (init included) too; kept ones still there
    assert not (media / f"recordings/yk-cam-1/{old:%Y-%m-%d}/{yk_old}/seg-000000.m4s").exists()
    assert (media / f"recordings/yk-cam-1/{old:%Y-%m-%d}/{yk_old}/seg-000002.m4s").exists()
    gone_dir = next(media.glob(f"recordings/ch-cam-1/*/{ch_gone}"), None)
    assert gone_dir is None
    assert not snaps["yk_old"].exists() and not snaps["ch_free"].exists()
    assert snaps["yk_new"].exists() and snaps["ch_locked"].exists()
    with system.db.session() as s:
        assert s.get(RecordingSessionRow, ch_gone) is None and s.get(RecordingSessionRow, yk_old) is not None
        run = s.get(RetentionRunRow, result.run_id)
        assert run.deleted_segments == 9 and run.deleted_bytes == 9000 and run.spared_locked == 1
        assert run.deleted_files == 9 + 1 + 2  # segments, the emptied session's init, two snapshots
        gaps = s.query(RecordingGapRow).filter_by(cause=RETENTION_CAUSE).order_by(RecordingGapRow.start).all()
    assert {g.camera for g in gaps} == {"yk-cam-1", "ch-cam-1"} and all(g.end is not None for g in gaps)
    # the timeline says why the footage is missing: no unexplained hole between what is left
    tl = system.playback.timeline("yk-cam-1", old - timedelta(minutes=1), old + timedelta(minutes=1))
    assert tl["segments"] == 2 and tl["unexplained"] == []
    assert [g["cause"] for g in tl["gaps"]] == [RETENTION_CAUSE, RETENTION_CAUSE]
    # a second pass finds nothing more; a quiet scheduled pass stores no row
    again = system.retention.run("schedule")
    assert not again.plan.delete and again.run_id is None

    # unlocking lets the next pass take the locked segment and picture
    system.evidence_locks.unlock(SYSTEM, lock.id, "case closed")
    system.retention.run("manual")
    assert segments(system, "ch-cam-1") == [] and not snaps["ch_locked"].exists()
    with system.db.session() as s:
        assert s.query(EventRow).filter_by(kind="storage_shed").count() == 0  # expiry is not shedding


def test_budget_warns_then_sheds_oldest_first(system: System, tmp_path: Path) -> None:
    start = NOW - timedelta(hours=3)
    lay_session(system, "yk-cam-1", "KG-Y", start, 10)  # 10 kB
    lay_session(system, "ch-cam-1", "KG-C", start + timedelta(seconds=2), 10)  # 10 kB, 2 s later
    lock = system.evidence_locks.lock(SYSTEM, "yk-cam-1", start, start + SEG, "YK-9", "")
    ret = system.retention
    from dataclasses import replace

    ret.budget = replace(ret.budget, budget_bytes=21_000, warn_fraction=0.9, shed_margin=0.0)  # 20 kB used: 95 %
    first = ret.run("schedule")
    assert first.plan.warn and not first.plan.delete and first.run_id is None
    ret.budget = replace(ret.budget, budget_bytes=16_000)
    second = ret.run("schedule")
    order = [(d.segment.camera, d.segment.start) for d in second.plan.delete]
    assert order == sorted(order, key=lambda x: x[1]) and len(order) == 4  # 4 kB, oldest first
    assert ("yk-cam-1", start) not in order  # the locked first segment is skipped
    assert [d.segment.camera for d in second.plan.delete] == ["ch-cam-1", "yk-cam-1", "ch-cam-1", "yk-cam-1"]
    assert second.report["spared"]["yk-cam-1"]["locks"] == [lock.id]
    with system.db.session() as s:
        events = s.query(EventRow).filter(EventRow.kind.in_(["storage_warning", "storage_shed"])).all()
    events.sort(key=lambda e: e.ts)
    assert [e.kind for e in events] == ["storage_warning", "storage_shed"]  # warned once, before the shed
    warn, shed = events
    assert warn.region == "KG" and warn.payload["budget_bytes"] == 21_000 and warn.severity == "medium"
    assert shed.payload["shed_bytes"] == 4000 and shed.payload["segments"] == 4 and shed.severity == "high"
    assert shed.payload["run"] == second.run_id and shed.payload["oldest_kept"] == second.report["oldest_kept"]
    assert shed.payload["oldest_kept"] == start.isoformat(timespec="milliseconds").replace("+00:00", "Z")  # locked
    assert ret.status(Scope.of("KG-C"))["cameras"][0]["segments"] == 8


def test_pass_over_many_segments_is_quick(system: System) -> None:
    """10 000 index rows past their days (files already gone): how long one pass takes."""
    start = NOW - timedelta(days=45)
    sid = str(ULID.from_datetime(start))
    with system.db.transaction() as s:
        s.add(
            RecordingSessionRow(
                id=sid,
                camera="yk-cam-1",
                region="KG-Y",
                started_at=start,
                ended_at=start,
                dir=f"recordings/x/{sid}",
                init_path="x",
                init_sha256="0" * 64,
                codec="h264",
                width=1,
                height=1,
            )
        )
        s.flush()
        s.execute(
            RecordingSegmentRow.__table__.insert(),
            [
                {
                    "camera": "yk-cam-1",
                    "region": "KG-Y",
                    "session": sid,
                    "seq": i,
                    "start": start + i * SEG,
                    "end": start + (i + 1) * SEG,
                    "duration_s": 4.0,
                    "size": 1000,
                    "sha256": "0" * 64,
                    "path": f"recordings/x/{sid}/seg-{i:06d}.m4s",
                    "flags": "",
                }
                for i in range(10_000)
            ],
        )
    t0 = time.perf_counter()
    result = system.retention.run("manual")
    took = time.perf_counter() - t0
    print(f"\nretention pass over 10000 expired segments: {took:.2f} s (report says {result.report['duration_ms']} ms)")
    assert len(result.plan.delete) == 10_000 and segments(system, "yk-cam-1") == []
    assert took < 30
