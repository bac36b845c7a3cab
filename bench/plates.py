"""Plate reading speed and accuracy on vehicle crops from the simulator's road camera.

The same material as tests/plates/test_sim_scoring.py: ten cars (private, legal-entity and
government plates with the confusable characters O/0, I/1, B/8, S/5, Z/2, G/6) driving towards
and away from a road camera, by day, at dusk and at night; 1280x720 main-stream frames decoded
from H.264, each vehicle cut by its ground-truth box, as a per-track plate stage would do.

For every crop of a vehicle 64 px wide or more: one ``PlateReader.read`` (locate + read) with one
ONNX Runtime thread, timed in wall time and in CPU time of this process (the machine is shared,
so CPU time is the fair measure of cost: reads per second per core = 1 / CPU seconds per read).
Accuracy is per frame (exact text of the best read) by plate height in pixels, and per car after
the vote across its frames.

    .venv/bin/python bench/plates.py                  # print
    .venv/bin/python bench/plates.py --write-docs     # and replace the plates table in docs/benchmarks.md
    .venv/bin/python bench/plates.py --alerts 120 --write-docs   # hotlist alert latency only (see below)
    .venv/bin/python bench/plates.py --accuracy --write-docs     # exact reads by format and height only
    .venv/bin/python bench/plates.py --sure           # when one read is sure enough for a provisional hotlist hit

``--alerts SECONDS``: end to end, as deployed. ``koopsuz sim`` serves two road cameras where listed
plates pass again and again, ``koopsuz serve`` runs them with the ``plates`` profile and a stolen
list, and a WebSocket client (bearer token) notes, for every ``alert`` with ``rule_kind``
``hotlist_hit``, its arrival time minus its ``ts``, the capture time of the plate's crossing of the
timing line (or its first read): alert latency from capture, p50 and p99. Its table goes into the
plates section of docs/benchmarks.md between its own markers; a full run keeps it.

``--accuracy``: the generated set by plate format (2016, pre-2016, a foreign citizen's plate,
Kazakh, Russian) and plate height, daylight damage in turn, into docs/accuracy.md (its "Plate reading
accuracy" section, between markers).

OpenALPR's published figure, for comparison: about 20 fps of 720p per i5 (whole frames, its own
detector). Here a vehicle detector's boxes are given, so the unit is a vehicle crop, not a frame.
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
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import numpy as np
import psutil
import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.plates.conftest import LIGHTS, road_clip  # noqa: E402
from tests.plates.photos import CONDITIONS, FORMATS, format_scores, plate_set_scores  # noqa: E402
from tests.plates.test_sim_scoring import FRAME_H, PLATE_H_PER_CAR_W  # noqa: E402

from ingest import AlertFeed, cpu_seconds, free_port, stop, wait_port, write_docs  # noqa: E402
from koopsuz.domain.plates import parse_read, vote  # noqa: E402
from koopsuz.vision.plates import MIN_VEHICLE_PX, PlateReader  # noqa: E402

BUCKETS = ((0, 8), (8, 10), (10, 15), (15, 20), (20, 999))
SET_HEIGHTS = (10, 14, 20, 28)


def plate_set(per_cell: int) -> dict[str, list[int]]:
    """The generated test set (tests/plates/test_plate_set.py), larger: exact reads per height x damage."""
    reader = PlateReader(parse_read, threads=1)
    scores = plate_set_scores(reader, SET_HEIGHTS, per_cell)
    return {f"{h}/{c}": [sum(v), len(v)] for (h, c), v in scores.items()}


def render_set(cells: dict[str, list[int]]) -> str:
    n = next(iter(cells.values()))[1]
    lines = [
        f"Generated plate set (tests/plates/photos.py): random 2016 plates drawn by the simulator on a plain"
        f" vehicle crop, {n} per cell, one read each (no vote); exact text of the best read:",
        "",
        "| plate height | " + " | ".join(c for c, _ in CONDITIONS) + " |",
        "|---:|" + "---:|" * len(CONDITIONS),
    ]
    for h in SET_HEIGHTS:
        lines.append(f"| {h} px | " + " | ".join(f"{cells[f'{h}/{c}'][0]}/{n}" for c, _ in CONDITIONS) + " |")
    return "\n".join(lines)


def run(side: int, clips: dict) -> dict:  # type: ignore[type-arg]
    reader = PlateReader(parse_read, threads=1, det_side=side)
    first = clips["day"]
    a = first.truth["actors"][0]
    f, x, y, w, h = a["boxes_main"][len(a["boxes_main"]) // 2]
    reader.read(first.frames[f], (x, y, x + w, y + h))  # warm-up: ONNX Runtime's first run allocates
    wall, cpu, wall_found, frames, cars = [], [], [], [], {}
    locate0, read0 = reader.stats.by_stage["locate"], reader.stats.by_stage["read"]
    calls0 = reader.stats.calls
    for light, clip in clips.items():
        for actor in clip.truth["actors"]:
            reads = []
            for f, x, y, w, h in actor["boxes_main"]:
                if w < MIN_VEHICLE_PX:
                    continue
                c0, t0 = time.process_time(), time.perf_counter()
                found = reader.read(clip.frames[f], (x, y, x + w, y + h))
                t1, c1 = time.perf_counter(), time.process_time()
                wall.append(t1 - t0)
                cpu.append(c1 - c0)
                if found:
                    wall_found.append(t1 - t0)
                    reads.append((found[0].plate, found[0].confidence))
                if y + h < FRAME_H - 1:
                    ok = bool(found) and found[0].text == actor["plate"]
                    frames.append((light, w * PLATE_H_PER_CAR_W, ok))
            v = vote(reads)
            cars[f"{light}/{actor['plate']}"] = v.plate.text if v else None
    n = reader.stats.calls - calls0
    acc = {}
    for light in clips:
        for lo, hi in BUCKETS:
            hits = [ok for lt, ph, ok in frames if lt == light and lo <= ph < hi]
            acc[f"{light}/{lo}-{hi}"] = (sum(hits), len(hits))
    return {
        "det_side": side,
        "crops": len(wall),
        "ms_wall_mean": 1000 * statistics.mean(wall),
        "ms_wall_p50": 1000 * statistics.median(wall),
        "ms_wall_found_mean": 1000 * statistics.mean(wall_found) if wall_found else None,
        "ms_cpu_mean": 1000 * statistics.mean(cpu),
        "ms_locate": 1000 * (reader.stats.by_stage["locate"] - locate0) / n,
        "ms_read": 1000 * (reader.stats.by_stage["read"] - read0) / n,
        "reads_per_s_per_core": 1 / statistics.mean(cpu),
        "cars_exact": {light: sum(k == f"{light}/{t}" for k, t in cars.items()) for light in clips},
        "cars": cars,
        "frames_exact": acc,
    }


def render(rows: list[dict], machine: str, load: tuple[float, float]) -> str:
    lines = [
        f"Vehicle crops from the simulator's road camera (1280x720 main stream, H.264 QP 26), ten cars per light,"
        f" crops of vehicles {MIN_VEHICLE_PX} px wide or more; one ONNX Runtime thread; {machine}; load average"
        f" {load[0]:.1f} at the start and {load[1]:.1f} at the end (other engineers' jobs were running: wall times"
        " are inflated, CPU times are not). rapidocr 3.10.0, PP-OCRv6 small det + rec.",
        "",
        "| det side (px) | crops | ms per read, wall (mean / p50) | ms per read with a plate found | "
        "ms CPU per read | locate / read ms | reads per s per core | cars exact (day / dusk / night) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ce = r["cars_exact"]
        lines.append(
            f"| {r['det_side']} | {r['crops']} | {r['ms_wall_mean']:.0f} / {r['ms_wall_p50']:.0f} | "
            f"{r['ms_wall_found_mean']:.0f} | {r['ms_cpu_mean']:.0f} | {r['ms_locate']:.0f} / {r['ms_read']:.0f} | "
            f"{r['reads_per_s_per_core']:.1f} | {ce.get('day', 0)}/10 / {ce.get('dusk', 0)}/10 / "
            f"{ce.get('night', 0)}/10 |"
        )
    r = rows[0]
    lines += [
        "",
        f"Single-frame exact reads by plate height (det side {r['det_side']}; a car cut by the frame's bottom edge"
        " is left out, its plate is out of view):",
        "",
        "| light | " + " | ".join(f"{lo}-{hi} px" if hi < 999 else f">= {lo} px" for lo, hi in BUCKETS) + " |",
        "|---|" + "---:|" * len(BUCKETS),
    ]
    for light in LIGHTS:
        cells = []
        for lo, hi in BUCKETS:
            ok, n = r["frames_exact"][f"{light}/{lo}-{hi}"]
            cells.append(f"{ok}/{n}" + (f" ({100 * ok / n:.0f}%)" if n else ""))
        lines.append(f"| {light} | " + " | ".join(cells) + " |")
    cpu_ms = [x["ms_cpu_mean"] for x in rows]
    per_core = [x["reads_per_s_per_core"] for x in rows]
    lines += [
        "",
        f"Each bucket holds {r['frames_exact']['day/10-15'][1]}-{r['frames_exact']['day/0-8'][1]} frames: a small"
        " sample, enough to show where reading starts (plates ~10 px high), not a precise rate.",
        f"A vehicle crop costs one text detection and one batched recognition: {min(cpu_ms):.0f}-{max(cpu_ms):.0f} ms"
        f" of CPU, so one core reads {min(per_core):.0f}-{max(per_core):.0f} vehicle crops per second. OpenALPR's"
        " published figure is about 20 fps of 720p per i5 over whole frames with its own detector; here the unit is"
        " a vehicle crop, and a per-track stage reads each vehicle a few times while it is large enough (a plate"
        " 10 px high or more), not every frame, which is what keeps a road camera within a fraction of a core.",
        "The simulator's plates are flat, lit (>= 60 % even at night), unblurred and clean: these are upper bounds.",
    ]
    return "\n".join(lines)


# --------------------------------------------------------------------------- alert latency

ALERT_LOOP = 28
LISTED = ("09 508 KGD", "01 777 KTN", "02 345 ABS")
UNLISTED = ("03 210 BHZ",)
COMING = [[0.47, 0.36], [0.22, 1.25]]  # towards the camera, as in tests/road/test_live_plates.py
PASSWORD = "pw-bench-plates-01"


def alert_scenario() -> dict:  # type: ignore[type-arg]
    """Two road cameras; every 6 s a car passes each, three of every four on the stolen list."""

    def car(at: float, plate: str) -> dict:  # type: ignore[type-arg]
        return {
            "id": plate.replace(" ", "").lower(),
            "at": at,
            "kind": "car",
            "path": COMING,
            "duration": 5.0,
            "plate": plate,
            "scale": 1.3,
        }

    plates = LISTED + UNLISTED
    return {
        "seed": 6108,
        "fps": 10,
        "loop_seconds": ALERT_LOOP,
        "gop_seconds": 1.0,
        "cameras": [
            {
                "id": f"bench-road-{n}",
                "scene": "road",
                "schedule": [car(1.0 + shift + 6 * i, p) for i, p in enumerate(plates)],
            }
            for n, shift in ((1, 0.0), (2, 2.0))
        ],
    }


class HitListener(AlertFeed):
    """Per hotlist hit: arrival, seconds after capture, plate; and when each vehicle's decided read arrived
    (by ``sighting``), so a hit raised on a provisional read can be compared, in the same run, with when
    it would have come had it waited for the decided read."""

    def __init__(self, url: str, token: str) -> None:
        super().__init__(url, token)
        self.decided: dict[str, float] = {}  # sighting -> arrival of its plate_read

    @property
    def hits(self) -> list[tuple[float, float, str]]:
        return [(at, lag, str(p.get("plate"))) for at, lag, p in self.alerts if p.get("rule_kind") == "hotlist_hit"]

    def _run(self) -> None:
        from websockets.sync.client import connect

        with connect(self._url, additional_headers={"Authorization": f"Bearer {self._token}"}) as ws:
            while not self._stop.is_set():
                try:
                    raw = ws.recv(timeout=0.5)
                except TimeoutError:
                    continue
                now = time.time()
                for msg in json.loads(raw):
                    event = msg.get("event") or {}
                    if msg.get("type") != "event":
                        continue
                    payload = event.get("payload") or {}
                    if event.get("kind") == "alert":
                        ts = datetime.fromisoformat(event["ts"]).timestamp()
                        self.alerts.append((now, now - ts, payload))
                    elif event.get("kind") == "plate_read" and payload.get("sighting"):
                        self.decided.setdefault(str(payload["sighting"]), now)


def measure_alerts(seconds: float) -> dict:  # type: ignore[type-arg]
    """Run the simulator and the server, list the plates, listen ``seconds``; latency of the hits."""
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        scen = Path(tmp) / "plates-scenario.yaml"
        scen.write_text(yaml.safe_dump(alert_scenario()))
        rtsp, ctl = free_port(), free_port()
        print("starting the simulator (renders on first use)...", flush=True)
        sim_cmd = [
            sys.executable,
            "-m",
            "koopsuz",
            "sim",
            "--scenario",
            str(scen),
            "--port",
            str(rtsp),
            "--control-port",
            str(ctl),
            "--truth",
            os.devnull,
            "--cache-dir",
            str(ROOT / "var" / "sim" / "cache"),
        ]
        sim = subprocess.Popen(sim_cmd, cwd=ROOT, stdout=subprocess.DEVNULL)
        proc: subprocess.Popen | None = None  # type: ignore[type-arg]
        listener: HitListener | None = None
        try:
            wait_port(rtsp, 1800, sim)
            ids = [c["id"] for c in alert_scenario()["cameras"]]
            dep = {
                "name": "bench-plates",
                "sites": [
                    {
                        "id": "bench-road",
                        "name": "Benchmark road",
                        "type": "road",
                        "region": "KG-Y",
                        "lat": 42.65,
                        "lon": 77.2,
                    }
                ],
                "cameras": [
                    {
                        "id": c,
                        "name": c,
                        "site": "bench-road",
                        "lat": 42.65,
                        "lon": 77.2 + 0.0012 * i,
                        "profile": "plates",
                        "main_url": f"rtsp://127.0.0.1:{rtsp}/{c}/main",
                        "sub_url": f"rtsp://127.0.0.1:{rtsp}/{c}/sub",
                    }
                    for i, c in enumerate(ids)
                ],
            }
            (Path(tmp) / "deployment.yaml").write_text(yaml.safe_dump(dep))
            env = os.environ | {
                "KOOPSUZ_DATA_DIR": str(Path(tmp) / "var"),
                "KOOPSUZ_SECRET_KEY": "bench",
                "KOOPSUZ_RECORD": "false",
            }
            add = [sys.executable, "-m", "koopsuz", "user", "add", "bench", "--role", "admin", "--password", PASSWORD]
            subprocess.run(add, env=env, check=True, capture_output=True, cwd=ROOT)
            port = free_port()
            serve = [
                sys.executable,
                "-m",
                "koopsuz",
                "serve",
                "--deployment",
                str(Path(tmp) / "deployment.yaml"),
                "--port",
                str(port),
            ]
            proc = subprocess.Popen(serve, env=env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(port, 60, proc)
            c = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10)
            r = c.post("/api/auth/login", json={"username": "bench", "password": PASSWORD})
            r.raise_for_status()
            token = r.json()["token"]
            c.cookies.clear()  # an API client: bearer token, not the pages' cookie (which wants CSRF)
            c.headers["Authorization"] = f"Bearer {token}"
            hl = c.post("/api/hotlists", json={"name": "Stolen (bench)", "kind": "stolen", "priority": 1})
            hl.raise_for_status()
            until = datetime.now(UTC).timestamp() + 86400
            for plate in LISTED:
                c.post(
                    f"/api/hotlists/{hl.json()['id']}/entries",
                    json={
                        "plate": plate,
                        "reason": "benchmark",
                        "legal_basis": "bench 1",
                        "expires_at": datetime.fromtimestamp(until, UTC).isoformat(),
                    },
                ).raise_for_status()
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                if all(x["health"]["state"] == "online" for x in c.get("/api/cameras").json()):
                    break
                time.sleep(1)
            listener = HitListener(f"ws://127.0.0.1:{port}/api/ws/events", token)
            listener.start()
            time.sleep(ALERT_LOOP / 2)  # the plate reader loads, the first passes settle
            ps = psutil.Process(proc.pid)
            c0, t0, w0 = cpu_seconds([ps]), time.monotonic(), time.time()
            time.sleep(seconds)
            c1, t1, w1 = cpu_seconds([ps]), time.monotonic(), time.time()
            cams = c.get("/api/cameras").json()
        finally:
            if listener is not None:
                listener.stop()
            if proc is not None:
                stop(proc)
            stop(sim)
    load1 = os.getloadavg()
    lags = sorted(lag for at, lag, _p in (listener.hits if listener else []) if w0 <= at <= w1)
    # the provisional hits again, had they waited for their vehicle's decided read (same capture instant)
    waited = []
    for at, lag, p in listener.alerts if listener else []:
        if w0 <= at <= w1 and p.get("rule_kind") == "hotlist_hit" and p.get("provisional"):
            decided_at = listener.decided.get(str(p.get("sighting")))  # type: ignore[union-attr]
            if decided_at is not None:
                waited.append((lag, decided_at - (at - lag)))
    stages = [x.get("analytics", {}).get("plates") or {} for x in cams]
    return {
        "seconds": t1 - t0,
        "cameras": len(cams),
        "expected": (t1 - t0) / ALERT_LOOP * len(LISTED) * len(cams),
        "hits": len(lags),
        "early": sum(
            1
            for at, _lag, p in (listener.alerts if listener else [])
            if w0 <= at <= w1 and p.get("rule_kind") == "hotlist_hit" and p.get("provisional")
        ),
        "within_1s": sum(lag <= 1.0 for lag in lags),
        # provisional hits: (lag as raised, lag had it waited for the decided read)
        "waited": sorted(waited),
        "unconfirmed": sum(
            1
            for at, _lag, p in (listener.alerts if listener else [])
            if w0 <= at <= w1 and p.get("rule_kind") == "hotlist_unconfirmed"
        ),
        "p50": statistics.median(lags) if lags else None,
        "p99": lags[min(len(lags) - 1, round(0.99 * (len(lags) - 1)))] if lags else None,
        "max": lags[-1] if lags else None,
        "line_timed": sum(s.get("line_timed") or 0 for s in stages),
        "first_read": sum(s.get("first_read") or 0 for s in stages),
        "ms_per_look": [s.get("ms_per_look") for s in stages],
        "ring_mb": [s.get("ring_mb") for s in stages],
        "cpu": (c1 - c0) / (t1 - t0),
        "load": (load0, load1),
    }


def render_alerts(a: dict, machine: str) -> str:  # type: ignore[type-arg]
    def s(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    before, after = (" / ".join(f"{x:.1f}" for x in load) for load in a["load"])
    looks = " / ".join(str(m) for m in a["ms_per_look"])
    return "\n".join(
        [
            f"**Hotlist alert latency from capture** (`bench/plates.py --alerts {a['seconds']:.0f}`, {stamp};"
            f" {machine}; load average {before} before and {after} after: other work shared the"
            " machine). `koopsuz sim` serves two road cameras (10 fps, main 1280x720) where a car passes every"
            f" 6 s (four a {ALERT_LOOP} s loop), three of every four on a stolen list; `koopsuz serve` reads them with"
            " the `plates` profile; a WebSocket client notes each `hotlist_hit` alert's arrival minus its `ts` (the"
            " capture time of the read it was raised on: a provisional read's, or for a hit raised on a decided read"
            " the plate's crossing of the timing line, or its first read).",
            "",
            "| cameras | listed passes | hits (on provisional reads) | p50 s | p99 s | max s | within 1 s |"
            " reads line-timed / first-read | ms per look | serve CPU (cores) |",
            "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
            f"| {a['cameras']} | {a['expected']:.0f} | {a['hits']} ({a['early']}) | {s(a['p50'])} | {s(a['p99'])} |"
            f" {s(a['max'])} | {a['within_1s']} | {a['line_timed']} / {a['first_read']} | {looks} | {a['cpu']:.2f} |",
            "",
            "A hit does not wait for the plate's read to be decided: the plate stage sends a provisional read as soon"
            " as one is sure enough (two reads alike at >= 0.6, or one uncorrected read at >= 0.95; see"
            " `bench/plates.py --sure`) and the road watch raises the hit on it; the decided read confirms it without"
            " a second alert or takes it back (`hotlist_unconfirmed`). A plate read only once below 0.95 still waits"
            " for its decided read (the plate followed out of the picture, else 2.5 s after its last read): the"
            " slow tail. A listed pass without a hit was not read (too few looks under this load) or misread. With a"
            " few dozen hits, p99 is close to the maximum: a small sample. Hits taken back in this run:"
            f" {a['unconfirmed']}.",
            "",
            f"The same run's {len(a['waited'])} hits raised on provisional reads, against when their vehicles' decided"
            " reads arrived (what those hits would have waited for before): median"
            f" {s(_median([x for x, _ in a['waited']]))} s as raised, {s(_median([y for _, y in a['waited']]))} s had"
            " they waited; worst " + f"{s(max((x for x, _ in a['waited']), default=None))} s and"
            f" {s(max((y for _, y in a['waited']), default=None))} s.",
        ]
    )


def _median(xs: list[float]) -> float | None:
    return statistics.median(xs) if xs else None


ALERTS_START, ALERTS_END = "<!-- plates-alerts:start -->", "<!-- plates-alerts:end -->"


def alerts_block() -> str:
    """The alert-latency block now in docs/benchmarks.md (kept when the crop tables are rewritten)."""
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text() if doc.exists() else ""
    if ALERTS_START not in text:
        return ""
    return text[text.index(ALERTS_START) : text.index(ALERTS_END) + len(ALERTS_END)]


def write_alerts(table: str) -> None:
    """Replace the alert-latency block inside the plates section, or add it at the section's end."""
    doc = ROOT / "docs" / "benchmarks.md"
    text = doc.read_text()
    block = f"{ALERTS_START}\n{table}\n{ALERTS_END}"
    if ALERTS_START in text:
        text = text[: text.index(ALERTS_START)] + block + text[text.index(ALERTS_END) + len(ALERTS_END) :]
    else:
        end = "<!-- plates:end -->"
        if end not in text:
            raise SystemExit("docs/benchmarks.md has no plates section: run the full bench first")
        text = text.replace(end, f"\n{block}\n{end}", 1)
    doc.write_text(text)


