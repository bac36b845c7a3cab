"""Serve pre-encoded camera loops over real RTSP (GStreamer RTSP server) and log ground truth.

Each camera has a main and a sub mount, each a shared media (``appsrc ! h264parse ! rtph264pay``),
so any number of clients read one pipeline. One pacing thread pushes the cached access units in
real time, starting every new media at a keyframe; nothing is decoded or encoded while serving,
which is what lets sixteen cameras run beside the system on two cores. The same thread writes the
runtime ground truth (an actor entering or leaving view, stamped with the wall-clock time its
frame was pushed) and honours cuts: a cut camera drops its clients and refuses new ones (``drop``)
or goes silent with its connections open (``stall``), as a camera losing power or its link does.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtspServer  # noqa: E402

from koopsuz.sim.render import RenderedCamera, Stream  # noqa: E402

log = logging.getLogger(__name__)
assert GstApp  # imported for its typelib: it gives appsrc elements their push_buffer method
CutMode = Literal["drop", "stall"]
_LAUNCH = (
    "( appsrc name=src is-live=true format=time do-timestamp=true min-latency=0 "
    "max-bytes=8000000 caps=video/x-h264,stream-format=byte-stream,alignment=au "
    "! h264parse ! rtph264pay name=pay0 pt=96 config-interval=-1 )"
)


@dataclass(eq=False)
class _Mount:
    camera: str
    name: str  # "main" | "sub"
    path: str
    stream: Stream
    units: list[GLib.Bytes]
    factory: GstRtspServer.RTSPMediaFactory | None = None
    sources: dict[Any, list[Any]] = field(default_factory=dict)  # media -> [appsrc, needs_keyframe, held, prepared]


@dataclass(eq=False)
class _Camera:
    rendered: RenderedCamera
    mounts: list[_Mount]
    events: dict[int, list[dict[str, Any]]]  # loop frame -> truth events at that frame
    cut: CutMode | None = None
    clients: set[Any] = field(default_factory=set)
    pushed: int = 0
    live: Any = None  # koopsuz.sim.ptz.LiveView of a PTZ camera (encoded live, not from a loop)
    onvif: Any = None  # koopsuz.sim.onvif.OnvifDevice serving its ONVIF services


class SimServer:
    """RTSP cameras from rendered loops; a context manager, ``start()``/``stop()`` otherwise.

    ``port=0`` picks a free port (see ``.port`` after ``start()``). ``paths`` maps a camera id
    to its (main, sub) mount paths when a deployment names them; default ``/<id>/main``, ``/<id>/sub``.
    ``units`` (a ``UnitFleet``) are the scenario's patrol units, driven through the control API.
    """

    def __init__(
        self,
        cameras: dict[str, RenderedCamera],
        port: int = 8554,
        host: str = "127.0.0.1",
        truth_path: str | Path | None = None,
        control_port: int | None = None,
        paths: dict[str, tuple[str, str]] | None = None,
        units: Any = None,
    ) -> None:
        Gst.init(None)
        self.units = units  # koopsuz.sim.units.UnitFleet driven through the control API, or None
        self.host, self.port = host, port
        self.truth_path = Path(truth_path) if truth_path else None
        self.control_port = control_port
        self.fps = next(iter(cameras.values())).fps if cameras else 15
        self._cams: dict[str, _Camera] = {}
        self._by_path: dict[str, _Mount] = {}
        for cam_id, rc in cameras.items():
            if rc.fps != self.fps:
                raise ValueError(f"camera {cam_id} runs at {rc.fps} fps, the others at {self.fps}")
            main_path, sub_path = (paths or {}).get(cam_id, (f"/{cam_id}/main", f"/{cam_id}/sub"))
            mounts = [
                _Mount(cam_id, name, p, s, [GLib.Bytes.new(u) for u in s.units])
                for name, p, s in (("main", main_path, rc.main), ("sub", sub_path, rc.sub))
            ]
            self._cams[cam_id] = _Camera(rc, mounts, _events(rc))
            for m in mounts:
                self._by_path[m.path] = m
        self.ptz_heads: dict[str, Any] = {}  # camera id -> koopsuz.sim.ptz.PtzHead (tests read its position)
        self._truth: deque[dict[str, Any]] = deque(maxlen=200_000)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._ctx: GLib.MainContext | None = None
        self._loop: GLib.MainLoop | None = None
        self._server: GstRtspServer.RTSPServer | None = None
        self._truth_file: Any = None
        self._control: Any = None
        self.started_at = 0.0

    # ----------------------------------------------------------------- lifecycle
    def __enter__(self) -> SimServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self._ctx = GLib.MainContext()
        self._loop = GLib.MainLoop(self._ctx)
        server = GstRtspServer.RTSPServer()
        server.set_address(self.host)
        server.set_service(str(self.port))
        server.connect("client-connected", self._on_client)
        # Each client in its own thread: preparing a new media waits for the next keyframe (up to
        # a GOP), and in the shared main loop that wait would queue every other client behind it.
        server.get_thread_pool().set_max_threads(max(8, 4 * len(self._cams)))
        self._server = server
        for cam in self._cams.values():
            for m in cam.mounts:
                self._mount(m)
        if server.attach(self._ctx) == 0:
            raise OSError(f"RTSP server cannot listen on {self.host}:{self.port} (port in use?)")
        self.port = server.get_bound_port()
        if self.truth_path:
            self.truth_path.parent.mkdir(parents=True, exist_ok=True)
            self._truth_file = open(self.truth_path, "w", encoding="utf-8")  # noqa: SIM115
        self._start_ptz()
        self.started_at = time.time()
        self._spawn(self._loop.run, "sim-glib")
        self._spawn(self._pace, "sim-pacer")
        if self.control_port is not None:
            from koopsuz.sim.control import ControlServer

            self._control = ControlServer(self, self.host, self.control_port)
            self._control.start()
            self.control_port = self._control.port
        log.info("simulator serving %d camera(s) on rtsp://%s:%d", len(self._cams), self.host, self.port)

    def stop(self) -> None:
        """Stop pushing, close every client, shut the listener; safe to call twice."""
        if self._stop.is_set() or self._loop is None:
            return
        self._stop.set()
        if self._control:
            self._control.stop()
        if self.units is not None:
            self.units.close()
        for cam in self._cams.values():
            if cam.onvif is not None:
                cam.onvif.stop()
        self._call(self._close_all)
        self._loop.quit()
        for t in self._threads:
            t.join(timeout=5)
        if self._truth_file:
            self._truth_file.close()
            self._truth_file = None

    # ------------------------------------------------------------------ queries
    def url(self, camera_id: str, stream: str = "sub") -> str:
        mount = next(m for m in self._cams[camera_id].mounts if m.name == stream)
        return f"rtsp://{self.host}:{self.port}{mount.path}"

    @property
    def camera_ids(self) -> list[str]:
        return list(self._cams)

    def health(self) -> dict[str, Any]:
        with self._lock:
            cams = [
                {
                    "id": cam_id,
                    "online": cam.cut is None,
                    "cut": cam.cut,
                    "clients": len(cam.clients),
                    "frames_pushed": cam.pushed,
                    "main_url": self.url(cam_id, "main"),
                    "sub_url": self.url(cam_id, "sub"),
                    **({"ptz": True, "onvif_url": cam.onvif.url} if cam.onvif is not None else {}),
                }
                for cam_id, cam in self._cams.items()
            ]
        return {
            "port": self.port,
            "fps": self.fps,
            "uptime_s": round(time.time() - self.started_at, 3),
            "cameras": cams,
        }

    def truth_since(self, since: float = 0.0) -> list[dict[str, Any]]:
        with self._lock:
            return [t for t in self._truth if t["ts"] > since]

    # ---------------------------------------------------------------- cut/restore
    def cut(self, camera_id: str, mode: CutMode = "drop") -> None:
        """Take a camera off the air. ``drop``: close its clients, refuse new ones (404).

        ``stall``: keep connections open but send nothing, like a link that silently dies.
        """
        cam = self._cams[camera_id]
        if mode not in ("drop", "stall"):
            raise ValueError(f"unknown cut mode {mode!r}; use 'drop' or 'stall'")
        with self._lock:
            cam.cut = mode
        self._record({"event": "cut", "camera": camera_id, "mode": mode})
        if mode == "drop":
            self._call(lambda: self._drop(cam))

    def restore(self, camera_id: str) -> None:
        """Put a cut camera back on the air; every stream resumes at a keyframe."""
        cam = self._cams[camera_id]
        with self._lock:
            previous, cam.cut = cam.cut, None
            for m in cam.mounts:
                for state in m.sources.values():
                    state[1] = True
        if previous == "drop":
            self._call(lambda: [self._mount(m) for m in cam.mounts])
        self._record({"event": "restore", "camera": camera_id})

    # ----------------------------------------------------------------- internals
    def _spawn(self, fn: Any, name: str) -> None:
        t = threading.Thread(target=fn, name=name, daemon=True)
        t.start()
        self._threads.append(t)

    def _call(self, fn: Any, timeout: float = 5.0) -> None:
        """Run ``fn`` in the GLib loop's thread (the RTSP server is not thread-safe) and wait."""
        done = threading.Event()

        def run(*_a: object) -> bool:
            try:
                fn()
            finally:
                done.set()
            return False

        if self._ctx is None:
            return
        self._ctx.invoke_full(GLib.PRIORITY_DEFAULT, run)
        done.wait(timeout)

    def _mount(self, m: _Mount) -> None:
        """Mount the stream; after a cut the same factory comes back, with its running media."""
        if m.factory is None:
            m.factory = GstRtspServer.RTSPMediaFactory()
            m.factory.set_launch(_LAUNCH)
            m.factory.set_shared(True)
            m.factory.connect("media-configure", self._on_media, m)
        assert self._server is not None
        self._server.get_mount_points().add_factory(m.path, m.factory)

    def _on_media(self, _factory: Any, media: Any, m: _Mount) -> None:
        src = media.get_element().get_by_name("src")
        with self._lock:
            m.sources[media] = state = [src, True, False, False]
        media.connect("unprepared", self._on_unprepared, m)
        media.connect("prepared", lambda _m: state.__setitem__(3, True))

    def _on_unprepared(self, media: Any, m: _Mount) -> None:
        with self._lock:
            m.sources.pop(media, None)

    def _on_client(self, _server: Any, client: Any) -> None:
        def on_request(c: Any, ctx: Any) -> None:
            path = ctx.uri.abspath if ctx.uri else ""
            mount = next((mt for p, mt in self._by_path.items() if path == p or path.startswith(p + "/")), None)
            if mount:
                with self._lock:
                    self._cams[mount.camera].clients.add(c)

        def on_closed(c: Any) -> None:
            with self._lock:
                for cam in self._cams.values():
                    cam.clients.discard(c)

        client.connect("describe-request", on_request)
        client.connect("setup-request", on_request)
        client.connect("closed", on_closed)
        client.connect("new-session", lambda _c, session: session.set_timeout(120))

    def _drop(self, cam: _Camera) -> None:
        assert self._server is not None
        for m in cam.mounts:
            self._server.get_mount_points().remove_factory(m.path)
        with self._lock:
            clients = list(cam.clients)
            cam.clients.clear()
        for c in clients:
            c.close()

    def _close_all(self) -> None:
        with self._lock:
            clients = {c for cam in self._cams.values() for c in cam.clients}
            held = [
                media for cam in self._cams.values() for m in cam.mounts for media, st in m.sources.items() if st[2]
            ]
        for c in clients:
            c.close()
        for media in held:
            media.unprepare()

    def _pace(self) -> None:
        """Push frame ``k`` of every camera at ``start + k / fps``; log truth as frames go out."""
        period = 1.0 / self.fps
        t0 = time.monotonic()
        k = 0
        while not self._stop.is_set():
            delay = t0 + k * period - time.monotonic()
            if delay > 0:
                self._stop.wait(delay)
            elif delay < -1.0:  # starved for a second (machine overloaded): skip ahead, resync
                skip = int(-delay / period)
                log.warning("simulator fell %.1f s behind; skipping %d frames", -delay, skip)
                k += skip
                with self._lock:
                    for cam in self._cams.values():
                        for m in cam.mounts:
                            for state in m.sources.values():
                                state[1] = True
            for cam_id, cam in self._cams.items():
                try:
                    self._tick(cam_id, cam, k)
                except Exception:  # one camera's trouble must not stop the others
                    log.exception("simulator: frame %d of %s failed", k, cam_id)
            k += 1

    def _start_ptz(self) -> None:
        """Panorama, head, live encoder and ONVIF device for every PTZ camera (see koopsuz.sim.ptz)."""
        from koopsuz.sim.onvif import OnvifDevice
        from koopsuz.sim.ptz import LiveView, PtzHead, build_panorama

        for cam_id, cam in self._cams.items():
            spec = cam.rendered.ptz
            if spec is None:
                continue
            head = PtzHead()
            pano = build_panorama(spec.scene, spec.light, int(cam.rendered.truth.get("seed", 1)), cam_id.upper())
            sizes = {m.name: (m.stream.width, m.stream.height) for m in cam.mounts}
            main = cam.rendered.main
            loop = (main.units, main.keyframes) if main.units else None
            gop = int(cam.rendered.truth.get("gop_frames", self.fps))
            cam.live = LiveView(head, pano, self.fps, gop, sizes, loop)
            cam.onvif = OnvifDevice(
                cam_id,
                head,
                lambda profile, c=cam_id: self.url(c, profile),
                spec.onvif_user,
                spec.onvif_password,
                self.host,
                spec.onvif_port or 0,
            )
            cam.onvif.start()
            self.ptz_heads[cam_id] = head
            log.info("PTZ camera %s: ONVIF at %s", cam_id, cam.onvif.url)

    def _tick_live(self, cam: _Camera, targets: list[tuple[_Mount, list[Any]]], k: int) -> None:
        """A PTZ camera's frame: encoded now from where the head points; nothing when nobody watches."""
        for m, state in targets:
            if state[3] and not state[2]:
                self._hold(m, state)
        if not targets:
            cam.live.idle()
            return
        units = cam.live.units(want_key=any(state[1] for _m, state in targets), k=k)
        for m, state in targets:
            data, key = units[m.name]
            if state[1] and not key:
                continue
            state[1] = False
            buf = Gst.Buffer.new_wrapped_bytes(GLib.Bytes.new(data))
            buf.duration = Gst.SECOND // self.fps
            state[0].push_buffer(buf)
        cam.pushed += 1

    def _tick(self, cam_id: str, cam: _Camera, k: int) -> None:
        if cam.live is not None:
            with self._lock:
                targets = [(m, s) for m in cam.mounts for s in m.sources.values()] if cam.cut is None else []
                # a held media with nobody watching costs no encoding; one still preparing needs its first frames
                if not cam.clients and all(s[3] for _m, s in targets):
                    targets = []
            self._tick_live(cam, targets, k)
            if cam.rendered.frames > 1:  # the loop plays at home: its truth holds while the dome looks there
                home = cam.live.sees_home(cam.live.head.position())
                self._truth_tick(cam_id, cam, k, cam.cut is None, {"ptz_home": home})
            return
        frames = cam.rendered.frames
        idx = k % frames
        with self._lock:
            online = cam.cut is None
            targets = [(m, s) for m in cam.mounts for s in m.sources.values()] if online else []
        now = time.time()
        for m, state in targets:
            if state[3] and not state[2]:
                self._hold(m, state)
            if state[1] and not m.stream.keyframes[idx]:
                continue
            state[1] = False
            buf = Gst.Buffer.new_wrapped_bytes(m.units[idx])
            buf.duration = Gst.SECOND // self.fps
            state[0].push_buffer(buf)
        if online:
            cam.pushed += 1
        self._truth_tick(cam_id, cam, k, online, now=now)

    def _truth_tick(
        self, cam_id: str, cam: _Camera, k: int, online: bool, extra: dict[str, Any] | None = None, now: float = 0.0
    ) -> None:
        """Ground truth of loop frame ``k``: actors entering or leaving view as the frame goes out."""
        idx, loop = k % cam.rendered.frames, k // cam.rendered.frames
        for ev in cam.events.get(idx, ()):
            lp = loop - ev["loop_offset"]
            if lp >= 0:
                line = {k2: v for k2, v in ev.items() if k2 != "loop_offset"}
                self._record({**line, "camera": cam_id, "loop": lp, "online": online, **(extra or {})}, now or None)

    def _hold(self, m: _Mount, state: list[Any]) -> None:
        """Keep a prepared media alive when its last client leaves (one extra prepare count).

        A camera is always on: the next client joins the running stream at once instead of
        waiting for a new pipeline, and never races the teardown of the old one (which gets a
        503 from the RTSP server).
        """
        media = next((md for md, st in m.sources.items() if st is state), None)
        state[2] = True
        if media is not None and not media.prepare(None):  # (get_status() would block while preparing)
            log.warning("could not hold media of %s", m.path)

    def _record(self, line: dict[str, Any], ts: float | None = None) -> None:
        entry = {"ts": round(ts if ts is not None else time.time(), 4), **line}
        with self._lock:
            self._truth.append(entry)
            if self._truth_file:
                self._truth_file.write(json.dumps(entry) + "\n")
                self._truth_file.flush()


def _events(rc: RenderedCamera) -> dict[int, list[dict[str, Any]]]:
    """Enter/exit events per loop frame from the per-clip truth (an exit at the loop end wraps)."""
    out: dict[int, list[dict[str, Any]]] = {}
    for a in rc.truth["actors"]:
        boxes = {b[0]: b[1:] for b in a["boxes_sub"]}
        for first, end in a["visits"]:
            for event, frame, box in (("enter", first, boxes[first]), ("exit", end, boxes[end - 1])):
                out.setdefault(frame % rc.frames, []).append(
                    {
                        "event": event,
                        "actor": a["id"],
                        "kind": a["kind"],
                        "box_sub": box,
                        "plate": a["plate"],
                        "plate_visible": a["plate_visible"],
                        "face": a["face"],
                        "frame": frame % rc.frames,
                        "loop_offset": frame // rc.frames,
                    }
                )
    return out
