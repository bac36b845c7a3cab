"""PTZ control: operators turn, zoom and recall presets on PTZ cameras through ONVIF, one at a time.

The camera is driven with a real ONVIF client (``onvif-zeep-async``: Device for discovery, Media
for the profile and its PTZ configuration, PTZ for moves, status and presets), so what works
against the simulator works against a dome on a pole. Two operators steering one camera would
fight each other unknowingly, so control is a lease: the first mover holds the camera for
``lease_s`` seconds after their last command; anyone else gets 409 with who holds it and until
when; a supervisor (regional head, admin) may take over, which is audited as such. Every move,
preset change and tour is audited. A patrol tour visits presets in turn, each held for its dwell,
as a background task of the API process; any manual move or stop ends it.

Leases live in the store (``store/ptz_leases.py``), so they hold across several ``koopsuz api``
processes behind a load balancer: two operators served by different processes get the same 409. A
running tour is a task of the process that started it, but the lease row names it: a manual move, a
stop or a take-over in any process clears or changes that name, and the tour stops at its next step.

A tour outlives the process that ran it. The lease row also names the runner (this process), the step
it is on and when it next acts, and the runner renews the lease before each step for dwell + ``lease_s``;
so a row that names a tour and has run out means its runner is gone (a crash, a deploy, a drained
process). Every API process watches for such rows (``start_tour_watch``, every few seconds) and adopts
one with a conditional UPDATE (exactly one process wins), then runs the tour on from the step after the
last one done, still in the name of the operator who started it, audited ``ptz.tour.resume`` with the
adopting process and how long the camera was unattended. A tour ended on purpose (stop, manual move,
preset recall, take-over, release) no longer names itself on the row and is never resumed; nor is one
whose camera is gone, disabled, no longer PTZ, or whose tour was deleted, nor one whose operator could
not start it now (account deleted or disabled, role without PTZ, region no longer theirs) (ended,
audited ``ptz.tour.end``). A camera that stops answering hands its tour back with a back-off that doubles with
each failure in a row (5 s to 5 min; logged once, when it starts failing), and after ``GIVE_UP_FAILS``
the tour is ended: it does not loop fast between processes.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import socket
import threading
import time
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select
from ulid import ULID

from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import SYSTEM, Permission, Principal, Role
from koopsuz.services.errors import Conflict, Invalid, NotFound, ServiceError, invalid
from koopsuz.services.registry import RegistryService
from koopsuz.services.users import principal_of
from koopsuz.store.db import Database
from koopsuz.store.ptz_leases import KEEP_TOUR, Holder, Orphan, PtzLeaseRepo, PtzLeaseRow
from koopsuz.store.tables import CameraRow, PtzTourRow, UserRow

log = logging.getLogger(__name__)
SUPERVISORS = frozenset({Role.ADMIN, Role.REGIONAL_HEAD})
CALL_TIMEOUT_S = 5.0
WATCH_S = 3.0  # how often an API process looks for tours whose runner is gone
GIVE_UP_FAILS = 12  # failures in a row (~35 min of back-off) before a tour on a dead camera is ended


def backoff_s(fails: int) -> float:
    """How long a tour whose camera failed ``fails`` times in a row waits before it is tried again."""
    return min(5.0 * 2 ** max(fails - 1, 0), 300.0)


class CameraUnreachable(ServiceError):
    """The camera's ONVIF service did not answer or refused: 503 (as a camera with no frame), with what to check."""

    status = 503


class MoveRequest(BaseModel):
    """One move. ``continuous``: velocities -1..1 until stop or ``timeout_s``; ``relative``: steps
    in the generic spaces (pan/tilt -1..1 = a half turn, zoom -1..1 of the range); ``absolute``:
    positions (pan/tilt -1..1, zoom 0..1 = 1x..max)."""

    model_config = ConfigDict(extra="forbid")
    mode: Literal["continuous", "relative", "absolute"]
    pan: float | None = Field(default=None, ge=-1.0, le=1.0)
    tilt: float | None = Field(default=None, ge=-1.0, le=1.0)
    zoom: float | None = Field(default=None, ge=-1.0, le=1.0)
    timeout_s: float = Field(default=2.0, ge=0.1, le=60.0)
    speed: float = Field(default=1.0, gt=0.0, le=1.0)
    take_over: bool = False


