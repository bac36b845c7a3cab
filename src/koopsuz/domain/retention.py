"""How long footage and pictures are kept, and what to delete when: pure rules, no I/O.

Two things decide what goes. **Days** per site type and data class: continuous ``video``,
``event_clip`` (footage inside the clip window of an event worth keeping, kept longer than plain
video) and ``snapshot`` (event pictures). Schools and kindergartens film children, so their plain
video is kept for less time by default. **A disk budget** per storage volume: when what Koopsuz
stores passes the budget (or free space falls under the floor) the oldest unprotected footage goes
first, whatever its age. Nothing inside an active evidence lock is ever deleted, by either rule.

The classes are fields of ``ClassDays``: a later class (face observations, say) is one more field
with its default, and the file format, the validation and ``days()`` follow. ``audit`` is the
exception to "per site type": the audit log is one hash chain for the installation, so only
``default`` may set it (services/retention.py removes its oldest entries behind a signed anchor,
security/audit.py). The planner knows nothing of files or databases: it is handed segments, locks and usage,
and returns a ``Plan`` (what to delete and why, what was spared because of a lock).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from koopsuz.domain.events import Severity
from koopsuz.domain.registry import SiteType


class DataClass(StrEnum):
    VIDEO = "video"  # continuous footage
    EVENT_CLIP = "event_clip"  # footage inside an event's clip window
    SNAPSHOT = "snapshot"  # event pictures under the media dir
    PLATE_READ = "plate_read"  # a vehicle's plate read (row and event): movements of people
    EVENT = "event"  # every other stored event (motion, tracks, alerts...)
    AUDIT = "audit"  # the audit log: one chain for the installation, so only ``default`` sets it


FOOTAGE = (DataClass.VIDEO, DataClass.EVENT_CLIP)
BUILTIN_DAYS: dict[DataClass, int] = {
    DataClass.VIDEO: 30,
    DataClass.EVENT_CLIP: 90,
    DataClass.SNAPSHOT: 30,
    DataClass.PLATE_READ: 30,  # reads that hit nothing; a hit's alert is an event (kept as events are)
    DataClass.EVENT: 365,  # a year of alerts and observations for statistics and complaints
    # who looked at what: kept long after the footage, for complaints, courts and inspections
    DataClass.AUDIT: 1825,
}
# Children are filmed there: plain video and pictures go sooner; an event's footage is kept as long.
BUILTIN_SITE_DAYS: dict[SiteType, dict[DataClass, int]] = {
    SiteType.SCHOOL: {DataClass.VIDEO: 14, DataClass.SNAPSHOT: 14},
    SiteType.KINDERGARTEN: {DataClass.VIDEO: 14, DataClass.SNAPSHOT: 14},
}
_SEVERITY_ORDER = {s: i for i, s in enumerate(Severity)}
Days = int | None


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClassDays(_Strict):
    """Days to keep each data class; ``None`` = not set here (the next level down decides)."""

    video: Days = Field(default=None, ge=1, le=3650, description="continuous footage")
    event_clip: Days = Field(default=None, ge=1, le=3650, description="footage inside an event's clip window")
    snapshot: Days = Field(default=None, ge=1, le=3650, description="event pictures")
    plate_read: Days = Field(default=None, ge=1, le=3650, description="plate reads (rows and their events)")
    event: Days = Field(default=None, ge=1, le=3650, description="every other stored event")
    audit: Days = Field(default=None, ge=1, le=3650, description="audit log entries (under default only)")

    def get(self, cls: DataClass) -> Days:
        return getattr(self, cls.value)


class EventClipRule(_Strict):
    """Which events make their clip window an ``event_clip``: severity at least ``min_severity``,
    or a kind listed in ``kinds``. Motion and track events are ``info`` and would otherwise turn
    a busy camera's whole day into "event clips"."""

    min_severity: Severity = Severity.LOW
    kinds: tuple[str, ...] = ("alert",)

    def counts(self, kind: str, severity: str) -> bool:
        if kind in self.kinds:
            return True
        try:
            return _SEVERITY_ORDER[Severity(severity)] >= _SEVERITY_ORDER[self.min_severity]
        except ValueError:
            return False


