"""Accountability figures of a region or district over a period, from plain rows: no storage, no clock.

A regional head answers for these numbers at a board meeting, so each one has a single, written
definition here (``DEFINITIONS``) and is computed the same way for the page, the CSV and the PDF:

- incidents opened in the period, by category and by hour of day on the Bishkek clock;
- response: opened -> first unit sent, and opened -> on scene (median and 90th percentile);
- alert precision: confirmed / (confirmed + dismissed) over alerts raised in the period that an
  operator reviewed, per rule and per camera (unreviewed alerts count for neither side);
- camera uptime: 1 - (time offline inside the period) / (period), the offline time built from the
  ``camera_offline`` / ``camera_online`` events and the recorder's outage gaps (overlapping
  outages counted once);
- recording coverage: recorded seconds inside the period / period (recorded spans merged, so a
  second recorded twice counts once);
- schools and kindergartens with no working camera (none enabled and online at the period's end);
- a ranking of regions: each region's rank on each figure, and the mean of those ranks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from koopsuz.domain.geo import great_circle_m
from koopsuz.domain.incidents import percentile, seconds_between

BISHKEK = timedelta(hours=6)  # Asia/Bishkek: UTC+6 all year, no daylight saving
PROTECTED_SITE_TYPES = ("school", "kindergarten")
DISTRICT_BY_PLACE_M = 15_000.0
"""A call or hand-made incident has a place but no camera: it goes to the district of the nearest
site or town within this distance (districts have no boundaries in the registry)."""
RESPONSE_BUCKETS_S = (60, 120, 300, 600, 1200, 1800, 3600)
"""Upper edges of the response-time histogram: 1, 2, 5, 10, 20, 30, 60 minutes, then longer."""

DEFINITIONS = {
    "incidents": "incidents opened in the period",
    "by_hour": "incidents opened, by hour of day on the Bishkek clock (UTC+6)",
    "time_to_dispatch": "incident opened -> first unit sent (s)",
    "time_to_on_scene": "incident opened -> unit on scene (s)",
    "precision": "confirmed / (confirmed + dismissed), alerts raised in the period and reviewed by an operator",
    "uptime": "1 - offline time / period, from camera_offline/online events and recorder outage gaps; "
    "mean over enabled cameras",
    "coverage": "recorded seconds / period; mean over enabled cameras",
    "unprotected_sites": "schools and kindergartens with no camera enabled and online at the end of the period",
    "rank": "1 = best on each figure; overall = mean of the figure ranks a region has data for",
}


MAX_PERIOD_DAYS = 366
DEFAULT_PERIOD_DAYS = 7


class BadPeriod(ValueError):
    """The period asked for cannot be read or is not a period; the message says what to send."""


def parse_moment(text: str, *, end_of_day: bool) -> datetime:
    """``2026-11-20`` (a day on the Bishkek clock: its start, or with ``end_of_day`` the next
    midnight, so ``to=2026-11-20`` includes that day) or an ISO 8601 time with an offset."""
    text = text.strip()
    try:
        if len(text) == 10:
            day = datetime.fromisoformat(text).replace(tzinfo=UTC) - BISHKEK
            return day + timedelta(days=1) if end_of_day else day
        ts = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, OverflowError):
        raise BadPeriod(
            f"{text!r} is not a date (2026-11-20) or an ISO 8601 time (2026-11-20T09:00:00+06:00)"
        ) from None
    if ts.tzinfo is None:
        raise BadPeriod(f"{text!r} has no UTC offset; add one, e.g. +06:00 for Bishkek")
    return ts.astimezone(UTC)


def period(start_text: str | None, end_text: str | None, now: datetime) -> tuple[datetime, datetime]:
    """[start, end) from the query's ``from`` and ``to``; by default the last seven days."""
    end = parse_moment(end_text, end_of_day=True) if end_text else now
    start = parse_moment(start_text, end_of_day=False) if start_text else end - timedelta(days=DEFAULT_PERIOD_DAYS)
    if end <= start:
        raise BadPeriod("'to' must be after 'from'")
    if end - start > timedelta(days=MAX_PERIOD_DAYS):
        raise BadPeriod(f"a period of at most {MAX_PERIOD_DAYS} days; ask for a shorter one")
    if not (start.year >= 2000 and end.year <= 2100):
        raise BadPeriod("a period between the years 2000 and 2100")
    return start, end


