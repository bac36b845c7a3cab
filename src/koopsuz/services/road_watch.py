"""Watches every plate read: hotlist hits at once, and average speed over each road section.

Subscribed to ``plate_read`` events on the bus (all regions: the check is the system's, the
alerts it makes are region-scoped like every event). Bus handlers must be quick, so reads go to a
queue and one thread does the work:

* **hotlists**: the read's plate against the active entries (an in-memory index rebuilt whenever
  a list changes, expiry judged per read); a regional list matches only its region's cameras. A
  hit is an ``alert`` (``rule_kind`` ``hotlist_hit``, ``rule`` ``hotlist:<entry>``) with the
  read's pictures and clip, severity by list kind and priority, to the command centres in scope.
  The hit does not wait for the vehicle's read to be decided: the plate stage sends a
  ``plate_provisional`` as soon as one read is sure enough (see ``PlateStage._sure``), and the
  hit is raised on it (``provisional: true``, ``ts`` that read's capture). The decided
  ``plate_read`` of the same vehicle (same ``sighting``) then raises no second alert for that
  entry; if it is another plate, an ``alert`` ``hotlist_unconfirmed`` names the first one
  (``retracts``), with the same severity, so whoever acted on it learns at once.
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
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from koopsuz.bus.base import Bus
from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.domain.road import IMPLAUSIBLE_KMH, Passage, SectionTracker, Sighting
from koopsuz.domain.spot_speed import CalibrationError, SpotSpeed, spot_speed
from koopsuz.services.event_writer import clip_ref
from koopsuz.services.hotlists import HotlistService, HotPlate
from koopsuz.services.road_config import SectionService, SpotCamera
from koopsuz.store.db import Database
from koopsuz.store.event_repo import EventRepo

__all__ = ["RoadWatch", "SectionService", "hit_severity"]  # SectionService lives in road_config (was here)

log = logging.getLogger(__name__)
_STOP = object()
SPOT_MIN_CONFIDENCE = 0.6  # the vote's confidence a read needs before its spot speed can accuse anyone
MAX_PENDING_SIGHTINGS = 10_000  # provisional hits awaiting their decided read (a crashed stage never sends it)


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
        owns: Callable[[Event], bool] | None = None,
        reload_s: float = 15.0,
    ) -> None:
        # ``owns``: is this process the one to act on this read? Scale-out workers each watch every read
        # (a section's entry and exit may be held by different workers) but raise alerts and violations
        # only for the reads they made themselves (the read names its ``node``), so a read is acted on
        # once however many run, also when its camera's lease moved between the read and its handling.
        # ``reload_s``: lists edited through another process reach this one within this time.
        self._owns = owns or (lambda _read: True)
        self._reload_s = reload_s
        self._bus = bus
        self._submit = submit
        self._hotlists = hotlists
        self._sections = sections
        self._db = db
        self._clip_s = clip_s
        self._q: queue.Queue[object] = queue.Queue(maxsize=50_000)
        self._thread = threading.Thread(target=self._run, name="road-watch", daemon=True)
        self._sub: Any = None
        self._subs: list[Any] = []
        # provisional hits per sighting, waiting for the decided read: sighting -> entry id -> (alert id, hot)
        self._early: OrderedDict[str, dict[int, tuple[str, HotPlate]]] = OrderedDict()
        self._decided: OrderedDict[str, None] = OrderedDict()  # sightings whose decided read came (bounded)
        self._index: dict[str, list[HotPlate]] = {}
        self._tracker = SectionTracker([])
        self._spots: dict[str, SpotCamera] = {}
        self._stale = threading.Event()
        self.reads = 0
        self.hits = 0
        self.early_hits = 0
        self.confirmed = 0
        self.unconfirmed = 0
        self.violations = 0
        self.untimed = 0
        self.untrusted = 0
        self.passages = 0
        self.spot_measured = 0
        self.spot_violations = 0
        self.spot_uncertain = 0
        self.dropped = 0
        # called with (section, region, exit time) for every plausible passage: the statistics' counter
        self.passage_sinks: list[Callable[[str, str, datetime], None]] = []

    def start(self) -> None:
        if self._thread.is_alive():
            return
        self._reload()
        self._hotlists.listeners.append(self._stale.set)
        self._sections.listeners.append(self._stale.set)
        self._subs = [
            self._bus.subscribe("koopsuz.plate_read.>", self._on_read),
            self._bus.subscribe("koopsuz.plate_provisional.>", self._on_read),
        ]
        self._sub = self._subs[0]
        self._thread.start()

    def stop(self) -> None:
        for sub in self._subs:
            sub.close()
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
            "early_hits": self.early_hits,
            "confirmed": self.confirmed,
            "unconfirmed": self.unconfirmed,
            "passages": self.passages,
            "violations": self.violations,
            "untimed": self.untimed,
            "untrusted": self.untrusted,
            "spot_measured": self.spot_measured,
            "spot_violations": self.spot_violations,
            "spot_uncertain": self.spot_uncertain,
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
        self._spots = self._sections.spot_cameras()
        old = self._tracker
        self._tracker = SectionTracker(self._sections.sections())
        if old.sections and [s.id for s in old.sections] == [s.id for s in self._tracker.sections]:
            self._tracker = old  # same sections: keep the vehicles already inside them
            self._tracker.sections = self._sections.sections()

    def _run(self) -> None:
        reloaded = time.monotonic()
        while True:
            try:
                item = self._q.get(timeout=self._reload_s)
            except queue.Empty:
                item = None
            if item is _STOP:
                return
            if isinstance(item, threading.Event):
                item.set()
                continue
            if self._stale.is_set() or time.monotonic() - reloaded >= self._reload_s:
                self._stale.clear()
                reloaded = time.monotonic()
                try:
                    self._reload()
                except Exception:  # the store away for a moment: keep the lists we have, try again later
                    log.exception("road watch: could not reload hotlists and sections")
            if item is None:
                continue
            try:
                self._handle(item)  # type: ignore[arg-type]
            except Exception:
                log.exception("road watch: could not handle a plate read")

    def _listed(self, read: Event, now: datetime) -> list[HotPlate]:
        """The active entries the read's plate is on (a regional list only on its region's cameras)."""
        compact = str(read.payload.get("compact") or "")
        return [
            hot
            for hot in self._index.get(compact, [])
            if hot.expires_at > now and (hot.region is None or hot.region == read.region)
        ]

    def _handle(self, read: Event) -> None:
        if read.kind == "plate_provisional":
            self._provisional(read)
            return
        self.reads += 1
        compact = str(read.payload.get("compact") or "")
        if not compact:
            return
        now = datetime.now(UTC)
        sighting = read.payload.get("sighting")
        early = self._settle_sighting(sighting) if isinstance(sighting, str) else {}
        mine = self._owns(read)
        listed = self._listed(read, now) if mine else []
        for hot in listed:
            if hot.entry_id in early:
                self.confirmed += 1  # raised already on the provisional read: no second alert
                continue
            self.hits += 1
            self._submit(self._hit(read, hot))
        for entry_id, (alert_id, hot) in early.items():
            if all(h.entry_id != entry_id for h in listed):
                self.unconfirmed += 1
                self._submit(self._unconfirmed(read, hot, alert_id))
        trusted = read.payload.get("clock_trusted")
        sighting = Sighting(
            read.id,
            compact,
            read.camera or "",
            read.ts,
            timed=read.payload.get("timing") == "line",
            clock_trusted=trusted if isinstance(trusted, bool) else None,
            vehicle=str(read.payload.get("vehicle") or "") or None,
        )
        spot = self._spots.get(read.camera or "")
        if spot is not None and mine:
            self._spot(read, spot)
        for passage in self._tracker.see(sighting):
            if not mine:
                continue  # the exit camera's worker issues it (its tracker saw the entry too)
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

    def _spot(self, read: Event, spot: SpotCamera) -> None:
        """Spot speed on a calibrated camera: the plate's followed positions mapped onto the road. Over the
        limit (the vehicle class's where set) plus tolerance, a ``speed_violation`` labelled ``spot``, of
        lower evidential weight than a section's; never on a read near a jump of the camera's clock."""
        path = read.payload.get("plate_path")
        if not isinstance(path, list):
            return
        try:
            pts = [(float(t), float(x), float(y)) for t, x, y in path]
            measured = spot_speed(spot.calibration, pts)
        except (TypeError, ValueError, CalibrationError):
            log.warning("spot speed: malformed plate path on %s", read.camera)
            return
        if measured is None:
            return
        self.spot_measured += 1
        for sink in self.passage_sinks:  # a vehicle measured is a passage of the spot camera (speeding share)
            sink(spot.limits.id, read.region, read.ts)
        cls = str(read.payload.get("vehicle") or "") or None
        limit, limit_class = spot.limits.limit_for(cls, cls)
        if measured.speed_kmh <= limit + spot.limits.tolerance_kmh:
            return
        if measured.speed_kmh > IMPLAUSIBLE_KMH:
            log.warning(
                "spot %s: %s at %.0f km/h is implausible", read.camera, read.payload.get("text"), measured.speed_kmh
            )
            return
        if read.payload.get("clock_trusted") is False:
            self.untrusted += 1
            return
        conf = read.payload.get("confidence")
        if read.payload.get("format") == "free" or not isinstance(conf, int | float) or conf < SPOT_MIN_CONFIDENCE:
            # one camera's one read names the vehicle (a section needs the same plate read at both ends,
            # which weeds out misreads): an uncertain or formatless read is not enough to accuse anyone
            self.spot_uncertain += 1
            return
        self.spot_violations += 1
        self._submit(self._spot_violation(read, spot, measured, limit, limit_class))

    def _spot_violation(
        self, read: Event, spot: SpotCamera, m: SpotSpeed, limit: float, limit_class: str | None
    ) -> Event:
        p = read.payload
        first = min(float(t) for t, _x, _y in p["plate_path"])
        last = max(float(t) for t, _x, _y in p["plate_path"])
        start = datetime.fromtimestamp(read.ts.timestamp() + first, UTC)
        end = datetime.fromtimestamp(read.ts.timestamp() + last, UTC)
        side = {
            "read": read.id,
            "camera": read.camera,
            "clock_trusted": p.get("clock_trusted"),
            "clock_offset_s": p.get("clock_offset_s"),
        }
        return Event(
            id=new_id(),
            kind="speed_violation",
            region=read.region,
            camera=read.camera,
            site=read.site,
            ts=end,
            severity=Severity.MEDIUM,
            media={f"exit_{k}": v for k, v in read.media.items()} | {f"entry_{k}": v for k, v in read.media.items()},
            payload={
                "section": spot.limits.id,
                "method": "spot",
                # one camera over a second or two: a small error of position is a sizeable error of speed,
                # where a section's average over kilometres is not (domain/spot_speed.py)
                "evidential_weight": "lower",
                "plate": p.get("text"),
                "speed_kmh": m.speed_kmh,
                "limit_kmh": limit,
                "limit_class": limit_class,
                "section_limit_kmh": spot.limits.limit_kmh,
                "class_limits": dict(spot.limits.class_limits),
                "tolerance_kmh": spot.limits.tolerance_kmh,
                "over_kmh": round(m.speed_kmh - limit, 1),
                "length_m": m.distance_m,
                "seconds": m.span_s,
                "spot": {"points": m.points, "rms_m": m.rms_m, "span_s": m.span_s},
                "entry": side | {"ts": start.isoformat()},
                "exit": side | {"ts": end.isoformat()},
                "clock_trusted": p.get("clock_trusted"),
                "vehicle": p.get("vehicle"),
                "colour": p.get("colour"),
            },
        )

    def _provisional(self, read: Event) -> None:
        """A provisional read (sure, not yet decided): its hotlist hits at once, remembered for the
        decided read. One that comes after its decided read (buses need not keep order across
        subjects) is ignored: the decided read has had its say."""
        sighting = read.payload.get("sighting")
        if not isinstance(sighting, str) or sighting in self._decided or sighting in self._early:
            return
        if not self._owns(read):
            return  # another worker read it and raises its hits
        hits: dict[int, tuple[str, HotPlate]] = {}
        for hot in self._listed(read, datetime.now(UTC)):
            alert = self._hit(read, hot)
            hits[hot.entry_id] = (alert.id, hot)
            self.hits += 1
            self.early_hits += 1
            self._submit(alert)
        if hits:
            self._early[sighting] = hits
            while len(self._early) > MAX_PENDING_SIGHTINGS:
                self._early.popitem(last=False)

    def _settle_sighting(self, sighting: str) -> dict[int, tuple[str, HotPlate]]:
        """The provisional hits of this vehicle (now decided), and the sighting marked decided."""
        self._decided[sighting] = None
        while len(self._decided) > MAX_PENDING_SIGHTINGS:
            self._decided.popitem(last=False)
        return self._early.pop(sighting, {})

    def _unconfirmed(self, read: Event, hot: HotPlate, alert_id: str) -> Event:
        """The vehicle's decided plate is not the listed one a provisional hit was raised on: said as
        loudly as the hit was, naming it, so nobody keeps acting on it."""
        return _hotlist_alert(
            read,
            hot,
            "hotlist_unconfirmed",
            f"{hot.list_name}: {hot.text} not confirmed (read as {read.payload.get('text')})",
            {"retracts": alert_id, "listed_plate": hot.text},
        )

    def _hit(self, read: Event, hot: HotPlate) -> Event:
        p = read.payload
        return _hotlist_alert(
            read,
            hot,
            "hotlist_hit",
            f"{hot.list_name}: {hot.text}",
            {
                "class": p.get("vehicle"),
                "colour": p.get("colour"),
                "direction": p.get("direction"),
                "lane": p.get("lane"),
                "reason": hot.reason,
                "legal_basis": hot.legal_basis,
                # raised on a provisional read (sure, not yet decided); the decided read confirms it or
                # an ``hotlist_unconfirmed`` alert follows
                "provisional": read.kind == "plate_provisional",
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
                "method": "section",  # average speed between two cameras: the stronger evidence
                "speed_kmh": passage.speed_kmh,
                "limit_kmh": passage.limit_kmh,
                # the vehicle class whose limit applied (None: the section's general limit), and the rest
                "limit_class": passage.limit_class,
                "section_limit_kmh": sec.limit_kmh,
                "class_limits": dict(sec.class_limits),
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


def _hotlist_alert(read: Event, hot: HotPlate, rule_kind: str, rule_name: str, extra: dict[str, Any]) -> Event:
    """An alert about a read and a listed plate (a hit, or a hit taken back): the read's place, time and
    pictures, the entry's list and priority, plus what only that kind says (``extra``)."""
    p = read.payload
    payload: dict[str, Any] = {
        "rule": f"hotlist:{hot.entry_id}",
        "rule_kind": rule_kind,
        "rule_name": rule_name,
        "plate": p.get("text"),
        "read": read.id,
        "confidence": p.get("confidence"),
        "hotlist": hot.hotlist_id,
        "list_kind": hot.kind,
        "priority": hot.priority,
        "track": p.get("track"),
        "sighting": p.get("sighting"),
    }
    return Event(
        id=new_id(),
        kind="alert",
        region=read.region,
        camera=read.camera,
        site=read.site,
        ts=read.ts,
        severity=hit_severity(hot.kind, hot.priority),
        media=dict(read.media),
        payload=payload | extra,
    )
