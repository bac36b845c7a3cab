"""Alert fan-out to command centres: 100 operator browsers (WebSocket clients) across regions.

One server process runs exactly what `koopsuz serve` runs (System + the FastAPI app under uvicorn,
`ws="websockets-sansio"`), plus a small in-process injector: the API has no bulk path for making
alerts (alerts come from cameras' rules), so the injector stands in for the rule stage and hands
alerts to the real `EventWriter` (SQLite batch commit with outbox -> in-process bus -> each
WebSocket's region-scoped subscription). It spreads alerts evenly over the 9 regions at the asked
rate, each stamped with its creation time (`payload.t0`, `time.time()`).

The bench process (a second process, same machine clock) signs in 1 national and 9 regional
operators (bearer tokens), opens `--national` national clients and `--per-region` clients per
region on /api/ws/events (asyncio `websockets`), then starts the injector and measures:
  * per delivery: arrival time minus creation time (p50, p99, max);
  * per alert: the time until it had reached *every* entitled client (national + its region's):
    p50, p99, max over alerts, and how many alerts some entitled client never received;
  * scope: any alert a regional client receives from another region (must be 0);
  * the rate actually injected and written, clients disconnected as too slow (close 4408), server CPU,
    and the machine's load average (the development machine is shared with other work).

    .venv/bin/python bench/command.py --rate 1000 --seconds 20 --write-docs

A benchmark, not a test: it prints a table, writes JSON under bench/results/, and with
--write-docs replaces the "command" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import psutil

from feed_clients import REGIONS, open_clients, pct
from ingest import cpu_seconds, free_port, stop, wait_port, write_docs

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark-password"
RULE_KINDS = ("zone_entry", "line_crossing", "loitering", "crowd", "hotlist_hit")
SEVERITIES = ("medium", "high", "critical")


# -- the server process: `koopsuz serve` plus the injector ----------------------------------------
def run_server(data_dir: Path, port: int) -> None:
    import uvicorn

    from koopsuz.api.app import create_app
    from koopsuz.config import Settings
    from koopsuz.system import System

    settings = Settings(data_dir=data_dir, secret_key="bench", record=False, port=port,
                        login_attempts_per_minute=10_000)
    system = System(settings)
    system.users.create("bench", "nat.op", PASSWORD, "national_operator", None)
    for r in REGIONS:
        system.users.create("bench", f"op_{r[3:].lower()}", PASSWORD, "regional_operator", r)
    sampler = Sampler() if os.environ.get("KOOPSUZ_BENCH_SAMPLE") else None
    threading.Thread(target=inject_when_asked, args=(system, data_dir, sampler), daemon=True).start()
    uvicorn.run(create_app(system), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")


class Sampler:
    """A poor man's py-spy (not installed here): every 2 ms, the innermost frames of each thread.

    Where the server's time goes per thread (event loop, event writer, injector), counted in samples;
    a thread waiting on the GIL shows in the frame it waits in, so this is wall time, not CPU time.
    """

    def __init__(self, every_s: float = 0.002) -> None:
        self.counts: dict[str, dict[str, int]] = {}
        self._every = every_s
        self._on = threading.Event()
        threading.Thread(target=self._run, daemon=True).start()

    def _run(self) -> None:
        me = threading.get_ident()
        while True:
            self._on.wait()
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in sys._current_frames().items():
                if ident == me:
                    continue
                stack = []
                f = frame
                while f is not None and len(stack) < 4:
                    code = f.f_code
                    stack.append(f"{Path(code.co_filename).name}:{code.co_name}")
                    f = f.f_back
                per = self.counts.setdefault(names.get(ident, str(ident)), {})
                key = " < ".join(stack)
                per[key] = per.get(key, 0) + 1
            time.sleep(self._every)

    def start(self) -> None:
        self._on.set()

    def stop(self) -> dict[str, list[tuple[str, int]]]:
        self._on.clear()
        return {t: sorted(c.items(), key=lambda kv: -kv[1])[:25] for t, c in self.counts.items()}


def inject_when_asked(system, data_dir: Path, sampler: Sampler | None) -> None:  # type: ignore[no-untyped-def]
    """Wait for go.json {rate, seconds, run}, submit alerts at that rate, write injected.json."""
    from koopsuz.domain.events import Event, Severity

    go = data_dir / "go.json"
    while not go.exists():
        time.sleep(0.05)
    plan = json.loads(go.read_text())
    rate, seconds, run = float(plan["rate"]), float(plan["seconds"]), plan["run"]
    tick = 0.01
    per_tick = rate * tick
    sent, owed, max_q = 0, 0.0, 0
    start = time.monotonic()
    t_start = time.time()
    if sampler:
        sampler.start()
    while (now := time.monotonic()) - start < seconds:
        owed = rate * (now - start) - sent  # catch up after a late tick: the rate is the mean rate
        for _ in range(int(owed)):
            region = REGIONS[sent % len(REGIONS)]
            system.writer.submit(Event(
                kind="alert", region=region, camera=f"bench-{region.lower()}-1", ts=datetime.now(UTC),
                severity=Severity(SEVERITIES[sent % 3]),
                payload={"rule_kind": RULE_KINDS[sent % 5], "bench": run, "seq": sent, "t0": time.time()},
            ))
            sent += 1
        max_q = max(max_q, system.writer.queue_depth)
        time.sleep(max(0.0, tick - (time.monotonic() - now)) if per_tick else tick)
    t_end = time.time()
    deadline = time.monotonic() + 30
    while system.writer.queue_depth and time.monotonic() < deadline:
        time.sleep(0.05)
    drained = time.time()
    if sampler:
        time.sleep(2.0)  # the fan-out may still be draining
        Path(os.environ["KOOPSUZ_BENCH_SAMPLE"]).write_text(json.dumps(sampler.stop(), indent=1))
    (data_dir / "injected.json").write_text(json.dumps(
        {"sent": sent, "t_start": t_start, "t_end": t_end, "drained": drained, "max_writer_queue": max_q}
    ))


async def drive(port: int, data_dir: Path, tokens: dict[str | None, str], args: argparse.Namespace,
                proc: psutil.Process) -> dict:
    run = f"run-{int(time.time())}"
    clients, stop_at, tasks = await open_clients(port, tokens, args.national, args.per_region, run, 0.01)
    print(f"  {len(clients)} clients connected; injecting", flush=True)
    await asyncio.sleep(args.warmup)
    load_before = os.getloadavg()
    c0, w0, k0 = cpu_seconds([proc]), time.monotonic(), time.process_time()
    (data_dir / "go.json").write_text(json.dumps({"rate": args.rate, "seconds": args.seconds, "run": run}))
    injected_file = data_dir / "injected.json"
    deadline = time.monotonic() + args.seconds + 90
    while not injected_file.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the server's injector never reported (see the server process)")
        await asyncio.sleep(0.1)
    c1, w1, k1 = cpu_seconds([proc]), time.monotonic(), time.process_time()
    load_after = os.getloadavg()
    await asyncio.sleep(args.grace)  # late deliveries still count (and show in the latency)
    stop_at.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    inj = json.loads(injected_file.read_text())
    sent = inj["sent"]
    deliveries: list[float] = []
    reach: list[float] = []
    incomplete = 0
    for seq in range(sent):
        region = REGIONS[seq % len(REGIONS)]
        entitled = [c for c in clients if c.region in (None, region)]
        times = [c.latency(seq) for c in entitled]
        if any(t is None for t in times):
            incomplete += 1
            continue
        reach.append(max(times))  # type: ignore[type-var]
    for c in clients:
        deliveries.extend(c.latencies())
    expected = sum(len([c for c in clients if c.region in (None, REGIONS[s % len(REGIONS)])]) for s in range(sent))
    return {
        "clients": len(clients),
        "national_clients": args.national,
        "regional_clients": len(REGIONS) * args.per_region,
        "asked_rate": args.rate,
        "seconds": args.seconds,
        "sent": sent,
        "injected_rate": sent / (inj["t_end"] - inj["t_start"]),
        "written_rate": sent / (inj["drained"] - inj["t_start"]),
        "max_writer_queue": inj["max_writer_queue"],
        "deliveries": len(deliveries),
        "expected_deliveries": expected,
        "delivery_p50_ms": pct(deliveries, 0.50) * 1000,
        "delivery_p99_ms": pct(deliveries, 0.99) * 1000,
        "delivery_max_ms": max(deliveries, default=float("nan")) * 1000,
        "reach_all_p50_ms": pct(reach, 0.50) * 1000,
        "reach_all_p99_ms": pct(reach, 0.99) * 1000,
        "reach_all_max_ms": max(reach, default=float("nan")) * 1000,
        "alerts_not_reaching_all": incomplete,
        "out_of_scope": sum(c.foreign for c in clients),
        "frames": sum(c.frames for c in clients),
        "messages_per_frame": len(deliveries) / max(1, sum(c.frames for c in clients)),
        "too_slow_disconnects": sum(1 for c in clients if c.closed == 4408),
        "other_disconnects": sum(1 for c in clients if c.closed not in (None, 4408)),
        "server_cpu_cores": (c1 - c0) / (w1 - w0),
        "client_cpu_cores": (k1 - k0) / (w1 - w0),
        "load_before": load_before,
        "load_after": load_after,
    }


def measure(args: argparse.Namespace) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = Path(tmp) / "var"
        data_dir.mkdir()
        port = free_port()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--server", str(data_dir), str(port)], cwd=ROOT,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        try:
            wait_port(port, 180, proc)
            print(f"  server up on {port}", flush=True)
            tokens: dict[str | None, str] = {}
            with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
                for username, region in [("nat.op", None), *((f"op_{r[3:].lower()}", r) for r in REGIONS)]:
                    r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
                    r.raise_for_status()
                    tokens[region] = r.json()["token"]
                    c.cookies.clear()  # bearer tokens, not cookies (cookie POSTs want CSRF)
            return asyncio.run(drive(port, data_dir, tokens, args, psutil.Process(proc.pid)))
        finally:
            stop(proc)


def render(rows: list[dict], machine: str) -> str:
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}; server and clients share the same "
        "cores, and the machine is shared with other work: load average (1/5/15 min) before each run is in "
        "the last column.",
        "",
        "| clients (national + regional) | asked | injected | written (to drain) | deliveries / expected | "
        "delivery p50 / p99 / max | reach every entitled client p50 / p99 / max | alerts not reaching all | "
        "out of scope | dropped as too slow | alerts per frame | CPU server / clients | load before |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    lines += [_row(r) for r in rows]
    return "\n".join(lines)


def _row(r: dict) -> str:
    lb = r["load_before"]
    return (
        f"| {r['clients']} ({r['national_clients']} + {r['regional_clients']}) | {r['asked_rate']:.0f}/s "
        f"for {r['seconds']:.0f} s | {r['injected_rate']:.0f}/s ({r['sent']}) | {r['written_rate']:.0f}/s | "
        f"{r['deliveries']} / {r['expected_deliveries']} | {r['delivery_p50_ms']:.0f} / "
        f"{r['delivery_p99_ms']:.0f} / {r['delivery_max_ms']:.0f} ms | {r['reach_all_p50_ms']:.0f} / "
        f"{r['reach_all_p99_ms']:.0f} / {r['reach_all_max_ms']:.0f} ms | {r['alerts_not_reaching_all']} | "
        f"{r['out_of_scope']} | {r['too_slow_disconnects']} | {r['messages_per_frame']:.1f} | "
        f"{r['server_cpu_cores']:.2f} / "
        f"{r['client_cpu_cores']:.2f} cores | {lb[0]:.1f} / {lb[1]:.1f} / {lb[2]:.1f} |"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rate", default="1000", help="alerts a second, spread over the 9 regions; a list: one run each")
    ap.add_argument("--seconds", type=float, default=20.0, help="injection window")
    ap.add_argument("--national", type=int, default=10, help="national operator clients")
    ap.add_argument("--per-region", type=int, default=10, help="regional operator clients per region (9 regions)")
    ap.add_argument("--warmup", type=float, default=3.0)
    ap.add_argument("--grace", type=float, default=5.0, help="wait this long after injection for late arrivals")
    ap.add_argument("--write-docs", action="store_true", help="update the command section of docs/benchmarks.md")
    ap.add_argument("--sample", metavar="JSON", help="sample the server's threads every 2 ms while injecting; "
                    "write the top stacks per thread to this file (where the time goes)")
    ap.add_argument("--server", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.server:
        run_server(Path(args.server[0]), int(args.server[1]))
        return
    if args.sample:
        os.environ["KOOPSUZ_BENCH_SAMPLE"] = str(Path(args.sample).resolve())
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    rows = []
    for rate in [float(x) for x in str(args.rate).split(",")]:
        print(f"[command fan-out] {args.national} + {9 * args.per_region} clients, {rate:.0f} alerts/s "
              f"for {args.seconds:.0f} s ...", flush=True)
        result = measure(argparse.Namespace(**{**vars(args), "rate": rate}))
        result["machine"] = machine
        print(json.dumps(result, indent=1), flush=True)
        rows.append(result)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    (out / f"command-{datetime.now(UTC):%Y%m%dT%H%M%S}.json").write_text(json.dumps(rows, indent=1))
    table = render(rows, machine)
    print(table)
    if args.write_docs:
        write_docs(table, marker="command", heading="Command centre fan-out (`bench/command.py`)")


if __name__ == "__main__":
    main()