# -- rows the service hands in ------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class IncidentFact:
    region: str
    district: str | None
    category: str
    created_at: datetime
    dispatched_at: datetime | None = None
    on_scene_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    """An operator's verdict on one alert raised in the period."""

    region: str
    camera: str | None
    rule: str | None
    rule_kind: str | None
    rule_name: str | None
    verdict: str  # confirmed | dismissed


@dataclass(frozen=True, slots=True)
class CameraFact:
    id: str
    name: str
    region: str
    site: str
    district: str | None
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class SiteFact:
    id: str
    name: str
    type: str
    region: str
    district: str | None


@dataclass(frozen=True, slots=True)
class HealthChange:
    camera: str
    ts: datetime
    online: bool


@dataclass
class CameraTime:
    """What the service found about one camera over the period."""

    outages: list[tuple[datetime, datetime]] = field(default_factory=list)
    online_at_end: bool = True
    recorded_s: float = 0.0


# -- small figures ------------------------------------------------------------------------------
def response_summary(values: Iterable[float | None]) -> dict[str, float | int | None]:
    xs = [v for v in values if v is not None and v >= 0]
    return {
        "n": len(xs),
        "median_s": percentile(xs, 50),
        "p90_s": percentile(xs, 90),
        "mean_s": sum(xs) / len(xs) if xs else None,
        "max_s": max(xs) if xs else None,
    }


def histogram(values: Iterable[float | None], edges: Sequence[float] = RESPONSE_BUCKETS_S) -> list[int]:
    """Counts per bucket: ``<= edges[0]``, ``<= edges[1]``, ..., and one more for longer."""
    out = [0] * (len(edges) + 1)
    for v in values:
        if v is None or v < 0:
            continue
        i = next((k for k, e in enumerate(edges) if v <= e), len(edges))
        out[i] += 1
    return out


def hour_of_day(ts: datetime) -> int:
    return (ts + BISHKEK).hour


def precision(confirmed: int, dismissed: int) -> float | None:
    judged = confirmed + dismissed
    return round(confirmed / judged, 4) if judged else None


def rule_key(v: Verdict) -> tuple[str, str, str]:
    """(key, label, kind) of a verdict's rule.

    Face-match and hotlist alerts carry one rule per watchlist entry or plate, and their names
    name a person or a plate: they are grouped per camera under their kind, never by name.
    """
    kind = v.rule_kind or (v.rule.split(":", 1)[0] if v.rule and ":" in v.rule else None) or "rule"
    kind = {"face": "face_match", "hotlist": "hotlist_hit"}.get(kind, kind)
    cam = v.camera or "-"
    if kind in ("face_match", "hotlist_hit") or not v.rule:
        return f"{cam}/{kind}", kind, kind
    return f"{cam}/{v.rule}", v.rule_name or v.rule, kind


Span = tuple[datetime, datetime]


def merge(intervals: Iterable[Span], start: datetime, end: datetime) -> list[Span]:
    """Clip to [start, end) and merge overlapping or touching intervals."""
    clipped = sorted((max(a, start), min(b, end)) for a, b in intervals if b > start and a < end and b > a)
    out: list[tuple[datetime, datetime]] = []
    for a, b in clipped:
        if out and a <= out[-1][1]:
            if b > out[-1][1]:
                out[-1] = (out[-1][0], b)
        else:
            out.append((a, b))
    return out


def covered_s(intervals: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime) -> float:
    return sum((b - a).total_seconds() for a, b in merge(intervals, start, end))