class RetentionPolicy(_Strict):
    """The file format too: ``default`` (every site type), ``site_types`` (overrides), ``event_clips``.

    Lookup: the file's value for the site type, else the built-in one for that site type (schools,
    kindergartens), else the file's ``default``, else the built-in default.
    """

    default: ClassDays = Field(default_factory=ClassDays)
    site_types: dict[SiteType, ClassDays] = Field(default_factory=dict)
    event_clips: EventClipRule = Field(default_factory=EventClipRule)

    @model_validator(mode="after")
    def _audit_is_one_chain(self) -> RetentionPolicy:
        for st, days in self.site_types.items():
            if days.audit is not None:
                raise ValueError(
                    f"site_types.{st}.audit: the audit log is one chain for the whole installation, not per "
                    "site type; set audit under default"
                )
        return self

    @model_validator(mode="after")
    def _clips_outlive_video(self) -> RetentionPolicy:
        for st in (None, *SiteType):
            video, clip = self.days(st, DataClass.VIDEO), self.days(st, DataClass.EVENT_CLIP)
            if clip < video:
                where = f"site_types.{st}" if st else "default"
                raise ValueError(
                    f"{where}: event_clip ({clip} days) is shorter than video ({video} days); an event's footage "
                    "is video too and cannot be deleted before the video around it: make event_clip >= video"
                )
        return self

    def days(self, site_type: str | None, cls: DataClass) -> int:
        try:
            st: SiteType | None = SiteType(site_type) if site_type else None
        except ValueError:
            st = None  # a site type this policy does not know keeps the defaults
        if st is not None:
            override = self.site_types.get(st)
            if override is not None and override.get(cls) is not None:
                return override.get(cls)  # type: ignore[return-value]
        if st is not None and cls in BUILTIN_SITE_DAYS.get(st, {}):
            return BUILTIN_SITE_DAYS[st][cls]  # a built-in site rule stands until the file names that class
        v = self.default.get(cls)
        return v if v is not None else BUILTIN_DAYS[cls]

    def table(self) -> dict[str, dict[str, int]]:
        """The effective days for every site type and class (``koopsuz retention show``, the API)."""
        return {str(st): {str(c): self.days(st, c) for c in DataClass} for st in SiteType}

    def shortest_footage_days(self) -> int:
        return min(self.days(st, c) for st in (None, *SiteType) for c in FOOTAGE)


class PolicyError(ValueError):
    """A policy file that cannot be used; the message names the file and every bad field."""


def parse_policy(text: str, source: str = "<retention policy>") -> RetentionPolicy:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: not valid YAML: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise PolicyError(f"{source}: expected a mapping with default, site_types and event_clips")
    try:
        return RetentionPolicy.model_validate(data)
    except ValidationError as exc:
        lines = []
        for e in exc.errors():
            loc = ".".join(str(x) for x in e["loc"]) or "file"
            lines.append(f"  {source}: {loc}: {e['msg']}")
        raise PolicyError(f"{len(lines)} problem(s) in retention policy:\n" + "\n".join(lines)) from None


# -- disk budget ---------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DiskBudget:
    """One storage volume: at most ``budget_bytes`` of Koopsuz data (None = no budget, days only),
    a warning past ``warn_fraction`` of it, and at least ``min_free_bytes`` left free on the disk.
    Shedding for the budget goes ``shed_margin`` below it, so it happens in steps, not every pass."""

    volume: str
    budget_bytes: int | None
    warn_fraction: float = 0.9
    min_free_bytes: int = 0
    shed_margin: float = 0.02

    def __post_init__(self) -> None:
        if self.budget_bytes is not None and self.budget_bytes <= 0:
            raise ValueError("budget_bytes must be positive (or None for no budget)")
        if not 0 < self.warn_fraction <= 1:
            raise ValueError("warn_fraction must be in (0, 1]")
        if not 0 <= self.shed_margin < 1:
            raise ValueError("shed_margin must be in [0, 1)")

    def warns(self, used: int, free: int | None = None) -> bool:
        """Past the warning share of the budget, or less than twice the floor left free on the disk."""
        if self.budget_bytes is not None and used >= self.budget_bytes * self.warn_fraction:
            return True
        return free is not None and self.min_free_bytes > 0 and free < 2 * self.min_free_bytes

    def over(self, used: int, free: int | None) -> int:
        """Bytes to shed now: over the budget (down to budget less the margin) or under the floor."""
        need = 0
        if self.budget_bytes is not None and used > self.budget_bytes:
            need = used - int(self.budget_bytes * (1 - self.shed_margin))
        if free is not None and free < self.min_free_bytes:
            need = max(need, self.min_free_bytes - free)
        return need


# -- planning ------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class SegmentInfo:
    id: int
    camera: str
    site_type: str | None
    start: datetime
    end: datetime
    size: int
    in_clip: bool = False

    @property
    def data_class(self) -> DataClass:
        return DataClass.EVENT_CLIP if self.in_clip else DataClass.VIDEO


@dataclass(frozen=True, slots=True)
class LockSpan:
    id: int
    camera: str
    start: datetime
    end: datetime
    case_number: str = ""


class Reason(StrEnum):
    EXPIRED = "expired"  # older than its site type keeps its class
    BUDGET = "budget"  # oldest unprotected footage, shed for the disk budget or the free-space floor


@dataclass(frozen=True, slots=True)
class Deletion:
    segment: SegmentInfo
    reason: Reason


@dataclass(frozen=True, slots=True)
class Spared:
    segment: SegmentInfo
    reason: Reason  # what would have deleted it
    locks: tuple[int, ...]


