"""Random but plausible activity for a scene: people on pavements, traffic in its lanes.

Benchmarks and demos need steady, varied activity without writing schedules by hand; each scene
knows where people walk and where vehicles drive, so a road camera sees plates coming towards
it and a school camera sees faces of people leaving the building. Everything is drawn from the
camera's seeded generator, so the same seed gives the same world.
"""

from __future__ import annotations

import math
from itertools import pairwise

import numpy as np

from koopsuz.sim.faces import FacePhoto
from koopsuz.sim.scenario import Scenario, ScheduledActor, SimCamera
from koopsuz.sim.scene import GEOMETRY

Path = list[tuple[float, float]]


def random_schedule(
    cam: SimCamera, scenario: Scenario, faces: list[FacePhoto], rng: np.random.Generator
) -> list[ScheduledActor]:
    """``cam.people`` people and ``cam.vehicles`` vehicles, spread over the loop."""
    from koopsuz.sim.actors import SPEEDS

    identities = sorted({f.identity for f in faces})
    out: list[ScheduledActor] = []
    wanted = [("person", i) for i in range(cam.people or 0)] + [("vehicle", i) for i in range(cam.vehicles or 0)]
    for what, _ in wanted:
        if what == "person":
            kind, path = "person", _person_path(cam.scene, rng)
        else:
            kind = _vehicle_kind(cam.scene, rng)
            path = _vehicle_path(cam.scene, kind, rng)
        lo, hi = SPEEDS[kind]
        duration = _ground_length(cam.scene, path) / float(rng.uniform(lo, hi))
        duration = round(min(duration, 0.9 * scenario.loop_seconds), 2)
        at = round(float(rng.uniform(0.0, scenario.loop_seconds - duration)), 2)
        face = None
        towards = path[-1][1] > path[0][1] + 0.15  # walking down the picture: towards the camera
        if kind == "person" and identities and towards and rng.random() < 0.6:
            face = identities[int(rng.integers(0, len(identities)))]
        out.append(ScheduledActor(at=at, kind=kind, path=path, duration=duration, face=face))
    out.sort(key=lambda a: a.at)
    return out


def _ground_length(scene: str, path: Path) -> float:
    geo = GEOMETRY[scene]
    pts = [geo.to_ground(x, y) for x, y in path]
    return sum(math.dist(a, b) for a, b in pairwise(pts))


def _u(rng: np.random.Generator, lo: float, hi: float) -> float:
    return round(float(rng.uniform(lo, hi)), 3)


def _across(rng: np.random.Generator, y: float, margin: float = 0.08) -> Path:
    """Left to right or right to left along one row of the ground."""
    a, b = -margin, 1.0 + margin
    return [(a, y), (b, y)] if rng.random() < 0.5 else [(b, y), (a, y)]


def _person_path(scene: str, rng: np.random.Generator) -> Path:
    r = rng.random()
    if scene == "street":
        if r < 0.55:
            return _across(rng, _u(rng, 0.74, 0.97))
        if r < 0.8:
            return _across(rng, _u(rng, 0.46, 0.49), 0.03)
        x0 = _u(rng, 0.2, 0.8)
        return [(x0, 0.47), (x0 + _u(rng, -0.15, 0.15), 1.08)]  # crosses the road towards the camera
    if scene == "school":
        if r < 0.6:  # out of the door, through the gate, towards the camera: faces
            return [(_u(rng, 0.47, 0.53), 0.5), (_u(rng, 0.2, 0.8), 1.1)]
        if r < 0.8:
            return [(_u(rng, 0.3, 0.7), 1.1), (_u(rng, 0.47, 0.53), 0.5)]
        return _across(rng, _u(rng, 0.62, 0.7))
    if scene == "road":
        return _across(rng, _u(rng, 0.5, 0.8), 0.3)  # someone crossing the highway
    if scene == "beach":
        if r < 0.7:
            return _across(rng, _u(rng, 0.62, 0.97))
        return [(_u(rng, 0.2, 0.8), 0.6), (_u(rng, 0.2, 0.8), 1.08)]
    # square: from any edge to another
    y0, y1 = _u(rng, 0.45, 0.95), _u(rng, 0.45, 1.1)
    if r < 0.5:
        return _across(rng, y0)
    return [(_u(rng, 0.1, 0.9), 0.46), (_u(rng, 0.1, 0.9), y1 if y1 > 0.75 else 1.08)]


def _vehicle_kind(scene: str, rng: np.random.Generator) -> str:
    kinds, weights = ("car", "bus", "truck", "motorcycle", "bicycle"), (0.7, 0.08, 0.1, 0.05, 0.07)
    if scene == "road":
        weights = (0.72, 0.08, 0.15, 0.05, 0.0)
    return str(rng.choice(kinds, p=np.array(weights) / sum(weights)))


def _vehicle_path(scene: str, kind: str, rng: np.random.Generator) -> Path:
    long = {"bus": 0.9, "truck": 0.6}.get(kind, 0.35)
    if scene == "road":
        # Right-hand traffic on a camera looking along the road: oncoming cars (front plates) use
        # the left lanes, cars driving away (rear plates) the right ones. x is the lane centre at
        # the bottom row; the lane line runs to the vanishing point.
        geo = GEOMETRY["road"]
        lane = float(rng.choice((0.3125, 0.6875, 0.06, 0.94), p=(0.4, 0.4, 0.1, 0.1)))
        far, near = 0.37, 1.3

        def at(y: float) -> tuple[float, float]:
            return (round(0.5 + (lane - 0.5) * (y - geo.horizon) / (1 - geo.horizon), 4), y)

        return [at(far), at(near)] if lane < 0.5 else [at(near), at(far)]
    if scene in ("street", "school"):
        y = _u(rng, 0.535, 0.57) if rng.random() < 0.5 else _u(rng, 0.63, 0.69)
        if scene == "school":
            y = _u(rng, 0.9, 0.98)
        direction = -1 if y < 0.6 else 1  # far lane drives left, near lane right
        a, b = -long, 1.0 + long
        return [(a, y), (b, y)] if direction > 0 else [(b, y), (a, y)]
    return _across(rng, _u(rng, 0.7, 0.95), long)
