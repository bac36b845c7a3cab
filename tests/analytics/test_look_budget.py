"""The look budget and the detector pool: fair shares under load, none when quiet."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from koopsuz.analytics.look_budget import LookBudget
from koopsuz.vision.detections import Detections
from koopsuz.vision.detectors.pool import DetectorPool


class Clock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def test_one_camera_is_never_rationed_at_the_analysis_rate() -> None:
    clock = Clock()
    budget = LookBudget(2, initial_look_s=0.08, clock=clock)
    for _ in range(40):
        assert budget.request("a")
        clock.t += 0.125
    assert budget.refused == 0


def test_busy_cameras_share_the_copies_evenly() -> None:
    clock = Clock()
    budget = LookBudget(2, target_utilisation=0.8, initial_look_s=0.08, clock=clock)
    cams = [f"c{i}" for i in range(8)]
    granted = dict.fromkeys(cams, 0)
    for _ in range(80):  # 10 s of 8 analysed frames a second on each camera
        for c in cams:
            granted[c] += budget.request(c)
        clock.t += 0.125
    # capacity: 2 copies / 0.08 s x 0.8 = 20 looks/s, 2.5 per camera; each analysed frame is a
    # chance, and looks fall due every 0.4 s however the frames fall - fair to within one look
    assert max(granted.values()) - min(granted.values()) <= 1, granted
    assert all(24 <= g <= 28 for g in granted.values()), granted
    assert budget.interval() == pytest.approx(8 * 0.08 / 1.6)


def test_a_camera_that_stops_asking_frees_its_share() -> None:
    clock = Clock()
    budget = LookBudget(1, target_utilisation=1.0, initial_look_s=0.1, clock=clock)
    budget.request("a")
    budget.request("b")
    assert budget.interval() == pytest.approx(0.2)
    clock.t += 1.5  # b went quiet
    budget.request("a")
    assert budget.interval() == pytest.approx(0.1)
    budget.forget("a")
    assert budget.interval() == 0.0


def test_look_time_follows_the_measurements() -> None:
    budget = LookBudget(1, initial_look_s=0.1, smoothing=0.5)
    for _ in range(20):
        budget.record(0.3)
    assert budget.look_s == pytest.approx(0.3, rel=0.01)
    assert budget.stats()["look_ms"] == pytest.approx(300, rel=0.01)


class SlowDetector:
    name = "slow"
    input_size = (300, 300)

    def __init__(self) -> None:
        self.busy = threading.Lock()
        self.calls = 0

    def detect(self, image: np.ndarray) -> Detections:
        return self.detect_batch([image])[0]

    def detect_batch(self, images: list[np.ndarray]) -> list[Detections]:
        assert self.busy.acquire(blocking=False), "one copy used by two threads at once"
        try:
            time.sleep(0.05)
            self.calls += 1
            return [Detections.empty() for _ in images]
        finally:
            self.busy.release()


def test_pool_runs_copies_side_by_side_never_one_copy_twice() -> None:
    copies = [SlowDetector(), SlowDetector()]
    pool = DetectorPool(copies)
    times: list[float] = []
    pool.on_inference = times.append
    img = np.zeros((10, 10, 3), np.uint8)
    threads = [threading.Thread(target=lambda: [pool.detect(img) for _ in range(5)]) for _ in range(4)]
    started = time.perf_counter()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    took = time.perf_counter() - started
    assert sum(c.calls for c in copies) == 20 and all(c.calls > 0 for c in copies)
    assert took < 20 * 0.05 * 0.8  # two at a time, not one
    assert len(times) == 20 and all(0.04 <= x < 0.5 for x in times)  # inference only, no waiting
    with pytest.raises(ValueError):
        DetectorPool([])
