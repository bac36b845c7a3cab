"""The time-based rule kinds, as small state machines over one track's stay in one zone.

Each function is fed every observation of a track for one rule and returns the dwell (seconds)
on the one observation where the rule fires, else None. They fire once per *stay*: a person who
loiters, walks out and comes back loiters again (the engine still alerts once per track and
rule; a repeat is an observation). Why stays and not frames: a rule that fired on every frame a
person stood in a zone would flood the operator with the same fact.

* loitering: continuously inside the zone for ``seconds``. A tracker that loses the person for a
  moment keeps the track (coasting), so a short occlusion does not restart the clock;
* stopped vehicle: inside the zone and not moved more than ``still`` (0..1 of the frame) for
  ``seconds``. The anchor point moves with the vehicle, so a car creeping in a queue is not
  stopped, and the tolerance absorbs box jitter of a parked one;
* after hours: inside the zone while the schedule says closed (Asia/Bishkek clock); the first
  observation inside at a closed time fires. Unknown hours never fire.
"""

from __future__ import annotations

from dataclasses import dataclass

from koopsuz.domain.schedule import Hours, is_open

Point = tuple[float, float]


@dataclass(slots=True)
class DwellState:
    since: float | None = None  # when the current stay (or stop) began
    anchor: Point | None = None  # stopped: where the vehicle stood when its stop began
    fired: bool = False  # this stay has fired already


def loitering(ds: DwellState, inside: bool, t: float, seconds: float) -> float | None:
    if not inside:
        _leave(ds)
        return None
    if ds.since is None:
        ds.since = t
    return _fire_after(ds, t, seconds)


def stopped(ds: DwellState, inside: bool, p: Point, t: float, seconds: float, still: float) -> float | None:
    if not inside:
        _leave(ds)
        return None
    if ds.anchor is None or _dist(ds.anchor, p) > still:
        ds.anchor, ds.since, ds.fired = p, t, False  # moving: the stop (if any) starts again here
        return None
    return _fire_after(ds, t, seconds)


def after_hours(ds: DwellState, inside: bool, t: float, hours: Hours | None) -> float | None:
    if not inside or hours is None:
        _leave(ds)
        return None
    if ds.since is None:
        ds.since = t
    if is_open(hours, t):
        ds.fired = False  # open again: a later closed-time stay fires anew
        return None
    return _fire_after(ds, t, 0.0)


def _fire_after(ds: DwellState, t: float, seconds: float) -> float | None:
    assert ds.since is not None
    if ds.fired or t - ds.since < seconds:
        return None
    ds.fired = True
    return t - ds.since


def _leave(ds: DwellState) -> None:
    ds.since, ds.anchor, ds.fired = None, None, False


def _dist(a: Point, b: Point) -> float:
    return ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5