class TourStep(BaseModel):
    model_config = ConfigDict(extra="forbid")
    preset: str = Field(min_length=1, max_length=64)
    dwell_s: float = Field(ge=1.0, le=3600.0)


class TourRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=100)
    steps: list[TourStep] = Field(min_length=1, max_length=64)


Lease = Holder  # who controls a camera until when (and the tour they run): a row of ptz_leases


class _Onvif:
    """One camera's ONVIF connection: discovered once, then PTZ calls on its first PTZ profile."""

    def __init__(self, url: str) -> None:
        u = urlsplit(url)
        if not u.hostname:
            raise Invalid(f"onvif_url {url!r} has no host")
        self.where = f"{u.hostname}:{u.port or 80}"
        self._args = (u.hostname, u.port or 80, unquote(u.username or ""), unquote(u.password or ""))
        self.cam: Any = None
        self.ptz: Any = None
        self.profile = ""
        self._ready = asyncio.Lock()

    async def ready(self) -> _Onvif:
        async with self._ready:  # requests arrive together (the page asks status, presets, tours at once)
            if self.ptz is None:
                await self._connect()
        return self

    async def _connect(self) -> None:
        if self.ptz is None:
            from onvif import ONVIFCamera

            cam = ONVIFCamera(*self._args, no_cache=True)
            try:
                await cam.update_xaddrs()
                media = await cam.create_media_service()
                profiles = await media.GetProfiles()
                with_ptz = [p for p in profiles if getattr(p, "PTZConfiguration", None) is not None]
                if not with_ptz:
                    raise Invalid(f"the camera at {self.where} has no media profile with a PTZ configuration")
                self.profile = with_ptz[0].token
                self.ptz = await cam.create_ptz_service()
                self.cam = cam
            except BaseException:
                await cam.close()
                raise

    async def call(self, op: str, params: dict[str, Any]) -> Any:
        return await getattr(self.ptz, op)({"ProfileToken": self.profile, **params})

    async def close(self) -> None:
        if self.cam is not None:
            await self.cam.close()
        self.cam = self.ptz = None


