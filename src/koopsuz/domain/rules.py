"""Analytics rules on tracks: zone entry and line crossing with direction and counting.

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

Point = tuple[float, float]
OBJECT_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck")
Direction = Literal["left_to_right", "right_to_left"]


class RuleKind(StrEnum):
    ZONE_ENTRY = "zone_entry"
    LINE_CROSSING = "line_crossing"


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
    severity: Literal["info", "low", "medium", "high", "critical"] = "medium"
    enabled: bool = True

    @model_validator(mode="after")
    def _shape(self) -> Rule:
        pts: list[Point] = []
        if self.kind == RuleKind.ZONE_ENTRY:
            if self.zone is None or len(self.zone) < 3:
                raise ValueError("a zone_entry rule needs a zone polygon of at least 3 points")
            if self.line is not None:
                raise ValueError("a zone_entry rule takes a zone, not a line")
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


@dataclass(slots=True)
class _LineState:
    side: int = 0  # committed side: -1 left, +1 right, 0 not yet
    point: Point | None = None


@dataclass(slots=True)
class _TrackState:
    inside: dict[str, bool] = field(default_factory=dict)
    lines: dict[str, _LineState] = field(default_factory=dict)
    alerted: set[str] = field(default_factory=set)


class RuleEngine:
    """Evaluates one camera's rules on its tracks, one observation at a time."""

    def __init__(self, rules: Iterable[Rule], *, margin: float = 0.01) -> None:
        self.rules = [r for r in rules if r.enabled]
        self.margin = margin
        self._tracks: dict[str, _TrackState] = {}
        self.counts: Counter[tuple[str, str, str, int]] = Counter()  # (rule, direction, class, hour) -> n

    def observe(self, track: str, class_name: str, foot: Point, height: float, t: float) -> list[RuleHit]:
        """A track seen at ``foot`` (0..1) with a box ``height`` (0..1) at capture time ``t`` (s)."""
        state = self._tracks.setdefault(track, _TrackState())
        hits: list[RuleHit] = []
        for rule in self.rules:
            if class_name not in rule.classes or height < rule.min_height:
                continue
            if rule.kind == RuleKind.ZONE_ENTRY:
                hit = self._zone(rule, state, track, class_name, foot, t)
            else:
                hit = self._line(rule, state, track, class_name, foot, t)
            if hit is not None:
                if rule.id in state.alerted:
                    hit = replace(hit, alert=False)
                state.alerted.add(rule.id)
                hits.append(hit)
        return hits

    def end(self, track: str) -> None:
        """The track has left: forget it (its alerts are done)."""
        self._tracks.pop(track, None)

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
        if rule.direction not in ("both", direction):
            return None
        return RuleHit(rule, track, cls, t, p, direction=direction)

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
