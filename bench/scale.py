"""Scale-out load: the events of 10,000 cameras through JetStream into PostgreSQL and out to WebSockets.

Issue 9's acceptance benchmark. One run measures two paths under the same load, one after the other:

  embedded   one process as `koopsuz serve` runs it: EventWriter (SQLite WAL, batch commit with outbox)
             -> in-process MemoryBus -> the API's WebSocket feed (uvicorn, region-scoped subscriptions).
             An injector thread in that process stands in for the cameras' rule stages.
  scale-out  the national centre's path: a publisher process (standing in for the workers' and regions'
             outbox publishes: `NatsBus.publish_many`, one pipelined round trip per batch) -> nats-server
             (JetStream, file storage) -> the store writer (`StoreWriter` built exactly as `koopsuz
             writer` builds it, durable consumer, idempotent insert + projections) -> PostgreSQL; and
             nats-server -> the real `koopsuz api` process (a JetStream consumer per WebSocket) -> clients.

The servers are started the way tests/scaleout does it (tests/scaleout/servers.py: nats-server -js and a
throw-away PostgreSQL cluster from the machine's binaries, fsync off as in the tests), on free ports.

Load: `--cameras` cameras (default 10,000) over the 9 regions, each one event every `--period` seconds
(default 5 s: 2,000 events/s), with a burst of `--burst-x` times that rate for `--burst-s` seconds in the
middle of the window. Kinds: 70 % motion, 15 % object, 10 % plate_read (a row in plate_reads too, as the
real projection makes it), 5 % alert. Each event carries its creation time (`payload.t0`) and sequence
number, and the clients and the writer share this machine's clock, so:

  * publish -> store commit: the time the writer's transaction returned, minus t0 (per event);
  * publish -> client: the time a WebSocket client parsed it, minus t0 (per delivery);
  * consumer lag over time: JetStream's pending + unacknowledged count for the writer's durable consumer
    and the API's per-socket consumers, sampled every 0.5 s (embedded: the EventWriter's queue depth);
  * sustained rate: events committed per second of wall clock, and per 1 s window (peak while draining the
    burst = what the store path can take);
  * CPU seconds per process (nats-server, PostgreSQL's processes, writer, api, publisher, clients).

    .venv/bin/python bench/scale.py --quick           # ~1.5 min, 10 s windows
    .venv/bin/python bench/scale.py --write-docs      # 40 s windows, docs/benchmarks.md 'scale' section

A benchmark, not a test: the machine is shared (2 cores); the load average is printed and recorded.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from feed_clients import REGIONS, Client, open_clients, pct
from ingest import cpu_seconds, free_port, stop, wait_port, write_docs

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "benchmark-password"
STREAM = "KOOPSUZ"
WRITER_DURABLE = "store-writer"
PACE_SLACK_S = 10.0  # a publisher this far behind its plan stops and reports what it sent


# -- the load ------------------------------------------------------------------------------------
class Plan:
    """Events owed by time t: a base rate with one burst; the pacer catches up after a late tick."""

    def __init__(self, d: dict[str, Any]) -> None:
        self.d = d
        self.rate = d["cameras"] / d["period"]
        self.seconds, self.burst_x, self.burst_s = d["seconds"], d["burst_x"], d["burst_s"]
        self.burst_at = d["burst_at"]

    def owed(self, t: float) -> int:
        t = min(t, self.seconds)
        burst = min(max(t - self.burst_at, 0.0), self.burst_s)
        return int(self.rate * t + (self.burst_x - 1) * self.rate * burst)

    @property
    def total(self) -> int:
        return self.owed(self.seconds)


def make_event(seq: int, plan: Plan, run: str):  # type: ignore[no-untyped-def]
    from koopsuz.domain.events import Event, Severity

    cam = seq % plan.d["cameras"]
    region = REGIONS[cam % len(REGIONS)]
    camera = f"cam-{region[3:].lower()}-{cam:05d}"
    mix = seq % 20
    payload: dict[str, Any] = {"bench": run, "seq": seq}
    severity = Severity.INFO
    if mix == 0:
        kind, severity = "alert", Severity.HIGH
        payload.update(rule_kind="zone_entry", rule="r-bench")
    elif mix <= 2:
        kind = "plate_read"
        payload.update(text=f"01 {seq % 1000:03d} ABC", format="kg2016", confidence=0.9, vehicle="car")
    elif mix <= 5:
        kind = "object"
        payload.update(cls="person", score=0.8, track=seq)
    else:
        kind = "motion"
        payload.update(area=0.02)
    payload["t0"] = time.time()
    return Event(kind=kind, region=region, camera=camera, ts=datetime.now(UTC), severity=severity, payload=payload)


def pace(
    plan: Plan, run: str, emit: Callable[[list[Any]], None], *, lane: int = 0, lanes: int = 1, max_batch: int = 1000
) -> dict[str, Any]:
    """Emit the plan's events in 10 ms ticks; returns what was sent and how late the pacer fell.

    ``lanes`` pacers (one per publishing worker) share the plan: lane j sends sequence numbers j, j+lanes, ...
    """

    def mine(total: int) -> int:  # of the first ``total`` sequence numbers, how many are this lane's
        return max(0, (total - lane + lanes - 1) // lanes)

    sent, behind_max, goal = 0, 0, mine(plan.total)
    start = time.monotonic()
    t_start = time.time()
    while sent < goal:
        now = time.monotonic()
        if now - start > plan.seconds + PACE_SLACK_S:  # could not keep up: say so rather than run on
            break
        owed = mine(plan.owed(now - start)) - sent
        behind_max = max(behind_max, owed)
        if owed > 0:
            n = min(owed, max_batch)
            emit([make_event((sent + i) * lanes + lane, plan, run) for i in range(n)])
            sent += n
        time.sleep(max(0.0, 0.01 - (time.monotonic() - now)))
    return {"sent": sent, "asked": goal, "t_start": t_start, "t_end": time.time(), "max_behind": behind_max}


# -- embedded: one `koopsuz serve` process with the injector --------------------------------------
def run_embedded_server(data_dir: Path, port: int) -> None:
    import uvicorn

    from koopsuz.api.app import create_app
    from koopsuz.config import Settings
    from koopsuz.system import System

    settings = Settings(
        data_dir=data_dir, secret_key="bench", record=False, port=port, login_attempts_per_minute=10_000
    )
    system = System(settings)
    make_users(system)
    threading.Thread(target=_embedded_inject, args=(system, data_dir), daemon=True).start()
    uvicorn.run(create_app(system), host="127.0.0.1", port=port, log_level="warning", ws="websockets-sansio")


def _embedded_inject(system, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    go = data_dir / "go.json"
    while not go.exists():
        time.sleep(0.05)
    d = json.loads(go.read_text())
    plan, run = Plan(d), d["run"]
    commits: list[tuple[float, float]] = []  # (t0, commit - t0): the bus publishes right after the commit

    def on_committed(_s: str, e) -> None:  # type: ignore[no-untyped-def]
        p = e.payload
        if p.get("bench") == run:
            commits.append((p["t0"], time.time() - p["t0"]))

    system.bus.subscribe("koopsuz.>", on_committed)
    timeline: list[tuple[float, int, int]] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            timeline.append((time.time(), len(commits), system.writer.queue_depth))
            time.sleep(0.5)

    threading.Thread(target=sample, daemon=True).start()
    sent = pace(plan, run, lambda batch: [system.writer.submit(e) for e in batch])
    deadline = time.monotonic() + d["drain_s"]
    while len(commits) < sent["sent"] and time.monotonic() < deadline:
        time.sleep(0.05)
    done.set()
    (data_dir / "result.json").write_text(json.dumps({**sent, "commits": commits, "timeline": timeline}))


def make_users(system) -> None:  # type: ignore[no-untyped-def]
    system.users.create("bench", "nat.op", PASSWORD, "national_operator", None)
    for r in REGIONS:
        system.users.create("bench", f"op_{r[3:].lower()}", PASSWORD, "regional_operator", r)


# -- scale-out roles ------------------------------------------------------------------------------
def run_writer(db_url: str, bus_url: str, data_dir: Path) -> None:
    """`koopsuz writer` (commands/scaleout.py) as built there, with the commit time of each event noted."""
    from koopsuz.bus import make_bus
    from koopsuz.services.plate_reads import project_plate_reads
    from koopsuz.services.store_writer import StoreWriter
    from koopsuz.store.db import Database
    from koopsuz.store.rule_repo import RuleRepo

    commits: list[tuple[float, float]] = []
    timeline: list[tuple[float, int]] = []

    class TimedWriter(StoreWriter):
        def _store(self, events):  # type: ignore[no-untyped-def]
            super()._store(events)
            now = time.time()
            commits.extend((e.payload["t0"], now - e.payload["t0"]) for e in events if "t0" in e.payload)

    bus = make_bus(bus_url)
    db = Database(db_url)
    db.migrate()
    w = TimedWriter(
        db,
        bus,
        pattern="koopsuz.>",
        durable=WRITER_DURABLE,
        projections=[lambda s, events: RuleRepo(s).add_crossings(events), project_plate_reads],
    )
    w.start()
    (data_dir / "writer.ready").write_text("1")
    stop_file, go = data_dir / "writer.stop", data_dir / "go.json"
    cpu0 = None
    while not stop_file.exists():
        if cpu0 is None and go.exists():
            cpu0 = time.process_time()
        timeline.append((time.time(), w.written))
        time.sleep(0.5)
    cpu = time.process_time() - (cpu0 or 0.0)
    w.stop()
    bus.close()
    db.dispose()
    (data_dir / "writer.json").write_text(
        json.dumps(
            {"written": w.written, "duplicates": w.duplicates, "commits": commits, "timeline": timeline, "cpu_s": cpu}
        )
    )


def run_publisher(bus_url: str, data_dir: Path) -> None:
    """Stands in for the workers' outbox publishes (EventWriter._publish -> NatsBus.publish_many)."""
    from koopsuz.bus.nats import BusUnavailableError, NatsBus

    bus = NatsBus.connect(bus_url)
    go = data_dir / "go.json"
    (data_dir / "publisher.ready").write_text("1")
    while not go.exists():
        time.sleep(0.05)
    d = json.loads(go.read_text())
    refused = [0]  # one list shared by the lanes: a lost increment under a race only blurs a diagnostic

    def publish(batch: list[Any]) -> None:
        """As the outbox does: a batch JetStream did not acknowledge in time is sent again (the stream
        drops the copies it already holds by ``Nats-Msg-Id``), so nothing is lost, only later."""
        while True:
            try:
                return bus.publish_many(batch)
            except BusUnavailableError:
                refused[0] += 1
                time.sleep(0.1)

    cpu0 = time.process_time()
    lanes = int(d["publishers"])
    results: list[dict[str, Any]] = [{} for _ in range(lanes)]

    def lane(j: int) -> None:
        results[j] = pace(Plan(d), d["run"], publish, lane=j, lanes=lanes)

    threads = [threading.Thread(target=lane, args=(j,)) for j in range(lanes)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    sent = {
        "sent": sum(r["sent"] for r in results),
        "asked": sum(r["asked"] for r in results),
        "t_start": min(r["t_start"] for r in results),
        "t_end": max(r["t_end"] for r in results),
        "max_behind": max(r["max_behind"] for r in results),
        "cpu_s": time.process_time() - cpu0,
    }
    (data_dir / "publisher.json").write_text(json.dumps({**sent, "refused_batches": refused[0], **bus.stats()}))
    bus.close()


def login_all(port: int) -> dict[str | None, str]:
    tokens: dict[str | None, str] = {}
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as c:
        for username, region in [("nat.op", None), *((f"op_{r[3:].lower()}", r) for r in REGIONS)]:
            r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
            r.raise_for_status()
            tokens[region] = r.json()["token"]
            c.cookies.clear()
    return tokens


# -- figures --------------------------------------------------------------------------------------
def client_figures(clients: list[Client], sent: int, t_start: float) -> dict[str, Any]:
    lat = [lat for c in clients for lat in c.latencies()]
    per_region: dict[str, int] = {}
    for s in range(sent):
        per_region[_region_of(s)] = per_region.get(_region_of(s), 0) + 1
    expected, missing = 0, 0
    for c in clients:
        mine = sent if c.region is None else per_region.get(c.region, 0)
        expected += mine
        missing += mine - sum(1 for s in c.got if s < sent and (c.region is None or _region_of(s) == c.region))
    return {
        "clients": len(clients),
        "deliveries": len(lat),
        "expected_deliveries": expected,
        "missing_deliveries": missing,
        "client_p50_ms": pct(lat, 0.5) * 1000,
        "client_p99_ms": pct(lat, 0.99) * 1000,
        "client_max_ms": max(lat, default=float("nan")) * 1000,
        "out_of_scope": sum(c.foreign for c in clients),
        "too_slow_disconnects": sum(1 for c in clients if c.closed == 4408),
        "other_disconnects": sum(1 for c in clients if c.closed not in (None, 4408)),
        "client_p99_by_second": per_second([v for c in clients for v in c.got.values()], t_start),
    }


_CAMERAS = [10_000]  # set from the plan; the region of a sequence number follows make_event


def expected_deliveries(clients: list[Client], d: dict[str, Any]) -> int:
    total = Plan(d).total
    return sum(total if c.region is None else total // len(REGIONS) for c in clients)


def _region_of(seq: int) -> str:
    return REGIONS[(seq % _CAMERAS[0]) % len(REGIONS)]


def per_second(samples: list[tuple[float, float]], t_start: float) -> list[list[float]]:
    """[second since start, events, p99 ms] for the events created in each second of the window."""
    by: dict[int, list[float]] = {}
    for t0, dt in samples:
        by.setdefault(int(t0 - t_start), []).append(dt)
    return [[s, len(v), round(pct(v, 0.99) * 1000, 1)] for s, v in sorted(by.items())]


def commit_figures(commits: list[tuple[float, float]], sent: dict[str, Any], t_last: float) -> dict[str, Any]:
    lat = [c[1] for c in commits]
    done_at = max((t0 + dt for t0, dt in commits), default=t_last)
    per_s: dict[int, int] = {}
    for t0, dt in commits:
        per_s[int(t0 + dt - sent["t_start"])] = per_s.get(int(t0 + dt - sent["t_start"]), 0) + 1
    return {
        "sent": sent["sent"],
        "published_rate": sent["sent"] / (sent["t_end"] - sent["t_start"]),
        "publisher_max_behind": sent["max_behind"],
        "committed": len(commits),
        "sustained_rate": len(commits) / max(done_at - sent["t_start"], 1e-6),
        "peak_commit_rate_1s": max(per_s.values(), default=0),
        "drained_after_s": done_at - sent["t_end"],
        "commit_p50_ms": pct(lat, 0.5) * 1000,
        "commit_p99_ms": pct(lat, 0.99) * 1000,
        "commit_max_ms": max(lat, default=float("nan")) * 1000,
        "commit_p99_by_second": per_second(commits, sent["t_start"]),
    }


def plan_dict(args: argparse.Namespace, run: str) -> dict[str, Any]:
    return {
        "cameras": args.cameras,
        "period": args.period,
        "seconds": args.seconds,
        "burst_x": args.burst_x,
        "burst_s": args.burst_s,
        "burst_at": args.seconds * 0.4,
        "run": run,
        "drain_s": args.drain,
        "publishers": args.publishers,
    }


# -- embedded run ---------------------------------------------------------------------------------
def measure_embedded(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    data_dir = tmp / "embedded"
    data_dir.mkdir()
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, __file__, "--embedded-server", str(data_dir), str(port)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=open(tmp / "embedded.log", "wb"),  # noqa: SIM115 (the child holds it; closed at exit)
    )
    try:
        wait_port(port, 180, proc)
        tokens = login_all(port)
        run = f"emb-{int(time.time())}"
        d = plan_dict(args, run)
        return asyncio.run(
            _drive(
                port,
                tokens,
                args,
                run,
                d,
                lambda: (data_dir / "go.json").write_text(json.dumps(d)),
                lambda: (data_dir / "result.json").exists(),
                {"serve": [psutil.Process(proc.pid)]},
                lambda: None,
            )
        )
    finally:
        stop(proc)
        res = data_dir / "result.json"
        args._embedded_result = json.loads(res.read_text()) if res.exists() else None


async def _drive(
    port: int,
    tokens: dict[str | None, str],
    args: argparse.Namespace,
    run: str,
    d: dict[str, Any],
    go: Callable[[], None],
    finished: Callable[[], bool],
    procs: dict[str, list[psutil.Process]],
    sample: Callable[[], dict[str, Any] | None],
) -> dict[str, Any]:
    clients, stop_at, tasks = await open_clients(port, tokens, args.national, args.per_region, run)
    print(f"  {len(clients)} WebSocket clients connected; load {os.getloadavg()[0]:.1f}; go", flush=True)
    await asyncio.sleep(1.0)
    load_before = os.getloadavg()
    c0 = {k: cpu_seconds(v) for k, v in procs.items()}
    k0, w0 = time.process_time(), time.monotonic()
    go()
    lag: list[dict[str, Any]] = []
    deadline = time.monotonic() + d["seconds"] + d["drain_s"] + 30
    last_print = 0.0
    seen, still_since, last_sample = -1, time.monotonic(), 0.0
    while True:
        got = sum(len(c.got) for c in clients)
        if got != seen:
            seen, still_since = got, time.monotonic()
        # the store has everything; the clients have had theirs or stopped getting more for 5 s
        if finished() and (got >= expected_deliveries(clients, d) or time.monotonic() - still_since > 5):
            break
        if time.monotonic() > deadline:
            print("  gave up waiting: the store did not drain in time (reported as measured)", flush=True)
            break
        s = None
        if args.lag_every and time.monotonic() - last_sample >= args.lag_every:
            last_sample = time.monotonic()
            s = await asyncio.to_thread(sample)
        if s is not None:
            if "stream_msgs" in s and clients:  # how far the furthest-behind client is (published, not got)
                s["client_behind_max"] = max(
                    int(s["stream_msgs"] / (1 if c.region is None else len(REGIONS))) - len(c.got) for c in clients
                )
            lag.append(s)
        if time.monotonic() - last_print >= 5:
            last_print = time.monotonic()
            print(f"  t={time.monotonic() - w0:5.1f}s  deliveries {got}  {s or ''}", flush=True)
        await asyncio.sleep(0.5)
    c1 = {k: cpu_seconds(v) for k, v in procs.items()}
    k1, w1 = time.process_time(), time.monotonic()
    load_after = os.getloadavg()
    await asyncio.sleep(args.grace)
    stop_at.set()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {
        "clients": clients,
        "lag": lag,
        "cpu_s": {k: c1[k] - c0[k] for k in procs},
        "wall_s": w1 - w0,
        "client_cpu_s": k1 - k0,
        "load_before": load_before,
        "load_after": load_after,
    }


def store_bytes(db_url: str) -> dict[str, Any]:
    """What the load left in PostgreSQL: rows and bytes (tables + indexes) of events and plate reads."""
    import psycopg

    with psycopg.connect(db_url.replace("+psycopg", "")) as conn:
        out = {}
        for table in ("events", "plate_reads"):
            rows, size = conn.execute(f"SELECT count(*), pg_total_relation_size('{table}') FROM {table}").fetchone()
            out[table] = {"rows": rows, "bytes": size}
        return out


# -- scale-out run --------------------------------------------------------------------------------
def measure_scaleout(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    sys.path.insert(0, str(ROOT))
    from tests.scaleout.servers import NatsServer, PostgresServer

    from koopsuz.bus.nats import NatsBus
    from koopsuz.config import Settings
    from koopsuz.system import System

    data_dir = tmp / "scaleout"
    data_dir.mkdir()
    nats_srv = NatsServer(tmp / "jetstream").start()
    pg = PostgresServer(tmp / "pg").start()
    procs: list[subprocess.Popen[bytes]] = []
    mon: NatsBus | None = None
    try:
        db_url = pg.create_database("koopsuz")
        print(f"  nats-server on {nats_srv.port}, PostgreSQL on {pg.port}", flush=True)
        loader = System(Settings(data_dir=data_dir / "loader", database_url=db_url, secret_key="bench", record=False))
        make_users(loader)  # migrates the store too
        loader.stop()
        env = {
            **os.environ,
            "KOOPSUZ_DATABASE_URL": db_url,
            "KOOPSUZ_BUS_URL": nats_srv.url,
            "KOOPSUZ_SECRET_KEY": "bench",
            "KOOPSUZ_RECORD": "false",
            "KOOPSUZ_LOGIN_ATTEMPTS_PER_MINUTE": "10000",
        }

        def spawn(name: str, *cmd: str) -> subprocess.Popen[bytes]:
            log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 (the child holds it; closed at exit)
            p = subprocess.Popen(list(cmd), cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=log)
            procs.append(p)
            return p

        writer = spawn("writer", sys.executable, __file__, "--writer", db_url, nats_srv.url, str(data_dir))
        port = free_port()
        api = spawn(
            "api",
            str(Path(sys.executable).parent / "koopsuz"),
            "api",
            "--data-dir",
            str(data_dir / "api"),
            "--port",
            str(port),
        )
        publisher = spawn("publisher", sys.executable, __file__, "--publisher", nats_srv.url, str(data_dir))
        wait_port(port, 180, api)
        for f, p in (("writer.ready", writer), ("publisher.ready", publisher)):
            while not (data_dir / f).exists():
                if p.poll() is not None:
                    raise RuntimeError(f"{f[:-6]} exited ({p.returncode}); see {tmp / (f[:-6] + '.log')}")
                time.sleep(0.1)
        tokens = login_all(port)
        mon = NatsBus.connect(nats_srv.url)
        run = f"so-{int(time.time())}"
        d = plan_dict(args, run)
        t_go = [0.0]

        def sample() -> dict[str, Any] | None:
            """The stream's size and the writer's durable consumer only: consumer info on the API's filtered
            per-socket consumers (``koopsuz.*.<region>.>``) over a stream of ~40,000 subjects costs nats-server
            so much CPU that sampling them every 0.5 s was the bottleneck of a first version of this bench
            (nats-server 3.4 s CPU per 1000 events, client p99 48 s; without it 0.22 s and 3.9 s)."""

            async def q(_nc, js):  # type: ignore[no-untyped-def]
                return await js.stream_info(STREAM), await js.consumer_info(STREAM, WRITER_DURABLE)

            try:
                info, w = mon.call(q, timeout=5)  # type: ignore[union-attr]
            except Exception:
                return None
            return {
                "t": round(time.time() - t_go[0], 1),
                "stream_msgs": info.state.messages,
                "writer_lag": w.num_pending + w.num_ack_pending,
                "writer_redelivered": w.num_redelivered or 0,
            }

        def go() -> None:
            t_go[0] = time.time()
            (data_dir / "go.json").write_text(json.dumps(d))

        def finished() -> bool:
            for name, p in (("publisher", publisher), ("writer", writer), ("api", api)):
                if p.poll() is not None and not (name == "publisher" and p.returncode == 0):
                    raise RuntimeError(f"{name} exited ({p.returncode}): {(tmp / f'{name}.log').read_text()[-2000:]}")
            if not (data_dir / "publisher.json").exists():
                return False
            pub = json.loads((data_dir / "publisher.json").read_text())

            async def q(_nc, js):  # type: ignore[no-untyped-def]
                return await js.consumer_info(STREAM, WRITER_DURABLE)

            try:
                w = mon.call(q, timeout=5)  # type: ignore[union-attr]
            except Exception:
                return False
            drained = w.num_pending + w.num_ack_pending == 0
            return drained or time.time() - pub["t_end"] > d["drain_s"]

        pg_pid = int((pg.data / "postmaster.pid").read_text().split()[0])
        cpu_procs = {
            "nats": [psutil.Process(nats_srv.proc.pid)],
            "postgres": [psutil.Process(pg_pid)],  # type: ignore[union-attr]
            "api": [psutil.Process(api.pid)],
        }
        out = asyncio.run(_drive(port, tokens, args, run, d, go, finished, cpu_procs, sample))
        (data_dir / "writer.stop").write_text("1")
        writer.wait(30)
        out["store_bytes"] = store_bytes(db_url)
        out["writer"] = json.loads((data_dir / "writer.json").read_text())
        out["publisher"] = json.loads((data_dir / "publisher.json").read_text())
        out["cpu_s"] |= {"writer": out["writer"]["cpu_s"], "publisher": out["publisher"]["cpu_s"]}
        return out
    finally:
        if mon is not None:
            mon.close()
        for p in reversed(procs):
            stop(p)
        nats_srv.stop()
        pg.stop()


# -- the whole run --------------------------------------------------------------------------------
def summarise(
    name: str, raw: dict[str, Any], commits: list[tuple[float, float]], sent: dict[str, Any]
) -> dict[str, Any]:
    """CPU: seconds each process spent from the start of the load to the drained store, as cores over that
    wall time, and per 1000 events committed (the figure the extrapolation scales: it does not depend on
    how many cores the other work on the machine left us)."""
    clients = raw["clients"]
    n = max(len(commits), 1)
    cpu = {**raw["cpu_s"], "clients": raw["client_cpu_s"]}
    return {
        "path": name,
        **commit_figures(commits, sent, time.time()),
        **client_figures(clients, sent["sent"], sent["t_start"]),
        "cpu_s": cpu,
        "cpu_cores": {k: v / raw["wall_s"] for k, v in cpu.items()},
        "cpu_ms_per_1000": {k: 1e6 * v / n for k, v in cpu.items()},
        "wall_s": raw["wall_s"],
        "load_before": raw["load_before"],
        "load_after": raw["load_after"],
        "lag": raw["lag"],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, default=10_000, help="cameras whose events are replayed (default 10000)")
    ap.add_argument("--period", type=float, default=5.0, help="seconds between one camera's events (default 5)")
    ap.add_argument("--seconds", type=float, default=40.0, help="load window per path (default 40)")
    ap.add_argument("--burst-x", type=float, default=5.0, help="burst rate as a multiple of the base (default 5)")
    ap.add_argument("--burst-s", type=float, default=4.0, help="burst length in seconds (default 4)")
    ap.add_argument(
        "--publishers",
        type=int,
        default=4,
        help="scale-out: publishing lanes (workers' outboxes), each waiting for its own acks (default 4)",
    )
    ap.add_argument("--national", type=int, default=1, help="national operator WebSocket clients (all events)")
    ap.add_argument("--per-region", type=int, default=1, help="regional operator clients per region (9 regions)")
    ap.add_argument("--drain", type=float, default=60.0, help="wait at most this long after the window for the store")
    ap.add_argument("--grace", type=float, default=3.0, help="wait this long after draining for late deliveries")
    ap.add_argument(
        "--lag-every",
        type=float,
        default=1.0,
        help="seconds between lag samples (stream and writer consumer info; 0: none)",
    )
    ap.add_argument("--only", choices=("embedded", "scaleout"), help="run one path only")
    ap.add_argument("--quick", action="store_true", help="10 s windows, 2 s burst (a smoke run, ~1.5 min)")
    ap.add_argument("--write-docs", action="store_true", help="replace the 'scale' section of docs/benchmarks.md")
    ap.add_argument("--embedded-server", nargs=2, metavar=("DATA_DIR", "PORT"), help=argparse.SUPPRESS)
    ap.add_argument("--writer", nargs=3, metavar=("DB", "BUS", "DIR"), help=argparse.SUPPRESS)
    ap.add_argument("--publisher", nargs=2, metavar=("BUS", "DIR"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.embedded_server:
        return run_embedded_server(Path(args.embedded_server[0]), int(args.embedded_server[1]))
    if args.writer:
        return run_writer(args.writer[0], args.writer[1], Path(args.writer[2]))
    if args.publisher:
        return run_publisher(args.publisher[0], Path(args.publisher[1]))
    if args.quick:
        args.seconds, args.burst_s, args.drain = 10.0, 2.0, 30.0
    _CAMERAS[0] = args.cameras
    signal.signal(signal.SIGTERM, lambda *_a: sys.exit(1))
    machine = f"{platform.machine()}, {os.cpu_count()} cores"
    rate = args.cameras / args.period
    print(
        f"[scale] {args.cameras} cameras, {rate:.0f} events/s base, {args.burst_x:.0f}x burst for "
        f"{args.burst_s:.0f} s, {args.seconds:.0f} s window; {args.national} national + {9 * args.per_region} "
        f"regional clients; load {os.getloadavg()}",
        flush=True,
    )
    rows = []
    with tempfile.TemporaryDirectory(prefix="koopsuz-scale-") as tmp_s:
        tmp = Path(tmp_s)
        if args.only in (None, "embedded"):
            print("[embedded] SQLite + in-process bus (one `serve` process) ...", flush=True)
            raw = measure_embedded(args, tmp)
            res = args._embedded_result
            if res is None:
                raise SystemExit("the embedded server wrote no result; see embedded.log")
            t_start = res["t_start"]
            raw["lag"] = [
                {"t": round(t - t_start, 1), "committed": n, "writer_queue": q} for t, n, q in res["timeline"]
            ]
            rows.append(summarise("embedded", raw, [tuple(c) for c in res["commits"]], res))
        if args.only in (None, "scaleout"):
            print(
                "[scale-out] publisher -> JetStream -> writer -> PostgreSQL; JetStream -> `koopsuz api` ...", flush=True
            )
            raw = measure_scaleout(args, tmp)
            w = raw["writer"]
            rows.append(summarise("scale-out", raw, [tuple(c) for c in w["commits"]], raw["publisher"]))
            rows[-1]["writer_duplicates"] = w["duplicates"]
            rows[-1]["store_bytes"] = raw["store_bytes"]
            rows[-1]["publisher_refused_batches"] = raw["publisher"].get("refused_batches")
    for r in rows:
        r["machine"] = machine
        brief = {k: v for k, v in r.items() if k not in ("lag", "commit_p99_by_second", "client_p99_by_second")}
        print(json.dumps(brief, indent=1, default=str), flush=True)
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    path = out / f"scale-{datetime.now(UTC):%Y%m%dT%H%M%S}.json"
    path.write_text(
        json.dumps(
            {"args": {k: v for k, v in vars(args).items() if not k.startswith("_")}, "rows": rows},
            indent=1,
            default=str,
        )
    )
    table = render(rows, args, machine)
    print(table)
    print(f"raw figures (lag over time, p99 per second): {path.relative_to(ROOT)}")
    if args.write_docs:
        write_docs(table, marker="scale", heading="Scale-out event path (`bench/scale.py`)")


def render(rows: list[dict[str, Any]], args: argparse.Namespace, machine: str) -> str:
    rate = args.cameras / args.period
    lines = [
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {machine}, every process of both paths on the same "
        f"2 cores, shared with other work (load average 1/5/15 min before each run in the last column). Load: "
        f"{args.cameras} cameras, one event each every {args.period:g} s = {rate:.0f} events/s for "
        f"{args.seconds:.0f} s, with a {args.burst_x:g}x burst ({rate * args.burst_x:.0f}/s) for {args.burst_s:g} s; "
        f"{args.national} national + {9 * args.per_region} regional WebSocket clients.",
        "",
        "| path | events sent (publish rate) | committed, sustained rate | peak commit rate (1 s) | store drained "
        "after the window | publish -> commit p50 / p99 / max | publish -> client p50 / p99 / max | deliveries "
        "missing / out of scope / dropped slow | max lag | CPU cores by process (CPU ms per 1000 events) "
        "| load before |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lag = r["lag"]
        if r["path"] == "embedded":
            max_lag = f"writer queue {max((x['writer_queue'] for x in lag), default=0)}"
        else:
            wl = max((x["writer_lag"] or 0 for x in lag), default=0)
            fl = max((x.get("client_behind_max", 0) for x in lag), default=0)
            max_lag = f"writer consumer {wl} pending, furthest client {fl} behind"
        cpu = ", ".join(f"{k} {r['cpu_cores'][k]:.2f} ({v:.0f})" for k, v in r["cpu_ms_per_1000"].items())
        lb = r["load_before"]
        drained = (
            f"{r['drained_after_s']:.1f} s"
            if r["committed"] >= r["sent"]
            else f"not drained: {r['sent'] - r['committed']} left when the bench stopped waiting"
        )
        lines.append(
            f"| {r['path']} | {r['sent']} ({r['published_rate']:.0f}/s) | {r['committed']}, {r['sustained_rate']:.0f}/s"
            f" | {r['peak_commit_rate_1s']}/s | {drained} | {r['commit_p50_ms']:.0f} / "
            f"{r['commit_p99_ms']:.0f} / {r['commit_max_ms']:.0f} ms | {r['client_p50_ms']:.0f} / "
            f"{r['client_p99_ms']:.0f} / {r['client_max_ms']:.0f} ms | {r['missing_deliveries']} / "
            f"{r['out_of_scope']} / {r['too_slow_disconnects']} | {max_lag} | {cpu} | "
            f"{lb[0]:.1f} / {lb[1]:.1f} / {lb[2]:.1f} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
