"""How many simulated sub streams one `koopsuz serve` keeps live with motion detection.

For each camera count N it runs, one after the other on the same machine and the same RTSP
streams from `koopsuz sim`:
  1. the baseline: N plain decoders, `ffmpeg -threads 1 -rtsp_transport tcp -i URL -f null -`;
  2. `koopsuz serve` ingesting the same N cameras with motion detection on (recording off: the
     main-stream recorder is measured on its own by bench/recording.py).
Each is measured over the same window after a warm-up: CPU seconds per second (from /proc via
psutil, the process and its children), and for Koopsuz each camera's fps and lag at the start and
end of the window. A count is "live" when every camera is online at about the stream's frame rate
and no camera's lag grew by more than 0.5 s over the window.

    .venv/bin/python bench/ingest.py --counts 4,8,16 --seconds 30 --write-docs

This is a benchmark, not a test: it prints a table, writes JSON under bench/results/, and with
--write-docs replaces the table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import imageio_ffmpeg
import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark-password"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            sys.exit(f"process exited ({proc.returncode}) before opening port {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    sys.exit(f"port {port} did not open within {timeout:.0f}s")


def cpu_seconds(procs: list[psutil.Process]) -> float:
    total = 0.0
    for p in procs:
        try:
            t = p.cpu_times()
            total += t.user + t.system
            for c in p.children(recursive=True):
                ct = c.cpu_times()
                total += ct.user + ct.system
        except psutil.NoSuchProcess:
            pass
    return total


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()


def measure_ffmpeg(urls: list[str], warmup: float, seconds: float) -> dict:
    exe = imageio_ffmpeg.get_ffmpeg_exe()
    procs = [
        subprocess.Popen(
            [
                exe,
                "-nostdin",
                "-loglevel",
                "error",
                "-threads",
                "1",
                "-rtsp_transport",
                "tcp",
                "-i",
                u,
                "-f",
                "null",
                "-",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for u in urls
    ]
    try:
        time.sleep(warmup)
        ps = [psutil.Process(p.pid) for p in procs]
        c0, t0 = cpu_seconds(ps), time.monotonic()
        time.sleep(seconds)
        c1, t1 = cpu_seconds(ps), time.monotonic()
        alive = sum(p.poll() is None for p in procs)
    finally:
        for p in procs:
            stop(p)
    return {"cpu": (c1 - c0) / (t1 - t0), "alive": alive}


def deployment(streams: list[str], port: int, name: str = "benchmark") -> dict:
    """Camera i reads stream i; past the scenario's count, streams are read again by new cameras."""
    return {
        "name": name,
        "sites": [
            {
                "id": "bench-site",
                "name": "Benchmark street",
                "type": "street",
                "region": "KG-Y",
                "lat": 42.49,
                "lon": 78.39,
            }
        ],
        "cameras": [
            {
                "id": f"cam-{i:03d}",
                "name": c,
                "site": "bench-site",
                "lat": 42.49,
                "lon": 78.39,
                "main_url": f"rtsp://127.0.0.1:{port}/{c}/main",
                "sub_url": f"rtsp://127.0.0.1:{port}/{c}/sub",
            }
            for i, c in enumerate(streams)
        ],
    }


