"""A simulated PTZ head: where it points, how it moves, and the picture it sees.

A PTZ camera cannot be a pre-rendered loop: its picture depends on where an operator turned it.
So its view is a window over a wide panorama (four stages side by side, 360 degrees around),
moved by pan and tilt and narrowed by zoom (1x..28x), warped and encoded live, frame by frame.
The first quarter of the ring is the camera's own rendered loop, decoded as it plays: at home
(pan 0, tilt 0, 1x) the dome shows exactly the scenario's picture, actors and ground truth
included; turned away it shows the rest of the square, still.
Only PTZ cameras pay for live encoding (ultrafast x264, and nothing at all while nobody
watches), so the other cameras keep costing nothing but a memcpy.

Coordinates are ONVIF's generic spaces: pan and tilt in -1..1 (pan wraps round: -1 and 1 are
the same direction), zoom in 0..1 (0 = 1x, 1 = 28x). Moves take time, at ``SPEED`` units a
second for a full-speed request, so ``GetStatus`` can honestly say MOVING.
"""

from __future__ import annotations

import math
import threading
import time
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import numpy as np

ZOOM_MAX = 28.0
SPEED = 1.0  # generic units a second at speed 1 (a half turn in a second, like a fast dome)
FOV_DEG = 90.0  # horizontal field of view at 1x: one stage of the four, so home is the rendered loop
PANORAMA_STAGES = 4


def wrap(x: float) -> float:
    """Pan into -1..1 (one full turn is 2 units)."""
    return (x + 1.0) % 2.0 - 1.0