@dataclass(slots=True)
class Plan:
    delete: list[Deletion] = field(default_factory=list)
    spared: list[Spared] = field(default_factory=list)
    used_before: int = 0
    free_before: int | None = None
    need_bytes: int = 0  # what the budget or the floor asked to shed
    unmet_bytes: int = 0  # of that, what could not be freed (everything left is locked or too new)
    warn: bool = False  # usage past the warning fraction of the budget

    @property
    def deleted_bytes(self) -> int:
        return sum(d.segment.size for d in self.delete)

    @property
    def shed_bytes(self) -> int:
        return sum(d.segment.size for d in self.delete if d.reason == Reason.BUDGET)

    def report(self) -> dict[str, Any]:
        """Per camera and "class:reason": segments, bytes and the deleted ranges (merged); what was spared."""
        groups: dict[tuple[str, str], list[SegmentInfo]] = defaultdict(list)
        for d in self.delete:
            groups[(d.segment.camera, f"{d.segment.data_class}:{d.reason}")].append(d.segment)
        deleted: dict[str, dict[str, Any]] = defaultdict(dict)
        for (cam, key), segs in sorted(groups.items()):
            deleted[cam][key] = {
                "segments": len(segs),
                "bytes": sum(s.size for s in segs),
                "ranges": _ranges((s.start, s.end) for s in segs),
            }
        spared_groups: dict[str, list[Spared]] = defaultdict(list)
        for x in self.spared:
            spared_groups[x.segment.camera].append(x)
        spared = {
            cam: {
                "segments": len(items),
                "bytes": sum(x.segment.size for x in items),
                "locks": sorted({lk for x in items for lk in x.locks}),
                "ranges": _ranges((x.segment.start, x.segment.end) for x in items),
            }
            for cam, items in sorted(spared_groups.items())
        }
        return {
            "deleted": dict(deleted),
            "spared": spared,
            "used_before": self.used_before,
            "free_before": self.free_before,
            "need_bytes": self.need_bytes,
            "shed_bytes": self.shed_bytes,
            "unmet_bytes": self.unmet_bytes,
            "warn": self.warn,
        }


def _ranges(spans: Iterable[tuple[datetime, datetime]]) -> list[list[str]]:
    return [[_iso(a), _iso(b)] for a, b in merge_ranges(spans)]


def _iso(ts: datetime) -> str:
    return ts.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def merge_ranges(ranges: Iterable[tuple[datetime, datetime]], join_s: float = 0.25) -> list[tuple[datetime, datetime]]:
    """Sorted, overlapping or touching ranges (within ``join_s``) merged into one."""
    out: list[tuple[datetime, datetime]] = []
    for a, b in sorted(ranges):
        if out and (a - out[-1][1]).total_seconds() <= join_s:
            out[-1] = (out[-1][0], max(out[-1][1], b))
        else:
            out.append((a, b))
    return out


def locks_over(seg: SegmentInfo, locks: Sequence[LockSpan]) -> tuple[int, ...]:
    """The ids of the locks that cover any part of the segment (a segment is kept whole)."""
    return tuple(lk.id for lk in locks if lk.camera == seg.camera and lk.start < seg.end and lk.end > seg.start)


def plan(
    segments: Iterable[SegmentInfo],
    locks: Sequence[LockSpan],
    policy: RetentionPolicy,
    now: datetime,
    budget: DiskBudget | None = None,
    used_bytes: int = 0,
    free_bytes: int | None = None,
    need_bytes: int = 0,
) -> Plan:
    """What one retention pass deletes.

    First every segment older than its class's days (by site type) goes, unless a lock covers it.
    Then, if what is left is over the budget, under the free-space floor, or a caller needs
    ``need_bytes`` (the recorder, on a full disk), the oldest unlocked segments go (by start
    time), until enough is freed. ``segments`` must include the oldest footage of every camera
    for the budget step to be right (the service feeds it in order).
    """
    by_camera_locks: dict[str, list[LockSpan]] = defaultdict(list)
    for lk in locks:
        by_camera_locks[lk.camera].append(lk)
    result = Plan(used_before=used_bytes, free_before=free_bytes)
    result.warn = budget.warns(used_bytes, free_bytes) if budget else False
    keep: list[SegmentInfo] = []
    for seg in segments:
        held = locks_over(seg, by_camera_locks.get(seg.camera, ()))
        days = policy.days(seg.site_type, seg.data_class)
        if seg.end <= now - timedelta(days=days):
            if held:
                result.spared.append(Spared(seg, Reason.EXPIRED, held))
            else:
                result.delete.append(Deletion(seg, Reason.EXPIRED))
                continue
        keep.append(seg)
    freed = result.deleted_bytes
    used_after = used_bytes - freed
    free_after = None if free_bytes is None else free_bytes + freed
    need = max(budget.over(used_after, free_after) if budget else 0, need_bytes - freed)
    result.need_bytes = max(0, need)
    if need <= 0:
        return result
    spared_ids = {s.segment.id for s in result.spared}
    got = 0
    for seg in sorted(keep, key=lambda s: (s.start, s.end, s.id)):
        if got >= need:
            break
        held = locks_over(seg, by_camera_locks.get(seg.camera, ()))
        if held:
            if seg.id not in spared_ids:
                result.spared.append(Spared(seg, Reason.BUDGET, held))
            continue
        result.delete.append(Deletion(seg, Reason.BUDGET))
        got += seg.size
    result.unmet_bytes = max(0, need - got)
    return result
