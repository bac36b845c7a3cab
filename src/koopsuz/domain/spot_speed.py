"""Spot speed from one calibrated camera: a plate's positions over its frames, mapped onto the road.

A camera's road calibration is four points of the picture (0..1 of its width and height) and where
they lie on the road, in metres (any flat frame of reference: along and across the road). The four
pairs fix a homography, the projective map of the road plane into the picture. A vehicle's plate
is followed frame by frame; the centre of its box, mapped through the inverse homography, gives
where it is on the road, and a straight line fitted through those positions over time gives
its speed.

The plate is not on the road: its centre rides ``plate_height_m`` above it (the centre, not the
bottom edge: a reader's box is the text's, whose height varies from read to read). A point at that height maps
onto the road where the camera's ray through it meets the road, further away than the plate by
the factor ``camera_height_m / (camera_height_m - plate_height_m)`` from the point below the camera,
so every distance between such points is that much too long; it is scaled back. Plate heights
differ between vehicles by a few tenths of a metre, which is part of why a spot speed is the weaker
evidence: over a few metres of travel in a fraction of a second, a small error of position or
height is a sizeable error of speed, where an average over a section of kilometres is not. Spot
violations are labelled so (``evidential_weight: "lower"``).

Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

Point2 = tuple[float, float]
Matrix = tuple[tuple[float, float, float], tuple[float, float, float], tuple[float, float, float]]
MIN_POINTS = 3
MIN_SPAN_S = 0.3  # shorter, and a pixel of jitter is several km/h
PIXEL = 1 / 720  # a pixel of a 720p picture, in picture fractions: the error each position is weighed by


class CalibrationError(ValueError):
    """The four points do not define a usable map of the road (repeated, three in a line, ...)."""


def homography(src: Sequence[Point2], dst: Sequence[Point2]) -> Matrix:
    """The 3x3 projective map taking each of four ``src`` points to its ``dst`` point (h33 = 1)."""
    if len(src) != 4 or len(dst) != 4:
        raise CalibrationError("a calibration needs exactly four points and their four road positions")
    for pts, what in ((src, "picture"), (dst, "road")):
        for a, b, c in ((0, 1, 2), (0, 1, 3), (0, 2, 3), (1, 2, 3)):
            if abs(_cross(pts[a], pts[b], pts[c])) < 1e-9:
                raise CalibrationError(f"three of the four {what} points lie on one line: spread them out")
    rows: list[list[float]] = []
    for (x, y), (u, v) in zip(src, dst, strict=True):
        rows.append([x, y, 1.0, 0.0, 0.0, 0.0, -u * x, -u * y, u])
        rows.append([0.0, 0.0, 0.0, x, y, 1.0, -v * x, -v * y, v])
    h = _solve(rows)
    return ((h[0], h[1], h[2]), (h[3], h[4], h[5]), (h[6], h[7], 1.0))


def apply(m: Matrix, p: Point2) -> Point2:
    x, y = p
    w = m[2][0] * x + m[2][1] * y + m[2][2]
    if abs(w) < 1e-12:
        raise CalibrationError("the point maps to infinity (it is on the horizon)")
    return ((m[0][0] * x + m[0][1] * y + m[0][2]) / w, (m[1][0] * x + m[1][1] * y + m[1][2]) / w)


@dataclass(frozen=True, slots=True)
class Calibration:
    """Picture points (0..1) and their road positions (metres); heights above the road in metres."""

    image: tuple[Point2, Point2, Point2, Point2]
    road: tuple[Point2, Point2, Point2, Point2]
    camera_height_m: float
    plate_height_m: float = 0.45  # a car's plate centre, typically 0.4-0.5 m above the road

    def __post_init__(self) -> None:
        if not 0 <= self.plate_height_m < self.camera_height_m:
            raise CalibrationError("the plate height must be below the camera's height above the road")
        homography(self.image, self.road)  # refuses a degenerate set now, not at the first car

    @property
    def to_road(self) -> Matrix:
        return homography(self.image, self.road)

    @property
    def height_factor(self) -> float:
        """How much shorter a distance between plate points is than between their road projections."""
        return (self.camera_height_m - self.plate_height_m) / self.camera_height_m


@dataclass(frozen=True, slots=True)
class SpotSpeed:
    speed_kmh: float
    span_s: float  # from the first position to the last
    distance_m: float  # travelled over that span (the fitted line's)
    points: int
    rms_m: float  # how far the positions lie from the fitted straight, constant-speed line


def spot_speed(cal: Calibration, path: Sequence[tuple[float, float, float]]) -> SpotSpeed | None:
    """Speed from ``(t seconds, x, y)`` positions (x, y: 0..1 of the picture, the plate's centre).

    None when there are too few positions or they span too short a time to measure anything.
    Position = least-squares straight line in time on each road axis (constant speed over the
    second or two a vehicle is in view), each position weighed by its precision on the road;
    ``rms_m`` says how well that held.
    """
    pts = sorted({round(t, 4): (t, x, y) for t, x, y in path}.values())
    if len(pts) < MIN_POINTS or pts[-1][0] - pts[0][0] < MIN_SPAN_S:
        return None
    m, k = cal.to_road, cal.height_factor
    road, weights = [], []
    for t, x, y in pts:
        u, v = apply(m, (x, y))
        road.append((t, u * k, v * k))
        # a far plate's pixel is metres of road, a near one's centimetres: weigh each position by how
        # little road a small error of it in the picture is (1 / its square), so the far ones do not
        # decide the speed
        du, dv = apply(m, (x, y + PIXEL))
        weights.append(1.0 / max(1e-9, (du - u) ** 2 + (dv - v) ** 2))
    ts = [p[0] for p in road]
    fit_u, fit_v = _line(ts, [p[1] for p in road], weights), _line(ts, [p[2] for p in road], weights)
    vu, vv = fit_u[0], fit_v[0]
    speed = math.hypot(vu, vv)
    resid = [math.hypot(u - (fit_u[0] * t + fit_u[1]), v - (fit_v[0] * t + fit_v[1])) for t, u, v in road]
    span = ts[-1] - ts[0]
    return SpotSpeed(
        speed_kmh=round(speed * 3.6, 1),
        span_s=round(span, 3),
        distance_m=round(speed * span, 2),
        points=len(road),
        rms_m=round(math.sqrt(sum(r * r for r in resid) / len(resid)), 3),
    )


def _line(xs: Sequence[float], ys: Sequence[float], ws: Sequence[float]) -> tuple[float, float]:
    """Slope and intercept of the weighted least-squares line through (xs, ys)."""
    total = sum(ws)
    mx = sum(w * x for w, x in zip(ws, xs, strict=True)) / total
    my = sum(w * y for w, y in zip(ws, ys, strict=True)) / total
    sxx = sum(w * (x - mx) ** 2 for w, x in zip(ws, xs, strict=True))
    sxy = sum(w * (x - mx) * (y - my) for w, x, y in zip(ws, xs, ys, strict=True))
    slope = sxy / sxx if sxx else 0.0
    return slope, my - slope * mx


def _cross(a: Point2, b: Point2, c: Point2) -> float:
    return (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])


def _solve(rows: list[list[float]]) -> list[float]:
    """Gaussian elimination with partial pivoting on an augmented n x (n+1) system."""
    n = len(rows)
    a = [r[:] for r in rows]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(a[r][col]))
        if abs(a[piv][col]) < 1e-12:
            raise CalibrationError("the four points do not define a map of the road: spread them out")
        a[col], a[piv] = a[piv], a[col]
        for r in range(n):
            if r != col:
                f = a[r][col] / a[col][col]
                if f:
                    a[r] = [x - f * y for x, y in zip(a[r], a[col], strict=True)]
    return [a[i][n] / a[i][i] for i in range(n)]
