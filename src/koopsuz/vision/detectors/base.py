"""What every object detector offers, and the errors a bad model file gives.

A ministry brings its own trained models, so the detector is a plugin: anything with ``detect``
(one BGR image in, ``Detections`` in that image's pixels out) and ``detect_batch`` (several crops
at once) can stand behind the detection stage. ``input_size`` tells the region planner which
aspect to cut crops to, so the network sees objects undistorted.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

import cv2
import numpy as np

from koopsuz.vision.detections import Detections


class ModelError(RuntimeError):
    """A model file is missing, unreadable or not the shape this detector expects; names the file."""


class Detector(Protocol):
    name: str
    input_size: tuple[int, int]  # (width, height) the network sees

    def detect(self, image: np.ndarray) -> Detections: ...

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]: ...


def require_file(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise ModelError(f"{what} not found: {p}")
    if p.stat().st_size == 0:
        raise ModelError(f"{what} is empty: {p}")
    return p


_threads_set: int | None = None


def set_inference_threads(threads: int | None) -> int:
    """Set OpenCV's worker threads once per process; returns the number in force.

    Inference is serialised per model (one lock), and each inference uses all of these threads,
    so cameras queue for the model instead of oversubscribing the cores. ``None`` or 0 means one
    thread per core. Later calls with another number are ignored: the first configuration wins,
    because changing it under running cameras would only thrash.
    """
    global _threads_set
    if _threads_set is None:
        _threads_set = threads or os.cpu_count() or 1
        cv2.setNumThreads(_threads_set)
    return _threads_set
