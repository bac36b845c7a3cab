"""Maps a recording session's media time to wall-clock time, and notices when either clock jumps.

ffmpeg copies the camera's timestamps (shifted to start near zero) into the segments, so a
segment's exact position inside its session is known from its ``tfdt``. What is not known is the
wall-clock time of media time zero. ffmpeg reports progress (``out_time``, the media time of the
newest packet it has muxed) twice a second; each report at wall time ``w`` says media time ``t``
had arrived by ``w``, so ``w - t`` is an upper bound on the anchor and the smallest one seen is
the best estimate (it is the report least delayed by buffering). This is the same rule ingest
uses for event times (first frame's wall clock plus the stream's offset), so recordings and events
line up. ffmpeg's own ``EXT-X-PROGRAM-DATE-TIME`` was measured 1.5 s late: it is taken when the
muxer starts, after probing.

Once a session has indexed its first segment the anchor is frozen, so consecutive segments stay
exactly contiguous; only a jump moves it again: the stream running more than ``jump_s`` ahead of
the wall clock (camera timestamps leapt forward, or the host clock stepped back), or staying more
than ``jump_s`` behind it across ``confirm`` reports (timestamps leapt back, or the host clock
stepped forward). Each jump is counted and the affected segment flagged.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class StreamClock:
    jump_s: float = 3.0
    confirm: int = 4
    anchor: float | None = None
    frozen: bool = False
    jumps: int = 0
    _behind: list[float] = field(default_factory=list)

    def observe(self, wall: float, media_t: float) -> bool:
        """Feed one progress report; True when it revealed a jump (and the anchor moved)."""
        cand = wall - media_t
        if self.anchor is None:
            self.anchor = cand
            return False
        if cand < self.anchor - self.jump_s:  # stream ahead of the wall clock
            return self._reanchor(cand)
        if cand > self.anchor + self.jump_s:  # stream behind: only believe it when it persists
            self._behind.append(cand)
            if len(self._behind) >= self.confirm:
                return self._reanchor(min(self._behind))
            return False
        self._behind.clear()
        if cand < self.anchor and not self.frozen:
            self.anchor = cand
        return False

    def _reanchor(self, cand: float) -> bool:
        self.anchor = cand
        self.jumps += 1
        self._behind.clear()
        return True

    def reanchor(self, wall: float, media_t: float) -> None:
        """Force the mapping so that ``media_t`` is ``wall`` (a segment that would end in the future)."""
        self._reanchor(wall - media_t)

    def wall(self, media_t: float, fallback: float) -> float:
        """Wall-clock time of ``media_t``; ``fallback`` is the anchor when no report came yet."""
        if self.anchor is None:
            self.anchor = fallback
        return self.anchor + media_t
