"""Static backgrounds of the five scenes, their ground-plane perspective, and day/dusk/night light.

A background is drawn once per camera and reused for every frame (the renderer only copies it
and draws the actors), which is what keeps rendering cheap. It carries a fixed sensor-like
texture, baked in once: per-frame noise would look like motion to every motion detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

W, H = 1280, 720
POLE_M = 6.0  # lamp post height, metres
FOCAL_PX = 1000.0  # focal length of the imagined lens in 720p pixels (about 65 degrees across)


@dataclass(frozen=True, slots=True)
class Geometry:
    """A flat ground seen by a tilted camera: rows below ``horizon`` are nearer, hence larger."""

    horizon: float  # y (0..1) where the ground meets the sky
    ppm_bottom: float  # pixels per metre on the ground at the bottom row of the 720p frame

    def ppm(self, y: float) -> float:
        return self.ppm_bottom * max(0.03, (y - self.horizon) / (1.0 - self.horizon))

    @property
    def camera_height_m(self) -> float:
        return (1.0 - self.horizon) * H / self.ppm_bottom

    def to_ground(self, x: float, y: float) -> tuple[float, float]:
        """Image point (0..1) -> ground point in metres (lateral X, depth Z) of a pinhole camera."""
        y = max(y, self.horizon + 0.01)
        z = FOCAL_PX * self.camera_height_m / ((y - self.horizon) * H)
        return (x - 0.5) * W / self.ppm(y), z

    def to_image(self, gx: float, gz: float) -> tuple[float, float]:
        y = self.horizon + FOCAL_PX * self.camera_height_m / (max(gz, 0.1) * H)
        return 0.5 + gx * self.ppm(y) / W, y


GEOMETRY: dict[str, Geometry] = {
    "street": Geometry(horizon=0.30, ppm_bottom=150.0),
    "road": Geometry(horizon=0.32, ppm_bottom=230.0),
    "school": Geometry(horizon=0.36, ppm_bottom=170.0),
    "beach": Geometry(horizon=0.42, ppm_bottom=150.0),
    "square": Geometry(horizon=0.34, ppm_bottom=140.0),
}
# Where lamps stand (x, ground y) per scene; at night they light pools on the ground.
LAMPS: dict[str, tuple[tuple[float, float], ...]] = {
    "street": ((0.03, 0.72), (0.97, 0.72), (0.18, 0.47), (0.5, 0.47), (0.82, 0.47)),
    "road": ((0.16, 0.56), (0.84, 0.56), (0.38, 0.42), (0.62, 0.42)),
    "school": ((0.25, 0.55), (0.75, 0.55)),
    "beach": ((0.15, 0.66), (0.85, 0.66)),
    "square": ((0.2, 0.55), (0.8, 0.55), (0.35, 0.44), (0.65, 0.44)),
}
LIGHT = {  # ambient level, BGR tint, strength of artificial light (lamps, headlights, windows)
    "day": (1.0, (1.0, 1.0, 1.0), 0.0),
    "dusk": (0.5, (0.78, 0.88, 1.05), 0.55),
    "night": (0.13, (1.25, 1.0, 0.85), 1.0),
}


@dataclass(frozen=True, slots=True)
class Stage:
    """Everything the actor renderer needs about one camera's view."""

    image: np.ndarray  # lit 720p BGR background, uint8
    light: np.ndarray  # (90, 160, 3) float32 light factor per region, to shade actors
    geometry: Geometry
    glow: float  # 0 by day; how bright lamps and headlights are

    def light_at(self, x: float, y: float) -> np.ndarray:
        lh, lw = self.light.shape[:2]
        return self.light[min(lh - 1, max(0, int(y * lh))), min(lw - 1, max(0, int(x * lw)))]


