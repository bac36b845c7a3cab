"""Drawing actors onto a frame: articulated people (with real faces) and vehicles (with plates).

Shapes are plain OpenCV polygons in actor-local coordinates (u along the body, v up from the
ground), shaded by the scene's light at the actor's position, so one routine serves day, dusk and
night. Only the actor's own pixels are touched, which keeps a frame cheap to render.
"""

from __future__ import annotations

import math
from functools import lru_cache

import cv2
import numpy as np

from koopsuz.sim.actors import Actor
from koopsuz.sim.plates import PLATE_H, PLATE_W, plate_image
from koopsuz.sim.scene import Stage

Colour = tuple[int, int, int]
CAR_COLOURS = ((235, 235, 235), (190, 190, 195), (30, 30, 30), (90, 90, 95), (40, 40, 170), (150, 80, 30))
SKIN = ((150, 180, 225), (120, 160, 210), (90, 130, 180), (70, 100, 150))
HAIR = ((30, 30, 35), (40, 60, 90), (20, 20, 20), (160, 160, 160))


@lru_cache(maxsize=4096)
def palette(style: int, kind: str) -> dict[str, Colour]:
    """Stable colours of one actor: the same person wears the same clothes in every loop."""
    rng = np.random.default_rng(style)

    def pick(options: tuple[Colour, ...]) -> Colour:
        return options[int(rng.integers(0, len(options)))]

    def any_colour(lo: int = 30, hi: int = 220) -> Colour:
        return tuple(int(c) for c in rng.integers(lo, hi, 3))  # type: ignore[return-value]

    body = {"bus": (40, 190, 230), "truck": any_colour(60, 200)}.get(kind, pick(CAR_COLOURS))
    return {
        "shirt": any_colour(),
        "trousers": any_colour(20, 120),
        "skin": pick(SKIN),
        "hair": pick(HAIR),
        "body": body,
    }


def draw_actor(frame: np.ndarray, actor: Actor, f: int, stage: Stage, fps: int, faces: dict[str, np.ndarray]) -> None:
    box = actor.box(f)
    if box is None:
        return
    x, y, w, h = box
    if x > frame.shape[1] or y > frame.shape[0] or x + w < 0 or y + h < 0:
        return
    i = f - actor.start
    view = actor.views[i]
    fx, fy = actor.feet[i]
    light = stage.light_at(fx, fy - 0.01)
    pal = palette(actor.style, actor.kind)
    lit = {k: _shade(v, light) for k, v in pal.items()}
    phase = 2 * math.pi * 1.8 * i / fps + (actor.style % 7)
    if actor.kind == "person":
        face = faces.get(actor.face_photo or "") if view == "front" else None
        _person(frame, (x, y, w, h), view, phase, lit, face, light)
    elif view in ("left", "right"):
        _vehicle_side(frame, actor.kind, (x, y, w, h), 1 if view == "right" else -1, lit, stage.glow, phase, light)
    else:
        _vehicle_end(frame, actor, (x, y, w, h), view, lit, light, stage.glow, phase)


def _shade(c: Colour, light: np.ndarray) -> Colour:
    return (min(255, int(c[0] * light[0])), min(255, int(c[1] * light[1])), min(255, int(c[2] * light[2])))


def _pt(x: float, y: float) -> tuple[int, int]:
    return round(x), round(y)


