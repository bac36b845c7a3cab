"""A camera's clock watched against the server's: its offset, its jumps, and whether a time can be trusted.

A frame's capture time (``video.worker``) is the wall-clock moment the stream was anchored plus
the camera's own elapsed time (the stream's presentation timestamps). That is only as good as the
camera's clock: a timestamp that goes backwards or leaps (a camera rebooted, re-synchronised, or
the stream was cut and re-opened) and a re-anchoring of the worker by more than ``step_s`` both
shift every later time by an unknown amount. Average speed over a section is two such times
subtracted, so a fine is only issued on times read while both cameras' clocks ran smoothly: a time
within ``distrust_s`` of a jump, or within ``settle_s`` of the stream's first frame (the anchor is
still settling), is not trusted. Pure logic: the plate stage feeds every main-stream frame in.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass(slots=True)
class CameraClock:
    step_s: float = 0.25  # a capture time that moved this much more (or less) than the camera's clock: a jump
    gap_s: float = 3.0  # the camera's clock going back, or ahead of the wall clock by this between frames: a jump
    settle_s: float = 2.0  # after the first frame, times are not trusted yet
    distrust_s: float = 30.0  # how long before and after a jump times are not trusted
    frames: int = 0
    no_pts: int = 0
    jumps: int = 0
    offset_s: float | None = None  # the least (wall - capture time) of the recent frames: delivery delay
    _first: float | None = None
    _prev: tuple[float, float, float] | None = None  # (camera time, capture time, wall) of the previous frame
    _jumps: deque[float] = field(default_factory=lambda: deque(maxlen=64))  # capture times of recent jumps
    _lags: deque[float] = field(default_factory=lambda: deque(maxlen=100))

    def observe(self, camera_t: float | None, captured: float, now: float) -> None:
        """One frame: its camera time (pts in seconds, None when the stream has none), the capture
        time given to it, and the wall clock when it was decoded."""
        self.frames += 1
        self._lags.append(now - captured)
        self.offset_s = min(self._lags)
        if camera_t is None:
            self.no_pts += 1  # no camera clock to follow: nothing from this stream is trusted
            self._prev = None
            return
        if self._first is None:
            self._first = captured
        if self._prev is not None:
            d_cam, d_cap, d_now = camera_t - self._prev[0], captured - self._prev[1], now - self._prev[2]
            if d_cam < 0 or d_cam - d_now > self.gap_s or abs(d_cap - d_cam) > self.step_s:
                self.jumps += 1
                self._jumps.append(captured)
        self._prev = (camera_t, captured, now)

    def trusted(self, t: float) -> bool | None:
        """Whether capture time ``t`` (seconds) is on a clock that ran smoothly around it; None before
        any frame was seen (no data, nothing invented)."""
        if self.frames == 0:
            return None
        if self.no_pts or self._first is None or t - self._first < self.settle_s:
            return False
        jumps = tuple(self._jumps)  # one copy: the camera's thread may be appending meanwhile
        return not any(abs(j - t) <= self.distrust_s for j in jumps)

    def stats(self) -> dict[str, float | int | None]:
        return {"clock_jumps": self.jumps, "clock_offset_s": None if self.offset_s is None else round(self.offset_s, 3)}
