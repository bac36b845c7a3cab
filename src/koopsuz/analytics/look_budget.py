"""A fair share of the detector for every camera that wants one.

On a CPU the detector is the whole cost of a busy scene: about 12 looks a second per core with
the shipped SSD. Looking at every analysed frame of every busy camera would need more than the
machine has, and the two ways a naive system copes are both bad: it falls behind without bound
(frames queue, alerts arrive seconds late), or it drops whole frames, and with them the motion,
tracking and rules of those frames.

Koopsuz rations *looks* instead. Every camera that asked for a look in the last ``window_s``
counts as wanting one; the detector's capacity (its copies divided by the measured time of one
look, kept below ``target_utilisation`` so that a look rarely waits for a free copy) is split
evenly among them, which gives each camera a minimum interval between looks. A camera asking
sooner is told no: its frame still goes through motion and the rules, and the tracker carries
its objects, as between ordinary looks. One busy camera alone is never rationed (its interval is
shorter than the analysis interval); six busy cameras on two cores each get about three looks a
second, and the time from a frame's capture to its alert stays about one look long, whatever the
number of cameras. The counts of looks granted and refused are visible per camera.

Pure logic: the clock is handed in, timings are reported by the detector pool.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class LookBudget:
    def __init__(
        self,
        lanes: int,
        *,
        target_utilisation: float = 0.8,
        window_s: float = 1.0,
        initial_look_s: float = 0.1,
        smoothing: float = 0.2,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if lanes < 1:
            raise ValueError("lanes must be at least 1")
        if not 0 < target_utilisation <= 1:
            raise ValueError("target_utilisation must be in (0, 1]")
        self.lanes = lanes
        self._target = target_utilisation
        self._window = window_s
        self._alpha = smoothing
        self._clock = clock
        self._look_s = initial_look_s
        self._wanting: dict[str, float] = {}  # camera -> when it last asked
        self._due: dict[str, float] = {}  # camera -> when its next look is due
        self._lock = threading.Lock()
        self.granted = 0
        self.refused = 0

    @property
    def look_s(self) -> float:
        """The smoothed time one look takes (inference only, not the wait for a free copy)."""
        return self._look_s

    def record(self, seconds: float) -> None:
        """A look took ``seconds``; called by the detector pool after every inference."""
        with self._lock:
            self._look_s += self._alpha * (max(0.0, seconds) - self._look_s)

    def interval(self) -> float:
        """The least time between two looks of one camera, with the cameras wanting looks now."""
        with self._lock:
            return self._interval(self._clock())

    def _interval(self, now: float) -> float:
        horizon = now - self._window
        wanting = sum(1 for t in self._wanting.values() if t >= horizon)
        return wanting * self._look_s / (self.lanes * self._target)

    def request(self, camera: str) -> bool:
        """May ``camera`` look now? Asking counts it as wanting looks for the next ``window_s``."""
        with self._lock:
            now = self._clock()
            self._wanting[camera] = now
            due = self._due.get(camera)
            if due is not None and now < due:
                self.refused += 1
                return False
            # the next look is due one interval after this one was *due*, not after it was taken:
            # frames come at the analysis rate, and waiting for the next frame each time would
            # lose up to a frame's time per look; falling far behind banks no credit though
            interval = self._interval(now)
            self._due[camera] = now + interval if due is None or now - due >= interval else due + interval
            self.granted += 1
            return True

    def forget(self, camera: str) -> None:
        """The camera stopped: it no longer takes a share."""
        with self._lock:
            self._wanting.pop(camera, None)
            self._due.pop(camera, None)

    def stats(self) -> dict[str, float | int]:
        with self._lock:
            now = self._clock()
            return {
                "lanes": self.lanes,
                "look_ms": round(1000 * self._look_s, 1),
                "wanting": sum(1 for t in self._wanting.values() if t >= now - self._window),
                "interval_ms": round(1000 * self._interval(now), 1),
                "granted": self.granted,
                "refused": self.refused,
            }
