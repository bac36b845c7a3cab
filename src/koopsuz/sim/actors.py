"""Actors of one camera's loop: who moves where, frame by frame, and the ground truth it implies.

Planning is separate from drawing so the ground truth (boxes, entry and exit frames, plates,
faces) can be computed, compared and tested in milliseconds without rendering a pixel. Motion is
at a constant speed on the ground plane, so a car coming down a road grows and speeds up in the
picture as a real one does.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from koopsuz.sim.faces import FacePhoto
from koopsuz.sim.plates import random_plate
from koopsuz.sim.scenario import PLATED, Scenario, ScheduledActor, SimCamera
from koopsuz.sim.scene import GEOMETRY, Geometry, H, W

SUB_W, SUB_H = 640, 360
# kind -> (height m, length m seen from the side, width m seen from front/back)
SIZES: dict[str, tuple[float, float, float]] = {
    "person": (1.75, 1.0, 0.65),  # wide enough for a full stride (feet included) and swinging arms
    "car": (1.5, 4.5, 1.8),
    "bus": (3.2, 12.0, 2.5),
    "truck": (3.4, 8.0, 2.5),
    "motorcycle": (1.6, 2.1, 0.8),
    "bicycle": (1.75, 1.8, 0.6),
}
SPEEDS: dict[str, tuple[float, float]] = {  # m/s, for random actors
    "person": (1.1, 1.6),
    "car": (9.0, 17.0),
    "bus": (7.0, 12.0),
    "truck": (7.0, 13.0),
    "motorcycle": (9.0, 16.0),
    "bicycle": (3.5, 6.0),
}
# An actor is in view while any of it is (at least MIN_PIXELS of its box in each direction, in the
# 720p frame): that is when a motion detector can see it move. Boxes are clipped to the frame, so a
# scorer that wants whole objects can filter by the box size or by the box touching an edge.
MIN_PIXELS = 3


@dataclass(slots=True)
class Actor:
    """One planned actor; positions are foot points (bottom centre) per frame of its walk."""

    id: str
    kind: str
    geo: Geometry
    start: int  # first frame of the walk
    feet: list[tuple[float, float]]  # (x, y) 0..1 per frame from ``start``
    views: list[str]  # "left" | "right" | "front" | "rear" per frame
    scale: float = 1.0
    plate: str | None = None
    face: str | None = None
    face_photo: str | None = None
    style: int = 0  # seeds colours and gait, so an actor looks the same in every loop

    def box(self, frame: int) -> tuple[float, float, float, float] | None:
        """Unclipped (x, y, w, h) in 720p pixels at ``frame`` (None when not on its walk)."""
        i = frame - self.start
        if not 0 <= i < len(self.feet):
            return None
        x, y = self.feet[i]
        height_m, length_m, width_m = SIZES[self.kind]
        ppm = self.geo.ppm(y) * self.scale
        w = (length_m if self.views[i] in ("left", "right") else width_m) * ppm
        h = height_m * ppm
        return x * W - w / 2, y * H - h, w, h


@dataclass(slots=True)
class CameraPlan:
    """All actors of one camera over one loop, with their ground truth."""

    camera: SimCamera
    frames: int
    fps: int
    actors: list[Actor] = field(default_factory=list)

    def truth(self) -> dict[str, object]:
        """Per-clip ground truth: per actor its identity, entry/exit frames and boxes per frame."""
        out = []
        for a in self.actors:
            main, sub, vis = [], [], []
            for f in range(a.start, a.start + len(a.feet)):
                clipped = visible_box(a.box(f))
                vis.append(clipped is not None)
                if clipped is not None:
                    main.append([f, *clipped])
                    sub.append([f, *to_sub(clipped)])
            runs = _runs(vis, a.start)
            views = {v for v, seen in zip(a.views, vis, strict=True) if seen}
            out.append(
                {
                    "id": a.id,
                    "kind": a.kind,
                    "plate": a.plate,
                    "plate_visible": bool(a.plate) and bool(views & {"front", "rear"}),
                    "face": a.face if "front" in views else None,
                    "face_photo": a.face_photo if "front" in views else None,
                    "enter_frame": runs[0][0] if runs else None,
                    "exit_frame": runs[-1][1] if runs else None,
                    "visits": runs,
                    "boxes_main": main,
                    "boxes_sub": sub,
                }
            )
        return {"camera": self.camera.id, "frames": self.frames, "fps": self.fps, "actors": out}


def visible_box(box: tuple[float, float, float, float] | None) -> list[int] | None:
    """The part of ``box`` inside the 720p frame, or None if too little of it is in view."""
    if box is None:
        return None
    x, y, w, h = box
    x0, y0, x1, y1 = max(0.0, x), max(0.0, y), min(float(W), x + w), min(float(H), y + h)
    if x1 - x0 < MIN_PIXELS or y1 - y0 < MIN_PIXELS:
        return None
    return [round(x0), round(y0), round(x1 - x0), round(y1 - y0)]


def to_sub(box: list[int]) -> list[int]:
    sx, sy = SUB_W / W, SUB_H / H
    return [round(box[0] * sx), round(box[1] * sy), max(1, round(box[2] * sx)), max(1, round(box[3] * sy))]


def camera_rng(scenario: Scenario, camera_id: str) -> np.random.Generator:
    """A generator fixed by (seed, camera id); stable across runs and Python versions."""
    digest = hashlib.sha256(f"{scenario.seed}/{camera_id}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def plan_camera(scenario: Scenario, cam: SimCamera, faces: list[FacePhoto]) -> CameraPlan:
    """Place the camera's actors: its schedule, or random people and vehicles for its scene."""
    from koopsuz.sim.randomizer import random_schedule

    rng = camera_rng(scenario, cam.id)
    geo = GEOMETRY[cam.scene]
    plan = CameraPlan(cam, scenario.frames, scenario.fps)
    schedule = cam.schedule if cam.schedule is not None else random_schedule(cam, scenario, faces, rng)
    counters = {"p": 0, "v": 0}
    for item in schedule:
        prefix = "p" if item.kind == "person" else "v"
        counters[prefix] += 1
        plan.actors.append(_place(item, geo, scenario, rng, faces, item.id or f"{prefix}{counters[prefix]}"))
    return plan