def build_stage(scene: str, light: str, rng: np.random.Generator, label: str) -> Stage:
    """Draw the background, light it, add the fixed texture and the camera's on-screen label."""
    geo = GEOMETRY[scene]
    img = np.zeros((H, W, 3), np.uint8)
    _sky(img, geo.horizon)
    {"street": _street, "road": _road, "school": _school, "beach": _beach, "square": _square}[scene](img, rng)
    ambient, tint, glow = LIGHT[light]
    lmap = np.empty((H, W, 3), np.float32)
    lmap[:] = np.array(tint, np.float32) * ambient
    if glow:
        lmap += _lamp_pools(LAMPS[scene], geo, glow)
    img = cv2.GaussianBlur(img, (0, 0), 0.9)  # lens softness: real optics never draw 1-px edges
    lit = img.astype(np.float32) * lmap
    if glow:
        for lx, ly in LAMPS[scene]:
            _lamp_head(lit, lx, ly, geo, glow)
        _lit_windows(lit, img, rng, glow)
    noise_sigma = 2.0 + 4.0 * glow  # sensor gain rises in the dark
    texture = cv2.GaussianBlur(rng.normal(0.0, noise_sigma, (H, W, 1)).astype(np.float32), (0, 0), 0.7)
    lit += texture.reshape(H, W, 1)
    out = np.clip(lit, 0, 255).astype(np.uint8)
    cv2.putText(out, label, (18, 34), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (235, 235, 235), 2, cv2.LINE_AA)
    small = cv2.resize(lmap, (160, 90), interpolation=cv2.INTER_AREA)
    return Stage(out, small, geo, glow)


def _sky(img: np.ndarray, horizon: float) -> None:
    hy = int(horizon * H) + 1
    t = np.linspace(0, 1, hy, dtype=np.float32)[:, None]
    top, bottom = np.array((200, 150, 110), np.float32), np.array((235, 215, 190), np.float32)
    img[:hy] = (top * (1 - t) + bottom * t)[:, None, :].astype(np.uint8)


def _mountains(img: np.ndarray, rng: np.random.Generator, base: float) -> None:
    xs = np.linspace(0, W, 14)
    ys = base * H - rng.uniform(40, 140, xs.size)
    pts = np.array([[0, int(base * H)], *zip(xs.astype(int), ys.astype(int), strict=True), [W, int(base * H)]])
    cv2.fillPoly(img, [pts.astype(np.int32)], (150, 130, 120), cv2.LINE_AA)
    for i in range(1, xs.size - 1):  # snow caps on the peaks: it is the Tian Shan
        if ys[i] < ys[i - 1] and ys[i] < ys[i + 1]:
            left = (xs[i] * 0.7 + xs[i - 1] * 0.3, ys[i] * 0.7 + ys[i - 1] * 0.3)
            right = (xs[i] * 0.7 + xs[i + 1] * 0.3, ys[i] * 0.7 + ys[i + 1] * 0.3)
            cap = np.array([left, (xs[i], ys[i]), right], np.int32)
            cv2.fillPoly(img, [cap], (245, 245, 245), cv2.LINE_AA)


def _buildings(img: np.ndarray, rng: np.random.Generator, base_y: int, top_y: int) -> None:
    x = -20
    while x < W:
        bw = int(rng.integers(110, 240))
        top = int(rng.integers(top_y, base_y - 120))
        colour = tuple(int(c) for c in rng.integers(110, 215, 3))
        cv2.rectangle(img, (x, top), (x + bw, base_y), colour, -1)
        for wy in range(top + 18, base_y - 30, 34):
            for wx in range(x + 14, x + bw - 24, 30):
                cv2.rectangle(img, (wx, wy), (wx + 16, wy + 20), (90, 80, 70), -1)
        x += bw + int(rng.integers(0, 12))


