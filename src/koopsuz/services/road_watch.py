"""Watches every plate read: hotlist hits at once, and average speed over each road section.

Subscribed to ``plate_read`` events on the bus (all regions: the check is the system's, the
alerts it makes are region-scoped like every event). Bus handlers must be quick, so reads go to a
queue and one thread does the work:

* **hotlists**: the read's plate against the active entries (an in-memory index rebuilt whenever
  a list changes, expiry judged per read); a regional list matches only its region's cameras. A
  hit is an ``alert`` (``rule_kind`` ``hotlist_hit``, ``rule`` ``hotlist:<entry>``) with the
  read's pictures and clip, severity by list kind and priority, to the command centres in scope.
* **sections**: each read is a sighting for ``domain.road.SectionTracker``; a passage over the
  limit plus tolerance is a ``speed_violation`` event with both reads (ids, times, pictures) and
  both clips, the mean speed, the limit and the section, i.e. the evidence a fine needs. A read
  whose time is not a timing-line crossing, or was read near a jump of its camera's clock
  (``clock_trusted`` false), never makes one (counted ``untimed`` / ``untrusted``).

Sections are configured through ``SectionService`` (``/api/sections``) and reloaded on change.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from koopsuz.bus.base import Bus
from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.domain.road import Passage, Section, SectionTracker, Sighting
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal
from koopsuz.services.errors import Forbidden, Invalid, invalid
from koopsuz.services.event_writer import clip_ref
from koopsuz.services.hotlists import HotlistService, HotPlate
from koopsuz.store.db import Database
from koopsuz.store.event_repo import EventRepo
from koopsuz.store.tables import CameraRow, SpeedSectionRow

log = logging.getLogger(__name__)
_STOP = object()


class SectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{1,63}$")
    name: str = Field(min_length=2, max_length=200)
    entry_camera: str
    exit_camera: str
    length_m: float = Field(gt=50, le=200_000, description="road distance between the two cameras")
    limit_kmh: float = Field(gt=5, le=200)
    tolerance_kmh: float = Field(default=3.0, ge=0, le=30)
    enabled: bool = True


def section_json(r: SpeedSectionRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "region": r.region,
        "entry_camera": r.entry_camera,
        "exit_camera": r.exit_camera,
        "length_m": r.length_m,
        "limit_kmh": r.limit_kmh,
        "tolerance_kmh": r.tolerance_kmh,
        "enabled": r.enabled,
    }


class SectionService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit
        self.listeners: list[Callable[[], None]] = []

    def list(self, who: Principal) -> list[dict[str, Any]]:
        with self._db.session() as s:
            rows = s.execute(select(SpeedSectionRow).order_by(SpeedSectionRow.id)).scalars()
            return [section_json(r) for r in rows if who.scope.allows(r.region)]

    def save(self, who: Principal, body: Any) -> dict[str, Any]:
        if not who.can(Permission.CAMERAS_WRITE):
            raise Forbidden(f"role {who.role} may not configure road sections")
        try:
            data = SectionIn.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        if data.entry_camera == data.exit_camera:
            raise Invalid("entry_camera and exit_camera must be two different cameras")
        with self._db.transaction() as s:
            cams = {
                c.id: c
                for c in s.execute(
                    select(CameraRow).where(CameraRow.id.in_([data.entry_camera, data.exit_camera]))
                ).scalars()
            }
            for cid in (data.entry_camera, data.exit_camera):
                cam = cams.get(cid)
                if cam is None or not who.scope.allows(cam.region):
                    raise Invalid(f"no camera {cid!r} in your scope")
            row = s.get(SpeedSectionRow, data.id) or SpeedSectionRow(id=data.id)
            for k, v in data.model_dump().items():
                setattr(row, k, v)
            row.region = cams[data.exit_camera].region
            row.updated_by, row.updated_at = who.username, datetime.now(UTC)
            s.add(row)
        self._audit.record(
            who, "section.save", target_type="section", target_id=data.id, region=row.region, detail=data.model_dump()
        )
        for listener in list(self.listeners):
            listener()
        return section_json(row)

    def sections(self) -> list[Section]:
        with self._db.session() as s:
            rows = s.execute(select(SpeedSectionRow).where(SpeedSectionRow.enabled.is_(True))).scalars()
            return [
                Section(r.id, r.entry_camera, r.exit_camera, r.length_m, r.limit_kmh, r.tolerance_kmh) for r in rows
            ]


def hit_severity(kind: str, priority: int) -> Severity:
    if kind in ("stolen", "wanted"):
        return Severity.CRITICAL if priority <= 1 else Severity.HIGH
    return Severity.MEDIUM if kind == "operation" else Severity.LOW


class RoadWatch:
    def __init__(
        self,
        bus: Bus,
        submit: Callable[[Event], None],
        hotlists: HotlistService,
        sections: SectionService,
        db: Database,
        *,
        clip_s: tuple[float, float] = (5.0, 15.0),
    ) -> None:
        self._bus = bus
        self._submit = submit
        self._hotlists = hotlists
        self._sections = sections
        self._db = db
        self._clip_s = clip_s
        self._q: queue.Queue[object] = queue.Queue(maxsize=50_000)
        self._thread = threading.Thread(target=self._run, name="road-watch", daemon=True)
        self._sub: Any = None
        self._index: dict[str, list[HotPlate]] = {}
        self._tracker = SectionTracker([])
        self._stale = threading.Event()
        self.reads = 0
        self.hits = 0
        self.violations = 0
        self.untimed = 0
        self.untrusted = 0
        self.passages = 0
        self.dropped = 0
        # called with (section, region, exit time) for every plausible passage: the statistics' counter
        self.passage_sinks: list[Callable[[str, str, datetime], None]] = []

    def start(self) -> None:
        if self._thread.is_alive():
            return
        self._reload()
        self._hotlists.listeners.append(self._stale.set)
        self._sections.listeners.append(self._stale.set)
        self._sub = self._bus.subscribe("koopsuz.plate_read.>", self._on_read)
        self._thread.start()

    def stop(self) -> None:
        if self._sub is not None:
            self._sub.close()
        if self._thread.is_alive():
            self._q.put(_STOP)
            self._thread.join(10)

    def flush(self, timeout: float = 10.0) -> None:
        done = threading.Event()
        self._q.put(done)
        done.wait(timeout)

    def stats(self) -> dict[str, int]:
        return {
            "reads": self.reads,
            "hits": self.hits,
            "passages": self.passages,
            "violations": self.violations,
            "untimed": self.untimed,
            "untrusted": self.untrusted,
            "dropped": self.dropped,
        }

    # -- internals -------------------------------------------------------------------------------
    def _on_read(self, _subject: str, event: Event) -> None:
        try:
            self._q.put_nowait(event)
        except queue.Full:
            self.dropped += 1

    def _reload(self) -> None:
        self._index = self._hotlists.active_plates()
        old = self._tracker
        self._tracker = SectionTracker(self._sections.sections())
        if old.sections and [s.id for s in old.sections] == [s.id for s in self._tracker.sections]:
            self._tracker = old  # same sections: keep the vehicles already inside them
            self._tracker.sections = self._sections.sections()

    def _run(self) -> None:
        while True:
            item = self._q.get()
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            if self._stale.is_set():
                self._stale.clear()
                self._reload()
            try:
                self._handle(item)  # type: ignore[arg-type]
            except Exception:
                log.exception("road watch: could not handle a plate read")

    def _handle(self, read: Event) -> None:
        self.reads += 1
        compact = str(read.payload.get("compact") or "")
        if not compact:
            return
        now = datetime.now(UTC)
        for hot in self._index.get(compact, []):
            if hot.expires_at <= now or (hot.region is not None and hot.region != read.region):
                continue
            self.hits += 1
            self._submit(self._hit(read, hot))
        trusted = read.payload.get("clock_trusted")
        sighting = Sighting(
            read.id,
            compact,
            read.camera or "",
            read.ts,
            timed=read.payload.get("timing") == "line",
            clock_trusted=trusted if isinstance(trusted, bool) else None,
        )
        for passage in self._tracker.see(sighting):
            self.passages += 1
            if passage.refused is not None:
                self.untimed += int(passage.refused == "untimed")
                self.untrusted += int(passage.refused == "clock_untrusted")
                log.info(
                    "section %s: %s over the limit at %.1f km/h, no violation: %s",
                    passage.section.id,
                    read.payload.get("text"),
                    passage.speed_kmh,
                    passage.refused,
                )
            if passage.plausible:
                for sink in self.passage_sinks:
                    sink(passage.section.id, read.region, read.ts)
            if passage.violation:
                violation = self._violation(read, passage)
                if violation is None:
                    self.untimed += 1  # a read without a timing-line crossing: not evidence enough
                else:
                    self.violations += 1
                    self._submit(violation)
            elif not passage.plausible:
                log.warning(
                    "section %s: %s at %.0f km/h is implausible (misread or clock)",
                    passage.section.id,
                    read.payload.get("text"),
                    passage.speed_kmh,
                )
        self._tracker.expire(now)

    def _hit(self, read: Event, hot: HotPlate) -> Event:
        p = read.payload
        return Event(
            id=new_id(),
            kind="alert",
            region=read.region,
            camera=read.camera,
            site=read.site,
            ts=read.ts,
            severity=hit_severity(hot.kind, hot.priority),
            media=dict(read.media),
            payload={
                "rule": f"hotlist:{hot.entry_id}",
                "rule_kind": "hotlist_hit",
                "rule_name": f"{hot.list_name}: {hot.text}",
                "class": p.get("vehicle"),
                "plate": p.get("text"),
                "read": read.id,
                "confidence": p.get("confidence"),
                "colour": p.get("colour"),
                "direction": p.get("direction"),
                "hotlist": hot.hotlist_id,
                "list_kind": hot.kind,
                "priority": hot.priority,
                "reason": hot.reason,
                "legal_basis": hot.legal_basis,
                "track": p.get("track"),
            },
        )

    def _violation(self, read: Event, passage: Passage) -> Event | None:
        """The violation with both reads' evidence; None when either read's time is not a timing-line
        crossing (a first-read time can be a second off: no fine is issued on it)."""
        sec = passage.section
        with self._db.session() as s:
            entry = EventRepo(s).get(passage.entry.read_id)
        if read.payload.get("timing") != "line" or entry is None or entry.payload.get("timing") != "line":
            log.info(
                "section %s: %s over the limit, but a read lacks line timing: no violation",
                sec.id,
                read.payload.get("text"),
            )
            return None
        media = {f"exit_{k}": v for k, v in read.media.items()}
        entry_clip = None
        if entry is not None:
            media |= {f"entry_{k}": v for k, v in entry.media.items()}
            entry_clip = clip_ref(entry, *self._clip_s)
        return Event(
            id=new_id(),
            kind="speed_violation",
            region=read.region,
            camera=read.camera,
            site=read.site,
            ts=read.ts,
            severity=Severity.MEDIUM,
            media=media,
            payload={
                "section": sec.id,
                "plate": read.payload.get("text"),
                "speed_kmh": passage.speed_kmh,
                "limit_kmh": sec.limit_kmh,
                "tolerance_kmh": sec.tolerance_kmh,
                "over_kmh": round(passage.over_kmh, 1),
                "length_m": sec.length_m,
                "seconds": round((passage.exit.ts - passage.entry.ts).total_seconds(), 2),
                "entry": {
                    "read": passage.entry.read_id,
                    "camera": sec.entry_camera,
                    "ts": passage.entry.ts.isoformat(),
                    "clip": entry_clip,
                    "clock_trusted": passage.entry.clock_trusted,
                    "clock_offset_s": entry.payload.get("clock_offset_s"),
                    "timing_gap_s": entry.payload.get("timing_gap_s"),
                },
                "exit": {
                    "read": read.id,
                    "camera": sec.exit_camera,
                    "ts": read.ts.isoformat(),
                    "clock_trusted": passage.exit.clock_trusted,
                    "clock_offset_s": read.payload.get("clock_offset_s"),
                    "timing_gap_s": read.payload.get("timing_gap_s"),
                },
                "clock_trusted": passage.clock_trusted,
                "vehicle": read.payload.get("vehicle"),
                "colour": read.payload.get("colour"),
            },
        )