def _place(
    item: ScheduledActor,
    geo: Geometry,
    scenario: Scenario,
    rng: np.random.Generator,
    faces: list[FacePhoto],
    actor_id: str,
) -> Actor:
    fps = scenario.fps
    start = round(item.at * fps)
    n = max(2, min(round(item.duration * fps), scenario.frames - start))
    ground = [geo.to_ground(x, y) for x, y in item.path]
    seg = [math.dist(a, b) for a, b in pairwise(ground)]
    total = sum(seg) or 1.0
    feet, views = [], []
    for i in range(n):
        d = total * i / (n - 1)
        k = 0
        while k < len(seg) - 1 and d > seg[k]:
            d -= seg[k]
            k += 1
        t = d / seg[k] if seg[k] else 0.0
        (ax, az), (bx, bz) = ground[k], ground[k + 1]
        feet.append(geo.to_image(ax + (bx - ax) * t, az + (bz - az) * t))
        views.append(_view(bx - ax, bz - az))
    plate = item.plate
    if plate is None and item.kind in PLATED:
        plate = random_plate(rng, "09" if rng.random() < 0.6 else None)  # the pilot region is Issyk-Kul
    face, photo = item.face, item.face_photo
    if face and photo is None:
        photos = [f.path.name for f in faces if f.identity == face]
        photo = photos[int(rng.integers(0, len(photos)))] if photos else None
    if face and photo is None:
        face = None  # no photo of that identity on this machine: the person gets a drawn face
    style = int(rng.integers(0, 2**31))
    return Actor(actor_id, item.kind, geo, start, feet, views, item.scale, plate, face, photo, style)


def _view(dx: float, dz: float) -> str:
    """Which side of the actor the camera sees, from its direction of travel on the ground."""
    if abs(dz) > 1.5 * abs(dx):
        return "front" if dz < 0 else "rear"
    return "right" if dx >= 0 else "left"


def _runs(vis: list[bool], start: int) -> list[list[int]]:
    """[first, last+1) frame ranges where the actor is in view."""
    runs: list[list[int]] = []
    for i, v in enumerate(vis):
        if v and (not runs or runs[-1][1] != start + i):
            runs.append([start + i, start + i + 1])
        elif v:
            runs[-1][1] += 1
    return runs