def _tree(img: np.ndarray, x: int, y: int, size: int) -> None:
    cv2.rectangle(img, (x - size // 12, y - size // 2), (x + size // 12, y), (40, 60, 90), -1)
    cv2.circle(img, (x, y - size // 2 - size // 4), size // 3, (50, 110, 60), -1, cv2.LINE_AA)
    cv2.circle(img, (x - size // 6, y - size // 2), size // 4, (45, 100, 55), -1, cv2.LINE_AA)


def _street(img: np.ndarray, rng: np.random.Generator) -> None:
    _buildings(img, rng, int(0.45 * H), int(0.05 * H))
    cv2.rectangle(img, (0, int(0.45 * H)), (W, int(0.5 * H)), (165, 170, 175), -1)  # far pavement
    cv2.rectangle(img, (0, int(0.5 * H)), (W, int(0.7 * H)), (85, 85, 88), -1)  # road
    for x in range(0, W, 90):
        cv2.rectangle(img, (x, int(0.595 * H)), (x + 50, int(0.605 * H)), (225, 225, 225), -1)
    cv2.rectangle(img, (0, int(0.7 * H)), (W, H), (150, 155, 160), -1)  # near pavement
    for y in (0.5, 0.7):
        cv2.line(img, (0, int(y * H)), (W, int(y * H)), (200, 200, 200), 3)
    for lx, ly in LAMPS["street"]:
        _post(img, lx, ly, GEOMETRY["street"])


def _road(img: np.ndarray, rng: np.random.Generator) -> None:
    geo = GEOMETRY["road"]
    hy = int(geo.horizon * H)
    _mountains(img, rng, geo.horizon)
    cv2.rectangle(img, (0, hy), (W, H), (70, 135, 120), -1)  # fields
    vx = W // 2
    road = np.array([[vx - 6, hy], [vx + 6, hy], [int(1.25 * W), H], [int(-0.25 * W), H]], np.int32)
    cv2.fillPoly(img, [road], (88, 88, 90), cv2.LINE_AA)
    for off in (-0.75, -0.375, 0.0, 0.375, 0.75):
        x_end = int(vx + off * W)
        dashed = off not in (-0.75, 0.75)
        colour = (230, 230, 230) if off else (60, 200, 235)  # yellow centre line
        for i in range(0, 40):
            t0, t1 = (i / 40) ** 1.6, ((i + 0.55) / 40) ** 1.6
            if dashed and off and i % 2:
                continue
            p0 = (int(vx + (x_end - vx) * t0), int(hy + (H - hy) * t0))
            p1 = (int(vx + (x_end - vx) * t1), int(hy + (H - hy) * t1))
            cv2.line(img, p0, p1, colour, max(1, int(8 * t1)), cv2.LINE_AA)
    for lx, ly in LAMPS["road"]:
        _post(img, lx, ly, geo)


def _school(img: np.ndarray, rng: np.random.Generator) -> None:
    geo = GEOMETRY["school"]
    base = int(0.5 * H)
    cv2.rectangle(img, (80, int(0.08 * H)), (W - 80, base), (120, 190, 225), -1)  # facade
    for wy in range(int(0.12 * H), base - 70, 80):
        for wx in range(120, W - 140, 110):
            cv2.rectangle(img, (wx, wy), (wx + 60, wy + 50), (110, 90, 70), -1)
            cv2.rectangle(img, (wx, wy), (wx + 60, wy + 50), (240, 240, 240), 3)
    cv2.rectangle(img, (W // 2 - 70, base - 120), (W // 2 + 70, base), (60, 80, 110), -1)  # door
    cv2.rectangle(img, (W // 2 - 160, int(0.1 * H)), (W // 2 + 160, int(0.16 * H)), (230, 230, 230), -1)
    cv2.putText(img, "MEKTEP No 3", (W // 2 - 120, int(0.148 * H)), cv2.FONT_HERSHEY_DUPLEX, 0.9, (120, 60, 20), 2)
    cv2.rectangle(img, (0, base), (W, H), (140, 150, 150), -1)  # yard
    path = np.array([[W // 2 - 70, base], [W // 2 + 70, base], [W // 2 + 330, H], [W // 2 - 330, H]], np.int32)
    cv2.fillPoly(img, [path], (175, 180, 185))
    for x in range(0, W, 26):  # fence along the front
        cv2.line(img, (x, int(0.56 * H)), (x, int(0.6 * H)), (60, 90, 60), 3)
    cv2.rectangle(img, (W // 2 - 160, int(0.55 * H)), (W // 2 + 160, int(0.61 * H)), (140, 150, 150), -1)  # gate
    for lx, ly in LAMPS["school"]:
        _post(img, lx, ly, geo)
    for x in (40, W - 40):
        _tree(img, x, base + 10, 200)


def _beach(img: np.ndarray, rng: np.random.Generator) -> None:
    geo = GEOMETRY["beach"]
    _mountains(img, rng, 0.3)
    cv2.rectangle(img, (0, int(0.3 * H)), (W, int(geo.horizon * H) + 40), (160, 120, 40), -1)  # Issyk-Kul
    for y in range(int(0.32 * H), int(geo.horizon * H) + 40, 14):
        cv2.line(img, (0, y), (W, y), (175, 135, 55), 1)
    cv2.rectangle(img, (0, int(geo.horizon * H) + 40), (W, H), (150, 195, 215), -1)  # sand
    for _ in range(5):  # umbrellas
        x, y = int(rng.integers(60, W - 60)), int(rng.uniform(0.62, 0.72) * H)
        cv2.line(img, (x, y), (x, y - 110), (70, 70, 70), 4)
        cv2.ellipse(img, (x, y - 110), (70, 30), 0, 180, 360, tuple(int(c) for c in rng.integers(40, 230, 3)), -1)
    for lx, ly in LAMPS["beach"]:
        _post(img, lx, ly, geo)


def _square(img: np.ndarray, rng: np.random.Generator) -> None:
    geo = GEOMETRY["square"]
    hy = int(geo.horizon * H)
    _buildings(img, rng, hy + 10, int(0.05 * H))
    cv2.rectangle(img, (0, hy + 10), (W, H), (160, 165, 170), -1)
    for i in range(-12, 13):  # tiles converge to the centre of the horizon
        cv2.line(img, (W // 2 + i * 18, hy + 10), (W // 2 + i * 170, H), (140, 145, 150), 2)
    for y in np.geomspace(12, H - hy, 14):
        cv2.line(img, (0, int(hy + y)), (W, int(hy + y)), (140, 145, 150), 2)
    cx, cy = W // 2, int(0.5 * H)  # monument
    cv2.rectangle(img, (cx - 60, cy - 20), (cx + 60, cy + 10), (120, 120, 125), -1)
    cv2.rectangle(img, (cx - 14, cy - 200), (cx + 14, cy - 20), (90, 110, 130), -1)
    cv2.circle(img, (cx, cy - 214), 18, (90, 110, 130), -1, cv2.LINE_AA)
    for lx, ly in LAMPS["square"]:
        _post(img, lx, ly, geo)


def _post(img: np.ndarray, lx: float, ly: float, geo: Geometry) -> None:
    x, y = int(lx * W), int(ly * H)
    height = int(POLE_M * geo.ppm(ly))
    cv2.line(img, (x, y), (x, y - height), (70, 70, 75), max(2, height // 60), cv2.LINE_AA)
    cv2.rectangle(img, (x - height // 14, y - height - 4), (x + height // 14, y - height + 4), (60, 60, 60), -1)


def _lamp_pools(lamps: tuple[tuple[float, float], ...], geo: Geometry, glow: float) -> np.ndarray:
    """Warm light pools on the ground under the lamps, computed at 1/8 size (it is smooth)."""
    sw, sh = W // 8, H // 8
    pools = np.zeros((sh, sw), np.float32)
    for lx, ly in lamps:
        ppm = geo.ppm(ly) / 8
        rx, ry = max(2, int(4.0 * ppm)), max(1, int(1.6 * ppm))
        one = np.zeros((sh, sw), np.float32)
        cv2.ellipse(one, (int(lx * sw), int(ly * sh)), (rx, ry), 0, 0, 360, 1.0, -1)
        pools += cv2.GaussianBlur(one, (0, 0), max(1.0, rx / 2.5))
    pools = cv2.resize(pools, (W, H), interpolation=cv2.INTER_LINEAR)
    return pools[:, :, None] * np.array((0.5, 0.75, 1.0), np.float32) * 1.2 * glow


def _lamp_head(lit: np.ndarray, lx: float, ly: float, geo: Geometry, glow: float) -> None:
    height = int(POLE_M * geo.ppm(ly))
    cx, cy = int(lx * W), int(ly * H) - height + 6
    r = max(2, height // 30)
    x0, y0, x1, y1 = max(0, cx - 8 * r), max(0, cy - 8 * r), min(W, cx + 8 * r), min(H, cy + 8 * r)
    if x1 <= x0 or y1 <= y0:
        return
    halo = np.zeros((y1 - y0, x1 - x0), np.float32)
    cv2.circle(halo, (cx - x0, cy - y0), r, 1.0, -1, cv2.LINE_AA)
    halo = cv2.GaussianBlur(halo, (0, 0), r * 1.2)
    halo *= 1.0 / max(1e-6, float(halo.max()))
    lit[y0:y1, x0:x1] += halo[:, :, None] * np.array((170, 235, 255), np.float32) * glow


def _lit_windows(lit: np.ndarray, albedo: np.ndarray, rng: np.random.Generator, glow: float) -> None:
    """Some dark window panes glow warm after sunset."""
    panes = np.all(albedo == (90, 80, 70), axis=2) | np.all(albedo == (110, 90, 70), axis=2)
    n, labels = cv2.connectedComponents(panes.astype(np.uint8))
    on = rng.random(n) < 0.35
    on[0] = False
    mask = on[labels]
    lit[mask] = lit[mask] * (1 - glow) + np.array((90, 190, 245), np.float32) * glow
