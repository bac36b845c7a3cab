"""Retention: deletes footage and pictures past their days, sheds the oldest for the disk budget.

A pass (every ``retention_interval_s``, on demand, or when a recorder finds the disk full) reads
usage from the index, gathers each camera's candidates (segments older than its site type keeps
plain video, plus, when over budget or under the free-space floor, the oldest segments of all
cameras in time order), marks those inside a qualifying event's clip window as ``event_clip``,
and hands them with the active evidence locks to the pure planner (``domain/retention.py``).

Then, in this order: a ``storage_warning`` event if usage is past the warning share of the budget
(once per crossing, before anything is shed); segment files unlinked, their rows deleted and the
deleted stretch noted on the camera's timeline (a gap with cause ``retention``); the folder of a
session whose last segment went (init segment included) unless it is still being recorded;
expired snapshot day folders; expired plate reads and events; audit entries past the policy's
``audit`` days, cut at a sealed batch boundary behind a signed anchor (``report["audit"]``); a
``retention_runs`` row with the report; a ``storage_shed`` event
when footage was shed for space, with how much and the oldest footage now kept. Files go before
rows: a crash in between leaves rows whose files are missing (playback refuses them by size, the
next pass deletes them), never files no row accounts for.

Storage events concern the whole installation, so they carry the country code ``KG`` as their
region: national users see them; a regional centre's feed is filtered to its own region.
"""

from __future__ import annotations

import contextlib
import heapq
import logging
import os
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select

from koopsuz.config import Settings
from koopsuz.domain.events import Event, Severity
from koopsuz.domain.retention import (
    DataClass,
    DiskBudget,
    LockSpan,
    Plan,
    Reason,
    RetentionPolicy,
    SegmentInfo,
    merge_ranges,
    parse_policy,
    plan,
)
from koopsuz.security.audit import ChainBroken
from koopsuz.security.principal import Scope
from koopsuz.services.event_writer import EventWriter
from koopsuz.services.evidence_locks import EvidenceLockService
from koopsuz.store.db import Database
from koopsuz.store.recording_repo import utc
from koopsuz.store.retention_repo import RetentionRepo
from koopsuz.store.tables import EventRow, OutboxRow, PlateReadRow, RecordingSegmentRow, RetentionRunRow
from koopsuz.video.segment_store import SegmentStoreError

log = logging.getLogger(__name__)
NATIONAL_REGION = "KG"
PAGE = 1000
PLATE_KINDS = ("plate_read", "plate_provisional")  # a vehicle's plate: the plate-read class
SNAPSHOT_SCAN_S = 600.0
MAX_EXPIRED_PER_CAMERA = 50_000  # a first pass over a long archive goes in steps, not all in memory at once
Clock = Callable[[], datetime]