def clamp(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


def magnification(zoom: float) -> float:
    return 1.0 + (ZOOM_MAX - 1.0) * clamp(zoom, 0.0, 1.0)


@dataclass
class Preset:
    token: str
    name: str
    pan: float
    tilt: float
    zoom: float


@dataclass
class PtzHead:
    """Position, motion and presets of one head; thread-safe (SOAP threads move it, the pacer reads it).

    A move is either a velocity (continuous, until Stop or its timeout) or a target approached at
    a speed. ``now`` is injectable so the mechanics test without sleeping.
    """

    pan: float = 0.0
    tilt: float = 0.0
    zoom: float = 0.0
    presets: dict[str, Preset] = field(default_factory=dict)
    max_presets: int = 64
    _vel: tuple[float, float, float] = (0.0, 0.0, 0.0)
    _vel_until: float = 0.0
    _target: tuple[float, float, float] | None = None
    _speed: tuple[float, float] = (1.0, 1.0)
    _t: float = field(default_factory=time.monotonic)
    _next_token: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    # ---------------------------------------------------------------- reading
    def position(self, now: float | None = None) -> tuple[float, float, float]:
        with self._lock:
            self._advance(time.monotonic() if now is None else now)
            return self.pan, self.tilt, self.zoom

    def moving(self, now: float | None = None) -> tuple[bool, bool]:
        """(pan/tilt moving, zoom moving)."""
        with self._lock:
            self._advance(time.monotonic() if now is None else now)
            if self._target is not None:
                tp, tt, tz = self._target
                return (abs(_pan_delta(self.pan, tp)) > 1e-6 or abs(tt - self.tilt) > 1e-6, abs(tz - self.zoom) > 1e-6)
            vp, vt, vz = self._vel
            return (vp != 0.0 or vt != 0.0, vz != 0.0)

    # ----------------------------------------------------------------- moving
    def continuous(self, vp: float, vt: float, vz: float, timeout_s: float = 60.0, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._advance(now)
            self._target = None
            self._vel = (clamp(vp, -1, 1), clamp(vt, -1, 1), clamp(vz, -1, 1))
            self._vel_until = now + max(0.0, timeout_s)

    def absolute(
        self,
        pan: float | None,
        tilt: float | None,
        zoom: float | None,
        speed: tuple[float, float] = (1.0, 1.0),
        now: float | None = None,
    ) -> None:
        now = time.monotonic() if now is None else now
        with self._lock:
            self._advance(now)
            self._vel = (0.0, 0.0, 0.0)
            self._target = (
                wrap(self.pan if pan is None else pan),
                clamp(self.tilt if tilt is None else tilt, -1, 1),
                clamp(self.zoom if zoom is None else zoom, 0, 1),
            )
            self._speed = (max(0.05, min(1.0, speed[0])), max(0.05, min(1.0, speed[1])))

    def relative(
        self, dp: float, dt: float, dz: float, speed: tuple[float, float] = (1.0, 1.0), now: float | None = None
    ) -> None:
        p, t, z = self.position(now)
        self.absolute(p + dp, t + dt, z + dz, speed, now)

    def stop(self, pan_tilt: bool = True, zoom: bool = True, now: float | None = None) -> None:
        with self._lock:
            self._advance(time.monotonic() if now is None else now)
            vp, vt, vz = self._vel
            self._vel = (0.0 if pan_tilt else vp, 0.0 if pan_tilt else vt, 0.0 if zoom else vz)
            if self._target is not None:
                tp, tt, tz = self._target
                self._target = (self.pan if pan_tilt else tp, self.tilt if pan_tilt else tt, self.zoom if zoom else tz)

    # ---------------------------------------------------------------- presets
    def set_preset(self, name: str | None, token: str | None = None) -> str:
        p, t, z = self.position()
        with self._lock:
            if token is None:
                if len(self.presets) >= self.max_presets:
                    raise ValueError(f"all {self.max_presets} presets are in use; remove one first")
                token = f"preset-{self._next_token}"
                self._next_token += 1
            elif token not in self.presets:
                raise KeyError(token)
            self.presets[token] = Preset(token, name or token, p, t, z)
            return token

    def goto_preset(self, token: str, speed: tuple[float, float] = (1.0, 1.0)) -> None:
        with self._lock:
            pr = self.presets[token]
        self.absolute(pr.pan, pr.tilt, pr.zoom, speed)

    def remove_preset(self, token: str) -> None:
        with self._lock:
            del self.presets[token]

    # --------------------------------------------------------------- internal
    def _advance(self, now: float) -> None:
        """Integrate motion from the last update to ``now`` (caller holds the lock)."""
        dt = max(0.0, now - self._t)
        self._t = now
        if self._target is not None:
            tp, tt, tz = self._target
            step_pt, step_z = SPEED * self._speed[0] * dt, SPEED * self._speed[1] * dt
            dp = _pan_delta(self.pan, tp)
            dtl = tt - self.tilt
            dist = math.hypot(dp, dtl)
            if dist <= step_pt:
                self.pan, self.tilt = tp, tt
            else:
                self.pan, self.tilt = wrap(self.pan + dp * step_pt / dist), self.tilt + dtl * step_pt / dist
            dz = tz - self.zoom
            self.zoom = tz if abs(dz) <= step_z else self.zoom + math.copysign(step_z, dz)
            if self.pan == tp and self.tilt == tt and self.zoom == tz:
                self._target = None
        elif self._vel != (0.0, 0.0, 0.0):
            run = min(dt, max(0.0, self._vel_until - (now - dt)))
            vp, vt, vz = self._vel
            # slower when zoomed in, as real heads do, so a tele picture does not fly past
            scale = SPEED / magnification(self.zoom) ** 0.5
            self.pan = wrap(self.pan + vp * scale * run)
            self.tilt = clamp(self.tilt + vt * scale * run, -1, 1)
            self.zoom = clamp(self.zoom + vz * SPEED * 0.5 * run, 0, 1)
            if now >= self._vel_until:
                self._vel = (0.0, 0.0, 0.0)


def _pan_delta(a: float, b: float) -> float:
    """Shortest signed pan from ``a`` to ``b`` (the head turns the short way round)."""
    return wrap(b - a)


# ------------------------------------------------------------------- the picture
def build_panorama(scene: str, light: str, seed: int, label: str) -> np.ndarray:
    """Four stages of the camera's scene side by side: a 360-degree ring 5120x720 pixels wide."""
    from koopsuz.sim.scene import build_stage

    parts = []
    for i in range(PANORAMA_STAGES):
        rng = np.random.default_rng([seed, i, 7919])
        parts.append(build_stage(scene, light, rng, f"{label} {i * 90:03d}").image)
    return np.ascontiguousarray(np.hstack(parts))


def window(pano_w: int, pano_h: int, pan: float, tilt: float, zoom: float) -> tuple[float, float, float, float]:
    """The panorama rectangle (centre x, centre y, width, height) the head sees; x may wrap."""
    ww = pano_w * FOV_DEG / 360.0 / magnification(zoom)
    wh = ww * 9.0 / 16.0
    cx = (pan / 2.0 * pano_w + pano_w / (2 * PANORAMA_STAGES)) % pano_w  # pan 0: the first stage's centre
    cy = pano_h / 2.0 - clamp(tilt, -1, 1) * max(0.0, pano_h / 2.0 - wh / 2.0)  # tilt up = picture moves up
    return cx, cy, ww, wh


def render_view(pano: np.ndarray, pan: float, tilt: float, zoom: float, size: tuple[int, int]) -> np.ndarray:
    """The picture at (pan, tilt, zoom), ``size`` = (w, h); wraps round the ring horizontally."""
    import cv2

    ph, pw = pano.shape[:2]
    cx, cy, ww, wh = window(pw, ph, pan, tilt, zoom)
    w, h = size
    s = ww / w
    m = np.array([[s, 0.0, cx - ww / 2.0], [0.0, wh / h, cy - wh / 2.0]], dtype=np.float64)
    return cv2.warpAffine(pano, m, (w, h), flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_WRAP)


class LiveView:
    """Encodes a PTZ camera's main and sub pictures live, one frame per pacer tick.

    Re-warps only when the head moved; encodes only while someone watches; starts with an IDR
    whenever a new client needs one (no waiting a GOP for the first picture).
    """

    def __init__(
        self,
        head: PtzHead,
        pano: np.ndarray,
        fps: int,
        gop: int,
        sizes: dict[str, tuple[int, int]],
        loop: tuple[list[bytes], list[bool]] | None = None,
    ):
        self.head = head
        self.pano = pano
        self.loop = loop  # the rendered main loop (access units, keyframes) played into the first stage
        self._dec: Any = None
        self._next_idx = -1
        self.fps = fps
        self.gop = gop
        self.sizes = sizes
        self._enc: dict[str, Any] = {}
        self._last_pos: tuple[float, float, float] | None = None
        self._frames: dict[str, np.ndarray] = {}
        self._pts = 0
        self._since_key = 0

    def sees_home(self, pos: tuple[float, float, float]) -> bool:
        """Whether the window overlaps the first stage (where the loop plays)."""
        ph, pw = self.pano.shape[:2]
        cx, _cy, ww, _wh = window(pw, ph, *pos)
        seg = pw / PANORAMA_STAGES
        lo, hi = cx - ww / 2, cx + ww / 2
        return any(lo < s + seg and hi > s for s in (-pw, 0.0, pw))

    def _loop_frame(self, idx: int) -> np.ndarray:
        """Frame ``idx`` of the loop, decoded in order (from the keyframe before it after a jump)."""
        import av

        units, keys = self.loop  # type: ignore[misc]
        if self._dec is None or idx != self._next_idx:
            self._dec = av.CodecContext.create("h264", "r")
            start = max(i for i in range(idx + 1) if keys[i]) if any(keys[: idx + 1]) else 0
        else:
            start = idx
        frame = None
        for i in range(start, idx + 1):
            for f in self._dec.decode(av.Packet(units[i])):
                frame = f
        self._next_idx = (idx + 1) % len(units)
        if idx + 1 == len(units):
            self._dec = None  # the loop starts again at an IDR: a fresh decoder
        if frame is None:
            return self.pano[:, : self.pano.shape[1] // PANORAMA_STAGES]
        return frame.to_ndarray(format="bgr24")

    def units(self, want_key: bool, k: int = 0) -> dict[str, tuple[bytes, bool]]:
        """The next access unit of each stream (Annex-B bytes, is-keyframe); ``k`` = the pacer's frame."""
        import av
        import cv2

        pos = self.head.position()
        playing = self.loop is not None and self.sees_home(pos)
        if playing:
            seg = self.pano.shape[1] // PANORAMA_STAGES
            img = self._loop_frame(k % len(self.loop[0]))  # type: ignore[index]
            self.pano[:, :seg] = img if img.shape[1] == seg else cv2.resize(img, (seg, self.pano.shape[0]))
        if pos != self._last_pos or playing:
            for name, size in self.sizes.items():
                self._frames[name] = cv2.cvtColor(render_view(self.pano, *pos, size), cv2.COLOR_BGR2YUV_I420)
            self._last_pos = pos
        key = want_key or self._since_key >= self.gop or not self._enc
        out = {}
        for name, size in self.sizes.items():
            enc = self._enc.get(name) or self._encoder(av, *size)
            self._enc[name] = enc
            vf = av.VideoFrame.from_ndarray(self._frames[name], format="yuv420p")
            vf.pts = self._pts
            if key:
                vf.pict_type = av.video.frame.PictureType.I
            packets = enc.encode(vf)
            data = b"".join(bytes(p) for p in packets)
            out[name] = (data, any(p.is_keyframe for p in packets))
        self._pts += 1
        self._since_key = 0 if key else self._since_key + 1
        return out

    def idle(self) -> None:
        """Nobody watches: encode nothing (the next client gets an IDR)."""
        self._since_key = self.gop

    def _encoder(self, av: Any, w: int, h: int) -> Any:
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
        ctx.framerate = Fraction(self.fps, 1)
        ctx.time_base = Fraction(1, self.fps)
        ctx.thread_count = 1
        params = f"keyint={self.gop * 4}:min-keyint=1:scenecut=0:bframes=0:repeat-headers=1:aud=1:threads=1"
        params += ":forced-idr=1:rc-lookahead=0:sync-lookahead=0"
        ctx.options = {
            "preset": "ultrafast",
            "tune": "zerolatency",
            "profile": "baseline",
            "crf": "26",
            "x264-params": params,
        }
        return ctx
