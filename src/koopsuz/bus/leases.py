"""Camera leases in JetStream key-value storage: each worker holds a fair share of the cameras.

One bucket (``KOOPSUZ_LEASES``) whose entries expire ``lease_s`` after their last write:
``worker.<id>`` is a worker's heartbeat, ``camera.<id>`` names the worker holding that camera. Every
``lease_s / 3`` a worker rewrites its heartbeat, refreshes its camera leases with compare-and-set on
the revision it last wrote (so a lease someone else took is noticed, never overwritten), hands back
cameras above its fair share (a new worker then takes them), and claims free ones with create
(only if absent). A worker that dies stops refreshing: its leases expire after ``lease_s`` and the
others claim them on their next tick, so its cameras move within ``lease_s + lease_s / 3``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
from collections.abc import Callable
from typing import Any

from nats.js import api
from nats.js.errors import BucketNotFoundError, KeyWrongLastSequenceError

from koopsuz.bus.nats import NatsBus
from koopsuz.domain.leases import plan

log = logging.getLogger(__name__)
BUCKET = "KOOPSUZ_LEASES"


def default_worker_id() -> str:
    return f"{socket.gethostname()}-{os.getpid()}".replace(".", "-")


class CameraLeases:
    def __init__(
        self,
        bus: NatsBus,
        cameras: Callable[[], list[str]],
        *,
        worker_id: str | None = None,
        lease_s: float = 6.0,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._bus = bus
        self._cameras = cameras
        self.worker_id = worker_id or default_worker_id()
        self.lease_s = lease_s
        self._on_change = on_change
        self._held: dict[str, int] = {}  # camera -> revision of our last write
        self._workers: set[str] = set()  # the workers alive at the last tick (their keys not yet expired)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"leases-{self.worker_id}", daemon=True)
        self._kv: Any = None
        self.ticks = 0

    def workers(self) -> set[str]:
        """The ids of the workers alive at the last tick, this one included (a dead one drops out once
        its key expires, ``lease_s`` after its last tick)."""
        with self._lock:
            return set(self._workers) | {self.worker_id}

    def held(self) -> set[str]:
        with self._lock:
            return set(self._held)

    def start(self) -> None:
        self._bus._call(self._open(), timeout=10)
        self.tick()
        self._thread.start()

    def stop(self, *, release: bool = True) -> None:
        """``release``: hand the cameras back at once (a clean shutdown); without it they expire."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(self.lease_s)
        if release:
            with contextlib.suppress(Exception):
                self._bus._call(self._release_all(), timeout=5)

    def tick(self) -> None:
        try:
            cameras = sorted(self._cameras())
            changed = self._bus._call(self._tick(cameras), timeout=max(self.lease_s / 2, 2.0))
        except Exception as exc:  # the bus away: keep what we hold; the leases expire if it stays away
            log.warning("camera lease round failed: %r", exc)
            return
        self.ticks += 1
        if changed and self._on_change is not None:
            self._on_change()

    def _loop(self) -> None:
        while not self._stop.wait(self.lease_s / 3):
            self.tick()

    # -- on the bus's loop ---------------------------------------------------------------------

    async def _open(self) -> None:
        js = self._bus._js
        try:
            self._kv = await js.key_value(BUCKET)
        except BucketNotFoundError:
            cfg = api.KeyValueConfig(bucket=BUCKET, history=1, ttl=self.lease_s, storage=api.StorageType.FILE)
            with contextlib.suppress(Exception):  # another worker may have created it meanwhile
                await js.create_key_value(cfg)
            self._kv = await js.key_value(BUCKET)
        ttl = (await js.stream_info(f"KV_{BUCKET}")).config.max_age
        if ttl and abs(ttl - self.lease_s) > 0.01:  # the bucket's life wins: every worker must agree on it
            log.warning("lease bucket keeps entries %.1fs (not %.1fs); refreshing on its clock", ttl, self.lease_s)
            self.lease_s = float(ttl)

    async def _snapshot(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        watcher = await self._kv.watchall(ignore_deletes=True)
        try:
            async for entry in watcher:
                if entry is None:
                    break
                if entry.value is not None:
                    out[entry.key] = entry.value
        finally:
            with contextlib.suppress(Exception):
                await watcher.stop()
        return out

    async def _tick(self, cameras: list[str]) -> bool:
        me = self.worker_id.encode()
        await self._kv.put(f"worker.{self.worker_id}", b"alive")
        snap = await self._snapshot()
        workers = {k for k in snap if k.startswith("worker.")} | {f"worker.{self.worker_id}"}
        leased = {k[len("camera.") :]: v for k, v in snap.items() if k.startswith("camera.")}
        with self._lock:
            held = dict(self._held)
        lost = {c for c in held if leased.get(c) != me}  # expired, or taken after we were partitioned
        for c in lost:
            held.pop(c)
        p = plan(self.worker_id, cameras, set(held), {c for c, w in leased.items() if w != me}, len(workers))
        for c in p.keep:
            try:
                held[c] = await self._kv.update(f"camera.{c}", me, last=held[c])
            except KeyWrongLastSequenceError:
                held.pop(c)
                lost.add(c)
        for c in p.release:
            with contextlib.suppress(Exception):
                await self._kv.delete(f"camera.{c}", last=held[c])
            held.pop(c)
        gained = set()
        for c in p.claim:
            try:
                held[c] = await self._kv.create(f"camera.{c}", me)
                gained.add(c)
            except KeyWrongLastSequenceError:
                continue  # another worker was quicker
        with self._lock:
            self._held = held
            self._workers = {k[len("worker.") :] for k in workers}
        if lost or gained or p.release:
            log.info(
                "worker %s holds %d camera(s): +%s -%s",
                self.worker_id,
                len(held),
                sorted(gained),
                sorted(lost | set(p.release)),
            )
        return bool(lost or gained or p.release)

    async def _release_all(self) -> None:
        with self._lock:
            held, self._held = dict(self._held), {}
        for c, rev in held.items():
            with contextlib.suppress(Exception):
                await self._kv.delete(f"camera.{c}", last=rev)
        with contextlib.suppress(Exception):
            await self._kv.delete(f"worker.{self.worker_id}")


class LeasedRegistry:
    """The registry as a worker sees it: ``enabled_cameras`` cut to the cameras it holds.

    Ingest and recording reconcile from ``enabled_cameras()``; handing them this view makes them run
    exactly the leased cameras, and kicking their followers on a lease change applies it at once.
    """

    def __init__(self, registry: Any, leases: CameraLeases) -> None:
        self._registry = registry
        self._leases = leases

    def enabled_cameras(self) -> list[Any]:
        held = self._leases.held()
        return [(cam, region) for cam, region in self._registry.enabled_cameras() if cam.id in held]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._registry, name)


def leased_view(bus: Any, registry: Any, settings: Any, on_change: Callable[[], None]) -> tuple[CameraLeases, Any]:
    """The leases of a worker process and the registry view its ingest and recording run from."""
    if not isinstance(bus, NatsBus):
        raise ValueError(
            "a worker shares cameras with the others through JetStream: set KOOPSUZ_BUS_URL=nats://host:4222"
        )
    leases = CameraLeases(
        bus,
        lambda: [cam.id for cam, _region in registry.enabled_cameras()],
        worker_id=settings.worker_id,
        lease_s=settings.lease_s,
        on_change=on_change,
    )
    return leases, LeasedRegistry(registry, leases)