# --------------------------------------------------------------------------- accuracy by format

ACC_HEIGHTS = (10, 14, 20, 28)
ACC_START, ACC_END = "<!-- plate-accuracy:start -->", "<!-- plate-accuracy:end -->"


def render_accuracy(scores: dict, per_cell: int, machine: str) -> str:  # type: ignore[type-arg]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Generated by `bench/plates.py --accuracy --write-docs` ({stamp}, {machine}); the floor is asserted by"
        " tests/plates/test_plate_set.py (>= 95 % exact for 2016 plates 20 px high or more in daylight).",
        "",
        f"Random plates of each format drawn on a plain vehicle's rear ({per_cell} per cell), each with one of the"
        " daylight damages in turn (clean, tilt 8°, blur 1 px, sensor noise 8), no compression; one"
        " `PlateReader.read` on the vehicle crop (det side 384, one thread), no vote across frames. Exact: the best"
        " read's text equals the plate's, spacing and format included. 2016 plates are the simulator's drawing"
        " (region code, flag field, number, letters); the others are one-line plates drawn by"
        " `tests/plates/photos.flat_plate` (pre-2016 `B 1234 AB`; a foreign citizen's Kyrgyz plate, black on"
        " yellow, `01 1234 D`; Kazakh `123 ABC 02`; Russian `A 123 BC 77`).",
        "",
        "| format | " + " | ".join(f"{h} px" for h in ACC_HEIGHTS) + " |",
        "|---|" + "---:|" * len(ACC_HEIGHTS),
    ]
    for fmt in FORMATS:
        cells = []
        for h in ACC_HEIGHTS:
            v = scores[(fmt, h)]
            cells.append(f"{sum(v)}/{len(v)} ({100 * sum(v) / len(v):.0f}%)")
        lines.append(f"| {fmt} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Plate height is the plate's, in pixels of the frame read (a 2016 plate is 520 x 112 mm). The simulator's"
        " plates are flat, evenly lit and clean: upper bounds for real plates. Video through the simulator (H.264,"
        " day / dusk / night, by height) is in docs/benchmarks.md, plates section.",
    ]
    return "\n".join(lines)


