"""Road safety rules: hotlists of plates, and average speed over a section between two cameras.

Average (section) speed is the measurement hardest to dispute: two plate reads of the same vehicle
at two cameras a known road distance apart give the mean speed between them, whatever it did in
between. A passage is a violation when the mean speed exceeds the limit plus the tolerance (the
limit of the vehicle's class where the section sets one, e.g. trucks 70 where cars 90); a
speed no car drives (over ``IMPLAUSIBLE_KMH``), or a zero or negative time, is a misread or a clock
fault and never a violation. Nor is a passage whose either time is not a timing-line crossing (a
first read's time can be a second off) or was read on a camera clock not trusted then (near a
jump of its clock): the passage is kept, counted, with why no fine was issued (``refused``).
Pure logic: the service feeds reads in and stores what comes out.
"""

from __future__ import annotations

import csv
import io
from collections import OrderedDict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from koopsuz.domain.plates import parse_plate

IMPLAUSIBLE_KMH = 300.0
MIN_KMH = 3.0  # slower than walking over a whole section: the entry read is stale, forget it
MAX_ENTRY_LIFE = timedelta(days=731)


class HotlistKind(StrEnum):
    STOLEN = "stolen"
    WANTED = "wanted"
    UNPAID_FINES = "unpaid_fines"
    OPERATION = "operation"  # ad hoc, for one operation


class HotlistIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=2, max_length=120)
    kind: HotlistKind
    priority: int = Field(default=3, ge=1, le=5, description="1 = most urgent")
    region: str | None = None
    description: str = Field(default="", max_length=1000)


class HotlistEntryIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    plate: str = Field(min_length=4, max_length=24)
    reason: str = Field(min_length=2, max_length=500)
    legal_basis: str = Field(min_length=2, max_length=200, description="e.g. the stolen-vehicle report's number")
    expires_at: datetime

    @field_validator("plate")
    @classmethod
    def _plate(cls, v: str) -> str:
        p = parse_plate(v)
        if p is None or p.corrections:
            raise ValueError(f"{v!r} is not a Kyrgyz plate (e.g. 01 123 ABC) nor a recognised foreign one")
        return p.text

    @field_validator("expires_at")
    @classmethod
    def _expiry(cls, v: datetime) -> datetime:
        if v.tzinfo is None:
            raise ValueError("give a time zone (e.g. 2027-01-31T23:59:59+06:00)")
        now = datetime.now(UTC)
        if v <= now:
            raise ValueError("expires_at is in the past")
        if v - now > MAX_ENTRY_LIFE:
            raise ValueError("an entry lives at most two years; renew it")
        return v


@dataclass(frozen=True, slots=True)
class Rejected:
    line: int
    text: str
    reason: str


CSV_COLUMNS = ("plate", "reason", "legal_basis", "expires_at")


def parse_hotlist_csv(text: str) -> tuple[list[HotlistEntryIn], list[Rejected]]:
    """Entries of a CSV file (header ``plate,reason,legal_basis,expires_at``) and the lines refused.

    Every line is judged on its own: a bad plate or date rejects that line with its number and
    why, never the file. A plate listed twice keeps its first line.
    """
    rows = list(csv.reader(io.StringIO(text.lstrip("\ufeff"))))
    if not rows:
        return [], [Rejected(1, "", "the file is empty; the first line must be " + ",".join(CSV_COLUMNS))]
    header = [h.strip().lower() for h in rows[0]]
    missing = [c for c in CSV_COLUMNS if c not in header]
    if missing:
        return [], [Rejected(1, ",".join(rows[0]), f"the header lacks {', '.join(missing)}")]
    at = {c: header.index(c) for c in CSV_COLUMNS}
    entries: list[HotlistEntryIn] = []
    rejected: list[Rejected] = []
    seen: set[str] = set()
    for n, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        raw = ",".join(row)
        if len(row) < len(header):
            rejected.append(Rejected(n, raw, f"expected {len(header)} columns, found {len(row)}"))
            continue
        try:
            entry = HotlistEntryIn.model_validate({c: row[i].strip() for c, i in at.items()})
        except ValueError as exc:
            errors = getattr(exc, "errors", None)
            why = "; ".join(f"{e['loc'][0]}: {e['msg']}" for e in errors()) if errors else str(exc)
            rejected.append(Rejected(n, raw, why))
            continue
        key = entry.plate.replace(" ", "")
        if key in seen:
            rejected.append(Rejected(n, raw, f"{entry.plate} is listed again (its first line is kept)"))
            continue
        seen.add(key)
        entries.append(entry)
    return entries, rejected


# --------------------------------------------------------------------------- section speed


VEHICLE_CLASSES = ("car", "bus", "truck", "motorcycle")  # what a vehicle track (and so a read) may say


