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
        _vehicle_side(frame, actor.kind, (x, y, w, h), 1 if view == "right" else -1, lit, stage.glow, phase)
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
) -> None:
    x, y, w, h = box
    body = c["body"]
    glass = _mix(c["body"], (90, 70, 60))
    if kind == "car":
        _poly(
            img,
            [
                (0, 0.2),
                (0, 0.55),
                (0.05, 0.6),
                (0.25, 0.62),
                (0.35, 0.95),
                (0.7, 0.95),
                (0.82, 0.62),
                (0.97, 0.57),
                (1, 0.45),
                (1, 0.2),
            ],
            box,
            d,
            body,
        )
        _poly(img, [(0.29, 0.62), (0.37, 0.9), (0.68, 0.9), (0.78, 0.62)], box, d, glass)
        wheels, r = (0.2, 0.8), 0.2
    elif kind == "bus":
        _poly(img, [(0, 0.1), (0, 0.97), (0.98, 0.97), (1, 0.9), (1, 0.1)], box, d, body)
        for u in np.arange(0.04, 0.9, 0.09):
            _poly(img, [(u, 0.5), (u, 0.85), (u + 0.075, 0.85), (u + 0.075, 0.5)], box, d, glass)
        _poly(img, [(0.93, 0.4), (0.93, 0.9), (0.995, 0.9), (0.995, 0.4)], box, d, glass)
        wheels, r = (0.15, 0.8), 0.13
    elif kind == "truck":
        _poly(img, [(0, 0.15), (0, 1), (0.72, 1), (0.72, 0.15)], box, d, _mix(body, (200, 200, 200)))
        _poly(img, [(0.74, 0.12), (0.74, 0.8), (0.95, 0.8), (1, 0.55), (1, 0.12)], box, d, body)
        _poly(img, [(0.85, 0.5), (0.85, 0.75), (0.95, 0.75), (0.98, 0.55)], box, d, glass)
        wheels, r = (0.12, 0.28, 0.87), 0.14
    else:  # motorcycle or bicycle with its rider
        thin = kind == "bicycle"
        for u in (0.18, 0.82):
            _wheel(img, box, d, u, 0.2, thin)
        _poly(
            img,
            [(0.2, 0.25), (0.45, 0.48), (0.8, 0.48), (0.82, 0.25), (0.75, 0.3), (0.5, 0.4)],
            box,
            d,
            (40, 40, 40) if thin else body,
        )
        pedal = 0.05 * math.sin(phase)
        _poly(img, [(0.4, 0.48), (0.46 + pedal, 0.2), (0.5 + pedal, 0.2), (0.5, 0.5)], box, d, c["trousers"])
        _poly(img, [(0.36, 0.48), (0.48, 0.86), (0.6, 0.84), (0.52, 0.46)], box, d, c["shirt"])
        hx, hy = x + (0.56 if d > 0 else 0.44) * w, y + 0.07 * h
        cv2.circle(img, _pt(hx, hy), max(2, round(0.075 * h)), c["hair"] if thin else (30, 30, 30), -1, cv2.LINE_AA)
        if glow and not thin:
            _glow(img, _pt(x + (0.9 if d > 0 else 0.1) * w, y + 0.55 * h), round(0.04 * h), (220, 245, 255), glow)
        return
    for u in wheels:
        _wheel(img, box, d, u, r)
    lamp_y = y + h * (1 - (0.45 if kind == "car" else 0.2))
    front, rear = _pt(x + (w - 2 if d > 0 else 2), lamp_y), _pt(x + (2 if d > 0 else w - 2), lamp_y)
    strength = max(glow, 0.0)
    cv2.circle(img, front, max(1, round(0.04 * h)), (200, 235, 245), -1)
    cv2.circle(img, rear, max(1, round(0.035 * h)), (30, 30, 190), -1)
    if strength:
        _glow(img, front, round(0.05 * h), (220, 245, 255), strength)
        _glow(img, rear, round(0.04 * h), (40, 40, 255), strength * 0.7)


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
