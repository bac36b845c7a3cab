"""Incidents, patrol units and response measures: the rules, with no storage and no clock.

The services ask this module whether a change is allowed and why not; they never decide it
themselves, so the state machine is tested once here and holds for the API, the pages and any
later integration (the ministry's dispatch system, a unit's tablet).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from koopsuz.domain.geo import great_circle_m

ASSUMED_ROAD_SPEED_KMH = 40.0
"""ETA = great-circle distance / this speed. No road graph is used: a straight line at 40 km/h
roughly matches a town patrol's average over winding streets; the figure ranks units, it does
not promise an arrival time."""


class IncidentState(StrEnum):
    NEW = "new"
    DISPATCHED = "dispatched"
    ON_SCENE = "on_scene"
    RESOLVED = "resolved"
    CLOSED = "closed"


class Source(StrEnum):
    ALERT = "alert"
    CALL = "call"  # the 102 police line
    MANUAL = "manual"


class UnitStatus(StrEnum):
    AVAILABLE = "available"
    EN_ROUTE = "en_route"
    ON_SCENE = "on_scene"
    OFF_DUTY = "off_duty"


S = IncidentState
TRANSITIONS: dict[IncidentState, frozenset[IncidentState]] = {
    S.NEW: frozenset({S.DISPATCHED, S.RESOLVED}),  # resolved without a unit: a false alarm, a call settled
    S.DISPATCHED: frozenset({S.ON_SCENE, S.RESOLVED}),
    S.ON_SCENE: frozenset({S.RESOLVED}),
    S.RESOLVED: frozenset({S.CLOSED}),
    S.CLOSED: frozenset(),
}
TIME_FIELD: dict[IncidentState, str] = {
    S.DISPATCHED: "dispatched_at",
    S.ON_SCENE: "on_scene_at",
    S.RESOLVED: "resolved_at",
    S.CLOSED: "closed_at",
}


class InvalidTransition(ValueError):
    """A change the state machine refuses; the message is the reason, shown to the operator."""


def check_transition(current: IncidentState | str, target: IncidentState | str) -> IncidentState:
    cur, tgt = IncidentState(current), IncidentState(target)
    if tgt in TRANSITIONS[cur]:
        return tgt
    if cur == tgt:
        raise InvalidTransition(f"the incident is already {cur}")
    if cur == S.CLOSED:
        raise InvalidTransition("the incident is closed; nothing can change it")
    if tgt == S.ON_SCENE and cur == S.NEW:
        raise InvalidTransition("no unit has been dispatched yet: dispatch one first")
    if tgt == S.CLOSED:
        raise InvalidTransition(f"only a resolved incident can be closed (it is {cur})")
    if tgt == S.NEW:
        raise InvalidTransition(f"an incident cannot go back to new (it is {cur})")
    allowed = ", ".join(sorted(TRANSITIONS[cur])) or "nothing"
    raise InvalidTransition(f"an incident that is {cur} can become {allowed}, not {tgt}")


def unit_status_for(state: IncidentState) -> UnitStatus | None:
    """What an assigned unit's status becomes when its incident changes (None: unchanged)."""
    return {
        S.DISPATCHED: UnitStatus.EN_ROUTE,
        S.ON_SCENE: UnitStatus.ON_SCENE,
        S.RESOLVED: UnitStatus.AVAILABLE,
        S.CLOSED: UnitStatus.AVAILABLE,
    }.get(state)


def is_open(state: IncidentState | str) -> bool:
    return IncidentState(state) not in (S.RESOLVED, S.CLOSED)


# -- the checklist ------------------------------------------------------------------------------
class StepRefused(ValueError):
    pass


def check_step(steps: Sequence[str], ticked: Iterable[str], step: str) -> int:
    """Index of ``step`` if it may be ticked now: it exists, is not done, and every earlier one is."""
    if step not in steps:
        raise StepRefused(f"step {step!r} is not in this incident's procedure ({', '.join(steps)})")
    done = set(ticked)
    if step in done:
        raise StepRefused(f"step {step!r} is already ticked")
    i = steps.index(step)
    missing = [s for s in steps[:i] if s not in done]
    if missing:
        raise StepRefused(f"step {step!r} is out of order: tick {missing[0]!r} first")
    return i


# -- dispatch -----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class UnitPosition:
    id: str
    call_sign: str
    status: UnitStatus
    lat: float | None
    lon: float | None


@dataclass(frozen=True, slots=True)
class Suggestion:
    unit: UnitPosition
    distance_m: float
    eta_s: float


def eta_s(distance_m: float, speed_kmh: float = ASSUMED_ROAD_SPEED_KMH) -> float:
    return distance_m / (speed_kmh / 3.6)


def suggest_units(lat: float, lon: float, units: Iterable[UnitPosition], limit: int = 5) -> list[Suggestion]:
    """Available units with a known position, nearest first (great-circle distance)."""
    out = []
    for u in units:
        if u.status != UnitStatus.AVAILABLE or u.lat is None or u.lon is None:
            continue
        d = great_circle_m(lat, lon, u.lat, u.lon)
        out.append(Suggestion(u, d, eta_s(d)))
    out.sort(key=lambda s: (s.distance_m, s.unit.call_sign))
    return out[:limit]


# -- measures -----------------------------------------------------------------------------------
def seconds_between(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return (end - start).total_seconds()


def percentile(values: Sequence[float], q: float) -> float | None:
    """Linear interpolation between closest ranks (numpy's default), q in 0..100."""
    if not values:
        return None
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def summary(values: Iterable[float | None]) -> dict[str, float | int | None]:
    xs = [v for v in values if v is not None]
    return {
        "n": len(xs),
        "median_s": percentile(xs, 50),
        "p90_s": percentile(xs, 90),
        "mean_s": sum(xs) / len(xs) if xs else None,
        "max_s": max(xs) if xs else None,
    }