def load_policy(settings: Settings) -> RetentionPolicy:
    """The built-in policy, or the file's (``KOOPSUZ_RETENTION_FILE``); a bad file raises PolicyError."""
    if settings.retention_file is None:
        return RetentionPolicy()
    path = Path(settings.retention_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        from koopsuz.domain.retention import PolicyError

        raise PolicyError(f"cannot read retention policy {path}: {exc.strerror}") from None
    return parse_policy(text, str(path))


def budget_of(settings: Settings) -> DiskBudget:
    gb = settings.storage_budget_gb
    return DiskBudget(
        volume=str(settings.media_dir.resolve()),
        budget_bytes=None if gb is None else max(1, int(gb * 1e9)),
        warn_fraction=settings.storage_warn_fraction,
        min_free_bytes=settings.recording_min_free_mb * 2**20,
        shed_margin=settings.storage_shed_margin,
    )


@dataclass(slots=True)
class RunResult:
    plan: Plan
    report: dict[str, Any]
    run_id: int | None  # None for a dry run or a quiet scheduled pass (nothing deleted)
    deleted_files: int
    freed_bytes: int


class RetentionService:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        writer: EventWriter,
        locks: EvidenceLockService,
        *,
        policy: RetentionPolicy | None = None,
        clock: Clock | None = None,
        remote: Any = None,
    ) -> None:
        self._settings = settings
        self._remote = remote  # recordings on S3 (S3SegmentStore): deleted there too, before their rows
        self._db = db
        self._writer = writer
        self._locks = locks
        self.policy = policy if policy is not None else load_policy(settings)
        self.budget = budget_of(settings)
        self.root = settings.media_dir.resolve()
        self._clock = clock or (lambda: datetime.now(UTC))
        self._pass = threading.Lock()  # one pass at a time: the scheduler, a CLI/API run, a recorder
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = False
        self._snap: tuple[float, int] | None = None  # (monotonic time measured, bytes)
        self.last: RunResult | None = None
        self.audit: Any = None  # services.audit_sealer.AuditSealer, set by System: the audit log's retention

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="retention", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def _loop(self) -> None:
        while not self._stop.wait(self._settings.retention_interval_s):
            try:
                self.run("schedule")
            except Exception:  # a failing pass must not end the thread; the next one tries again
                log.exception("retention pass failed")

    # -- the recorder's hook ----------------------------------------------------------------
    def make_room(self, need_bytes: int) -> int:
        """Free at least ``need_bytes`` by shedding the oldest unlocked footage; returns bytes freed.

        Called by a recorder that found the disk under its free-space floor, before it gives up
        and records a ``disk_full`` gap.
        """
        try:
            with self._pass:
                free = _free_bytes(self.root)
                if free is not None:  # several recorders ask at once: the first one's pass may have done it
                    floor = self.budget.min_free_bytes
                    need_bytes = 0 if free >= floor else floor - free + floor // 10
                if need_bytes <= 0:
                    return 0
                return self._run("disk_full", False, need_bytes).freed_bytes
        except Exception:
            log.exception("retention could not make room")
            return 0

    # -- a pass -----------------------------------------------------------------------------
    def run(self, trigger: str = "manual", *, dry_run: bool = False, need_bytes: int = 0) -> RunResult:
        with self._pass:
            return self._run(trigger, dry_run, need_bytes)

    def _run(self, trigger: str, dry_run: bool, need_bytes: int) -> RunResult:
        t0 = time.perf_counter()
        started = self._clock()
        now = started
        with self._db.session() as s:
            repo = RetentionRepo(s)
            seg_bytes, seg_count, _oldest = repo.usage()
            cameras = repo.cameras()
            site_types = repo.site_types()
        snap_bytes = self._snapshot_bytes()
        used = seg_bytes + snap_bytes
        free = _free_bytes(self.root)
        locks = [
            LockSpan(r.id, r.camera, utc(r.start), utc(r.end), r.case_number)
            for r in self._locks.active(Scope.national())
        ]
        need = max(self.budget.over(used, free), need_bytes)
        candidates = self._candidates(cameras, site_types, now, need, locks)
        p = plan(candidates, locks, self.policy, now, self.budget, used, free, need_bytes)
        if not dry_run:
            if p.warn and not self._warned:
                self._warn(now, used, free)
            self._warned = p.warn
        deleted_files = freed = 0
        snaps: dict[str, dict[str, int]] = {}
        if not dry_run:
            deleted_files, freed = self._delete(p, now)
            snaps = self._expire_snapshots(site_types, locks, now)
            if self._snap is not None:
                self._snap = (self._snap[0], max(0, self._snap[1] - sum(v["bytes"] for v in snaps.values())))
            deleted_files += sum(v["files"] for v in snaps.values())
            freed += sum(v["bytes"] for v in snaps.values())
        else:
            snaps = self._expire_snapshots(site_types, locks, now, dry_run=True)
        records = self._expire_records(site_types, locks, now, dry_run=dry_run)
        audit = self._expire_audit(now, dry_run=dry_run)
        with self._db.session() as s:
            _b, remaining, oldest_kept = RetentionRepo(s).usage()
        report = p.report() | {
            "records": records,
            "audit": audit,
            "trigger": trigger,
            "dry_run": dry_run,
            "policy": self.policy.table(),
            "budget_bytes": self.budget.budget_bytes,
            "warn_fraction": self.budget.warn_fraction,
            "min_free_bytes": self.budget.min_free_bytes,
            "segments_before": seg_count,
            "segments_after": remaining,
            "snapshot_bytes_before": snap_bytes,
            "snapshots": snaps,
            "oldest_kept": _iso(oldest_kept),
            "candidates": len(candidates),
            "duration_ms": round((time.perf_counter() - t0) * 1000, 1),
        }
        run_id = None
        quiet = (
            trigger == "schedule"
            and not p.delete
            and not any(v["files"] for v in snaps.values())
            and not any(records.values())
            and not audit["entries"]
        )
        if not dry_run and not quiet:
            run_id = self._store_run(started, trigger, p, report, deleted_files)
        if not dry_run and p.shed_bytes:
            self._shed_event(trigger, p, oldest_kept, run_id)
        if p.unmet_bytes and not dry_run:
            log.warning(
                "retention: %d bytes could not be freed (everything older is locked or already gone)", p.unmet_bytes
            )
        result = RunResult(p, report, run_id, deleted_files, freed)
        if not dry_run:
            self.last = result
        return result

    def _candidates(
        self, cameras: list[str], site_types: dict[str, str], now: datetime, need: int, locks: list[LockSpan]
    ) -> list[SegmentInfo]:
        """Each camera's segments older than its plain-video days, plus the globally oldest ones
        (merged across cameras by start time) covering ``need`` bytes of unlocked footage."""
        found: dict[int, SegmentInfo] = {}
        pages: dict[str, Iterator[RecordingSegmentRow]] = {}
        with self._db.session() as s:
            repo = RetentionRepo(s)
            for cam in cameras:
                cutoff = now - timedelta(days=self.policy.days(site_types.get(cam), DataClass.VIDEO))
                for n, row in enumerate(_walk(repo, cam)):
                    if utc(row.start) >= cutoff or n >= MAX_EXPIRED_PER_CAMERA:
                        break
                    found[row.id] = _info(row, site_types.get(cam))
            if need > 0:
                for cam in cameras:
                    pages[cam] = _walk(repo, cam)
                heap: list[tuple[datetime, int, str, RecordingSegmentRow]] = []
                for cam, it in pages.items():
                    row = next(it, None)
                    if row is not None:
                        heap.append((utc(row.start), row.id, cam, row))
                heapq.heapify(heap)
                got = 0
                by_cam = defaultdict(list)
                for lk in locks:
                    by_cam[lk.camera].append(lk)
                while heap and got < need:
                    _t, _i, cam, row = heapq.heappop(heap)
                    info = found.get(row.id) or _info(row, site_types.get(cam))
                    found[row.id] = info
                    if not any(lk.start < info.end and lk.end > info.start for lk in by_cam.get(cam, ())):
                        got += info.size
                    nxt = next(pages[cam], None)
                    if nxt is not None:
                        heapq.heappush(heap, (utc(nxt.start), nxt.id, cam, nxt))
            out = list(found.values())
            return self._mark_clips(repo, out)

    def _mark_clips(self, repo: RetentionRepo, segs: list[SegmentInfo]) -> list[SegmentInfo]:
        """Segments overlapping the clip window of a qualifying event become ``event_clip``."""
        rule = self.policy.event_clips
        pre, post = timedelta(seconds=self._settings.clip_pre_s), timedelta(seconds=self._settings.clip_post_s)
        out: list[SegmentInfo] = []
        by_cam: dict[str, list[SegmentInfo]] = defaultdict(list)
        for sg in segs:
            by_cam[sg.camera].append(sg)
        for cam, mine in by_cam.items():
            lo = min(x.start for x in mine) - timedelta(hours=1)
            hi = max(x.end for x in mine) + timedelta(hours=1)
            clips = sorted(
                _clip(ts, media, pre, post)
                for ts, kind, sev, media in repo.clip_events(cam, lo, hi)
                if rule.counts(kind, sev)
            )
            windows = merge_ranges(clips, join_s=0)
            for sg in mine:
                hit = any(a < sg.end and b > sg.start for a, b in windows)
                out.append(sg if not hit else _replace_clip(sg))
        return out

    # -- acting on a plan -------------------------------------------------------------------
    def _delete(self, p: Plan, now: datetime) -> tuple[int, int]:
        if not p.delete:
            return 0, 0
        files = freed = 0
        wanted = [d.segment.id for d in p.delete]
        rows: dict[int, RecordingSegmentRow] = {}
        with self._db.session() as s:
            for i in range(0, len(wanted), 500):  # SQLite caps the variables of one statement
                q = select(RecordingSegmentRow).where(RecordingSegmentRow.id.in_(wanted[i : i + 500]))
                rows.update((r.id, r) for r in s.execute(q).scalars())
        if self._remote is not None and rows:
            try:  # first the bucket: rows deleted while their objects stay would keep footage past its time unseen
                self._remote.delete([r.path for r in rows.values()])
            except SegmentStoreError as exc:
                log.error("retention: %s; nothing deleted this pass, trying again at the next", exc)
                return 0, 0
        for d in p.delete:
            row = rows.get(d.segment.id)
            if row is None:
                continue
            path = self._path(row.path)
            if path is not None:
                try:
                    size = path.stat().st_size
                    path.unlink()
                    files += 1
                    freed += size
                except FileNotFoundError:
                    if self._remote is not None:  # moved to the bucket, deleted there above
                        files += 1
                        freed += row.size
                except OSError as exc:
                    log.error("retention: cannot delete %s: %s", path, exc)
        ids = list(rows)
        by_cam: dict[str, list[tuple[datetime, datetime, str]]] = defaultdict(list)
        for d in p.delete:
            row = rows.get(d.segment.id)
            if row is not None:
                why = f"{d.segment.data_class}:{d.reason}"
                by_cam[row.camera].append((utc(row.start), utc(row.end), why))
        regions = {r.camera: r.region for r in rows.values()}
        sessions = sorted({r.session for r in rows.values()})
        dirs: list[str] = []
        with self._db.transaction() as s:
            repo = RetentionRepo(s)
            repo.delete_segments(ids)
            for cam, spans in by_cam.items():
                whys = sorted({w for _a, _b, w in spans})
                for a, b in merge_ranges((a, b) for a, b, _w in spans):
                    detail = {"detail": "deleted by retention (" + ", ".join(whys) + ")", "at": _iso(now)}
                    repo.note_deleted(cam, regions[cam], a, b, detail)
            for sess in repo.empty_sessions(sessions):
                live = sess.ended_at is None and repo.newest_session(sess.camera) == sess.id
                if live:
                    continue  # still recording into it: its init segment is in use
                dirs.append(sess.dir)
                repo.delete_session(sess.id)
        if self._remote is not None and dirs:
            try:
                self._remote.delete([f"{rel}/init.mp4" for rel in dirs])
            except SegmentStoreError as exc:  # an init segment holds codec settings, no footage
                log.error("retention: %s; init segments of %d emptied session(s) left in the bucket", exc, len(dirs))
        for rel in dirs:
            d = self._path(rel)
            if d is None or not d.is_dir():
                continue
            init = d / "init.mp4"
            with contextlib.suppress(OSError):
                freed += init.stat().st_size
                files += 1
            shutil.rmtree(d, ignore_errors=True)
            with contextlib.suppress(OSError):
                d.parent.rmdir()  # the day folder, once empty
        return files, freed

    def _expire_records(
        self, site_types: dict[str, str], locks: list[LockSpan], now: datetime, *, dry_run: bool = False
    ) -> dict[str, int]:
        """Plate reads and events past their days (by their camera's site type), never inside a lock.

        A plate read goes with its ``plate_read`` event (the event carries the plate too), and so does
        the ``plate_provisional`` event sent before the read was decided (the same plate, a movement of
        a person's vehicle, so it keeps the plate read's days, not the general events'); line counts live
        in their own table and stay. Events without a camera use the default days.
        """
        out = {str(DataClass.PLATE_READ): 0, str(DataClass.EVENT): 0}
        with self._db.session() as s:
            cams = set(s.execute(select(EventRow.camera).distinct()).scalars())
        for camera in sorted(cams, key=lambda c: c or ""):
            st = site_types.get(camera) if camera else None
            held = [lk for lk in locks if lk.camera == camera]
            for cls, kinds in ((DataClass.PLATE_READ, PLATE_KINDS), (DataClass.EVENT, None)):
                cutoff = now - timedelta(days=self.policy.days(st, cls))
                q = select(EventRow.id, EventRow.ts).where(EventRow.ts < cutoff)
                q = q.where(EventRow.camera == camera) if camera else q.where(EventRow.camera.is_(None))
                q = q.where(EventRow.kind.in_(kinds)) if kinds else q.where(EventRow.kind.not_in(PLATE_KINDS))
                with self._db.session() as s:
                    rows = s.execute(q.limit(200_000)).all()
                ids = [i for i, ts in rows if not any(lk.start <= utc(ts) < lk.end for lk in held)]
                out[str(cls)] += len(ids)
                if ids and not dry_run:
                    with self._db.transaction() as s:
                        for k in range(0, len(ids), 500):
                            chunk = ids[k : k + 500]
                            s.execute(delete(OutboxRow).where(OutboxRow.event_id.in_(chunk)))
                            s.execute(delete(PlateReadRow).where(PlateReadRow.id.in_(chunk)))
                            s.execute(delete(EventRow).where(EventRow.id.in_(chunk)))
        if any(out.values()):
            log.info("retention: %s", ", ".join(f"{n} {k} record(s)" for k, n in out.items() if n))
        return out

    def _expire_audit(self, now: datetime, *, dry_run: bool = False) -> dict[str, Any]:
        """Audit entries past the policy's ``audit`` days, up to a sealed batch boundary, behind a signed
        anchor (security/audit.py): the chain still verifies and says where it was cut. A chain that
        does not verify is never cut (the error is in the report and the log)."""
        days = self.policy.days(None, DataClass.AUDIT)
        before = now - timedelta(days=days)
        out: dict[str, Any] = {"days": days, "before": _iso(before), "entries": 0}
        if self.audit is None:
            return out
        try:
            cut = self.audit.cut(before) if dry_run else self.audit.truncate(before)
        except ChainBroken as exc:
            log.error("retention: the audit log was not truncated: %s", exc)
            return out | {"error": str(exc)}
        return out if cut is None else out | cut.to_json()

    def _expire_snapshots(
        self, site_types: dict[str, str], locks: list[LockSpan], now: datetime, *, dry_run: bool = False
    ) -> dict[str, dict[str, int]]:
        """Snapshot day folders (``snapshots/<camera>/<YYYY-MM-DD>``) past the camera's snapshot days;
        inside a day a lock touches, each picture is judged by its event's time (the ULID's)."""
        out: dict[str, dict[str, int]] = {}
        base = self.root / "snapshots"
        if not base.is_dir():
            return out
        for cam_dir in sorted(p for p in base.iterdir() if p.is_dir()):
            cam = cam_dir.name
            cutoff = now - timedelta(days=self.policy.days(site_types.get(cam), DataClass.SNAPSHOT))
            mine = [lk for lk in locks if lk.camera == cam]
            files = size = spared = 0
            for day_dir in sorted(p for p in cam_dir.iterdir() if p.is_dir()):
                day = _day(day_dir.name)
                if day is None:
                    continue
                d0 = datetime(day.year, day.month, day.day, tzinfo=UTC)
                if d0 + timedelta(days=1) > cutoff:
                    break  # folders sort by date: the rest are younger
                touched = [lk for lk in mine if lk.start < d0 + timedelta(days=1) and lk.end > d0]
                for f in list(day_dir.iterdir()):
                    ts = _ulid_time(f.stem)
                    if touched and (ts is None or any(lk.start <= ts < lk.end for lk in touched)):
                        spared += 1
                        continue
                    try:
                        n = f.stat().st_size
                        if not dry_run:
                            f.unlink()
                    except OSError:
                        continue
                    files += 1
                    size += n
                if not dry_run:
                    with contextlib.suppress(OSError):
                        day_dir.rmdir()
            if files or spared:
                out[cam] = {"files": files, "bytes": size, "spared_locked": spared}
        return out

    def _store_run(self, started: datetime, trigger: str, p: Plan, report: dict[str, Any], files: int) -> int:
        with self._db.transaction() as s:
            row = RetentionRepo(s).add_run(
                RetentionRunRow(
                    started_at=started,
                    finished_at=datetime.now(UTC),
                    trigger=trigger[:16],
                    volume=self.budget.volume[:300],
                    deleted_segments=len(p.delete),
                    deleted_bytes=p.deleted_bytes,
                    deleted_files=files,
                    spared_locked=len(p.spared),
                    report=report,
                )
            )
            return row.id

    def _warn(self, now: datetime, used: int, free: int | None) -> None:
        budget = self.budget.budget_bytes or 0
        if budget and used >= budget * self.budget.warn_fraction:
            detail = f"storage at {used / budget:.0%} of its budget: the oldest unprotected footage is shed when full"
        else:
            floor_mb, free_mb = self.budget.min_free_bytes / 2**20, (free or 0) / 2**20
            detail = (
                f"{free_mb:.0f} MB free on the disk, the floor is {floor_mb:.0f} MB: "
                "the oldest unprotected footage will be shed to keep recording"
            )
        payload = {
            "volume": self.budget.volume,
            "used_bytes": used,
            "budget_bytes": budget,
            "free_bytes": free,
            "fraction": round(used / budget, 4) if budget else None,
            "warn_fraction": self.budget.warn_fraction,
            "detail": detail,
        }
        log.warning("retention: %s", payload["detail"])
        self._writer.write_now(
            [Event(kind="storage_warning", region=NATIONAL_REGION, ts=now, payload=payload, severity=Severity.MEDIUM)]
        )

    def _shed_event(self, trigger: str, p: Plan, oldest_kept: datetime | None, run_id: int | None) -> None:
        shed = [d for d in p.delete if d.reason == Reason.BUDGET]
        per_cam: dict[str, int] = defaultdict(int)
        for d in shed:
            per_cam[d.segment.camera] += d.segment.size
        payload = {
            "volume": self.budget.volume,
            "trigger": trigger,
            "shed_bytes": p.shed_bytes,
            "segments": len(shed),
            "cameras": dict(per_cam),
            "oldest_shed": _iso(min(d.segment.start for d in shed)),
            "newest_shed": _iso(max(d.segment.end for d in shed)),
            "oldest_kept": _iso(oldest_kept),
            "unmet_bytes": p.unmet_bytes,
            "spared_locked": len(p.spared),
            "run": run_id,
        }
        log.warning(
            "retention: shed %.1f MB of the oldest footage (%s); oldest kept now %s",
            p.shed_bytes / 1e6,
            trigger,
            payload["oldest_kept"],
        )
        self._writer.write_now(
            [
                Event(
                    kind="storage_shed",
                    region=NATIONAL_REGION,
                    ts=datetime.now(UTC),
                    payload=payload,
                    severity=Severity.HIGH,
                )
            ]
        )

    # -- reading ----------------------------------------------------------------------------
    def status(self, scope: Scope, runs: int = 10) -> dict[str, Any]:
        """The volume (budget, used, free, oldest kept), per-camera usage within scope, recent runs."""
        with self._db.session() as s:
            repo = RetentionRepo(s)
            seg_bytes, segs, oldest = repo.usage()
            cams = repo.usage_by_camera(scope)
            rows = repo.runs(runs)
        snap_bytes = self._snapshot_bytes()
        used = seg_bytes + snap_bytes
        b = self.budget
        volume = {
            "path": b.volume,
            "budget_bytes": b.budget_bytes,
            "warn_fraction": b.warn_fraction,
            "min_free_bytes": b.min_free_bytes,
            "used_bytes": used,
            "segment_bytes": seg_bytes,
            "snapshot_bytes": snap_bytes,
            "segments": segs,
            "free_bytes": _free_bytes(self.root),
            "fraction": round(used / b.budget_bytes, 4) if b.budget_bytes else None,
            "state": "over" if b.over(used, None) else "warn" if b.warns(used) else "ok",
            "oldest_kept": _iso(oldest),
        }
        visible = None if scope.is_national else {c["camera"] for c in cams}
        return {
            "volumes": [volume],
            "cameras": [c | {"oldest": _iso(c["oldest"]), "newest": _iso(c["newest"])} for c in cams],
            "runs": [run_json(r, visible) for r in rows],
            "policy": self.policy.table(),
            "event_clips": self.policy.event_clips.model_dump(mode="json"),
            "interval_s": self._settings.retention_interval_s,
        }

    def _snapshot_bytes(self) -> int:
        """What the snapshot folders hold. Walking them costs a stat per picture, so it is measured
        at most every SNAPSHOT_SCAN_S (pictures are small beside footage; a pass's own deletions
        are subtracted at once)."""
        now = time.monotonic()
        if self._snap is None or now - self._snap[0] > SNAPSHOT_SCAN_S:
            self._snap = (now, _tree_bytes(self.root / "snapshots"))
        return self._snap[1]

    def _path(self, rel: str) -> Path | None:
        """A stored relative path under the media root; anything that could escape it is refused
        (checked on the text: resolving every path costs a stat per folder, most of a pass's time)."""
        p = Path(rel)
        if p.is_absolute() or ".." in p.parts:
            return None
        return self.root / p


