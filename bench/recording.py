"""How many simulated main streams one `koopsuz recorder` keeps recording, beside bare ffmpeg.

For each camera count N it runs, one after the other on the same machine and the same RTSP main
streams from `koopsuz sim`:
  1. the baseline: N bare recorders, `ffmpeg -rtsp_transport tcp -i URL -map 0:v:0 -c copy -f hls
     -hls_segment_type fmp4 -hls_time 4 ...`, one process per stream, writing to a scratch folder;
  2. `koopsuz recorder` with the same N cameras: the same ffmpeg command per camera (plus progress
     reports), supervised by one Python process that checks every segment box by box, hashes it
     (SHA-256), indexes it in SQLite and keeps the gap record.
Each is measured over the same window after a warm-up: CPU seconds per second (from /proc via
psutil: the process and its children), memory, and what was recorded in the window. A count is
"kept" when every camera's segments cover at least 95 % of the window and no gap opened in it.

    .venv/bin/python bench/recording.py --counts 16,48,96 --seconds 30 --write-docs
    .venv/bin/python bench/recording.py --mbps 4 --counts 16,48 --write-docs

The simulator's scenes are mostly still and compress to about 0.3 Mbit/s; a real 720p or 1080p
camera sends 2-8 Mbit/s, and copying costs per packet. ``--mbps X`` serves synthetic 1280x720 loops
of moving noise encoded once at about X Mbit/s instead (the same RTSP server, in this process).

This is a benchmark, not a test: it prints a table, writes JSON under bench/results/, and with
--write-docs replaces the recording table in docs/benchmarks.md (the ingest table stays).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import imageio_ffmpeg
import psutil
import yaml

from ingest import cpu_seconds, deployment, free_port, stop, wait_port, write_docs

ROOT = Path(__file__).resolve().parent.parent
SEGMENT_S = 4.0


def rss_mb(procs: list[psutil.Process]) -> float:
    """Proportional set size (shared library pages split between the processes that map them)."""
    total = 0
    for p in procs:
        try:
            for q in (p, *p.children(recursive=True)):
                total += q.memory_full_info().pss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


def measure_ffmpeg(urls: list[str], warmup: float, seconds: float) -> dict:
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        for i, u in enumerate(urls):
            d = Path(tmp) / f"s{i}"
            d.mkdir()
            cmd = [
                *(exe, "-nostdin", "-loglevel", "error", "-rtsp_transport", "tcp", "-i", u),
                *("-map", "0:v:0", "-c", "copy", "-f", "hls", "-hls_segment_type", "fmp4"),
                *("-hls_time", f"{SEGMENT_S:g}", "-hls_list_size", "6", "-hls_flags", "independent_segments+temp_file"),
                *("-hls_fmp4_init_filename", "init.mp4", "-hls_segment_filename", str(d / "seg-%06d.m4s")),
                str(d / "index.m3u8"),
            ]
            procs.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        try:
            time.sleep(warmup)
            ps = [psutil.Process(p.pid) for p in procs]
            c0, t0, w0 = cpu_seconds(ps), time.monotonic(), time.time()
            time.sleep(seconds)
            c1, t1, w1 = cpu_seconds(ps), time.monotonic(), time.time()
            mem = rss_mb(ps)
            alive = sum(p.poll() is None for p in procs)
        finally:
            for p in procs:
                stop(p)
        # a stream kept up if it closed about window / segment length segments inside the window
        made = [
            sum(w0 <= f.stat().st_mtime <= w1 for f in (Path(tmp) / f"s{i}").glob("seg-*.m4s"))
            for i in range(len(urls))
        ]
    return {"cpu": (c1 - c0) / (t1 - t0), "alive": alive, "rss_mb": mem, "segments_min": min(made)}


def _ts(v: str) -> float:
    return datetime.fromisoformat(v).replace(tzinfo=UTC).timestamp()


def measure_koopsuz(streams: list[str], rtsp_port: int, warmup: float, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        dep = Path(tmp) / "deployment.yaml"
        dep.write_text(yaml.safe_dump(deployment(streams, rtsp_port)))
        data = Path(tmp) / "var"
        env = os.environ | {
            "KOOPSUZ_DATA_DIR": str(data),
            "KOOPSUZ_SECRET_KEY": "bench",
            "KOOPSUZ_RECORDING_SEGMENT_S": f"{SEGMENT_S:g}",
            "KOOPSUZ_RECORDING_MIN_FREE_MB": "64",
        }
        cmd = [sys.executable, "-m", "koopsuz", "recorder", "--deployment", str(dep)]
        proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        db = data / "koopsuz.db"
        try:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # every camera has closed its first segment
                if db.exists() and _cameras_recorded(db) >= len(streams):
                    break
                time.sleep(1)
            time.sleep(warmup)
            ps = [psutil.Process(proc.pid)]
            c0, t0, w0 = cpu_seconds(ps), time.monotonic(), time.time()
            time.sleep(seconds)
            c1, t1, w1 = cpu_seconds(ps), time.monotonic(), time.time()
            mem = rss_mb(ps)
            time.sleep(SEGMENT_S + 1)  # let the segments that end inside the window be indexed
        finally:
            stop(proc)
        with sqlite3.connect(db) as con:
            segs = con.execute("SELECT camera, start, end, size FROM recording_segments").fetchall()
            gaps = con.execute("SELECT camera, start FROM recording_gaps").fetchall()
    covered: dict[str, float] = {}
    recorded_bytes = 0.0
    for cam, a, b, size in segs:
        lo, hi = max(_ts(a), w0), min(_ts(b), w1)
        if hi > lo:
            covered[cam] = covered.get(cam, 0.0) + hi - lo
            recorded_bytes += size * (hi - lo) / max(1e-6, _ts(b) - _ts(a))
    cover = [covered.get(f"cam-{i:03d}", 0.0) / (w1 - w0) for i in range(len(streams))]
    new_gaps = sum(w0 <= _ts(a) <= w1 for _cam, a in gaps)
    mbps = recorded_bytes * 8 / 1e6 / (w1 - w0) / len(streams)
    return {"cpu": (c1 - c0) / (t1 - t0), "rss_mb": mem, "coverage_min": min(cover), "gaps": new_gaps, "mbps": mbps}


def _cameras_recorded(db: Path) -> int:
    try:
        with sqlite3.connect(db, timeout=1) as con:
            return con.execute("SELECT COUNT(DISTINCT camera) FROM recording_segments").fetchone()[0]
    except sqlite3.Error:
        return 0


def synthetic_sim(mbps: float, loops: int = 4, seconds: int = 6, fps: int = 15) -> tuple[object, list[str]]:
    """A SimServer (started) of ``loops`` noisy 1280x720 cameras encoded at about ``mbps``; ids."""
    from fractions import Fraction

    import av
    import numpy as np

    from koopsuz.sim.render import RenderedCamera, Stream
    from koopsuz.sim.rtsp import SimServer

    def encode(w: int, h: int, rate: float, seed: int) -> Stream:
        ctx = av.CodecContext.create("libx264", "w")
        ctx.width, ctx.height, ctx.pix_fmt = w, h, "yuv420p"
        ctx.framerate, ctx.time_base = Fraction(fps, 1), Fraction(1, fps)
        kbps = int(rate * 1000)
        params = f"keyint={fps}:min-keyint={fps}:scenecut=0:bframes=0:repeat-headers=1:aud=1:forced-idr=1"
        params += f":bitrate={kbps}:vbv-maxrate={kbps}:vbv-bufsize={kbps}"
        ctx.options = {"preset": "veryfast", "tune": "zerolatency", "profile": "baseline", "x264-params": params}
        rng = np.random.default_rng(seed)
        base = rng.integers(0, 256, (h * 2, w * 2), dtype=np.uint8)
        units, keys = [], []
        for i in range(seconds * fps):
            y = base[i % h : i % h + h, (3 * i) % w : (3 * i) % w + w]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(y), format="gray").reformat(format="yuv420p")
            frame.pts = i
            for pkt in ctx.encode(frame):
                units.append(bytes(pkt))
                keys.append(pkt.is_keyframe)
        for pkt in ctx.encode(None):
            units.append(bytes(pkt))
            keys.append(pkt.is_keyframe)
        return Stream(w, h, units, keys)

    cams = {}
    for k in range(loops):
        cid = f"noise-{k + 1}"
        print(f"encoding {cid} at {mbps:g} Mbit/s ...", flush=True)
        main = encode(1280, 720, mbps, k)
        sub = encode(320, 180, 0.2, 100 + k)
        cams[cid] = RenderedCamera(cid, fps, len(main.units), main, sub, {"actors": []}, Path(os.devnull))
    sim = SimServer(cams, port=0)
    sim.start()
    return sim, list(cams)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "bench-16.yaml")
    ap.add_argument("--counts", default="16,48,96", help="camera counts to try, comma-separated")
    ap.add_argument("--seconds", type=float, default=30.0, help="measurement window per run")
    ap.add_argument("--warmup", type=float, default=6.0)
    ap.add_argument("--mbps", type=float, default=0.0, help="serve synthetic noise loops at this bitrate instead")
    ap.add_argument("--write-docs", action="store_true", help="update the recording table in docs/benchmarks.md")
    args = ap.parse_args()
    counts = [int(x) for x in args.counts.split(",")]
    synthetic = None
    sim = None
    if args.mbps:
        synthetic, all_ids = synthetic_sim(args.mbps)
        rtsp = synthetic.port  # type: ignore[attr-defined]
        sim_ps = psutil.Process(os.getpid())
    else:
        all_ids = [c["id"] for c in yaml.safe_load(args.scenario.read_text())["cameras"]]
        rtsp, ctl = free_port(), free_port()
        print(f"starting the simulator with {len(all_ids)} cameras (renders on first use)...", flush=True)
        sim = subprocess.Popen(
            [
                *(sys.executable, "-m", "koopsuz", "sim", "--scenario", str(args.scenario)),
                *("--port", str(rtsp), "--control-port", str(ctl), "--truth", os.devnull),
                *("--cache-dir", str(ROOT / "var" / "sim" / "cache")),
            ],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
        )
    rows = []
    try:
        if sim is not None:
            wait_port(rtsp, 1800, sim)
            sim_ps = psutil.Process(sim.pid)
        for n in counts:
            ids = [all_ids[i % len(all_ids)] for i in range(n)]
            urls = [f"rtsp://127.0.0.1:{rtsp}/{c}/main" for c in ids]
            print(f"[{n} streams] baseline: bare ffmpeg -c copy to HLS fMP4 ...", flush=True)
            s0 = cpu_seconds([sim_ps])
            t0 = time.monotonic()
            base = measure_ffmpeg(urls, args.warmup, args.seconds)
            sim_cpu = (cpu_seconds([sim_ps]) - s0) / (time.monotonic() - t0)
            print(f"[{n} streams] koopsuz recorder ...", flush=True)
            s0, t0 = cpu_seconds([sim_ps]), time.monotonic()
            k = measure_koopsuz(ids, rtsp, args.warmup, args.seconds)
            sim_cpu = max(sim_cpu, (cpu_seconds([sim_ps]) - s0) / (time.monotonic() - t0))
            kept = k["coverage_min"] >= 0.95 and k["gaps"] == 0
            row = {
                "streams": n,
                "ffmpeg_cpu": base["cpu"],
                "ffmpeg_alive": base["alive"],
                "ffmpeg_segments_min": base["segments_min"],
                "ffmpeg_rss_mb": base["rss_mb"],
                **{f"koopsuz_{a}": b for a, b in k.items()},
                "ratio": k["cpu"] / base["cpu"] if base["cpu"] else None,
                "streams_per_core": n / k["cpu"] if k["cpu"] else None,
                "sim_cpu": sim_cpu,
                "kept": kept,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        if sim is not None:
            stop(sim)
        if synthetic is not None:
            synthetic.stop()  # type: ignore[attr-defined]
    machine = (
        f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores, Python {platform.python_version()}"
    )
    table = render(rows, args.seconds, machine, args.mbps)
    print(table)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"recording-{stamp}.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    if args.write_docs:
        write_docs(table, "recording-synthetic" if args.mbps else "recording", "Recording (`bench/recording.py`)")


def render(rows: list[dict], seconds: float, machine: str, mbps: float = 0.0) -> str:
    source = f"synthetic noise loops (`--mbps {mbps:g}`)" if mbps else "`koopsuz sim` (bench-16)"
    lines = [
        f"Main streams 1280x720 H.264 at 15 fps from {source}, {rows[0]['koopsuz_mbps']:.2f} Mbit/s each recorded,"
        f" {SEGMENT_S:g} s segments; window {seconds:.0f} s;"
        f" {machine}.",
        "CPU in cores (CPU-seconds per second), each side with its ffmpeg children. Ratio = Koopsuz / bare ffmpeg.",
        "",
        "| streams | bare ffmpeg CPU | koopsuz recorder CPU | ratio | CPU per stream | streams per core | memory (PSS) "
        "| min coverage | gaps | simulator CPU | kept |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['streams']} | {r['ffmpeg_cpu']:.3f} | {r['koopsuz_cpu']:.3f} | {r['ratio']:.2f}x | "
            f"{r['koopsuz_cpu'] / r['streams'] * 100:.2f}% | {r['streams_per_core']:.0f} | "
            f"{r['koopsuz_rss_mb']:.0f} MB | {r['koopsuz_coverage_min'] * 100:.1f}% | {r['koopsuz_gaps']} | "
            f"{r['sim_cpu']:.2f} | {'yes' if r['kept'] else 'no'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
