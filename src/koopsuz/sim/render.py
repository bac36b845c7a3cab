"""Render each camera's loop once into H.264 and cache it, so serving costs no encoding at all.

Sixteen cameras must run beside the whole system on two cores, so the simulator never encodes
while serving: every loop is drawn and encoded once (main 1280x720 and sub 640x360, libx264,
no B-frames, an IDR with SPS/PPS every ``gop_seconds``) and stored as Annex-B access units under
a cache key that covers everything the picture depends on. A second start only reads files.
Cameras are rendered in parallel worker processes with a rich progress display.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

from koopsuz.sim.actors import SUB_H, SUB_W, plan_camera
from koopsuz.sim.faces import DEFAULT_FACES_DIR, FacePhoto, face_crop, list_photos
from koopsuz.sim.scenario import Scenario, SimCamera
from koopsuz.sim.scene import H, W, build_stage

log = logging.getLogger(__name__)
RENDER_VERSION = 5  # bump when drawing or encoding changes: it invalidates every cache entry
DEFAULT_CACHE_DIR = Path("var/sim/cache")
X264 = {"preset": "veryfast", "tune": "zerolatency", "profile": "baseline"}
# Constant quantiser, not CRF: a static scene then encodes to skipped blocks, so a quiet camera
# decodes to identical frames except for a faint pulse at each keyframe, like a good real camera.
QP = {"main": 26, "sub": 24}
Progress = Callable[[str, int], None]
PTZ_FIELDS = {"ptz", "onvif_port", "onvif_user", "onvif_password"}  # not in the cache key: the loop is the same


@dataclass(slots=True)
class Stream:
    """One encoded loop: access units in display order (no B-frames, so also decode order)."""

    width: int
    height: int
    units: list[bytes]
    keyframes: list[bool]


@dataclass(slots=True)
class RenderedCamera:
    camera_id: str
    fps: int
    frames: int
    main: Stream
    sub: Stream
    truth: dict[str, Any]
    path: Path
    ptz: SimCamera | None = None  # a PTZ camera: the server draws its view live around this loop (koopsuz.sim.ptz)


def cache_key(scenario: Scenario, cam: SimCamera, faces: list[FacePhoto]) -> str:
    """Everything the pictures of ``cam`` depend on, hashed: same key, same bytes."""
    spec = {
        "version": RENDER_VERSION,
        "x264": X264,
        "qp": QP,
        "seed": scenario.seed,
        "fps": scenario.fps,
        "loop": scenario.loop_seconds,
        "gop": scenario.gop_seconds,
        "camera": cam.model_dump(mode="json", exclude=PTZ_FIELDS),
        "faces": [f.path.name for f in faces],
    }
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:20]


def render_scenario(
    scenario: Scenario,
    cache_dir: str | Path = DEFAULT_CACHE_DIR,
    faces_dir: str | Path = DEFAULT_FACES_DIR,
    workers: int | None = None,
    progress: bool = True,
) -> dict[str, RenderedCamera]:
    """Render (or load from cache) every camera of ``scenario``; returns them by camera id."""
    cache = Path(cache_dir)
    cache.mkdir(parents=True, exist_ok=True)
    faces = list_photos(faces_dir)
    todo: list[tuple[SimCamera, Path]] = []
    for cam in scenario.cameras:
        target = cache / cache_key(scenario, cam, faces)
        if not (target / "meta.json").exists():
            todo.append((cam, target))
    if len(todo) == 1 or workers == 1:  # no process start-up cost for small jobs (tests)
        for cam, target in todo:
            render_camera(scenario, cam, target, Path(faces_dir))
    elif todo:
        _render_many(scenario, todo, Path(faces_dir), workers, progress)
    out = {}
    for cam in scenario.cameras:
        rc = load_rendered(cache / cache_key(scenario, cam, faces))
        if cam.ptz:  # its loop plays at home inside a live panorama (koopsuz.sim.ptz); the seed makes the rest
            rc.ptz = cam
            rc.truth = {**rc.truth, "seed": scenario.seed, "gop_frames": scenario.gop_frames}
        out[cam.id] = rc
    return out


def _render_many(
    scenario: Scenario, todo: list[tuple[SimCamera, Path]], faces_dir: Path, workers: int | None, progress: bool
) -> None:
    """Render cameras in parallel child processes (``python -m koopsuz.sim.render``).

    Plain child processes rather than multiprocessing: nothing depends on the caller's
    ``__main__`` guard or on forking a process that already runs GLib or HTTP threads. Each
    child prints how many frames it has done, one number per line, which drives the progress bars.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TimeElapsedColumn
    from rich.progress import Progress as RichProgress

    n_workers = max(1, min(len(todo), workers or os.cpu_count() or 1))
    columns = ("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    src_root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [src_root, os.environ.get("PYTHONPATH")]))}
    with (
        tempfile.TemporaryDirectory(prefix="koopsuz-render-") as tmp,
        RichProgress(*columns, disable=not progress) as bar,
    ):
        spec = Path(tmp) / "scenario.json"
        spec.write_text(scenario.model_dump_json())
        tasks = {cam.id: bar.add_task(f"render {cam.id}", total=scenario.frames, start=False) for cam, _ in todo}
        queue = list(todo)
        running: dict[str, tuple[subprocess.Popen[str], threading.Thread]] = {}
        errors: list[str] = []
        while queue or running:
            while queue and len(running) < n_workers:
                cam, target = queue.pop(0)
                cmd = [sys.executable, "-m", "koopsuz.sim.render", str(spec), cam.id, str(target), str(faces_dir)]
                proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
                bar.start_task(tasks[cam.id])
                reader = threading.Thread(target=_follow, args=(proc, bar, tasks[cam.id]), daemon=True)
                reader.start()
                running[cam.id] = (proc, reader)
            for cam_id, (proc, reader) in list(running.items()):
                if proc.poll() is not None:
                    reader.join()
                    if proc.returncode:
                        errors.append(f"{cam_id}: {proc.stderr.read().strip()[-2000:] if proc.stderr else ''}")
                    del running[cam_id]
            time.sleep(0.05)
        if errors:
            raise RuntimeError("rendering failed:\n" + "\n".join(errors))


def _follow(proc: subprocess.Popen[str], bar: Any, task: Any) -> None:
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().isdigit():
            bar.update(task, completed=int(line))


def render_camera(
    scenario: Scenario, cam: SimCamera, target: Path, faces_dir: Path, report: Progress | None = None
) -> Path:
    """Draw and encode one camera's loop into ``target`` (written atomically)."""
    import av
    import cv2

    from koopsuz.sim.actors import camera_rng
    from koopsuz.sim.draw import draw_actor

    cv2.setNumThreads(1)
    started = time.perf_counter()
    faces = list_photos(faces_dir)
    crops = {f.path.name: face_crop(f.path) for f in faces}
    plan = plan_camera(scenario, cam, faces)
    stage = build_stage(cam.scene, cam.light, camera_rng(scenario, cam.id), f"{cam.id.upper()}")
    tmp = target.with_name(f"{target.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    encoders = {
        name: _encoder(av, name, w, h, scenario) for name, (w, h) in (("main", (W, H)), ("sub", (SUB_W, SUB_H)))
    }
    out: dict[str, list[tuple[bytes, bool]]] = {"main": [], "sub": []}
    for f in range(scenario.frames):
        frame = stage.image.copy()
        active = [a for a in plan.actors if a.start <= f < a.start + len(a.feet)]
        for actor in sorted(active, key=lambda a: a.feet[f - a.start][1]):  # far ones first
            draw_actor(frame, actor, f, stage, scenario.fps, crops)
        sub = cv2.resize(frame, (SUB_W, SUB_H), interpolation=cv2.INTER_AREA)
        for name, img in (("main", frame), ("sub", sub)):
            vf = av.VideoFrame.from_ndarray(cv2.cvtColor(img, cv2.COLOR_BGR2YUV_I420), format="yuv420p")
            vf.pts = f
            if f % scenario.gop_frames == 0:
                vf.pict_type = av.video.frame.PictureType.I
            out[name].extend((bytes(p), bool(p.is_keyframe)) for p in encoders[name].encode(vf))
        if report and (f % 15 == 0 or f == scenario.frames - 1):
            report(cam.id, f + 1)
    for name, enc in encoders.items():
        out[name].extend((bytes(p), bool(p.is_keyframe)) for p in enc.encode(None))
        if len(out[name]) != scenario.frames or not out[name][0][1]:
            raise RuntimeError(f"{cam.id}/{name}: encoder gave {len(out[name])} units for {scenario.frames} frames")
        with open(tmp / f"{name}.h264", "wb") as fh:
            fh.write(b"".join(u for u, _ in out[name]))
        index = [[len(u), k] for u, k in out[name]]
        (tmp / f"{name}.idx.json").write_text(json.dumps(index))
    (tmp / "truth.json").write_text(json.dumps(plan.truth()))
    meta = {
        "camera": cam.id,
        "fps": scenario.fps,
        "frames": scenario.frames,
        "gop_frames": scenario.gop_frames,
        "main": [W, H],
        "sub": [SUB_W, SUB_H],
        "render_seconds": round(time.perf_counter() - started, 2),
        "version": RENDER_VERSION,
    }
    (tmp / "meta.json").write_text(json.dumps(meta))
    shutil.rmtree(target, ignore_errors=True)
    tmp.rename(target)
    log.info("rendered %s in %.1f s -> %s", cam.id, meta["render_seconds"], target)
    return target


def _encoder(av: Any, name: str, width: int, height: int, scenario: Scenario) -> Any:
    ctx = av.CodecContext.create("libx264", "w")
    ctx.width, ctx.height, ctx.pix_fmt = width, height, "yuv420p"
    ctx.framerate = Fraction(scenario.fps, 1)
    ctx.time_base = Fraction(1, scenario.fps)
    ctx.thread_count = 1  # one thread per encoder: deterministic bytes, and processes give the parallelism
    gop = scenario.gop_frames
    params = f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:repeat-headers=1:aud=1"
    params += f":threads=1:forced-idr=1:qp={QP[name]}"
    ctx.options = {**X264, "x264-params": params}
    return ctx


def load_rendered(path: str | Path) -> RenderedCamera:
    """Read one cached camera back: access units in memory, ready to be pushed."""
    p = Path(path)
    meta = json.loads((p / "meta.json").read_text())
    streams = {}
    for name in ("main", "sub"):
        data = (p / f"{name}.h264").read_bytes()
        index = json.loads((p / f"{name}.idx.json").read_text())
        offsets = np.cumsum([0] + [n for n, _ in index])
        units = [data[offsets[i] : offsets[i + 1]] for i in range(len(index))]
        streams[name] = Stream(*meta[name], units, [bool(k) for _, k in index])
    truth = json.loads((p / "truth.json").read_text())
    return RenderedCamera(meta["camera"], meta["fps"], meta["frames"], streams["main"], streams["sub"], truth, p)


def _main(argv: list[str]) -> None:
    """Child-process entry: render one camera, printing frames done (see ``_render_many``)."""
    spec, cam_id, target, faces_dir = argv
    scenario = Scenario.model_validate_json(Path(spec).read_text())
    render_camera(scenario, scenario.camera(cam_id), Path(target), Path(faces_dir), lambda _c, n: print(n, flush=True))


if __name__ == "__main__":
    _main(sys.argv[1:])