def write_accuracy(table: str) -> None:
    """Replace the plate section of docs/accuracy.md between its markers, or add it at the end."""
    doc = ROOT / "docs" / "accuracy.md"
    text = doc.read_text()
    block = f"{ACC_START}\n{table}\n{ACC_END}"
    if ACC_START in text:
        text = text[: text.index(ACC_START)] + block + text[text.index(ACC_END) + len(ACC_END) :]
    else:
        text = text.rstrip("\n") + f"\n\n## Plate reading accuracy\n\n{block}\n"
    doc.write_text(text)


# --------------------------------------------------------------------------- when one read is sure

SURE_THRESHOLDS = (0.9, 0.93, 0.95, 0.97)


def sure_reads() -> list[dict]:  # type: ignore[type-arg]
    """Every single read (best two per crop) of the road clips (det side 640, as live) and of a generated set of
    all formats at 10-20 px with each damage: truth, text, format, corrections, confidence, pass."""
    from tests.plates.photos import degraded_vehicle, format_sample

    reader = PlateReader(parse_read, threads=1, det_side=640)
    rows = []
    for light in LIGHTS:
        clip = road_clip(light)
        for actor in clip.truth["actors"]:
            for f, x, y, w, h in actor["boxes_main"]:
                if w >= MIN_VEHICLE_PX:
                    for r in reader.read(clip.frames[f], (x, y, x + w, y + h))[:2]:
                        rows.append({"src": "road", "pass": f"{light}/{actor['id']}", "f": f, "truth": actor["plate"],
                                     "text": r.text, "fmt": r.plate.format, "corr": r.plate.corrections,
                                     "conf": r.confidence})  # fmt: skip
    rng = np.random.default_rng(11)
    for fmt in FORMATS:
        for h in (10, 12, 14, 20):
            for _name, kw in CONDITIONS * 2:
                text, sprite = format_sample(rng, fmt)
                img, box = degraded_vehicle(rng, text, h, sprite=sprite, **kw)
                for r in reader.read(img, box)[:2]:
                    rows.append({"src": "set", "pass": None, "f": 0, "truth": text, "text": r.text,
                                 "fmt": r.plate.format, "corr": r.plate.corrections, "conf": r.confidence})  # fmt: skip
    return rows


