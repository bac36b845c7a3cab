"""Search in the past by photo: where was this person seen, asked lawfully and seen by few.

An investigator gives a photo (exactly one usable face), a legal basis allowing ``face_search`` in
every region searched, a time range and optionally regions (default: the caller's scope). The
search is audited with its query photo before it runs. Two sources:

* face observations (faces seen on face cameras, kept as long as the site's policy allows):
  searched exactly, at once;
* recordings, for what observations do not cover (older than their retention, cameras without
  the faces profile, sites that keep no observations): a background job decodes the recorded
  main-stream keyframes (one picture per second), finds and embeds faces and compares them. It
  shows progress and can be cancelled.

Results (camera, time, similarity, thumbnail) are stored with the search and visible only to the
investigator who ran it and to auditors.
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy import select

from koopsuz.analytics.face_stage import face_crop_jpeg
from koopsuz.domain.events import new_id
from koopsuz.domain.face_policy import policy_for
from koopsuz.domain.legal import Purpose
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal, Scope
from koopsuz.services.errors import Forbidden, Invalid, NotFound, invalid
from koopsuz.services.face_enrol import EngineEnroller
from koopsuz.services.face_observations import FaceObservations
from koopsuz.services.legal_basis import LegalBasisService, utc
from koopsuz.services.watchlists import MAX_PHOTO_BYTES, PhotoRefused
from koopsuz.store.db import Database
from koopsuz.store.recording_repo import RecordingRepo
from koopsuz.store.registry_repo import RegistryRepo
from koopsuz.store.tables import FaceSearchRow
from koopsuz.video.export import ChainedFile
from koopsuz.video.segment_store import SegmentMissing, SegmentStore, SegmentStoreError
from koopsuz.vision.faces import FaceEngine

log = logging.getLogger(__name__)
MAX_RANGE = timedelta(days=31)
MAX_HITS = 200


class SearchIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    legal_basis_id: str = Field(min_length=1, max_length=26)
    start: datetime
    end: datetime
    regions: list[str] | None = None  # None: the caller's whole scope
    threshold: float = Field(default=0.40, ge=0.30, le=0.95)

    @field_validator("start", "end")
    @classmethod
    def _aware(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2026-11-25T08:00:00+06:00)")
        return v.astimezone(UTC)

    @model_validator(mode="after")
    def _range(self) -> SearchIn:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_RANGE:
            raise ValueError("a search covers at most 31 days; narrow it or run several")
        return self


def search_json(row: FaceSearchRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "created_by": row.created_by,
        "created_at": utc(row.created_at).isoformat(),
        "legal_basis_id": row.legal_basis_id,
        "case_number": row.case_number,
        "regions": row.regions,
        "start": utc(row.start).isoformat(),
        "end": utc(row.end).isoformat(),
        "threshold": row.threshold,
        "status": row.status,
        "progress": round(row.progress, 3),
        "detail": row.detail,
        "results": row.results,
        "error": row.error,
        "finished_at": utc(row.finished_at).isoformat() if row.finished_at else None,
    }


class FaceSearchService:
    def __init__(
        self,
        db: Database,
        audit: AuditLog,
        legal: LegalBasisService,
        observations: FaceObservations,
        enroller: EngineEnroller,
        segments: SegmentStore,
        root: Path,
    ) -> None:
        self._db = db
        self._audit = audit
        self._legal = legal
        self._observations = observations
        self._enroller = enroller
        self._segments = segments  # the recorder's disk or a bucket: any node searches any footage
        self.root = root
        self._jobs: queue.Queue[tuple[str, np.ndarray] | None] = queue.Queue()
        self._cancel: set[str] = set()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- API -----------------------------------------------------------------------------------
    def start(self, who: Principal, probe: bytes, body: Any) -> dict[str, Any]:
        if not who.can(Permission.FACE_SEARCH):
            raise Forbidden(f"role {who.role} may not search faces")
        try:
            req = SearchIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        regions = self._regions(who, req.regions)
        for region in regions or [None]:
            basis = self._legal.require(who, req.legal_basis_id, Purpose.FACE_SEARCH, region)
        if len(probe) > MAX_PHOTO_BYTES:
            raise Invalid(f"the photo is larger than {MAX_PHOTO_BYTES // 2**20} MB")
        try:
            face = self._enroller.enrol(probe)
        except PhotoRefused as exc:
            raise Invalid(f"photo refused: {exc}") from None
        sid = new_id()
        digest = hashlib.sha256(probe).hexdigest()
        folder = self.root / sid
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "probe.img").write_bytes(probe)
        row = FaceSearchRow(
            id=sid,
            created_by=who.username,
            created_at=datetime.now(UTC),
            legal_basis_id=basis.id,
            case_number=basis.case_number,
            regions=regions or [],
            start=req.start,
            end=req.end,
            threshold=req.threshold,
            probe_sha256=digest,
            probe_path=f"{sid}/probe.img",
            status="running",
            progress=0.0,
            detail={},
            results=[],
        )
        with self._db.transaction() as s:
            s.add(row)
        self._audit.record(
            who,
            "faces.search",
            target_type="face_search",
            target_id=sid,
            region=regions[0] if regions and len(regions) == 1 else None,
            detail={
                "legal_basis": basis.id,
                "case": basis.case_number,
                "regions": regions or "all",
                "start": req.start.isoformat(),
                "end": req.end.isoformat(),
                "threshold": req.threshold,
                "probe_sha256": digest,
                "probe": row.probe_path,
            },
        )
        self._ensure_thread()
        self._jobs.put((sid, face.embedding))
        return search_json(row)

    def get(self, who: Principal, search_id: str) -> dict[str, Any]:
        return search_json(self._row(who, search_id))

    def list(self, who: Principal) -> list[dict[str, Any]]:
        if not (who.can(Permission.FACE_SEARCH) or who.can(Permission.AUDIT_READ)):
            raise Forbidden(f"role {who.role} may not see face searches")
        q = select(FaceSearchRow).order_by(FaceSearchRow.created_at.desc()).limit(200)
        if not who.can(Permission.AUDIT_READ):
            q = q.where(FaceSearchRow.created_by == who.username)
        with self._db.session() as s:
            return [search_json(r) for r in s.execute(q).scalars()]

    def cancel(self, who: Principal, search_id: str) -> dict[str, Any]:
        row = self._row(who, search_id)
        if row.created_by != who.username:
            raise Forbidden("only the investigator who ran a search can cancel it")
        if row.status == "running":
            self._cancel.add(search_id)
            self._audit.record(who, "faces.search.cancel", target_type="face_search", target_id=search_id)
        return search_json(row)

    def file(self, who: Principal, search_id: str, name: str) -> bytes:
        """The probe photo (``probe``) or a result's thumbnail (``0``, ``1``...): viewing is audited."""
        row = self._row(who, search_id)
        if name == "probe":
            path = self.root / row.probe_path
        else:
            try:
                hit = row.results[int(name)]
            except (ValueError, IndexError):
                raise NotFound(f"search {search_id} has no result {name!r}") from None
            observed = hit["source"] == "observation"
            path = self._observations.thumb_path(hit["thumb"]) if observed else self.root / hit["thumb"]
        self._audit.record(
            who, "faces.search.view", target_type="face_search", target_id=search_id, detail={"file": name}
        )
        try:
            return path.read_bytes()
        except OSError:
            raise NotFound("the picture is gone (deleted by retention)") from None

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._jobs.put(None)
            self._thread.join(10)

    def wait_idle(self, timeout: float = 60.0) -> bool:
        """Tests: whether every queued search finished within ``timeout``."""
        deadline = datetime.now(UTC) + timedelta(seconds=timeout)
        while datetime.now(UTC) < deadline:
            with self._db.session() as s:
                if s.execute(select(FaceSearchRow.id).where(FaceSearchRow.status == "running")).first() is None:
                    return True
            threading.Event().wait(0.2)
        return False

    # -- the job -------------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._loop, name="face-search", daemon=True)
                self._thread.start()

    def _loop(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            sid, probe = job
            try:
                self._run(sid, probe)
            except Exception as exc:
                log.exception("face search %s failed", sid)
                self._update(sid, status="failed", error=str(exc)[:1000], finished_at=datetime.now(UTC))

    def _run(self, sid: str, probe: np.ndarray) -> None:
        with self._db.session() as s:
            row = s.get(FaceSearchRow, sid)
            assert row is not None
            regions = list(row.regions) or None
            start, end, threshold = utc(row.start), utc(row.end), row.threshold
            repo = RegistryRepo(s)
            sites = {x.id: x.type for x in repo.sites(Scope.national())}
            cams = [
                (c.id, c.region, c.profile, sites.get(c.site))
                for c in repo.cameras(Scope.national())
                if regions is None or c.region in regions
            ]
        hits, compared = self._observations.search(probe, regions, start, end, threshold)
        results: list[dict[str, Any]] = [
            {
                "source": "observation",
                "camera": h.camera,
                "region": h.region,
                "ts": h.ts.isoformat(),
                "similarity": round(h.similarity, 3),
                "thumb": h.thumb,
                "track": h.track,
            }
            for h in hits[:MAX_HITS]
        ]
        detail: dict[str, Any] = {"observations_compared": compared, "segments_total": 0, "segments_done": 0}
        self._update(sid, progress=0.05, results=results, detail=dict(detail))
        plan = self._recording_plan(cams, start, end)
        detail["segments_total"] = len(plan)
        engine = self._enroller.engine
        for i, (camera, region, seg_start, init_rel, seg_rel) in enumerate(plan):
            if sid in self._cancel:
                self._cancel.discard(sid)
                self._update(sid, status="cancelled", detail=detail, results=results, finished_at=datetime.now(UTC))
                return
            try:
                init, seg = self._segments.local_copy(init_rel), self._segments.local_copy(seg_rel)
            except (SegmentMissing, SegmentStoreError) as exc:
                # deleted by retention meanwhile, or the bucket is away: the search goes on and says so
                detail["segments_unavailable"] = detail.get("segments_unavailable", 0) + 1
                detail["unavailable_reason"] = str(exc)
                detail["segments_done"] = i + 1
                continue
            for ts, face_jpeg, sim in self._scan_segment(engine, probe, threshold, seg_start, init, seg):
                if len(results) >= MAX_HITS:
                    break
                rel = f"{sid}/{len(results)}.jpg"
                (self.root / rel).write_bytes(face_jpeg)
                results.append(
                    {
                        "source": "recording",
                        "camera": camera,
                        "region": region,
                        "ts": ts.isoformat(),
                        "similarity": round(sim, 3),
                        "thumb": rel,
                        "track": None,
                    }
                )
            detail["segments_done"] = i + 1
            if i % 5 == 4 or i + 1 == len(plan):
                self._update(sid, progress=0.05 + 0.95 * (i + 1) / len(plan), detail=dict(detail), results=results)
        results.sort(key=lambda r: -r["similarity"])
        self._update(sid, status="done", progress=1.0, detail=detail, results=results, finished_at=datetime.now(UTC))

    def _recording_plan(
        self, cams: list[tuple[str, str, str, str | None]], start: datetime, end: datetime
    ) -> list[tuple[str, str, datetime, str, str]]:
        """Segments to scan (media-relative paths): what face observations do not cover, camera by camera."""
        plan = []
        now = datetime.now(UTC)
        with self._db.session() as s:
            repo = RecordingRepo(s)
            for camera, region, profile, site_type in cams:
                keep_h = policy_for(site_type).keep_observations_h if profile == "faces" else 0.0
                until = min(end, now - timedelta(hours=keep_h)) if keep_h > 0 else end
                if until <= start:
                    continue
                segs = repo.segments(camera, start, until)
                sessions = repo.sessions([r.session for r in segs])
                for r in segs:
                    sess = sessions.get(r.session)
                    if sess is not None:
                        plan.append((camera, region, utc(r.start), sess.init_path, r.path))
        return plan

    @staticmethod
    def _scan_segment(
        engine: FaceEngine, probe: np.ndarray, threshold: float, seg_start: datetime, init: Path, seg: Path
    ) -> list[tuple[datetime, bytes, float]]:
        """Faces on the segment's keyframes that match the probe: (time, face jpeg, similarity)."""
        out = []
        try:
            with ChainedFile([init, seg]) as raw, av.open(raw, "r", format="mp4") as inp:  # type: ignore[arg-type]
                stream = inp.streams.video[0]
                tb = stream.time_base or Fraction(1, 90000)
                first: int | None = None
                for packet in inp.demux(stream):
                    if packet.pts is None or not packet.is_keyframe:
                        continue
                    first = packet.pts if first is None else first
                    for frame in packet.decode():
                        img = frame.to_ndarray(format="bgr24")
                        for face in engine.faces(img):
                            if not engine.quality(img, face).usable:
                                continue
                            sim = float(engine.embed(img, face) @ probe)
                            if sim >= threshold:
                                ts = seg_start + timedelta(seconds=float((packet.pts - first) * tb))
                                out.append((ts, face_crop_jpeg(img, face.box), sim))
        except (OSError, av.error.FFmpegError) as exc:
            log.warning("face search: cannot read %s: %s", seg, exc)
        return out

    # -- helpers -------------------------------------------------------------------------------
    def _regions(self, who: Principal, asked: list[str] | None) -> list[str] | None:
        if who.region is not None:
            if asked and any(r != who.region for r in asked):
                raise Forbidden(f"you act for {who.region}; another region's faces are searched there")
            return [who.region]
        return sorted(set(asked)) if asked else None

    def _row(self, who: Principal, search_id: str) -> FaceSearchRow:
        if not (who.can(Permission.FACE_SEARCH) or who.can(Permission.AUDIT_READ)):
            raise Forbidden(f"role {who.role} may not see face searches")
        with self._db.session() as s:
            row = s.get(FaceSearchRow, search_id)
        if row is None or not (row.created_by == who.username or who.can(Permission.AUDIT_READ)):
            if row is not None:
                self._audit.record(
                    who, "access.denied", target_type="face_search", target_id=search_id, outcome="denied"
                )
            raise NotFound(f"no face search {search_id!r} of yours")
        return row

    def _update(self, sid: str, **fields: Any) -> None:
        with self._db.transaction() as s:
            row = s.get(FaceSearchRow, sid)
            if row is not None:
                for k, v in fields.items():
                    setattr(row, k, v)
