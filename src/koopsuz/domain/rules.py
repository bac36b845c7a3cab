"""Analytics rules on tracks: zones, lines, dwell, schedules and crowds.

Kinds: zone entry, line crossing with direction and counting, loitering longer than N seconds,
a person in a zone outside a schedule (``after_hours``), a crowd larger than N in a zone, a
vehicle stopped longer than N seconds where stopping is forbidden. The time-based kinds live in
``domain.rule_kinds``; this module holds the rule record and the engine that drives them.

Pure logic over a track's foot points (bottom-centre of its box, 0..1 frame coordinates): that
is where a person or vehicle touches the ground, so it is what a zone drawn on the pavement or a
line across a road should test, not the box centre (which for a person near the camera floats
a metre above the ground).

Two things make naive geometry raise false alerts on real tracks, and both are handled here:
* jitter: a foot point standing on a line wobbles across it every frame. A side is *committed*
  only once the point is ``margin`` away from the line, and a crossing is a change of committed
  side whose segment passes through the drawn segment (not its infinite extension);
* repetition: an alert is one per track and rule (the issue's de-duplication); line counts, on
  the other hand, count every committed crossing (a person who walks back counts again).

Directions of a line are relative to the line as drawn, from ``a`` to ``b``: standing on ``a``
looking at ``b``, ``left_to_right`` is crossing from your left-hand side to your right-hand side.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from koopsuz.domain.registry import SLUG
from koopsuz.domain.rule_kinds import DwellState, after_hours, loitering, stopped
from koopsuz.domain.schedule import Hours, check_hours

Point = tuple[float, float]
OBJECT_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
Direction = Literal["left_to_right", "right_to_left"]


class RuleKind(StrEnum):
    ZONE_ENTRY = "zone_entry"
    LINE_CROSSING = "line_crossing"
    LOITERING = "loitering"
    AFTER_HOURS = "after_hours"
    CROWD = "crowd"
    STOPPED_VEHICLE = "stopped_vehicle"


NEEDS_SECONDS = (RuleKind.LOITERING, RuleKind.STOPPED_VEHICLE)


class Rule(BaseModel):
    """One rule on one camera, as drawn by an operator (coordinates 0..1 of the frame)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=SLUG)
    name: str = Field(min_length=1, max_length=200)
    kind: RuleKind
    zone: tuple[Point, ...] | None = Field(default=None, description="polygon, >= 3 points")
    line: tuple[Point, Point] | None = Field(default=None, description="from a to b")
    direction: Literal["both", "left_to_right", "right_to_left"] = "both"
    classes: tuple[str, ...] = OBJECT_CLASSES
    min_height: float = Field(default=0.0, ge=0.0, le=1.0, description="smallest box height, fraction of frame")
    severity: Literal["info", "low", "medium", "high", "critical"] = Field(
        default="medium", description="info: observed and counted, never an alert"
    )
    enabled: bool = True
    seconds: float | None = Field(default=None, gt=0.0, le=86400.0, description="loitering / stopped: dwell")
    count: int | None = Field(default=None, ge=1, le=1000, description="crowd: alert when more than this")
    still: float = Field(default=0.02, gt=0.0, le=0.5, description="stopped: how far (0..1) counts as moving")
    hours: dict[str, list[str]] | None = Field(
        default=None, description="after_hours: open hours per weekday; None = the site's opening_hours"
    )

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        pts: list[Point] = []
        if self.kind != RuleKind.LINE_CROSSING:
            if self.zone is None or len(self.zone) < 3:
                raise ValueError(f"a {self.kind} rule needs a zone polygon of at least 3 points")
            if self.line is not None:
                raise ValueError(f"a {self.kind} rule takes a zone, not a line")
            if abs(_area(self.zone)) < 1e-6:
                raise ValueError("the zone polygon has no area")
            pts = list(self.zone)
        else:
            if self.line is None:
                raise ValueError("a line_crossing rule needs a line [a, b]")
            if self.zone is not None:
                raise ValueError("a line_crossing rule takes a line, not a zone")
            if _dist(*self.line) < 1e-3:
                raise ValueError("the line's two points coincide")
            pts = list(self.line)
        for x, y in pts:
            if not (0.0 <= x <= 1.0 and 0.0 <= y <= 1.0):
                raise ValueError(f"point ({x}, {y}) is outside 0..1")
        if self.kind in NEEDS_SECONDS and self.seconds is None:
            raise ValueError(f"a {self.kind} rule needs seconds")
        if self.kind == RuleKind.CROWD and self.count is None:
            raise ValueError("a crowd rule needs count")
        if self.hours is not None:
            check_hours(self.hours)
        unknown = set(self.classes) - set(OBJECT_CLASSES)
        if unknown or not self.classes:
            raise ValueError(f"classes must be some of {', '.join(OBJECT_CLASSES)}; got {sorted(unknown) or 'none'}")
        return self


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: Rule
    track: str
    class_name: str
    t: float
    point: Point
    direction: Direction | None = None  # line crossings
    from_outside: bool = True  # zone entries: False when the track was first seen inside
    alert: bool = True  # False: a repeat (counted, not alerted again for this track)
    matches: bool = True  # False: a crossing against the rule's direction (counted, never alerted)
    dwell_s: float | None = None  # loitering / stopped: how long so far
    tracks: tuple[str, ...] = ()  # crowd: who is in it