def outages(
    changes: Iterable[HealthChange], online_before: bool, start: datetime, end: datetime
) -> tuple[list[tuple[datetime, datetime]], bool]:
    """Offline intervals of one camera inside [start, end) and whether it was online at ``end``.

    ``online_before`` is the camera's state at ``start`` (its last change before the period; a
    camera with none is taken as online: ingest reports only changes). A repeated offline report
    while already offline keeps the first time; an online report while online is ignored.
    """
    out: list[tuple[datetime, datetime]] = []
    down_since = None if online_before else start
    for c in sorted(changes, key=lambda c: c.ts):
        if c.ts >= end:
            break
        at = max(c.ts, start)
        if not c.online and down_since is None:
            down_since = at
        elif c.online and down_since is not None:
            out.append((down_since, at))
            down_since = None
    if down_since is not None:
        out.append((down_since, end))
    return merge(out, start, end), down_since is None


def uptime(outage_list: Iterable[tuple[datetime, datetime]], start: datetime, end: datetime) -> float | None:
    period = (end - start).total_seconds()
    if period <= 0:
        return None
    return round(1.0 - covered_s(outage_list, start, end) / period, 4)


def coverage(recorded_s: float, start: datetime, end: datetime) -> float | None:
    period = (end - start).total_seconds()
    if period <= 0:
        return None
    return round(min(1.0, max(0.0, recorded_s) / period), 4)


def nearest_district(lat: float, lon: float, places: Iterable[tuple[float, float, str]], max_m: float) -> str | None:
    """The district of the nearest place (lat, lon, district) within ``max_m``; None if none is."""
    best, best_d = None, max_m
    for plat, plon, district in places:
        d = great_circle_m(lat, lon, plat, plon)
        if d <= best_d:
            best, best_d = district, d
    return best


def _mean(xs: Iterable[float | None]) -> float | None:
    vals = [x for x in xs if x is not None]
    return round(sum(vals) / len(vals), 4) if vals else None


# -- the figures of one group (a region, a district, the country) -------------------------------
def figures(
    incidents: Sequence[IncidentFact],
    verdicts: Sequence[Verdict],
    cameras: Sequence[CameraFact],
    sites: Sequence[SiteFact],
    camera_time: Mapping[str, CameraTime],
    start: datetime,
    end: datetime,
) -> dict[str, Any]:
    """Every figure of one group; ``end`` is the end of what can be measured (not in the future)."""
    to_dispatch = [seconds_between(i.created_at, i.dispatched_at) for i in incidents]
    to_scene = [seconds_between(i.created_at, i.on_scene_at) for i in incidents]
    hours = [0] * 24
    for i in incidents:
        hours[hour_of_day(i.created_at)] += 1

    by_rule: dict[str, dict[str, Any]] = {}
    by_cam: dict[str, dict[str, Any]] = {}
    for v in verdicts:
        if v.verdict not in ("confirmed", "dismissed"):
            continue
        key, label, kind = rule_key(v)
        r = by_rule.setdefault(
            key, {"key": key, "camera": v.camera, "label": label, "kind": kind, "confirmed": 0, "dismissed": 0}
        )
        r[v.verdict] += 1
        c = by_cam.setdefault(v.camera or "-", {"camera": v.camera, "confirmed": 0, "dismissed": 0})
        c[v.verdict] += 1
    for row in (*by_rule.values(), *by_cam.values()):
        row["precision"] = precision(row["confirmed"], row["dismissed"])
    confirmed = sum(r["confirmed"] for r in by_cam.values())
    dismissed = sum(r["dismissed"] for r in by_cam.values())

    cams = []
    for c in cameras:
        t = camera_time.get(c.id, CameraTime())
        up = uptime(t.outages, start, end) if c.enabled else None
        cams.append(
            {
                "camera": c.id,
                "name": c.name,
                "site": c.site,
                "district": c.district,
                "enabled": c.enabled,
                "uptime": up,
                "offline_s": round(covered_s(t.outages, start, end), 1) if c.enabled else None,
                "coverage": coverage(t.recorded_s, start, end),
                "recorded_s": round(t.recorded_s, 1),
                "working": c.enabled and t.online_at_end,
            }
        )
    enabled = [c for c in cams if c["enabled"]]
    working_sites = {c["site"] for c in cams if c["working"]}
    cams_per_site = Counter(c.site for c in cameras)
    protected = [s for s in sites if s.type in PROTECTED_SITE_TYPES]
    unprotected = [
        {"site": s.id, "name": s.name, "type": s.type, "district": s.district, "cameras": cams_per_site[s.id]}
        for s in sorted(protected, key=lambda s: (s.district or "", s.name))
        if s.id not in working_sites
    ]
    return {
        "incidents": len(incidents),
        "by_category": dict(sorted(Counter(i.category for i in incidents).items())),
        "by_hour": hours,
        "time_to_dispatch": response_summary(to_dispatch),
        "time_to_on_scene": response_summary(to_scene),
        "response_histogram": {
            "edges_s": list(RESPONSE_BUCKETS_S),
            "dispatch": histogram(to_dispatch),
            "on_scene": histogram(to_scene),
        },
        "alerts_reviewed": confirmed + dismissed,
        "alerts_confirmed": confirmed,
        "precision": precision(confirmed, dismissed),
        "precision_by_rule": sorted(by_rule.values(), key=lambda r: r["key"]),
        "precision_by_camera": sorted(by_cam.values(), key=lambda r: r["camera"] or ""),
        "cameras": len(cams),
        "cameras_enabled": len(enabled),
        "cameras_working": sum(1 for c in cams if c["working"]),
        "uptime": _mean(c["uptime"] for c in enabled),
        "coverage": _mean(c["coverage"] for c in enabled),
        "camera_uptime": sorted(cams, key=lambda c: c["camera"]),
        "protected_sites": len(protected),
        "unprotected_sites": unprotected,
    }


