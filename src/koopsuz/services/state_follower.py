"""One loop for the followers of a last-value stream: make sure of the stream, apply what moved, repeat.

The national hotlists (capital -> regions) and the regions' registries (regions -> capital) are both
copied as state, last value per key, in a stream JetStream sources across the leaf link. Their followers
differ in what they make sure of and how they apply; the loop around it is this: the stream may not
exist yet (the leaf's JetStream starts after us) or may be lost (purged, a hub rebuilt), so any failure
makes the next pass make sure of it again; warnings are rationed (the 1st, the 10th, every 100th) so a
line down for hours does not flood the log.
"""

from __future__ import annotations

import logging
import threading

log = logging.getLogger(__name__)


class StateFollower:
    """Subclasses give ``_link`` (make sure the stream is there and sourced) and ``sync`` (apply what
    moved; True if the store changed)."""

    def __init__(self, name: str, what: str, interval_s: float) -> None:
        self._what, self._interval = what, interval_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _link(self) -> None:
        raise NotImplementedError

    def sync(self) -> bool:
        raise NotImplementedError

    def _run(self) -> None:
        linked, failures = False, 0
        while not self._stop.is_set():
            try:
                if not linked:
                    self._link()
                    linked = True
                self.sync()
                failures = 0
            except Exception as exc:
                failures += 1
                linked = False  # the stream may be gone, or never was: make sure of it again
                if failures in (1, 10) or failures % 100 == 0:
                    log.warning("%s: could not follow (%r); retrying", self._what, exc)
            self._stop.wait(self._interval)