def run_json(row: RetentionRunRow, cameras: set[str] | None = None) -> dict[str, Any]:
    """A run for the API; a regional caller sees only its cameras in the per-camera parts."""
    rep = dict(row.report or {})
    if cameras is not None:
        for key in ("deleted", "spared", "snapshots"):
            rep[key] = {c: v for c, v in (rep.get(key) or {}).items() if c in cameras}
    return {
        "id": row.id,
        "started_at": _iso(utc(row.started_at)),
        "finished_at": _iso(utc(row.finished_at)) if row.finished_at else None,
        "trigger": row.trigger,
        "volume": row.volume,
        "deleted_segments": row.deleted_segments,
        "deleted_bytes": row.deleted_bytes,
        "deleted_files": row.deleted_files,
        "spared_locked": row.spared_locked,
        "report": {
            k: rep.get(k) for k in ("deleted", "spared", "snapshots", "oldest_kept", "shed_bytes", "duration_ms")
        },
    }


def _walk(repo: RetentionRepo, camera: str) -> Iterator[RecordingSegmentRow]:
    after: tuple[datetime, int] | None = None
    while True:
        rows = repo.oldest(camera, after, PAGE)
        yield from rows
        if len(rows) < PAGE:
            return
        after = (rows[-1].start, rows[-1].id)


