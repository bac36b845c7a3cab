"""How many sub streams one `koopsuz serve` keeps live with people and vehicle detection on.

Side by side on the same machine and the same RTSP streams from `koopsuz sim`:
  1. Koopsuz on a quiet scene (scenarios/bench-quiet.yaml: nothing moves) and on a busy one
     (scenarios/bench-16.yaml: random people and vehicles on every camera), every camera with the
     `people` profile (motion-gated SSD-MobileNet detection, tracking, rules) and a zone-entry rule
     over the whole frame, so every person or vehicle that appears raises an alert;
  2. the naive baseline: one thread per camera with OpenCV `VideoCapture` and the same detector
     (same model, same inference threads) on the whole of every sampled frame (8 per second, the
     rate Koopsuz analyses), which is what a first attempt at "detect people on cameras" looks like.
Each run is measured over the same window after a warm-up: CPU (cores), frames decoded and
analysed, inferences (crops), detections, frames shed under load, and for Koopsuz the lag from a
frame's capture to its alert arriving on the WebSocket (the client's clock minus the event's
capture time; both on this machine).

A count is live when every camera keeps up: Koopsuz online at about the stream's frame rate, lag
not growing (< 0.5 s over the window) and at most 5 % of analysed frames shed; the baseline at
least 90 % of 8 analysed frames per second per camera with its lag not growing.

    .venv/bin/python bench/analytics.py --quiet 8,16,32 --busy 2,4,8 --naive 1,2,4 --write-docs

A benchmark, not a test: it prints a table, writes JSON under bench/results/, and with
--write-docs replaces the analytics table in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil
import yaml

from ingest import AlertFeed, cpu_seconds, deployment, free_port, stop, wait_port, write_docs

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark-password"
ANALYSIS_FPS = 8.0
LOOP_S = 30.0  # scenarios/bench-16.yaml loops every 30 s: a window of 30 s sees each loop once
WHOLE = [[0, 0], [1, 0], [1, 1], [0, 1]]
RULE = {
    "id": "bench-entry",
    "name": "Anyone in view",
    "kind": "zone_entry",
    "zone": WHOLE,
    "classes": ["person", "bicycle", "car", "motorcycle", "bus", "truck"],
    "severity": "medium",
}


# -- the naive baseline (runs in its own process: --naive-worker) ---------------------------------
def naive_worker(urls: list[str], warmup: float, seconds: float) -> None:
    """One thread per camera: VideoCapture.read() every frame, detect on each sampled one."""
    os.environ.setdefault("OPENCV_FFMPEG_CAPTURE_OPTIONS", "rtsp_transport;tcp")
    import cv2

    from koopsuz.config import Settings
    from koopsuz.vision.detectors import create_detector

    s = Settings()
    stop_flag = threading.Event()
    stats = [{"frames": 0, "analysed": 0, "detections": 0, "lag": 0.0, "errors": 0} for _ in urls]

    def run(i: int, url: str) -> None:
        det = create_detector(
            s.detector, s.detector_model, min_confidence=s.detector_confidence, threads=s.detector_threads
        )
        cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
        st = stats[i]
        wall0 = pts0 = None
        next_t = 0.0
        while not stop_flag.is_set():
            ok, frame = cap.read()
            if not ok:
                st["errors"] += 1
                time.sleep(0.5)
                cap.release()
                cap = cv2.VideoCapture(url, cv2.CAP_FFMPEG)
                continue
            pts = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
            now = time.monotonic()
            if wall0 is None:
                wall0, pts0 = now, pts
            st["frames"] += 1
            st["lag"] = (now - wall0) - (pts - pts0)
            if pts >= next_t:
                next_t = max(next_t + 1 / ANALYSIS_FPS, pts - 1.0)
                st["detections"] += len(det.detect(frame))
                st["analysed"] += 1
        cap.release()

    workers = [threading.Thread(target=run, args=(i, u), daemon=True) for i, u in enumerate(urls)]
    for w in workers:
        w.start()
    time.sleep(warmup)
    snap0, t0, c0 = [dict(x) for x in stats], time.monotonic(), sum(os.times()[:2])
    time.sleep(seconds)
    snap1, t1, c1 = [dict(x) for x in stats], time.monotonic(), sum(os.times()[:2])
    stop_flag.set()
    dt = t1 - t0
    out = {
        "cpu": (c1 - c0) / dt,
        "analysed_fps": [(b["analysed"] - a["analysed"]) / dt for a, b in zip(snap0, snap1, strict=True)],
        "decoded_fps": [(b["frames"] - a["frames"]) / dt for a, b in zip(snap0, snap1, strict=True)],
        "lag_growth": [b["lag"] - a["lag"] for a, b in zip(snap0, snap1, strict=True)],
        "detections_per_s": sum(b["detections"] - a["detections"] for a, b in zip(snap0, snap1, strict=True)) / dt,
        "errors": sum(x["errors"] for x in snap1),
    }
    print(json.dumps(out), flush=True)
    os._exit(0)  # VideoCapture threads may sit in a blocking read


def measure_naive(urls: list[str], warmup: float, seconds: float) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--naive-worker", *urls, "--warmup", str(warmup), "--seconds", str(seconds)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=warmup + seconds + 120,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if not lines:
        sys.exit(f"naive baseline failed ({proc.returncode}): {proc.stderr[-2000:]}")
    r = json.loads(lines[-1])
    live = min(r["analysed_fps"]) >= 0.9 * ANALYSIS_FPS and max(r["lag_growth"]) < 0.5
    return {
        "cpu": r["cpu"],
        "analysed_fps_min": min(r["analysed_fps"]),
        "lag_growth_max": max(r["lag_growth"]),
        "detections_per_s": r["detections_per_s"],
        "errors": r["errors"],
        "live": live,
    }


# -- Koopsuz --------------------------------------------------------------------------------------
class AlertListener(AlertFeed):
    """Per alert, its arrival minus its capture time."""

    @property
    def lags(self) -> list[tuple[float, float]]:
        return [(at, lag) for at, lag, _ in self.alerts]


def measure_koopsuz(ids: list[str], rtsp_port: int, warmup: float, seconds: float, fps: float) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        dep = deployment(ids, rtsp_port)
        for cam in dep["cameras"]:
            cam["profile"] = "people"
        (Path(tmp) / "deployment.yaml").write_text(yaml.safe_dump(dep))
        env = os.environ | {
            "KOOPSUZ_DATA_DIR": str(Path(tmp) / "var"),
            "KOOPSUZ_SECRET_KEY": "bench",
            "KOOPSUZ_RECORD": "false",
        }
        add_user = [sys.executable, "-m", "koopsuz", "user", "add", "bench", "--role", "admin", "--password", PASSWORD]
        subprocess.run(add_user, env=env, check=True, capture_output=True, cwd=ROOT)
        port = free_port()
        serve = [sys.executable, "-m", "koopsuz", "serve", "--deployment", str(Path(tmp) / "deployment.yaml")]
        proc = subprocess.Popen(
            [*serve, "--port", str(port)], env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        listener: AlertListener | None = None
        try:
            wait_port(port, 60, proc)
            c = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
            r = c.post("/api/auth/login", json={"username": "bench", "password": PASSWORD})
            r.raise_for_status()
            token = c.cookies.get("koopsuz_session") or r.json().get("token")
            c.cookies.clear()  # an API client: bearer token, not the pages' cookie (which wants CSRF)
            c.headers["Authorization"] = f"Bearer {token}"
            for cam in dep["cameras"]:
                c.put(f"/api/cameras/{cam['id']}/rules", json={"rules": [RULE]}).raise_for_status()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if all(x["health"]["state"] == "online" for x in c.get("/api/cameras").json()):
                    break
                time.sleep(1)
            listener = AlertListener(f"ws://127.0.0.1:{port}/api/ws/events", token)
            listener.start()
            time.sleep(warmup)
            ps = psutil.Process(proc.pid)
            s0 = {x["id"]: x for x in c.get("/api/cameras").json()}
            c0, t0, w0 = cpu_seconds([ps]), time.monotonic(), time.time()
            time.sleep(seconds)
            c1, t1, w1 = cpu_seconds([ps]), time.monotonic(), time.time()
            s1 = {x["id"]: x for x in c.get("/api/cameras").json()}
            rss = ps.memory_info().rss
        finally:
            if listener is not None:
                listener.stop()
            stop(proc)
    dt = t1 - t0

    def delta(key: str) -> float:
        return sum((s1[k]["analytics"]["detect"][key] or 0) - (s0[k]["analytics"]["detect"][key] or 0) for k in s1)

    health = [x["health"] for x in s1.values()]
    growth = [(s1[k]["health"]["lag_s"] or 0) - (s0[k]["health"]["lag_s"] or 0) for k in s1]
    frames, skipped = delta("frames"), delta("skipped")

    def per_cam(key: str) -> list[float]:
        return [((s1[k]["analytics"]["detect"][key] or 0) - (s0[k]["analytics"]["detect"][key] or 0)) / dt for k in s1]

    looks = per_cam("detect_frames")
    first2 = [cam["id"] for cam in dep["cameras"][:2]]  # bench-01 and -02 in every run: same scenes, more load
    tracks_first2 = sum(
        (s1[k]["analytics"]["detect"]["tracks"] or 0) - (s0[k]["analytics"]["detect"]["tracks"] or 0) for k in first2
    ) * (LOOP_S / dt)
    lags = sorted(lag for at, lag in (listener.lags if listener else []) if w0 <= at <= w1)
    shed = skipped / frames if frames else 0.0
    fps_min = min(h["fps"] for h in health)
    online = sum(h["state"] == "online" for h in health)
    return {
        "cpu": (c1 - c0) / dt,
        "online": online,
        "fps_min": fps_min,
        "lag_growth_max": max(growth),
        "analysed_per_s": frames / dt,
        "shed": shed,
        "crops_per_s": delta("crops") / dt,
        "looks_per_s_min": min(looks),
        "looks_per_s_mean": sum(looks) / len(looks),
        "rationed": delta("rationed") / max(1.0, delta("rationed") + delta("detect_frames")),
        "tracks_first2_per_loop": tracks_first2,
        "detections_per_s": delta("detections") / dt,
        "alerts": len(lags),
        "alert_lag_p50": statistics.median(lags) if lags else None,
        "alert_lag_p99": lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))] if lags else None,
        "alert_lag_max": lags[-1] if lags else None,
        "rss_mb": rss / 2**20,
        "live": online == len(ids) and fps_min >= 0.8 * fps and max(growth) < 0.5 and shed <= 0.05,
    }


def start_sim(scenario: Path) -> tuple[subprocess.Popen, int]:
    rtsp, ctl = free_port(), free_port()
    print(f"starting the simulator: {scenario.name} (renders on first use)...", flush=True)
    cmd = [sys.executable, "-m", "koopsuz", "sim", "--scenario", str(scenario), "--port", str(rtsp)]
    cmd += ["--control-port", str(ctl), "--truth", os.devnull, "--cache-dir", str(ROOT / "var" / "sim" / "cache")]
    sim = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
    wait_port(rtsp, 1800, sim)
    return sim, rtsp


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quiet", default="8,16,32", help="camera counts on the quiet scene")
    ap.add_argument("--busy", default="2,4,8", help="camera counts on the busy scene")
    ap.add_argument("--naive", default="1,2,4", help="camera counts for the naive baseline (busy streams)")
    ap.add_argument("--seconds", type=float, default=30.0, help="measurement window per run")
    ap.add_argument("--warmup", type=float, default=10.0)
    ap.add_argument("--write-docs", action="store_true", help="update the table in docs/benchmarks.md")
    ap.add_argument("--naive-worker", nargs="+", metavar="URL", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.naive_worker:
        naive_worker(args.naive_worker, args.warmup, args.seconds)
        return
    rows: list[dict] = []
    plan = [
        ("quiet", ROOT / "scenarios" / "bench-quiet.yaml", args.quiet),
        ("busy", ROOT / "scenarios" / "bench-16.yaml", args.busy),
    ]
    for scene, scenario, counts in plan:
        spec = yaml.safe_load(scenario.read_text())
        fps = spec.get("fps", 15)
        all_ids = [c["id"] for c in spec["cameras"]]
        sim, rtsp = start_sim(scenario)
        try:
            naive = [int(x) for x in args.naive.split(",") if x] if scene == "busy" else []
            for n in naive:
                urls = [f"rtsp://127.0.0.1:{rtsp}/{all_ids[i % len(all_ids)]}/sub" for i in range(n)]
                print(f"[naive, {n} cameras] VideoCapture + detector on every sampled frame ...", flush=True)
                rows.append({"system": "naive", "scene": scene, "cameras": n, **measure_naive(urls, 6, args.seconds)})
                print(json.dumps(rows[-1]), flush=True)
            for n in [int(x) for x in counts.split(",") if x]:
                ids = [all_ids[i % len(all_ids)] for i in range(n)]
                print(f"[koopsuz, {scene}, {n} cameras] serve with detection and rules ...", flush=True)
                k = measure_koopsuz(ids, rtsp, args.warmup, args.seconds, fps)
                rows.append({"system": "koopsuz", "scene": scene, "cameras": n, **k})
                print(json.dumps(rows[-1]), flush=True)
        finally:
            stop(sim)
    cpu = platform.processor() or platform.machine()
    machine = f"{cpu}, {psutil.cpu_count()} cores, Python {platform.python_version()}"
    table = render(rows, args.seconds, machine)
    print(table)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"analytics-{stamp}.json").write_text(json.dumps({"machine": machine, "rows": rows}, indent=1))
    if args.write_docs:
        write_docs(table, "analytics", "Analytics (`bench/analytics.py`)")


def _tracks(r: dict) -> str:
    v = r.get("tracks_first2_per_loop")
    return "-" if v is None or r["scene"] != "busy" else f"{v:.0f}"


def _ms(v: float | None) -> str:
    return "-" if v is None else f"{v * 1000:.0f} ms"


def render(rows: list[dict], seconds: float, machine: str) -> str:
    def most(system: str, scene: str) -> int:
        live = [r["cameras"] for r in rows if r["system"] == system and r["scene"] == scene and r["live"]]
        return max(live, default=0)

    naive = most("naive", "busy")
    lines = [
        f"Sub streams 640x360 H.264 at 15 fps from `koopsuz sim`, analysed at {ANALYSIS_FPS:.0f} fps; window "
        f"{seconds:.0f} s; {machine}. CPU in cores. Detections/s/core = detections per second / CPU cores used.",
        "",
        "| system | scene | cameras | CPU | analysed fr/s | looks/s per camera (min) | crops/s | detections/s/core "
        "| looks refused | shed | lag growth | tracks on bench-01+02 per loop | alerts | alert lag p50 | p99 | live |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|",
    ]
    for r in rows:
        per_core = r["detections_per_s"] / r["cpu"] if r["cpu"] else 0.0
        if r["system"] == "naive":
            lines.append(
                f"| naive (VideoCapture + SSD on every sampled frame) | {r['scene']} | {r['cameras']} | {r['cpu']:.2f} "
                f"| {r['analysed_fps_min'] * r['cameras']:.0f} (min {r['analysed_fps_min']:.1f}/cam) "
                f"| {r['analysed_fps_min']:.1f} | {r['analysed_fps_min'] * r['cameras']:.0f} | {per_core:.0f} | - | - "
                f"| {r['lag_growth_max']:+.2f} s | - | - | - | - | {'yes' if r['live'] else 'no'} |"
            )
        else:
            lines.append(
                f"| koopsuz | {r['scene']} | {r['cameras']} | {r['cpu']:.2f} | {r['analysed_per_s']:.0f} "
                f"| {r.get('looks_per_s_mean', 0):.1f} ({r.get('looks_per_s_min', 0):.1f}) "
                f"| {r['crops_per_s']:.1f} | {per_core:.0f} | {r.get('rationed', 0) * 100:.0f}% "
                f"| {r['shed'] * 100:.1f}% | {r['lag_growth_max']:+.2f} s "
                f"| {_tracks(r)} | {r['alerts']} | {_ms(r['alert_lag_p50'])} | {_ms(r['alert_lag_p99'])} "
                f"| {'yes' if r['live'] else 'no'} |"
            )
    quiet, busy = most("koopsuz", "quiet"), most("koopsuz", "busy")
    ratio = f"{busy / naive:.1f}x" if naive else "n/a (the baseline kept no camera live)"
    lines += [
        "",
        f"Most cameras kept live: naive baseline {naive}; Koopsuz {busy} busy ({ratio} the baseline), "
        f"{quiet} quiet (the largest count tried may be below the limit).",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