def render_sure(rows: list[dict]) -> str:  # type: ignore[type-arg]
    """How often a read the plate stage would act on alone (uncorrected, a known format, score >= T) is wrong,
    and how often two reads alike (>= 0.6 each) within one road pass are."""
    lines = ["| rule | reads (road video) | wrong (road video) | nearest wrong reads |", "|---|---:|---:|---|"]
    for t in SURE_THRESHOLDS:
        sel = [r for r in rows if r["fmt"] != "free" and r["corr"] == 0 and r["conf"] >= t]
        bad = [r for r in sel if r["text"] != r["truth"]]
        road = [r for r in sel if r["src"] == "road"]
        eg = ", ".join(f"{r['truth']} as {r['text']} {r['conf']:.3f}" for r in sorted(bad, key=lambda r: r["conf"])[:3])
        lines.append(
            f"| one read >= {t} | {len(sel)} ({len(road)}) | {len(bad)} ({sum(r['text'] != r['truth'] for r in road)})"
            f" | {eg or '-'} |"
        )
    right = wrong = 0
    passes: dict[str, list[dict]] = {}  # type: ignore[type-arg]
    for r in rows:
        if r["pass"]:
            passes.setdefault(r["pass"], []).append(r)
    for reads in passes.values():
        seen: dict[str, int] = {}
        for r in sorted(reads, key=lambda r: r["f"]):
            if r["fmt"] != "free" and r["conf"] >= 0.6:
                seen[r["text"]] = seen.get(r["text"], 0) + 1
                if seen[r["text"]] == 2:
                    right, wrong = right + (r["text"] == r["truth"]), wrong + (r["text"] != r["truth"])
    lines.append(f"| two alike >= 0.6 (per pass) | {right + wrong} ({right + wrong}) | {wrong} ({wrong}) | - |")
    # the stage's second look: a read >= 0.6 not sure alone, read again in the frame before
    tried = alike = alike_wrong = 0
    for reads in passes.values():
        frames: dict[int, list[dict]] = {}  # type: ignore[type-arg]
        for r in reads:
            if r["fmt"] != "free":
                frames.setdefault(r["f"], []).append(r)
        for f, here in frames.items():
            best = max(here, key=lambda r: r["conf"])
            if best["conf"] < 0.6 or (best["corr"] == 0 and best["conf"] >= SURE_THRESHOLDS[2]) or f - 1 not in frames:
                continue
            tried += 1
            if any(o["text"] == best["text"] and o["conf"] >= 0.6 for o in frames[f - 1]):
                alike += 1
                alike_wrong += best["text"] != best["truth"]
    lines.append(
        f"| a read and the frame before alike (second look) | {alike} of {tried} tried ({alike} of {tried})"
        f" | {alike_wrong} ({alike_wrong}) | - |"
    )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sides", default="384,640", help="detector input sizes to compare (long side of the crop)")
    ap.add_argument("--set-size", type=int, default=12, help="plates per cell of the generated set (0: skip it)")
    ap.add_argument(
        "--alerts",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="only measure hotlist alert latency through sim + serve for this long",
    )
    ap.add_argument("--accuracy", action="store_true", help="only the exact reads by plate format and height")
    ap.add_argument("--per-cell", type=int, default=12, help="plates per cell for --accuracy")
    ap.add_argument("--write-docs", action="store_true", help="update docs/benchmarks.md (and docs/accuracy.md)")
    ap.add_argument("--sure", action="store_true", help="only: how often a read the stage would act on alone is wrong")
    args = ap.parse_args()
    if args.sure:
        print(render_sure(sure_reads()))
        return
    machine = f"{platform.processor() or platform.machine()}, {psutil.cpu_count()} cores"
    if args.alerts:
        a = measure_alerts(args.alerts)
        print(json.dumps(a))
        table = render_alerts(a, machine)
        print(table)
        if args.write_docs:
            write_alerts(table)
        return
    if args.accuracy:
        reader = PlateReader(parse_read, threads=1)
        scores = format_scores(reader, ACC_HEIGHTS, args.per_cell)
        table = render_accuracy(scores, args.per_cell, machine)
        print(table)
        if args.write_docs:
            write_accuracy(table)
        return
    load0 = os.getloadavg()[0]
    clips = {light: road_clip(light) for light in LIGHTS}
    rows = []
    for side in (int(s) for s in args.sides.split(",")):
        row = run(side, clips)
        rows.append(row)
        print(json.dumps({k: v for k, v in row.items() if k not in ("cars", "frames_exact")}), flush=True)
    cells = plate_set(args.set_size) if args.set_size else {}
    load1 = os.getloadavg()[0]
    table = render(rows, machine, (load0, load1))
    if cells:
        table += "\n\n" + render_set(cells)
    print(table)
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    (out / f"plates-{stamp}.json").write_text(json.dumps({"machine": machine, "rows": rows, "set": cells}, indent=1))
    if args.write_docs:
        kept = alerts_block()  # the alert-latency block, measured by --alerts, stays
        write_docs(table + (f"\n\n{kept}" if kept else ""), "plates", "Plate reading (`bench/plates.py`)")


if __name__ == "__main__":
    main()