def measure_koopsuz(camera_ids: list[str], rtsp_port: int, warmup: float, seconds: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        dep = Path(tmp) / "deployment.yaml"
        dep.write_text(yaml.safe_dump(deployment(camera_ids, rtsp_port)))
        env = os.environ | {
            "KOOPSUZ_DATA_DIR": str(Path(tmp) / "var"),
            "KOOPSUZ_SECRET_KEY": "bench",
            "KOOPSUZ_RECORD": "false",
        }
        subprocess.run(
            [
                sys.executable,
                "-m",
                "koopsuz",
                "user",
                "add",
                "bench",
                "--role",
                "national_operator",
                "--password",
                PASSWORD,
            ],
            env=env,
            check=True,
            capture_output=True,
            cwd=ROOT,
        )
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, "-m", "koopsuz", "serve", "--deployment", str(dep), "--port", str(port)],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port, 60, proc)
            c = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
            c.post("/api/auth/login", json={"username": "bench", "password": PASSWORD}).raise_for_status()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                cams = c.get("/api/cameras").json()
                if all(x["health"]["state"] == "online" for x in cams):
                    break
                time.sleep(1)
            time.sleep(warmup)
            ps = psutil.Process(proc.pid)
            h0 = {x["id"]: x["health"] for x in c.get("/api/cameras").json()}
            c0, t0 = cpu_seconds([ps]), time.monotonic()
            rss0 = ps.memory_info().rss
            time.sleep(seconds)
            c1, t1 = cpu_seconds([ps]), time.monotonic()
            h1 = {x["id"]: x["health"] for x in c.get("/api/cameras").json()}
            rss1 = ps.memory_info().rss
            events = len(c.get("/api/events", params={"kind": "motion", "limit": 500}).json())
        finally:
            stop(proc)
    online = sum(h["state"] == "online" for h in h1.values())
    fps = [h["fps"] for h in h1.values()]
    growth = [(h1[k]["lag_s"] or 0) - (h0[k]["lag_s"] or 0) for k in h1]
    frames = sum(h1[k]["frames"] - h0[k]["frames"] for k in h1)
    return {
        "cpu": (c1 - c0) / (t1 - t0),
        "online": online,
        "fps_min": min(fps),
        "fps_mean": sum(fps) / len(fps),
        "lag_end_max": max((h["lag_s"] or 0) for h in h1.values()),
        "lag_growth_max": max(growth),
        "frames_per_s": frames / (t1 - t0),
        "rss_mb": max(rss0, rss1) / 2**20,
        "motion_events": events,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "bench-16.yaml")
    ap.add_argument("--counts", default="4,8,16", help="camera counts to try, comma-separated")
    ap.add_argument("--seconds", type=float, default=30.0, help="measurement window per run")
    ap.add_argument("--warmup", type=float, default=8.0)
    ap.add_argument("--write-docs", action="store_true", help="update the table in docs/benchmarks.md")
    args = ap.parse_args()
    scenario = yaml.safe_load(args.scenario.read_text())
    fps = scenario.get("fps", 15)
    all_ids = [c["id"] for c in scenario["cameras"]]
    counts = [int(x) for x in args.counts.split(",")]
    rtsp, ctl = free_port(), free_port()
    print(f"starting the simulator with {len(all_ids)} cameras (renders on first use)...", flush=True)
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "koopsuz",
            "sim",
            "--scenario",
            str(args.scenario),
            "--port",
            str(rtsp),
            "--control-port",
            str(ctl),
            "--truth",
            os.devnull,
            "--cache-dir",
            str(ROOT / "var" / "sim" / "cache"),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    rows = []
    try:
        wait_port(rtsp, 1800, sim)
        for n in counts:
            ids = [all_ids[i % len(all_ids)] for i in range(n)]
            urls = [f"rtsp://127.0.0.1:{rtsp}/{c}/sub" for c in ids]
            print(f"[{n} cameras] baseline: ffmpeg decode to null ...", flush=True)
            base = measure_ffmpeg(urls, args.warmup, args.seconds)
            print(f"[{n} cameras] koopsuz serve with motion ...", flush=True)
            k = measure_koopsuz(ids, rtsp, args.warmup, args.seconds)
            live = k["online"] == n and k["fps_min"] >= 0.8 * fps and k["lag_growth_max"] < 0.5
            row = {
                "cameras": n,
                "ffmpeg_cpu": base["cpu"],
                **{f"koopsuz_{a}": b for a, b in k.items()},
                "ratio": k["cpu"] / base["cpu"] if base["cpu"] else None,
                "live": live,
            }
            rows.append(row)
            print(json.dumps(row), flush=True)
    finally:
        stop(sim)
    cpu = platform.processor() or platform.machine()
    machine = f"{cpu}, {psutil.cpu_count()} cores, Python {platform.python_version()}"
    table = render(rows, fps, args.seconds, machine)
    print(table)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"ingest-{stamp}.json").write_text(json.dumps({"machine": machine, "fps": fps, "rows": rows}, indent=1))
    if args.write_docs:
        write_docs(table)


def render(rows: list[dict], fps: float, seconds: float, machine: str) -> str:
    lines = [
        f"Sub streams 640x360 H.264 at {fps} fps from `koopsuz sim`; window {seconds:.0f} s; {machine}.",
        "CPU is in cores (CPU-seconds per second). Ratio = Koopsuz CPU / ffmpeg decode-only CPU.",
        "",
        "| cameras | ffmpeg decode CPU | koopsuz CPU | ratio | CPU per camera | min fps | lag growth (max) "
        "| RSS | live |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['cameras']} | {r['ffmpeg_cpu']:.3f} | {r['koopsuz_cpu']:.3f} | {r['ratio']:.2f}x | "
            f"{r['koopsuz_cpu'] / r['cameras'] * 100:.1f}% | {r['koopsuz_fps_min']:.1f} | "
            f"{r['koopsuz_lag_growth_max']:+.2f} s | {r['koopsuz_rss_mb']:.0f} MB | {'yes' if r['live'] else 'no'} |"
        )
    return "\n".join(lines)


def write_docs(table: str, marker: str = "ingest", heading: str = "Ingest (`bench/ingest.py`)") -> None:
    """Replace the table between ``<!-- marker:start/end -->`` in docs/benchmarks.md, or add it."""
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else "# Benchmarks\n"
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    block = f"{start}\n{table}\n{end}"
    if start in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text += f"\n## {heading}\n\n{block}\n"
    doc.write_text(text)


class AlertFeed:
    """The live WebSocket feed (bearer token): per alert, its arrival, seconds after capture, payload.

    Shared by the benchmarks that measure capture-to-alert latency (analytics, plates).
    """

    def __init__(self, url: str, token: str) -> None:
        self._url, self._token = url, token
        self.alerts: list[tuple[float, float, dict]] = []  # type: ignore[type-arg]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _run(self) -> None:
        from websockets.sync.client import connect

        with connect(self._url, additional_headers={"Authorization": f"Bearer {self._token}"}) as ws:
            while not self._stop.is_set():
                try:
                    raw = ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
                now = time.time()
                for msg in json.loads(raw):  # a frame is a JSON array of messages
                    event = msg.get("event") or {}
                    if msg.get("type") == "event" and event.get("kind") == "alert":
                        ts = datetime.fromisoformat(event["ts"]).timestamp()
                        self.alerts.append((now, now - ts, event.get("payload") or {}))


if __name__ == "__main__":
    main()