@dataclass(frozen=True, slots=True)
class Observation:
    """One track on one analysed frame: foot point and box height in 0..1 of the frame."""

    track: str
    class_name: str
    foot: Point
    height: float
    # where the tracker carries it on a frame without a detection (its velocity extrapolated): good
    # enough for entries and crossings, not for judging that a vehicle stands still
    estimated: bool = False


@dataclass(slots=True)
class _LineState:
    side: int = 0  # committed side: -1 left, +1 right, 0 not yet
    point: Point | None = None


@dataclass(slots=True)
class _TrackState:
    inside: dict[str, bool] = field(default_factory=dict)
    lines: dict[str, _LineState] = field(default_factory=dict)
    alerted: set[str] = field(default_factory=set)
    dwell: dict[str, DwellState] = field(default_factory=dict)


class RuleEngine:
    """Evaluates one camera's rules on its tracks, one observation at a time.

    ``hours`` are the site's opening hours, used by ``after_hours`` rules that bring none of
    their own; with neither, such a rule never fires (an unknown schedule is not "closed").
    """

    def __init__(self, rules: Iterable[Rule], *, margin: float = 0.01, hours: Hours | None = None) -> None:
        self.rules = [r for r in rules if r.enabled]
        self.margin = margin
        self.hours = hours
        self._tracks: dict[str, _TrackState] = {}
        self._crowds: dict[str, bool] = {}  # crowd rule -> crowd present now
        self.counts: Counter[tuple[str, str, str, int]] = Counter()  # (rule, direction, class, hour) -> n

    def observe(self, track: str, class_name: str, foot: Point, height: float, t: float) -> list[RuleHit]:
        """A track seen at ``foot`` (0..1) with a box ``height`` (0..1) at capture time ``t`` (s).

        Returns the hits that match their rule; crossings against a rule's direction are only
        counted (``step`` returns them too, for observation events).
        """
        return [h for h in self._observe(Observation(track, class_name, foot, height), t) if h.matches]

    def step(
        self, t: float, observations: Iterable[Observation], present: Iterable[Observation] | None = None
    ) -> list[RuleHit]:
        """Every track seen on one frame, then the frame-wide rules (crowds). All hits, matching or not.

        ``present`` (default: ``observations``) is who counts for a crowd: tracks briefly unseen
        (a detector that misses every other frame) are still there, and a crowd that flickers
        with the detector would alert again at every flicker.
        """
        obs = list(observations)
        crowd = obs if present is None else list(present)
        hits = [h for o in obs for h in self._observe(o, t)]
        for rule in self.rules:
            if rule.kind == RuleKind.CROWD:
                hit = self._crowd(rule, crowd, t)
                if hit is not None:
                    hits.append(hit)
        return hits

    def knows(self, track: str) -> bool:
        """Has the track been observed since the engine started (or since it ended)?"""
        return track in self._tracks

    def replay(
        self, track: str, class_name: str, height: float, points: Iterable[tuple[float, Point]]
    ) -> list[RuleHit]:
        """Observe a track's earlier positions, oldest first, before its first observation now.

        Why: a tracker confirms a track only after a second sighting, and with a detector rationed
        to a few looks a second that can be a second or more after the first; an object crossing
        a line meanwhile would otherwise be first observed beyond it and never cross. Returns
        every hit (with the time it happened), as ``step`` does; crowds are not replayed.
        """
        hits: list[RuleHit] = []
        for t, foot in points:
            hits.extend(self._observe(Observation(track, class_name, foot, height), t))
        return hits

    def _observe(self, o: Observation, t: float) -> list[RuleHit]:
        state = self._tracks.setdefault(o.track, _TrackState())
        hits: list[RuleHit] = []
        for rule in self.rules:
            if rule.kind == RuleKind.CROWD or not self._applies(rule, o):
                continue
            if rule.kind == RuleKind.ZONE_ENTRY:
                hit = self._zone(rule, state, o.track, o.class_name, o.foot, t)
            elif rule.kind == RuleKind.LINE_CROSSING:
                hit = self._line(rule, state, o.track, o.class_name, o.foot, t)
            else:
                hit = self._dwell(rule, state, o, t)
            if hit is not None:
                if rule.id in state.alerted or not hit.matches:
                    hit = replace(hit, alert=False)
                if hit.matches:
                    state.alerted.add(rule.id)
                hits.append(hit)
        return hits

    @staticmethod
    def _applies(rule: Rule, o: Observation) -> bool:
        return o.class_name in rule.classes and o.height >= rule.min_height

    def end(self, track: str) -> None:
        """The track has left: forget it (its alerts are done)."""
        self._tracks.pop(track, None)

    def _dwell(self, rule: Rule, state: _TrackState, o: Observation, t: float) -> RuleHit | None:
        assert rule.zone is not None
        inside = point_in_polygon(o.foot, rule.zone)
        ds = state.dwell.setdefault(rule.id, DwellState())
        if rule.kind == RuleKind.LOITERING:
            fired = loitering(ds, inside, t, rule.seconds or 0.0)
        elif rule.kind == RuleKind.STOPPED_VEHICLE:
            if o.estimated:
                return None  # a braking car's extrapolated box runs on past where it stopped
            fired = stopped(ds, inside, o.foot, t, rule.seconds or 0.0, rule.still)
        else:
            hours = rule.hours if rule.hours is not None else self.hours
            fired = after_hours(ds, inside, t, hours)
        if fired is None:
            return None
        return RuleHit(rule, o.track, o.class_name, t, o.foot, dwell_s=round(fired, 2))

    def _crowd(self, rule: Rule, obs: list[Observation], t: float) -> RuleHit | None:
        assert rule.zone is not None and rule.count is not None
        members = [o for o in obs if self._applies(rule, o) and point_in_polygon(o.foot, rule.zone)]
        was = self._crowds.get(rule.id, False)
        now = len(members) > rule.count
        self._crowds[rule.id] = now
        if not now or was:
            return None  # one alert per crowd: it re-arms when the zone thins out
        first = members[0]
        return RuleHit(rule, first.track, first.class_name, t, first.foot, tracks=tuple(o.track for o in members))

    def _zone(self, rule: Rule, state: _TrackState, track: str, cls: str, p: Point, t: float) -> RuleHit | None:
        assert rule.zone is not None
        inside = point_in_polygon(p, rule.zone)
        before = state.inside.get(rule.id)
        state.inside[rule.id] = inside
        if inside and not before:
            return RuleHit(rule, track, cls, t, p, from_outside=before is not None)
        return None

    def _line(self, rule: Rule, state: _TrackState, track: str, cls: str, p: Point, t: float) -> RuleHit | None:
        assert rule.line is not None
        a, b = rule.line
        d = _cross(a, b, p) / _dist(a, b)  # signed distance: > 0 right of a->b (y grows downwards)
        ls = state.lines.setdefault(rule.id, _LineState())
        if abs(d) < self.margin:
            return None
        side = 1 if d > 0 else -1
        prev, ls.side, ls.point = (ls.side, ls.point), side, p
        if prev[0] == 0 or prev[0] == side or prev[1] is None:
            return None
        if not segments_intersect(prev[1], p, a, b):
            return None  # went round the end of the line, not across it
        direction: Direction = "left_to_right" if side > 0 else "right_to_left"
        self.counts[rule.id, direction, cls, int(t // 3600) * 3600] += 1
        return RuleHit(rule, track, cls, t, p, direction=direction, matches=rule.direction in ("both", direction))

    def count(self, rule: str, direction: str | None = None, class_name: str | None = None) -> int:
        return sum(
            n
            for (r, d, c, _), n in self.counts.items()
            if r == rule and direction in (None, d) and class_name in (None, c)
        )


def point_in_polygon(p: Point, poly: Iterable[Point]) -> bool:
    """Even-odd ray casting; points exactly on an edge may fall either way (the margin of a zone)."""
    x, y = p
    pts = list(poly)
    inside = False
    for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True):
        if (y0 > y) != (y1 > y) and x < x0 + (y - y0) * (x1 - x0) / (y1 - y0):
            inside = not inside
    return inside


def segments_intersect(p0: Point, p1: Point, a: Point, b: Point) -> bool:
    """Do segments p0-p1 and a-b share a point (touching counts)."""
    d1, d2 = _cross(a, b, p0), _cross(a, b, p1)
    if d1 == d2 == 0:  # all four on one line: they meet if their extents overlap
        return _overlap_1d(p0, p1, a, b)
    d3, d4 = _cross(p0, p1, a), _cross(p0, p1, b)
    return d1 * d2 <= 0 and d3 * d4 <= 0


def _overlap_1d(p0: Point, p1: Point, a: Point, b: Point) -> bool:
    return max(min(p0[0], p1[0]), min(a[0], b[0])) <= min(max(p0[0], p1[0]), max(a[0], b[0])) and max(
        min(p0[1], p1[1]), min(a[1], b[1])
    ) <= min(max(p0[1], p1[1]), max(a[1], b[1]))


def _cross(a: Point, b: Point, p: Point) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])


def _dist(a: Point, b: Point) -> float:
    return ((b[0] - a[0]) ** 2 + (b[1] - a[1]) ** 2) ** 0.5


def _area(poly: Iterable[Point]) -> float:
    pts = list(poly)
    return sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(pts, pts[1:] + pts[:1], strict=True)) / 2