# -- ranking ------------------------------------------------------------------------------------
RANKED: tuple[tuple[str, bool], ...] = (
    # (figure, higher is better)
    ("median_dispatch_s", False),
    ("p90_dispatch_s", False),
    ("median_on_scene_s", False),
    ("p90_on_scene_s", False),
    ("precision", True),
    ("uptime", True),
    ("coverage", True),
    ("unprotected_share", False),
)


def ranking_row(fig: Mapping[str, Any]) -> dict[str, float | int | None]:
    """The figures a region is ranked on, flattened from its ``figures()``."""
    protected = fig["protected_sites"]
    return {
        "incidents": fig["incidents"],
        "median_dispatch_s": fig["time_to_dispatch"]["median_s"],
        "p90_dispatch_s": fig["time_to_dispatch"]["p90_s"],
        "median_on_scene_s": fig["time_to_on_scene"]["median_s"],
        "p90_on_scene_s": fig["time_to_on_scene"]["p90_s"],
        "precision": fig["precision"],
        "uptime": fig["uptime"],
        "coverage": fig["coverage"],
        "unprotected_sites": len(fig["unprotected_sites"]),
        "unprotected_share": round(len(fig["unprotected_sites"]) / protected, 4) if protected else None,
    }


def rank(rows: Mapping[str, Mapping[str, float | int | None]]) -> list[dict[str, Any]]:
    """Regions ranked on each figure (1 = best; ties share the better rank; no data: no rank),
    then overall by the mean of the ranks each region has. Regions with no rank at all come last."""
    ranks: dict[str, dict[str, int]] = {code: {} for code in rows}
    for fig, higher in RANKED:
        have = [(code, r[fig]) for code, r in rows.items() if r.get(fig) is not None]
        for code, v in have:
            better = sum(1 for _, w in have if (w > v if higher else w < v))  # type: ignore[operator]
            ranks[code][fig] = better + 1
    out = []
    for code, r in rows.items():
        mine = ranks[code]
        score = round(sum(mine.values()) / len(mine), 3) if mine else None
        out.append({"region": code, "score": score, "ranks": mine, "figures": dict(r)})
    out.sort(key=lambda x: (x["score"] is None, x["score"] if x["score"] is not None else 0, x["region"]))
    place = 0
    prev: float | None = None
    for i, row in enumerate(out, start=1):
        if row["score"] is None:
            row["rank"] = None
            continue
        if row["score"] != prev:
            place, prev = i, row["score"]
        row["rank"] = place
    return out
