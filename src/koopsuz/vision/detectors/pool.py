"""Several copies of one detector, so inferences for different cameras run side by side.

Why copies and not one model with more threads: measured on a 2-core CPU, SSD-MobileNet through
OpenCV DNN does 18 looks a second as one network using both cores, and 23 as two single-thread
networks used at once (each forward spends part of its time in layers that do not parallelise).
A network object is not safe to share between threads, so each copy is used by one camera at a
time; a camera that wants a look while every copy is busy waits for the first one free.

The pool is itself a ``Detector``, so the detection stage neither knows nor cares. It reports
the time each inference took (without the wait for a free copy) to ``on_inference``, which is
what the look budget needs to share the copies fairly among cameras.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Sequence

import numpy as np

from koopsuz.vision.detections import Detections
from koopsuz.vision.detectors.base import Detector


class DetectorPool:
    def __init__(self, copies: Sequence[Detector]) -> None:
        if not copies:
            raise ValueError("a detector pool needs at least one detector")
        first = copies[0]
        self.name = first.name
        self.input_size = first.input_size
        self.lanes = len(copies)
        self.on_inference: Callable[[float], None] | None = None
        self._free: queue.SimpleQueue[Detector] = queue.SimpleQueue()
        for d in copies:
            self._free.put(d)

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: Sequence[np.ndarray]) -> list[Detections]:
        if not images:
            return []
        detector = self._free.get()
        try:
            started = time.perf_counter()
            out = detector.detect_batch(images)
            took = time.perf_counter() - started
        finally:
            self._free.put(detector)
        if self.on_inference is not None:
            self.on_inference(took)
        return out