@dataclass(frozen=True, slots=True)
class Section:
    id: str
    entry_camera: str
    exit_camera: str
    length_m: float
    limit_kmh: float
    tolerance_kmh: float = 3.0
    class_limits: tuple[tuple[str, float], ...] = ()  # e.g. (("bus", 70.0), ("truck", 70.0)) where cars 90

    def limit_for(self, entry_class: str | None, exit_class: str | None) -> tuple[float, str | None]:
        """The limit that applies to a vehicle read as these classes at entry and exit, and the class it is
        for (None: the section's general limit). A class limit applies only when the reads name one class:
        reads that disagree (a truck at entry, a car at exit) are a doubt, and a doubt goes to the driver,
        so the general limit applies; an unknown class ("vehicle", None) takes the other read's."""
        known = {c for c in (entry_class, exit_class) if c in VEHICLE_CLASSES}
        if len(known) == 1:
            (cls,) = known
            for name, limit in self.class_limits:
                if name == cls:
                    return limit, cls
        return self.limit_kmh, None


@dataclass(frozen=True, slots=True)
class Sighting:
    read_id: str
    plate: str  # compact
    camera: str
    ts: datetime
    timed: bool = True  # ts is a timing-line crossing (``timing: "line"``)
    clock_trusted: bool | None = None  # the camera's clock around ts: None when not measured
    vehicle: str | None = None  # the read's vehicle class (car, bus, truck, motorcycle; "vehicle" unknown)


@dataclass(frozen=True, slots=True)
class Passage:
    section: Section
    entry: Sighting
    exit: Sighting
    speed_kmh: float
    violation: bool
    plausible: bool
    refused: str | None = None  # over the limit, yet no fine: why ("untimed", "clock_untrusted")
    limit_kmh: float = 0.0  # the limit that applied (the section's, or its class limit)
    limit_class: str | None = None  # the vehicle class whose limit applied; None: the general limit

    @property
    def clock_trusted(self) -> bool | None:
        """False when either camera's clock was not trusted, True when both were, else None."""
        sides = (self.entry.clock_trusted, self.exit.clock_trusted)
        return False if False in sides else (True if all(s is True for s in sides) else None)

    @property
    def over_kmh(self) -> float:
        return self.speed_kmh - self.limit_kmh


def average_speed_kmh(length_m: float, entry: datetime, exit: datetime) -> float | None:
    seconds = (exit - entry).total_seconds()
    return None if seconds <= 0 else length_m / seconds * 3.6


class SectionTracker:
    """Pairs each exit read with the same plate's latest entry read on every section it closes.

    Entries wait at most the time the section takes at ``MIN_KMH``; at most ``max_pending`` per
    section are held (oldest dropped), so a misread flood cannot grow memory without bound.
    """

    def __init__(self, sections: list[Section], max_pending: int = 100_000) -> None:
        self.sections = list(sections)
        self._max = max_pending
        self._pending: dict[str, OrderedDict[str, Sighting]] = {s.id: OrderedDict() for s in self.sections}

    def see(self, s: Sighting) -> list[Passage]:
        out: list[Passage] = []
        for sec in self.sections:
            pending = self._pending[sec.id]
            if s.camera == sec.exit_camera:
                entry = pending.pop(s.plate, None)
                if entry is not None and (s.ts - entry.ts).total_seconds() <= sec.length_m / (MIN_KMH / 3.6):
                    out.append(_passage(sec, entry, s))
            if s.camera == sec.entry_camera:
                pending.pop(s.plate, None)
                pending[s.plate] = s
                while len(pending) > self._max:
                    pending.popitem(last=False)
        return out

    def expire(self, now: datetime) -> int:
        dropped = 0
        for sec in self.sections:
            pending = self._pending[sec.id]
            horizon = now - timedelta(seconds=sec.length_m / (MIN_KMH / 3.6))
            while pending and next(iter(pending.values())).ts < horizon:
                pending.popitem(last=False)
                dropped += 1
        return dropped

    def pending(self, section_id: str) -> int:
        return len(self._pending.get(section_id, {}))


def _passage(sec: Section, entry: Sighting, exit: Sighting) -> Passage:
    speed = average_speed_kmh(sec.length_m, entry.ts, exit.ts)
    plausible = speed is not None and speed <= IMPLAUSIBLE_KMH
    value = speed if speed is not None else 0.0
    limit, cls = sec.limit_for(entry.vehicle, exit.vehicle)
    over = plausible and value > limit + sec.tolerance_kmh
    refused = None
    if over and not (entry.timed and exit.timed):
        refused = "untimed"
    elif over and False in (entry.clock_trusted, exit.clock_trusted):
        refused = "clock_untrusted"
    return Passage(sec, entry, exit, round(value, 1), over and refused is None, plausible, refused, limit, cls)