class PtzService:
    def __init__(
        self, db: Database, audit: AuditLog, registry: RegistryService, lease_s: float = 30.0, clock: Any = time.time
    ) -> None:
        self._db = db
        self._audit = audit
        self._registry = registry
        self.lease_s = lease_s
        self._clock = clock
        self._conns: dict[str, _Onvif] = {}
        self._tours: dict[str, tuple[str, asyncio.Task[None]]] = {}  # camera -> (tour id, task)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_lock = threading.Lock()
        self._watch: concurrent.futures.Future[None] | None = None
        # who runs a tour, on the lease row: this process (host:pid) and this service (two in one test)
        self.process = f"{socket.gethostname()[:40]}:{os.getpid()}/{str(ULID())[-6:].lower()}"

    # ------------------------------------------------- the ONVIF event loop
    def _run(self, coro: Any) -> Any:
        """Run ``coro`` on this service's own event loop (one thread) and wait for it.

        The ONVIF client's HTTP sessions belong to the loop that made them, and tours are tasks
        that outlive a request; one loop owned here keeps both independent of whichever server,
        test client or CLI calls the service.
        """
        future = asyncio.run_coroutine_threadsafe(coro, self._ensure_loop())
        try:
            return future.result(timeout=CALL_TIMEOUT_S * 4)
        except concurrent.futures.TimeoutError:
            future.cancel()
            raise CameraUnreachable(f"the camera took over {CALL_TIMEOUT_S * 4:g} s to answer; try again") from None

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._loop_lock:
            if self._loop is None:
                self._loop = asyncio.new_event_loop()
                threading.Thread(target=self._loop.run_forever, name="ptz-onvif", daemon=True).start()
            return self._loop

    def start_tour_watch(self, interval_s: float = WATCH_S) -> None:
        """Resume tours whose runner is gone, every ``interval_s`` (an API process; System.start)."""
        if self._watch is None or self._watch.done():
            self._watch = asyncio.run_coroutine_threadsafe(self._watch_tours(interval_s), self._ensure_loop())

    def move(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._move(*args, **kwargs))

    def stop(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._stop(*args, **kwargs))

    def status(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._status(*args, **kwargs))

    def presets(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._presets(*args, **kwargs))

    def set_preset(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._set_preset(*args, **kwargs))

    def goto_preset(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._goto_preset(*args, **kwargs))

    def remove_preset(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._remove_preset(*args, **kwargs))

    def save_tour(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._save_tour(*args, **kwargs))

    def start_tour(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._start_tour(*args, **kwargs))

    def stop_tour(self, *args: Any, **kwargs: Any) -> Any:
        return self._run(self._stop_tour(*args, **kwargs))

    def close(self) -> None:
        """Stop tours, close connections and the loop (System.stop)."""
        if self._loop is None:
            return
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
        try:
            self._run(self._close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None

    # --------------------------------------------------------------- guards
    def camera(self, who: Principal, camera_id: str) -> CameraRow:
        """The camera if ``who`` may steer it: in scope, PTZ, with an ONVIF address."""
        row = self._registry.camera(who, camera_id, Permission.PTZ_CONTROL)
        if not row.ptz:
            raise Invalid(f"camera {camera_id} is a fixed camera; only PTZ cameras can be moved")
        if not row.onvif_url:
            raise Invalid(f"camera {camera_id} has no onvif_url; an administrator must set its ONVIF address")
        return row

    def lease(self, camera_id: str) -> Lease | None:
        with self._db.session() as s:
            return PtzLeaseRepo(s).current(camera_id, self._clock())

    def _take(self, who: Principal, row: CameraRow, take_over: bool, ip: str | None, tour: Any = None) -> None:
        """Take or renew control for ``lease_s``; 409 if another operator holds it (unless a supervisor
        takes over). ``tour``: the tour this runs (None: a manual action, which ends any tour)."""
        now = self._clock()
        until = now + self.lease_s
        with self._db.transaction() as s:
            held = PtzLeaseRepo(s).take(
                row.id, row.region, who.username, who.full_name, until, now, tour=tour, runner=self.process
            )
        if held is not None:
            if not take_over or who.role not in SUPERVISORS:
                held_until = datetime.fromtimestamp(held.until, UTC).strftime("%H:%M:%S")
                self._audit.record(
                    who, "ptz.locked", target_type="camera", target_id=row.id, region=row.region,
                    outcome="denied", detail={"held_by": held.username}, ip=ip,
                )  # fmt: skip
                hint = " (send take_over to take it)" if who.role in SUPERVISORS else " (a supervisor may take over)"
                holder = f"{held.full_name} ({held.username})" if held.full_name else held.username
                raise Conflict(f"camera {row.id} is being moved by {holder} until {held_until} UTC{hint}")
            with self._db.transaction() as s:
                PtzLeaseRepo(s).take(
                    row.id, row.region, who.username, who.full_name, until, now, tour=tour, force=True,
                    runner=self.process,
                )  # fmt: skip
            self._audit.record(
                who, "ptz.takeover", target_type="camera", target_id=row.id, region=row.region,
                detail={"from": held.username}, ip=ip,
            )  # fmt: skip

    async def _conn(self, row: CameraRow) -> _Onvif:
        conn = self._conns.get(row.id)
        if conn is None:
            conn = self._conns[row.id] = _Onvif(row.onvif_url or "")
        try:
            return await asyncio.wait_for(conn.ready(), CALL_TIMEOUT_S * 2)
        except ServiceError:
            raise
        except Exception as exc:
            self._conns.pop(row.id, None)
            await conn.close()
            raise CameraUnreachable(
                f"camera {row.id} does not answer over ONVIF at {conn.where}: {_why(exc)}; check it is on the "
                "network and its onvif_url credentials"
            ) from None

    async def _call(self, row: CameraRow, op: str, params: dict[str, Any] | None = None) -> Any:
        conn = await self._conn(row)
        try:
            return await asyncio.wait_for(conn.call(op, params or {}), CALL_TIMEOUT_S)
        except Exception as exc:
            from zeep.exceptions import Fault

            if isinstance(exc, Fault):  # the camera answered no (a bad preset, too many presets): 422
                raise Invalid(f"camera {row.id} refused {op}: {_why(exc)}") from None
            self._conns.pop(row.id, None)  # a broken connection: reconnect next time
            await conn.close()
            raise CameraUnreachable(f"camera {row.id} did not answer {op}: {_why(exc)}") from None

    # --------------------------------------------------------------- moving
    async def _move(
        self, who: Principal, camera_id: str, body: dict[str, Any], ip: str | None = None
    ) -> dict[str, Any]:
        try:
            req = MoveRequest.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        if req.pan is None and req.tilt is None and req.zoom is None:
            raise Invalid("give at least one of pan, tilt, zoom")
        if req.mode == "absolute" and req.zoom is not None and req.zoom < 0:
            raise Invalid("absolute zoom is 0..1 (0 = widest, 1 = full zoom)")
        row = self.camera(who, camera_id)
        self._take(who, row, req.take_over, ip)
        tour_stopped = await self._cancel_tour(row.id)
        vec: dict[str, Any] = {}
        if req.pan is not None or req.tilt is not None:
            vec["PanTilt"] = {"x": req.pan or 0.0, "y": req.tilt or 0.0}
        if req.zoom is not None:
            vec["Zoom"] = {"x": req.zoom}
        if req.mode == "continuous":
            await self._call(row, "ContinuousMove", {"Velocity": vec, "Timeout": f"PT{req.timeout_s:.2f}S"})
        else:
            speed = {"PanTilt": {"x": req.speed, "y": req.speed}, "Zoom": {"x": req.speed}}
            op, key = ("RelativeMove", "Translation") if req.mode == "relative" else ("AbsoluteMove", "Position")
            if req.mode == "absolute" and "PanTilt" in vec and (req.pan is None or req.tilt is None):
                now = await self._status(who, camera_id)
                vec["PanTilt"] = {"x": _or(req.pan, now["pan"]), "y": _or(req.tilt, now["tilt"])}
            await self._call(row, op, {key: vec, "Speed": speed})
        self._audit.record(
            who, "ptz.move", target_type="camera", target_id=row.id, region=row.region,
            detail={**req.model_dump(exclude={"take_over"}), "tour_stopped": tour_stopped}, ip=ip,
        )  # fmt: skip
        return self._held(row.id)

    async def _stop(self, who: Principal, camera_id: str, ip: str | None = None) -> dict[str, Any]:
        row = self.camera(who, camera_id)
        self._take(who, row, False, ip)
        stopped = await self._cancel_tour(row.id)
        await self._call(row, "Stop", {"PanTilt": True, "Zoom": True})
        self._audit.record(
            who, "ptz.stop", target_type="camera", target_id=row.id, region=row.region,
            detail={"tour_stopped": stopped}, ip=ip,
        )  # fmt: skip
        return self._held(row.id)

    def release(self, who: Principal, camera_id: str) -> dict[str, Any]:
        row = self.camera(who, camera_id)
        with self._db.transaction() as s:
            PtzLeaseRepo(s).release(row.id, who.username)
        return self._held(row.id)

    async def _status(self, who: Principal, camera_id: str) -> dict[str, Any]:
        row = self.camera(who, camera_id)
        st = await self._call(row, "GetStatus")
        pos, moving = st.Position, st.MoveStatus
        return {
            "pan": float(pos.PanTilt.x) if pos is not None and pos.PanTilt is not None else None,
            "tilt": float(pos.PanTilt.y) if pos is not None and pos.PanTilt is not None else None,
            "zoom": float(pos.Zoom.x) if pos is not None and pos.Zoom is not None else None,
            "moving": bool(moving is not None and "MOVING" in (str(moving.PanTilt), str(moving.Zoom))),
            **self._held(row.id),
        }

    def _held(self, camera_id: str) -> dict[str, Any]:
        held = self.lease(camera_id)
        tour = self._tours.get(camera_id)
        return {
            "camera": camera_id,
            "controlled_by": held.username if held else None,
            "controlled_until": datetime.fromtimestamp(held.until, UTC).isoformat() if held else None,
            # a tour running here, or in another API process (named on the lease)
            "tour": tour[0] if tour and not tour[1].done() else (held.tour if held else None),
        }

    # -------------------------------------------------------------- presets
    async def _presets(self, who: Principal, camera_id: str) -> list[dict[str, Any]]:
        row = self.camera(who, camera_id)
        out = []
        for p in await self._call(row, "GetPresets") or []:
            pos = p.PTZPosition
            out.append(
                {
                    "token": p.token,
                    "name": p.Name or p.token,
                    "pan": float(pos.PanTilt.x) if pos is not None and pos.PanTilt is not None else None,
                    "tilt": float(pos.PanTilt.y) if pos is not None and pos.PanTilt is not None else None,
                    "zoom": float(pos.Zoom.x) if pos is not None and pos.Zoom is not None else None,
                }
            )
        return out

    async def _set_preset(self, who: Principal, camera_id: str, name: str, ip: str | None = None) -> dict[str, Any]:
        name = (name or "").strip()
        if not 1 <= len(name) <= 64:
            raise Invalid("a preset needs a name of 1 to 64 characters")
        row = self.camera(who, camera_id)
        self._take(who, row, False, ip, tour=KEEP_TOUR)
        token = await self._call(row, "SetPreset", {"PresetName": name})
        self._audit.record(
            who, "ptz.preset.set", target_type="camera", target_id=row.id, region=row.region,
            detail={"token": str(token), "name": name}, ip=ip,
        )  # fmt: skip
        return {"token": str(token), "name": name}

    async def _goto_preset(
        self, who: Principal, camera_id: str, token: str, take_over: bool = False, ip: str | None = None
    ) -> dict[str, Any]:
        row = self.camera(who, camera_id)
        self._take(who, row, take_over, ip)
        tour_stopped = await self._cancel_tour(row.id)
        await self._goto(row, token)
        self._audit.record(
            who, "ptz.preset.goto", target_type="camera", target_id=row.id, region=row.region,
            detail={"token": token, "tour_stopped": tour_stopped}, ip=ip,
        )  # fmt: skip
        return self._held(row.id)

    async def _goto(self, row: CameraRow, token: str) -> None:
        known = {p.token for p in await self._call(row, "GetPresets") or []}
        if token not in known:
            raise NotFound(f"camera {row.id} has no preset {token!r}; GET its presets for the tokens")
        await self._call(row, "GotoPreset", {"PresetToken": token})

    async def _remove_preset(self, who: Principal, camera_id: str, token: str, ip: str | None = None) -> None:
        row = self.camera(who, camera_id)
        self._take(who, row, False, ip, tour=KEEP_TOUR)
        known = {p.token for p in await self._call(row, "GetPresets") or []}
        if token not in known:
            raise NotFound(f"camera {row.id} has no preset {token!r}")
        await self._call(row, "RemovePreset", {"PresetToken": token})
        self._audit.record(
            who, "ptz.preset.remove", target_type="camera", target_id=row.id, region=row.region,
            detail={"token": token}, ip=ip,
        )  # fmt: skip

    # ---------------------------------------------------------------- tours
    def tours(self, who: Principal, camera_id: str) -> list[dict[str, Any]]:
        row = self.camera(who, camera_id)
        with self._db.session() as s:
            rows = s.scalars(select(PtzTourRow).where(PtzTourRow.camera == row.id).order_by(PtzTourRow.name)).all()
        running = self._held(row.id)["tour"]
        return [_tour_json(t, running) for t in rows]

    async def _save_tour(self, who: Principal, camera_id: str, body: dict[str, Any], ip: str | None = None) -> dict:
        try:
            req = TourRequest.model_validate(body)
        except ValidationError as exc:
            raise invalid(exc) from None
        row = self.camera(who, camera_id)
        known = {p.token for p in await self._call(row, "GetPresets") or []}
        missing = sorted({s.preset for s in req.steps} - known)
        if missing:
            raise Invalid(f"camera {row.id} has no preset(s) {', '.join(missing)}; set them first")
        tour = PtzTourRow(
            id=str(ULID()), camera=row.id, region=row.region, name=req.name,
            steps=[s.model_dump() for s in req.steps], created_by=who.username, created_at=datetime.now(UTC),
        )  # fmt: skip
        with self._db.transaction() as s:
            s.add(tour)
        self._audit.record(
            who, "ptz.tour.save", target_type="camera", target_id=row.id, region=row.region,
            detail={"tour": tour.id, "name": req.name, "steps": tour.steps}, ip=ip,
        )  # fmt: skip
        return _tour_json(tour, None)

    async def _start_tour(
        self, who: Principal, camera_id: str, tour_id: str, take_over: bool = False, ip: str | None = None
    ) -> dict[str, Any]:
        row = self.camera(who, camera_id)
        with self._db.session() as s:
            tour = s.get(PtzTourRow, tour_id)
        if tour is None or tour.camera != row.id:
            raise NotFound(f"camera {row.id} has no tour {tour_id!r}")
        self._take(who, row, take_over, ip, tour=tour.id)
        await self._cancel_tour(row.id)
        await self._conn(row)
        self._spawn(row, tour.id, tour.steps, who.username)
        self._audit.record(
            who, "ptz.tour.start", target_type="camera", target_id=row.id, region=row.region,
            detail={"tour": tour.id, "name": tour.name}, ip=ip,
        )  # fmt: skip
        return self._held(row.id)

    def _spawn(
        self, row: CameraRow, tour_id: str, steps: list[dict[str, Any]], username: str, first: int = 0, fails: int = 0
    ) -> None:
        task = asyncio.create_task(
            self._run_tour(row, tour_id, steps, username, first, fails), name=f"ptz-tour-{row.id}"
        )
        self._tours[row.id] = (tour_id, task)

    async def _run_tour(
        self, row: CameraRow, tour_id: str, steps: list[dict[str, Any]], username: str, first: int = 0, fails: int = 0
    ) -> None:
        """Visit each preset from step ``first``, hold it for its dwell, round and round; keeps the lease.

        Before each step the lease must still name this tour and this process as its runner: a move, a
        stop or a take-over served by another API process ends the tour here too, before it moves the
        camera again, and so does another process having adopted it (this one looked dead). Cancelled
        (the process stops), it leaves the lease as it is, for another process to resume. ``fails``:
        the camera's failures in a row before this runner (an adopted tour), reset once it answers.
        """
        i = first % len(steps)
        try:
            while True:
                dwell = float(steps[i]["dwell_s"])
                if not self._keep(row.id, username, tour_id, step=i, dwell=dwell):
                    log.info("PTZ tour %s on %s ended: the camera's lease no longer runs it here", tour_id, row.id)
                    return
                await self._call(row, "GotoPreset", {"PresetToken": steps[i]["preset"]})
                await self._arrive(row)
                if not self._keep(row.id, username, tour_id, step=i, dwell=dwell, ok=True):
                    log.info("PTZ tour %s on %s ended: the camera's lease no longer runs it here", tour_id, row.id)
                    return
                if fails:
                    log.info("PTZ tour %s on %s runs again: the camera answers", tour_id, row.id)
                    fails = 0
                await asyncio.sleep(dwell)
                i = (i + 1) % len(steps)
        except asyncio.CancelledError:
            raise
        except CameraUnreachable as exc:  # the camera may come back: hand the tour back for later
            self._tour_failed(row, tour_id, username, str(exc))
        except Exception as exc:  # the camera refused (a preset gone) or worse: the tour ends
            log.warning("PTZ tour on %s stopped: %s", row.id, exc)
            with contextlib.suppress(Exception), self._db.transaction() as s:
                PtzLeaseRepo(s).end_tour(row.id, username)

    def _keep(self, camera: str, username: str, tour_id: str, *, step: int, dwell: float, ok: bool = False) -> bool:
        now = self._clock()
        with self._db.transaction() as s:
            return PtzLeaseRepo(s).keep_tour(
                camera, username, tour_id, now + dwell + self.lease_s,
                runner=self.process, step=step, due=now + dwell, ok=ok,
            )  # fmt: skip

    def _tour_failed(self, row: CameraRow, tour_id: str, username: str, why: str) -> None:
        """Back off (logged once, when the camera starts failing), or end the tour after GIVE_UP_FAILS."""
        now = self._clock()
        with self._db.transaction() as s:
            fails = PtzLeaseRepo(s).fail_tour(row.id, tour_id, self.process, now, backoff_s)
        if fails == 1:
            log.warning(
                "PTZ tour %s on %s paused: %s; retried after %g s, then less and less often", tour_id, row.id, why,
                backoff_s(1),
            )  # fmt: skip
        elif fails >= GIVE_UP_FAILS:
            with self._db.transaction() as s:
                PtzLeaseRepo(s).end_tour(row.id, username, until=now)
            log.warning("PTZ tour %s on %s ended after %d failures in a row: %s", tour_id, row.id, fails, why)
            self._audit.record(
                SYSTEM, "ptz.tour.end", target_type="camera", target_id=row.id, region=row.region, outcome="error",
                detail={"tour": tour_id, "operator": username, "reason": f"camera failing: {why}", "fails": fails},
            )  # fmt: skip
        else:
            log.debug("PTZ tour %s on %s failed again (%d in a row): %s", tour_id, row.id, fails, why)

    # ------------------------------------------------- resuming orphaned tours
    async def _watch_tours(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self._adopt_orphans()
            except Exception:  # the database away for a moment: try again next round
                log.exception("PTZ tour watch failed; trying again in %g s", interval_s)

    async def _adopt_orphans(self) -> list[str]:
        """Adopt and resume every tour whose runner is gone; the cameras resumed here."""
        now = self._clock()
        with self._db.session() as s:
            orphans = PtzLeaseRepo(s).orphans(now)
        resumed = []
        for orphan in orphans:
            mine = self._tours.get(orphan.camera)
            if mine and not mine[1].done() and mine[0] == orphan.tour and orphan.runner == self.process:
                continue  # running here, only late (a long move): it renews at its next step
            if await self._resume(orphan, now):
                resumed.append(orphan.camera)
        return resumed

    async def _resume(self, orphan: Orphan, now: float) -> bool:
        with self._db.session() as s:
            row = s.get(CameraRow, orphan.camera)
            tour = s.get(PtzTourRow, orphan.tour)
            operator = s.execute(select(UserRow).where(UserRow.username == orphan.username)).scalar_one_or_none()
        # the camera's region now (a camera moved to another region since the lease row was written)
        why = _not_resumable(row, tour, orphan) or _operator_may_not(operator, row.region if row else orphan.region)
        if why:
            with self._db.transaction() as s:
                ended = PtzLeaseRepo(s).drop_orphan(orphan, now)
            if ended:  # one process ends it, and says so once
                log.warning("PTZ tour %s on %s not resumed: %s", orphan.tour, orphan.camera, why)
                self._audit.record(
                    SYSTEM, "ptz.tour.end", target_type="camera", target_id=orphan.camera, region=orphan.region,
                    outcome="denied", detail={"tour": orphan.tour, "operator": orphan.username, "reason": why},
                )  # fmt: skip
            return False
        assert row is not None and tour is not None
        with self._db.transaction() as s:
            if not PtzLeaseRepo(s).adopt(orphan, self.process, now + self.lease_s, now):
                return False  # another process won it, or it was stopped meanwhile
        await self._cancel_tour(row.id)  # a runner of this process thought dead: the new one replaces it
        first = (orphan.step + 1) % len(tour.steps) if orphan.step is not None else 0
        self._spawn(row, tour.id, tour.steps, orphan.username, first, orphan.fails)
        unattended = round(max(0.0, now - orphan.due), 1) if orphan.due is not None else None
        if not orphan.fails:
            log.info("PTZ tour %s on %s resumed here (%s) after %s s unattended", tour.id, row.id, self.process,
                     unattended)  # fmt: skip
        self._audit.record(
            SYSTEM, "ptz.tour.resume", target_type="camera", target_id=row.id, region=row.region,
            detail={
                "tour": tour.id, "name": tour.name, "operator": orphan.username, "process": self.process,
                "previous_process": orphan.runner, "step": first, "unattended_s": unattended, "fails": orphan.fails,
            },
        )  # fmt: skip
        return True

    async def _arrive(self, row: CameraRow, limit_s: float = 30.0) -> None:
        """Wait until the head stops (GotoPreset answers at once; the dwell counts from arrival)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            st = await self._call(row, "GetStatus")
            ms = st.MoveStatus
            if ms is None or "MOVING" not in (str(ms.PanTilt), str(ms.Zoom)):
                return

    async def _cancel_tour(self, camera_id: str) -> bool:
        tour = self._tours.pop(camera_id, None)
        if tour is None or tour[1].done():
            return False
        tour[1].cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await tour[1]
        return True

    async def _stop_tour(self, who: Principal, camera_id: str, ip: str | None = None) -> dict[str, Any]:
        row = self.camera(who, camera_id)
        with self._db.session() as s:  # also a lease run out: a tour waiting to be resumed stops too
            held = s.get(PtzLeaseRow, row.id, populate_existing=True)
            before_tour = held.tour if held is not None else None
        self._take(who, row, False, ip)
        stopped = await self._cancel_tour(row.id) or bool(before_tour)
        if stopped:
            self._audit.record(who, "ptz.tour.stop", target_type="camera", target_id=row.id, region=row.region, ip=ip)
        return self._held(row.id)

    async def _close(self) -> None:
        for cam in list(self._tours):
            await self._cancel_tour(cam)
        for conn in list(self._conns.values()):
            await conn.close()
        self._conns.clear()


def _operator_may_not(operator: UserRow | None, region: str) -> str | None:
    """A resumed tour runs in its operator's name: only while that account could still start it now
    (an officer disabled, moved to another region or given a role without PTZ is not patrolling)."""
    if operator is None:
        return "its operator's account was deleted"
    if not operator.active:
        return f"its operator {operator.username!r} was disabled"
    who = principal_of(operator)
    if not who.can(Permission.PTZ_CONTROL):
        return f"its operator {operator.username!r} may no longer control PTZ cameras"
    if not who.scope.allows(region):
        return f"its operator {operator.username!r} no longer covers {region}"
    return None


def _not_resumable(row: CameraRow | None, tour: PtzTourRow | None, orphan: Orphan) -> str | None:
    """Why an orphaned tour must end rather than resume (None: resume it)."""
    if row is None:
        return "the camera was deleted"
    if not row.enabled:
        return "the camera is disabled"
    if not row.ptz:
        return "the camera is no longer a PTZ camera"
    if not row.onvif_url:
        return "the camera has no onvif_url"
    if tour is None or tour.camera != row.id or not tour.steps:
        return "the tour was deleted"
    if orphan.fails >= GIVE_UP_FAILS:
        return f"the camera failed {orphan.fails} times in a row"
    return None


def _tour_json(t: PtzTourRow, running: str | None) -> dict[str, Any]:
    return {
        "id": t.id,
        "camera": t.camera,
        "name": t.name,
        "steps": t.steps,
        "created_by": t.created_by,
        "running": running == t.id,
    }


def _or(v: float | None, default: float | None) -> float:
    return float(v if v is not None else default or 0.0)


def _why(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text if not isinstance(exc, asyncio.TimeoutError | TimeoutError) else f"no answer in {CALL_TIMEOUT_S:g} s"
