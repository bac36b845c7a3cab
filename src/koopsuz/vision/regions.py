"""Where to look: crop regions around motion, cut to the detector's aspect.

Detecting on the whole 640x360 sub stream squeezes a person to ~35x105 pixels of a 300x300
network input; a crop around the moving area shows the same person at several times that size,
which is both what makes the detector find it (per-frame person recall on simulator clips 0.49
with crops, 0.23 on the whole frame) and what makes a quiet camera free. Regions are padded,
grown to the network's aspect (so nothing is stretched), merged while they overlap, and replaced
by the whole frame when they would cover most of it anyway or be more than ``max_regions``
(each crop costs one full inference: on a busy street, three crops already cost more than the
frame, and are only worth it for the recall they buy).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

Region = tuple[int, int, int, int]  # x0, y0, x1, y1 in frame pixels, x1/y1 exclusive


@dataclass(frozen=True, slots=True)
class RegionConfig:
    pad: float = 1.15  # the region is this much larger than the object or motion box
    min_side: int = 96  # smaller crops carry too few pixels to upscale
    max_regions: int = 3  # more than this: one whole-frame pass
    whole_frame_cover: float = 0.6  # regions covering this share of the frame: use the frame


def plan_regions(
    boxes: Iterable[tuple[float, float, float, float]],
    frame: tuple[int, int],
    aspect: float = 1.0,
    config: RegionConfig = RegionConfig(),
) -> list[Region]:
    """Crop regions for ``boxes`` (``x0, y0, x1, y1`` in frame pixels).

    ``frame`` is (width, height); ``aspect`` the detector's input width / height.
    """
    fw, fh = frame
    regions = [_fit((x0, y0, x1, y1), frame, aspect, config) for x0, y0, x1, y1 in boxes if x1 > x0 and y1 > y0]
    merged = True
    while merged and len(regions) > 1:
        merged = False
        for i in range(len(regions)):
            for j in range(i + 1, len(regions)):
                if _overlap(regions[i], regions[j]):
                    a, b = regions[i], regions[j]
                    union = (min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3]))
                    regions[i] = _fit(union, frame, aspect, RegionConfig(pad=1.0, min_side=0))
                    del regions[j]
                    merged = True
                    break
            if merged:
                break
    if not regions:
        return []
    covered = sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in regions)
    if len(regions) > config.max_regions or covered >= config.whole_frame_cover * fw * fh:
        return [(0, 0, fw, fh)]
    return sorted(regions)


def _fit(box: tuple[float, float, float, float], frame: tuple[int, int], aspect: float, cfg: RegionConfig) -> Region:
    """Pad ``box``, grow it to ``aspect`` around its centre, then slide it inside the frame."""
    fw, fh = frame
    x0, y0, x1, y1 = box
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w = max((x1 - x0) * cfg.pad, cfg.min_side * aspect if aspect >= 1 else cfg.min_side)
    h = max((y1 - y0) * cfg.pad, cfg.min_side / aspect if aspect < 1 else cfg.min_side)
    if w / h < aspect:
        w = h * aspect
    else:
        h = w / aspect
    w, h = min(w, fw), min(h, fh)  # a frame narrower than the aspect: the crop is stretched a little
    nx0 = min(max(cx - w / 2, 0.0), fw - w)
    ny0 = min(max(cy - h / 2, 0.0), fh - h)
    return (round(nx0), round(ny0), min(fw, round(nx0 + w)), min(fh, round(ny0 + h)))


def _overlap(a: Region, b: Region) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
