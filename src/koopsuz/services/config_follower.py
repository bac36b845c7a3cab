"""Keep a service in step with the registry: reconcile at start, on change, and periodically.

Ingest and recording both run one task per enabled camera. Each is told of a change by a
``camera_config`` bus message and also re-reads the registry every ``resync_s`` as a safety net
(a missed message, a change made by another process). This class is that loop, once.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from koopsuz.bus.base import Bus, Subscription
from koopsuz.services.registry import CONFIG_KIND

log = logging.getLogger(__name__)


class ConfigFollower:
    def __init__(self, bus: Bus, reconcile: Callable[[], None], *, name: str, resync_s: float) -> None:
        self._bus = bus
        self._reconcile = reconcile
        self._name = name
        self._resync_s = resync_s
        self._stop = threading.Event()
        self._kick = threading.Event()
        self._sub: Subscription | None = None
        self._thread = threading.Thread(target=self._loop, name=f"{name}-supervisor", daemon=True)

    def start(self) -> None:
        """Subscribe, reconcile once on the caller's thread (errors surface at start), then follow."""
        self._sub = self._bus.subscribe(f"koopsuz.{CONFIG_KIND}.>", lambda _s, _e: self._kick.set())
        self._reconcile()
        self._thread.start()

    def kick(self) -> None:
        self._kick.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._kick.set()
        if self._sub is not None:
            self._sub.close()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._kick.wait(self._resync_s)
            self._kick.clear()
            if self._stop.is_set():
                return
            try:
                self._reconcile()
            except Exception:
                log.exception("%s reconcile failed; retrying at the next tick", self._name)