def _info(row: RecordingSegmentRow, site_type: str | None) -> SegmentInfo:
    return SegmentInfo(row.id, row.camera, site_type, utc(row.start), utc(row.end), row.size)


def _replace_clip(sg: SegmentInfo) -> SegmentInfo:
    return SegmentInfo(sg.id, sg.camera, sg.site_type, sg.start, sg.end, sg.size, in_clip=True)


def _clip(ts: datetime, media: dict[str, Any], pre: timedelta, post: timedelta) -> tuple[datetime, datetime]:
    """The event's clip window: its ``media.clip`` interval, else the configured pre/post roll."""
    ref = media.get("clip") if isinstance(media, dict) else None
    if isinstance(ref, str) and "/" in ref:
        with contextlib.suppress(ValueError):
            a, b = ref.split("/", 1)
            return utc(datetime.fromisoformat(a)), utc(datetime.fromisoformat(b))
    return ts - pre, ts + post


def _iso(ts: datetime | None) -> str | None:
    return None if ts is None else utc(ts).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _day(name: str) -> date | None:
    try:
        return date.fromisoformat(name)
    except ValueError:
        return None


_CROCKFORD = {c: i for i, c in enumerate("0123456789ABCDEFGHJKMNPQRSTVWXYZ")}


def _ulid_time(name: str) -> datetime | None:
    if len(name) != 26:
        return None
    ms = 0
    for ch in name[:10].upper():
        if ch not in _CROCKFORD:
            return None
        ms = ms * 32 + _CROCKFORD[ch]
    return datetime.fromtimestamp(ms / 1000, UTC)


def _tree_bytes(root: Path) -> int:
    total = 0
    stack = [root]
    while stack:
        try:
            with os.scandir(stack.pop()) as it:
                for e in it:
                    if e.is_dir(follow_symlinks=False):
                        stack.append(Path(e.path))
                    elif e.is_file(follow_symlinks=False):
                        with contextlib.suppress(OSError):
                            total += e.stat(follow_symlinks=False).st_size
        except OSError:
            continue
    return total


def _free_bytes(path: Path) -> int | None:
    try:
        return shutil.disk_usage(path if path.exists() else path.parent).free
    except OSError:
        return None
