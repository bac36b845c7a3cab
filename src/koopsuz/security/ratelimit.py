"""A sliding-window limit on sign-in attempts per client address.

Account lockout (``UserService``) stops guessing one account's password; it does not stop one
address trying a password against many accounts, nor locking out every operator on purpose. This
bounds *failed* attempts per address, whatever the account (successful sign-ins never count).
In memory, per process: behind several API processes each counts its own share, which still
bounds a single attacker.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class RateLimiter:
    """``blocked(key)`` before an attempt; ``hit(key)`` for each one that counts (failed sign-ins)."""

    def __init__(self, limit: int, window_s: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._hits: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def blocked(self, key: str) -> float | None:
        """None when an attempt is allowed now, else the seconds until one will be."""
        now = self._clock()
        with self._lock:
            q = self._hits.get(key)
            if not q:
                return None
            while q and q[0] <= now - self.window_s:
                q.popleft()
            return max(0.1, q[0] + self.window_s - now) if len(q) >= self.limit else None

    def hit(self, key: str) -> None:
        now = self._clock()
        with self._lock:
            self._hits.setdefault(key, deque()).append(now)
            if len(self._hits) > 100_000:  # a flood of addresses: forget the idle ones
                for k in [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window_s]:
                    del self._hits[k]