def _person(
    img: np.ndarray,
    box: tuple[float, float, float, float],
    view: str,
    phase: float,
    c: dict[str, Colour],
    face: np.ndarray | None,
    light: np.ndarray,
) -> None:
    x, y, w, h = box
    cx, fy = x + w / 2, y + h
    leg_t, arm_t = max(2, round(0.085 * h)), max(1, round(0.055 * h))
    hip, shoulder = fy - 0.48 * h, fy - 0.8 * h
    s = math.sin(phase)
    if view in ("left", "right"):
        d = 1 if view == "right" else -1
        for sign, tone in ((-1, 0.75), (1, 1.0)):  # far limbs first, a little darker
            leg = tuple(int(v * tone) for v in c["trousers"])
            foot_x = cx + sign * s * 0.2 * h
            knee = _pt((cx + foot_x) / 2 + d * 0.03 * h, hip + 0.25 * h)
            cv2.line(img, _pt(cx, hip), knee, leg, leg_t, cv2.LINE_AA)
            cv2.line(img, knee, _pt(foot_x, fy - 0.02 * h), leg, leg_t, cv2.LINE_AA)
            cv2.line(
                img,
                _pt(foot_x - 0.02 * h, fy - 0.01 * h),
                _pt(foot_x + d * 0.08 * h, fy - 0.01 * h),
                (25, 25, 25),
                leg_t // 2 + 1,
            )
        torso = np.array(
            [
                _pt(cx - 0.085 * h, shoulder),
                _pt(cx + 0.085 * h, shoulder),
                _pt(cx + 0.075 * h, hip + 0.02 * h),
                _pt(cx - 0.075 * h, hip + 0.02 * h),
            ]
        )
        cv2.fillConvexPoly(img, torso, c["shirt"], cv2.LINE_AA)
        for sign in (1, -1):
            hand = _pt(cx - sign * s * 0.15 * h, fy - 0.45 * h)
            cv2.line(img, _pt(cx, shoulder + 0.02 * h), hand, c["shirt"], arm_t, cv2.LINE_AA)
            cv2.circle(img, hand, max(1, arm_t // 2), c["skin"], -1, cv2.LINE_AA)
        head = _pt(cx + d * 0.01 * h, fy - 0.915 * h)
        axes = _pt(0.06 * h, 0.075 * h)
        cv2.ellipse(img, head, axes, 0, 0, 360, c["skin"], -1, cv2.LINE_AA)
        cv2.ellipse(img, head, axes, 0, 90 + 90 * d, 270 + 90 * d + 30 * d, c["hair"], -1, cv2.LINE_AA)
        return
    for sign in (-1, 1):
        lift = max(0.0, sign * s) * 0.05 * h
        cv2.line(
            img,
            _pt(cx + sign * 0.06 * h, hip),
            _pt(cx + sign * 0.065 * h, fy - lift - 0.02 * h),
            c["trousers"],
            leg_t,
            cv2.LINE_AA,
        )
        hand = _pt(cx + sign * 0.175 * h, fy - 0.46 * h - sign * s * 0.02 * h)
        cv2.line(img, _pt(cx + sign * 0.13 * h, shoulder + 0.03 * h), hand, c["shirt"], arm_t, cv2.LINE_AA)
        cv2.circle(img, hand, max(1, arm_t // 2), c["skin"], -1, cv2.LINE_AA)
    torso = np.array(
        [
            _pt(cx - 0.14 * h, shoulder),
            _pt(cx + 0.14 * h, shoulder),
            _pt(cx + 0.11 * h, hip + 0.02 * h),
            _pt(cx - 0.11 * h, hip + 0.02 * h),
        ]
    )
    cv2.fillConvexPoly(img, torso, c["shirt"], cv2.LINE_AA)
    head = _pt(cx, fy - 0.905 * h)
    axes = _pt(0.065 * h, 0.08 * h)
    if view == "rear":
        cv2.ellipse(img, head, axes, 0, 0, 360, c["hair"], -1, cv2.LINE_AA)
    elif face is not None and axes[1] >= 4:
        hair_axes = _pt(axes[0] * 1.1, axes[1] * 1.05)
        cv2.ellipse(img, _pt(head[0], head[1] - 0.2 * axes[1]), hair_axes, 0, 0, 360, c["hair"], -1, cv2.LINE_AA)
        _paste_face(img, face, head, axes, light)
    else:
        cv2.ellipse(img, head, axes, 0, 0, 360, c["skin"], -1, cv2.LINE_AA)
        cv2.ellipse(img, head, axes, 0, 180, 360, c["hair"], -1, cv2.LINE_AA)
        if h > 80:
            for sign in (-1, 1):
                cv2.circle(
                    img,
                    _pt(head[0] + sign * 0.025 * h, head[1] + 0.005 * h),
                    max(1, round(0.007 * h)),
                    (30, 30, 30),
                    -1,
                )


def _paste_face(
    img: np.ndarray, face: np.ndarray, centre: tuple[int, int], axes: tuple[int, int], light: np.ndarray
) -> None:
    """A real face photo, resized into the head's ellipse and shaded by the scene light."""
    fw, fh = 2 * axes[0] + 1, 2 * axes[1] + 1
    x0, y0 = centre[0] - axes[0], centre[1] - axes[1]
    H, W = img.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + fw), min(H, y0 + fh)
    if cx1 <= cx0 or cy1 <= cy0:
        return
    sprite = cv2.resize(face, (fw, fh), interpolation=cv2.INTER_AREA).astype(np.float32) * light
    mask = np.zeros((fh, fw), np.uint8)
    cv2.ellipse(mask, (axes[0], axes[1]), axes, 0, 0, 360, 255, -1, cv2.LINE_AA)
    sub = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    alpha = (mask[sub].astype(np.float32) / 255.0)[:, :, None]
    roi = img[cy0:cy1, cx0:cx1]
    roi[:] = np.clip(sprite[sub] * alpha + roi * (1 - alpha), 0, 255).astype(np.uint8)


def _poly(
    img: np.ndarray, pts: list[tuple[float, float]], box: tuple[float, float, float, float], d: int, c: Colour
) -> None:
    """Fill a polygon given in local (u along the body towards its front, v up) coordinates."""
    x, y, w, h = box
    arr = np.array([_pt(x + (u if d > 0 else 1 - u) * w, y + h - v * h) for u, v in pts], np.int32)
    cv2.fillPoly(img, [arr], c, cv2.LINE_AA)


def _wheel(
    img: np.ndarray, box: tuple[float, float, float, float], d: int, u: float, r: float, thin: bool = False
) -> None:
    x, y, w, h = box
    centre = _pt(x + (u if d > 0 else 1 - u) * w, y + h - r * h)
    rad = max(1, round(r * h))
    if thin:
        cv2.circle(img, centre, rad, (25, 25, 25), max(1, rad // 6), cv2.LINE_AA)
    else:
        cv2.circle(img, centre, rad, (25, 25, 25), -1, cv2.LINE_AA)
        cv2.circle(img, centre, max(1, rad // 2), (140, 140, 140), -1, cv2.LINE_AA)


def _glow(img: np.ndarray, centre: tuple[int, int], radius: int, colour: Colour, strength: float) -> None:
    """A light source: a bright core and a soft halo, blended only around the source."""
    H, W = img.shape[:2]
    r = max(2, radius)
    x0, y0, x1, y1 = (
        max(0, centre[0] - 3 * r),
        max(0, centre[1] - 3 * r),
        min(W, centre[0] + 3 * r),
        min(H, centre[1] + 3 * r),
    )
    if x1 <= x0 or y1 <= y0:
        return
    roi = img[y0:y1, x0:x1]
    over = roi.copy()
    cv2.circle(over, (centre[0] - x0, centre[1] - y0), 2 * r, colour, -1, cv2.LINE_AA)
    cv2.addWeighted(over, 0.35 * strength, roi, 1 - 0.35 * strength, 0, dst=roi)
    cv2.circle(img, centre, r, (255, 255, 255) if colour[2] > 200 and colour[0] > 150 else colour, -1, cv2.LINE_AA)


def _vehicle_side(
    img: np.ndarray,
    kind: str,
    box: tuple[float, float, float, float],
    d: int,
    c: dict[str, Colour],
    glow: float,
    phase: float,
    light: np.ndarray | None = None,
) -> None:
    """A vehicle seen from the side.

    Cars, buses and trucks carry the cues a detector trained on photographs looks for (see
    ``_side_body``); two-wheelers keep their simple drawing (the rider is what is detected).
    """
    if kind in ("car", "bus", "truck"):
        _side_body(img, kind, box, d, c, glow, np.ones(3, np.float32) if light is None else light)
        return
    _two_wheeler_side(img, kind, box, d, c, glow, phase)


# Side-view shapes in local coordinates: u along the body towards its front, v up from the ground,
# both as fractions of the actor's box. Wheels are (u of each axle, radius as a fraction of h).
_CAR_BODY = [
    (0.0, 0.2), (0.0, 0.5), (0.02, 0.56), (0.22, 0.6), (0.28, 0.63), (0.37, 0.92), (0.43, 0.95),
    (0.63, 0.95), (0.7, 0.9), (0.8, 0.64), (0.94, 0.58), (0.99, 0.52), (1.0, 0.3), (0.99, 0.2),
]  # fmt: skip
_CAR_GLASS = [(0.3, 0.64), (0.38, 0.9), (0.435, 0.92), (0.625, 0.92), (0.685, 0.875), (0.775, 0.64)]
_BUS_BODY = [(0.0, 0.1), (0.0, 0.95), (0.01, 0.98), (0.98, 0.98), (1.0, 0.93), (1.0, 0.1)]
_WHEELS = {"car": ((0.2, 0.8), 0.2), "bus": ((0.15, 0.8), 0.13), "truck": ((0.12, 0.28, 0.87), 0.14)}
# Brightness of the painted body by height (v): a dark sill, light falling off towards it, a bright
# shoulder line where the side turns towards the sky, a lighter roof: the shading of a photographed car.
_SHADING = {
    "car": ((0, 0.28, 0.3, 0.54, 0.56, 0.6, 0.63, 1), (0.5, 0.55, 0.78, 1.0, 1.3, 1.25, 1.05, 1.1)),
    "bus": ((0, 0.18, 0.2, 0.45, 0.48, 0.9, 0.92, 1), (0.45, 0.5, 0.8, 1.0, 1.2, 1.0, 1.15, 1.15)),
    "truck": ((0, 0.2, 0.22, 0.8, 0.95, 1), (0.5, 0.55, 0.85, 1.0, 1.1, 1.15)),
}
_GLASS, _SKY = (48, 40, 36), (200, 170, 140)  # dark tinted glass; the sky it reflects (BGR)


def _side_body(
    img: np.ndarray,
    kind: str,
    box: tuple[float, float, float, float],
    d: int,
    c: dict[str, Colour],
    glow: float,
    light: np.ndarray,
) -> None:
    """A car, bus or truck side-on, with the cues a COCO detector learned from photographs.

    Flat single-colour silhouettes read as "airplane" or nothing to such a model; what it keys on
    is a shaded body (dark sill, bright shoulder line), a glasshouse of dark glass with pillars and
    a sky reflection, black tyres with light rims in dark wheel arches, and a soft shadow on the
    road. Everything is drawn into the vehicle's own patch of the frame, so the cost grows with
    the vehicle's size, not the frame's.
    """
    x, y, w, h = box
    H, W = img.shape[:2]
    x0, y0 = max(0, math.floor(x - 0.04 * w)), max(0, math.floor(y))
    x1, y1 = min(W, math.ceil(x + 1.04 * w)), min(H, math.ceil(y + 1.06 * h))
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    patch = img[y0:y1, x0:x1]
    lb = (x - x0, y - y0, w, h)  # the box in patch coordinates
    lum = float(light.mean())
    _ground_shadow(patch, lb, 0.55)
    mask = np.zeros(patch.shape[:2], np.uint8)
    body = c["body"]
    if kind == "car":
        outline = [(_CAR_BODY, body)]
    elif kind == "bus":
        outline = [(_BUS_BODY, body)]
    else:
        cargo = [(0.0, 0.17), (0.0, 1.0), (0.72, 1.0), (0.72, 0.17)]
        cab = [(0.74, 0.12), (0.74, 0.82), (0.9, 0.82), (0.97, 0.7), (1.0, 0.55), (1.0, 0.12)]
        outline = [(cargo, _mix(body, (205, 205, 205))), (cab, body)]
    v = (y + h - (y0 + np.arange(y1 - y0, dtype=np.float32) + 0.5)) / h  # height of each patch row
    vs, fs = _SHADING[kind]
    gain = np.interp(v, vs, fs).astype(np.float32)[:, None]
    lift = (np.interp(v, (0, 0.5, 0.57, 0.64, 1), (0, 0, 28, 0, 0)) * lum).astype(np.float32)[:, None]
    for pts, colour in outline:
        part = np.zeros(patch.shape[:2], np.uint8)
        _poly(part, pts, lb, d, 255)  # type: ignore[arg-type]
        _fill_rows(patch, part, np.array(colour, np.float32)[None, :] * gain + lift)
        mask |= part
    glass, sky = _shade(_GLASS, light), _shade(_SKY, light)
    if kind == "car":
        _glasshouse(patch, lb, d, [_CAR_GLASS], v, (0.64, 0.92), glass, sky)
        _poly(patch, [(0.3, 0.64), (0.38, 0.9), (0.41, 0.91), (0.355, 0.64)], lb, d, _shade_k(body, 1.05))  # C pillar
        _poly(patch, [(0.525, 0.64), (0.525, 0.92), (0.545, 0.92), (0.55, 0.64)], lb, d, (28, 28, 30))  # B pillar
        dark = _shade_k(body, 0.45)
        for u in (0.31, 0.54, 0.76):  # door seams
            _line(patch, lb, d, (u, 0.27), (u + 0.01, 0.6), dark)
        for u in (0.43, 0.65):  # door handles
            _line(patch, lb, d, (u, 0.53), (u + 0.04, 0.53), _shade_k(body, 0.6))
        _poly(patch, [(0.75, 0.64), (0.78, 0.7), (0.8, 0.64)], lb, d, (30, 30, 30))  # mirror
        for u0, u1 in ((0.0, 0.05), (0.95, 1.0)):  # bumper ends, darker plastic
            _poly(patch, [(u0, 0.2), (u0, 0.3), (u1, 0.3), (u1, 0.2)], lb, d, _shade_k(body, 0.4))
        lamps = ((0.985, 0.46), (0.012, 0.5))
    elif kind == "bus":
        panes = [[(u, 0.5), (u, 0.88), (u + 0.078, 0.88), (u + 0.078, 0.5)] for u in np.arange(0.03, 0.84, 0.09)]
        panes += [[(0.925, 0.35), (0.925, 0.92), (0.995, 0.92), (0.995, 0.35)]]  # windscreen
        panes += [[(0.86, 0.14), (0.86, 0.88), (0.915, 0.88), (0.915, 0.14)]]  # front door
        panes += [[(0.45, 0.14), (0.45, 0.88), (0.51, 0.88), (0.51, 0.14)]]  # middle door
        _glasshouse(patch, lb, d, panes, v, (0.14, 0.92), glass, sky)
        lamps = ((0.99, 0.22), (0.008, 0.25))
    else:
        for u in np.arange(0.06, 0.7, 0.066):  # ribs of the box body
            _line(patch, lb, d, (u, 0.2), (u, 0.97), _shade_k(_mix(body, (205, 205, 205)), 0.75))
        _poly(patch, [(0.0, 0.1), (0.0, 0.17), (0.98, 0.17), (0.98, 0.1)], lb, d, (28, 28, 30))  # chassis
        _glasshouse(patch, lb, d, [[(0.85, 0.5), (0.85, 0.76), (0.9, 0.76), (0.965, 0.55)]], v, (0.5, 0.76), glass, sky)
        _poly(patch, [(0.96, 0.12), (0.96, 0.24), (1.0, 0.24), (1.0, 0.12)], lb, d, (35, 35, 38))  # bumper
        lamps = ((0.99, 0.3), (0.008, 0.22))
    axles, r = _WHEELS[kind]
    rim = _shade((175, 175, 180), light)
    for u in axles:
        _tyre(patch, lb, d, u, r, rim)
    _noise(patch, mask)
    front = _pt(x + (lamps[0][0] if d > 0 else 1 - lamps[0][0]) * w, y + h - lamps[0][1] * h)
    rear = _pt(x + (lamps[1][0] if d > 0 else 1 - lamps[1][0]) * w, y + h - lamps[1][1] * h)
    cv2.ellipse(img, front, _pt(max(1, 0.02 * w), max(1, 0.04 * h)), 0, 0, 360, (200, 235, 245), -1, cv2.LINE_AA)
    cv2.ellipse(img, rear, _pt(max(1, 0.012 * w), max(1, 0.045 * h)), 0, 0, 360, (30, 30, 190), -1, cv2.LINE_AA)
    if glow:
        _glow(img, front, round(0.05 * h), (220, 245, 255), glow)
        _glow(img, rear, round(0.04 * h), (40, 40, 255), glow * 0.7)


def _shade_k(c: Colour, k: float) -> Colour:
    return (min(255, int(c[0] * k)), min(255, int(c[1] * k)), min(255, int(c[2] * k)))


def _line(
    img: np.ndarray,
    box: tuple[float, float, float, float],
    d: int,
    a: tuple[float, float],
    b: tuple[float, float],
    c: Colour,
) -> None:
    x, y, w, h = box

    def at(u: float, v: float) -> tuple[int, int]:
        return _pt(x + (u if d > 0 else 1 - u) * w, y + h - v * h)

    cv2.line(img, at(*a), at(*b), c, 1, cv2.LINE_AA)


def _ground_shadow(patch: np.ndarray, box: tuple[float, float, float, float], depth: float) -> None:
    """A soft dark ellipse on the road under the body: what sets a photographed car on the ground."""
    x, y, w, h = box
    top = max(0, math.floor(y + 0.8 * h))  # the shadow and its blur stay in the bottom rows
    band = patch[top:]
    if band.size == 0:
        return
    shade = np.zeros(band.shape[:2], np.uint8)
    cv2.ellipse(shade, _pt(x + w / 2, y + h - 0.01 * h - top), _pt(0.5 * w, max(1.0, 0.06 * h)), 0, 0, 360, 255, -1)
    shade = cv2.GaussianBlur(shade, (0, 0), max(0.8, 0.025 * h))
    keep = cv2.merge([255 - (shade * depth).astype(np.uint8)] * 3)
    cv2.multiply(band, keep, dst=band, scale=1 / 255)


def _glasshouse(
    patch: np.ndarray,
    box: tuple[float, float, float, float],
    d: int,
    panes: list[list[tuple[float, float]]],
    v: np.ndarray,
    band: tuple[float, float],
    glass: Colour,
    sky: Colour,
) -> None:
    """Dark glass that reflects the sky near its top edge, as side windows do by day."""
    mask = np.zeros(patch.shape[:2], np.uint8)
    for pts in panes:
        _poly(mask, pts, box, d, 255)  # type: ignore[arg-type]
    t = np.clip((v - band[0]) / (band[1] - band[0]), 0, 1) ** 2 * 0.55  # reflection share by height
    g, s = np.array(glass, np.float32), np.array(sky, np.float32)
    _fill_rows(patch, mask, g[None, :] * (1 - t[:, None]) + s[None, :] * t[:, None])


def _fill_rows(patch: np.ndarray, mask: np.ndarray, colours: np.ndarray) -> None:
    """Paint ``mask``'s pixels with one colour per row (a vertical gradient), in one masked copy."""
    bx, by, bw, bh = cv2.boundingRect(mask)  # only the painted rectangle is built and copied
    if bw == 0 or bh == 0:
        return
    rows = np.clip(colours[by : by + bh], 0, 255).astype(np.uint8)[:, None, :]
    fill = cv2.resize(rows, (bw, bh), interpolation=cv2.INTER_NEAREST)
    cv2.copyTo(fill, mask[by : by + bh, bx : bx + bw], patch[by : by + bh, bx : bx + bw])


def _tyre(patch: np.ndarray, box: tuple[float, float, float, float], d: int, u: float, r: float, rim: Colour) -> None:
    """A black tyre in a darker wheel arch, a light rim and a dark hub."""
    x, y, w, h = box
    centre = _pt(x + (u if d > 0 else 1 - u) * w, y + h - r * h)
    rad = max(1.0, r * h)
    cv2.circle(patch, centre, round(rad * 1.12), (14, 14, 16), -1, cv2.LINE_AA)  # the arch's shadow
    cv2.circle(patch, centre, round(rad), (30, 30, 32), -1, cv2.LINE_AA)
    cv2.circle(patch, centre, max(1, round(rad * 0.58)), rim, -1, cv2.LINE_AA)
    cv2.circle(patch, centre, max(1, round(rad * 0.2)), _shade_k(rim, 0.45), -1, cv2.LINE_AA)


@lru_cache(maxsize=1)
def _grain() -> tuple[np.ndarray, np.ndarray]:
    """A fixed tile of fine sensor grain like the background's (drawn once), as its + and - parts."""
    g = np.clip(np.random.default_rng(20261126).normal(0.0, 3.0, (256, 512)), -9, 9)
    return cv2.merge([np.maximum(g, 0).astype(np.uint8)] * 3), cv2.merge([np.maximum(-g, 0).astype(np.uint8)] * 3)


def _noise(patch: np.ndarray, mask: np.ndarray) -> None:
    """The body's paint gets the same grain as the background: flat paint looks drawn."""
    ph, pw = patch.shape[:2]
    if ph > 256 or pw > 512:
        return
    plus, minus = _grain()
    cv2.add(patch, plus[:ph, :pw], dst=patch, mask=mask)
    cv2.subtract(patch, minus[:ph, :pw], dst=patch, mask=mask)


def _two_wheeler_side(
    img: np.ndarray,
    kind: str,
    box: tuple[float, float, float, float],
    d: int,
    c: dict[str, Colour],
    glow: float,
    phase: float,
) -> None:
    """A motorcycle or bicycle with its rider, side-on: drawn as before (the rider is what is detected)."""
    x, y, w, h = box
    thin = kind == "bicycle"
    for u in (0.18, 0.82):
        _wheel(img, box, d, u, 0.2, thin)
    _poly(
        img,
        [(0.2, 0.25), (0.45, 0.48), (0.8, 0.48), (0.82, 0.25), (0.75, 0.3), (0.5, 0.4)],
        box,
        d,
        (40, 40, 40) if thin else c["body"],
    )
    pedal = 0.05 * math.sin(phase)
    _poly(img, [(0.4, 0.48), (0.46 + pedal, 0.2), (0.5 + pedal, 0.2), (0.5, 0.5)], box, d, c["trousers"])
    _poly(img, [(0.36, 0.48), (0.48, 0.86), (0.6, 0.84), (0.52, 0.46)], box, d, c["shirt"])
    hx, hy = x + (0.56 if d > 0 else 0.44) * w, y + 0.07 * h
    cv2.circle(img, _pt(hx, hy), max(2, round(0.075 * h)), c["hair"] if thin else (30, 30, 30), -1, cv2.LINE_AA)
    if glow and not thin:
        _glow(img, _pt(x + (0.9 if d > 0 else 0.1) * w, y + 0.55 * h), round(0.04 * h), (220, 245, 255), glow)


def _vehicle_end(
    img: np.ndarray,
    actor: Actor,
    box: tuple[float, float, float, float],
    view: str,
    c: dict[str, Colour],
    light: np.ndarray,
    glow: float,
    phase: float,
) -> None:
    """A vehicle seen from the front (coming) or the back (going), plate included."""
    x, y, w, h = box
    kind = actor.kind
    if kind in ("motorcycle", "bicycle"):
        _person(img, (x, y, w, h), "front" if view == "front" else "rear", 0.0, c, None, light)
        cv2.rectangle(img, _pt(x + 0.4 * w, y + 0.55 * h), _pt(x + 0.6 * w, y + h), (25, 25, 25), -1)
        cv2.line(img, _pt(x, y + 0.42 * h), _pt(x + w, y + 0.42 * h), (40, 40, 40), max(1, round(0.02 * h)))
        if glow and kind == "motorcycle":
            lamp = (220, 245, 255) if view == "front" else (40, 40, 255)
            _glow(img, _pt(x + 0.5 * w, y + 0.5 * h), round(0.08 * w), lamp, glow)
        return
    d = 1
    body, glass = c["body"], _mix(c["body"], (90, 70, 60))
    for u in (0.03, 0.85):
        _poly(img, [(u, 0), (u, 0.2), (u + 0.12, 0.2), (u + 0.12, 0)], box, d, (25, 25, 25))
    if kind == "car":
        _poly(
            img,
            [(0, 0.1), (0, 0.55), (0.08, 0.62), (0.18, 0.95), (0.82, 0.95), (0.92, 0.62), (1, 0.55), (1, 0.1)],
            box,
            d,
            body,
        )
        _poly(img, [(0.2, 0.63), (0.27, 0.9), (0.73, 0.9), (0.8, 0.63)], box, d, glass)
        lamp_v, plate_v = 0.47, 0.14
    else:
        _poly(img, [(0, 0.08), (0, 0.98), (1, 0.98), (1, 0.08)], box, d, body)
        _poly(img, [(0.06, 0.45), (0.06, 0.9), (0.94, 0.9), (0.94, 0.45)], box, d, glass)
        lamp_v, plate_v = 0.2, 0.1
    if view == "front":
        _poly(
            img,
            [(0.33, lamp_v - 0.1), (0.33, lamp_v + 0.04), (0.67, lamp_v + 0.04), (0.67, lamp_v - 0.1)],
            box,
            d,
            (35, 35, 35),
        )
        lamp = (215, 240, 250)
    else:
        lamp = (30, 30, 200)
    for u in (0.1, 0.9):
        cx, cy = _pt(x + u * w, y + h - lamp_v * h)
        cv2.ellipse(img, (cx, cy), _pt(0.08 * w, 0.035 * h), 0, 0, 360, lamp, -1, cv2.LINE_AA)
        if glow:
            _glow(img, (cx, cy), round(0.06 * w), lamp, glow)
    if actor.plate:
        pw = 0.52 / (1.8 if kind == "car" else 2.5) * w
        ph = pw * PLATE_H / PLATE_W
        px, py = x + (w - pw) / 2, y + h - plate_v * h - ph
        _paste_plate(img, actor.plate, px, py, pw, ph, np.maximum(light, 0.6))


def _paste_plate(img: np.ndarray, text: str, x: float, y: float, w: float, h: float, light: np.ndarray) -> None:
    iw, ih = round(w), round(h)
    if iw < 4 or ih < 2:
        return
    sprite = cv2.resize(plate_image(text), (iw, ih), interpolation=cv2.INTER_AREA)
    if float(light.min()) < 0.999:
        sprite = np.clip(sprite.astype(np.float32) * light, 0, 255).astype(np.uint8)
    x0, y0 = round(x), round(y)
    H, W = img.shape[:2]
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x0 + iw), min(H, y0 + ih)
    if cx1 > cx0 and cy1 > cy0:
        img[cy0:cy1, cx0:cx1] = sprite[cy0 - y0 : cy1 - y0, cx0 - x0 : cx1 - x0]


def _mix(a: Colour, b: Colour) -> Colour:
    return ((a[0] + 3 * b[0]) // 4, (a[1] + 3 * b[1]) // 4, (a[2] + 3 * b[2]) // 4)
