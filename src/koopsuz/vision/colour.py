"""A vehicle's colour in words, from its crop: what a patrol officer is told to look for.

The middle of the box (the body, not the road or the windows at its edges) is taken in HSV;
unsaturated pixels are white, silver/grey or black by brightness, the rest are binned by hue, and
the largest bin wins. Simple on purpose: "a white car" is what a hotlist alert needs, and more
classes than an officer can tell apart at a glance would only add errors.
"""

from __future__ import annotations

import cv2
import numpy as np

HUES = (  # OpenCV hue is 0..179
    (0, 8, "red"),
    (8, 22, "orange"),
    (22, 35, "yellow"),
    (35, 85, "green"),
    (85, 130, "blue"),
    (130, 160, "purple"),
    (160, 180, "red"),
)


def vehicle_colour(bgr: np.ndarray) -> str | None:
    """The dominant body colour of a vehicle crop, or None for a crop too small to tell."""
    h, w = bgr.shape[:2]
    if h < 8 or w < 8:
        return None
    body = bgr[h // 4 : h - h // 4, w // 6 : w - w // 6]
    hsv = cv2.cvtColor(np.ascontiguousarray(body), cv2.COLOR_BGR2HSV).reshape(-1, 3).astype(np.int32)
    hue, sat, val = hsv[:, 0], hsv[:, 1], hsv[:, 2]
    votes: dict[str, int] = {}
    grey = sat < 50
    votes["white"] = int(np.sum(grey & (val >= 180)))
    votes["silver"] = int(np.sum(grey & (val >= 90) & (val < 180)))
    votes["black"] = int(np.sum((grey | (val < 60)) & (val < 90)))
    colourful = ~grey & (val >= 60)
    for lo, hi, name in HUES:
        votes[name] = votes.get(name, 0) + int(np.sum(colourful & (hue >= lo) & (hue < hi)))
    return max(votes.items(), key=lambda kv: kv[1])[0]
