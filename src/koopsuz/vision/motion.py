"""Motion on a small grey image: the cheap gate in front of every detector.

It works on the luma plane of the decoded sub stream, downscaled to ~160 px wide, so it never
needs a colour conversion and costs well under a millisecond per frame. A running-average
background absorbs slow light changes; a sudden change over most of the frame (lights switched
on, auto exposure, a camera bumped) resets the background instead of reporting motion.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

Box = tuple[float, float, float, float]  # x, y, w, h in 0..1 frame coordinates


@dataclass(frozen=True, slots=True)
class MotionConfig:
    width: int = 160
    sensitivity: float = 0.5
    min_area: float = 0.002
    masks: Sequence[Sequence[tuple[float, float]]] = ()
    warmup_frames: int = 4
    global_change: float = 0.5

    @property
    def threshold(self) -> int:
        # sensitivity 0 -> 45 grey levels, 1 -> 8
        return round(45 - 37 * min(max(self.sensitivity, 0.0), 1.0))


@dataclass(frozen=True, slots=True)
class MotionResult:
    moving: bool
    boxes: tuple[Box, ...]
    area: float
    reset: bool = False


class MotionDetector:
    def __init__(self, config: MotionConfig) -> None:
        self.config = config
        self._bg: np.ndarray | None = None
        self._size: tuple[int, int] | None = None
        self._keep: np.ndarray | None = None
        self._frames = 0
        self._kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (3, 3))

    def _prepare(self, gray: np.ndarray) -> np.ndarray:
        h, w = gray.shape[:2]
        tw = self.config.width
        th = max(1, round(h * tw / w))
        if self._size != (tw, th):
            self._size = (tw, th)
            self._bg = None
            self._keep = _keep_mask(self.config.masks, tw, th)
        small = cv2.resize(gray, (tw, th), interpolation=cv2.INTER_LINEAR)  # 3x cheaper than AREA; the blur smooths
        return cv2.GaussianBlur(small, (5, 5), 0)

    def update(self, gray: np.ndarray) -> MotionResult:
        """Feed one grey frame (any size; a strided view of the Y plane is fine)."""
        small = self._prepare(gray)
        self._frames += 1
        if self._bg is None:
            self._bg = small.astype(np.float32)
            return MotionResult(False, (), 0.0)
        diff = cv2.absdiff(small, cv2.convertScaleAbs(self._bg))
        _, fg = cv2.threshold(diff, self.config.threshold, 255, cv2.THRESH_BINARY)
        if self._keep is not None:
            fg = cv2.bitwise_and(fg, self._keep)
        changed = cv2.countNonZero(fg) / fg.size
        if changed > self.config.global_change:
            self._bg = small.astype(np.float32)
            return MotionResult(False, (), changed, reset=True)
        fg = cv2.dilate(fg, self._kernel, iterations=2)
        static = cv2.bitwise_not(fg)
        cv2.accumulateWeighted(small, self._bg, 0.08, mask=static)
        cv2.accumulateWeighted(small, self._bg, 0.02, mask=fg)  # a parked car joins the background in ~10 s
        if self._frames <= self.config.warmup_frames:
            return MotionResult(False, (), 0.0)
        th, tw = fg.shape
        min_px = self.config.min_area * tw * th
        boxes: list[Box] = []
        area = 0.0
        contours, _ = cv2.findContours(fg, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        for c in contours:
            a = cv2.contourArea(c)
            if a < min_px:
                continue
            x, y, w, h = cv2.boundingRect(c)
            boxes.append((x / tw, y / th, w / tw, h / th))
            area += a / (tw * th)
        boxes.sort(key=lambda b: b[2] * b[3], reverse=True)
        return MotionResult(bool(boxes), tuple(boxes), round(area, 5))


def _keep_mask(masks: Sequence[Sequence[tuple[float, float]]], w: int, h: int) -> np.ndarray | None:
    if not masks:
        return None
    keep = np.full((h, w), 255, np.uint8)
    for poly in masks:
        pts = np.array([[round(x * (w - 1)), round(y * (h - 1))] for x, y in poly], np.int32)
        cv2.fillPoly(keep, [pts], 0)
    return keep
