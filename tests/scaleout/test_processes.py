"""``koopsuz worker`` processes sharing the simulator's cameras through JetStream leases, writing to
one PostgreSQL store: a worker killed with SIGKILL loses its cameras to the other within seconds,
and the survivor's motion events from them reach the store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import yaml
from sqlalchemy import select

from koopsuz.bus import make_bus
from koopsuz.bus.leases import CameraLeases
from koopsuz.config import Settings
from koopsuz.store.db import Database
from koopsuz.store.tables import EventRow
from tests.conftest import ROOT, LiveSystem, _deployment_for, _stop, free_port
from tests.scaleout.servers import NatsServer, PostgresServer, wait_for

pytestmark = pytest.mark.slow


def _leases(observer: CameraLeases) -> dict[str, str]:
    snap = observer._bus._call(observer._snapshot(), timeout=5)
    return {k[len("camera.") :]: v.decode() for k, v in snap.items() if k.startswith("camera.")}


def test_killed_worker_cameras_move_to_the_other_and_keep_reaching_the_store(
    tmp_path: Path, live_system: LiveSystem, nats_server: NatsServer, pg_server: PostgresServer
) -> None:
    from koopsuz.system import System

    url = pg_server.create_database("workers")
    cams = sorted(live_system.cameras)
    deployment = tmp_path / "deployment.yaml"
    deployment.write_text(yaml.safe_dump(_deployment_for(cams, live_system.sim.port), sort_keys=False))
    loader = System(Settings(data_dir=tmp_path / "loader", database_url=url, secret_key="t"))
    loader.load_deployment(deployment)
    loader.stop()

    env = os.environ | {
        "KOOPSUZ_DATABASE_URL": url,
        "KOOPSUZ_BUS_URL": nats_server.url,
        "KOOPSUZ_SECRET_KEY": "t",
        "KOOPSUZ_INGEST_BACKOFF_MAX_S": "2",
        "PYTHONUNBUFFERED": "1",
    }
    procs: dict[str, subprocess.Popen[bytes]] = {}
    metrics_port = free_port()
    for wid in ("wA", "wB"):
        cmd = [sys.executable, "-m", "koopsuz", "worker", "--id", wid, "--lease-s", "3", "--no-record"]
        if wid == "wB":
            cmd += ["--metrics-port", str(metrics_port)]
        log = open(tmp_path / f"{wid}.log", "wb")  # noqa: SIM115
        procs[wid] = subprocess.Popen(
            [*cmd, "--data-dir", str(tmp_path / wid)], cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    bus = make_bus(nats_server.url)
    observer = CameraLeases(bus, lambda: [], worker_id="observer", lease_s=3.0)  # type: ignore[arg-type]
    db = Database(url)
    try:
        bus._call(observer._open(), timeout=10)  # type: ignore[attr-defined]

        def split() -> bool:
            held = _leases(observer)
            return sorted(held) == cams and set(held.values()) == {"wA", "wB"}

        assert wait_for(split, 40, step=0.3), _leases(observer)
        held = _leases(observer)
        assert sorted(v for v in held.values()).count("wA") == len(cams) // 2  # fair: 2 and 2

        def scrape() -> str:
            return httpx.get(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).text

        half = len(cams) // 2
        assert wait_for(lambda: f"koopsuz_cameras_held {half}" in scrape(), 10), scrape()
        assert f'koopsuz_camera_leases{{worker="wB"}} {half}' in scrape()
        assert httpx.get(f"http://127.0.0.1:{metrics_port}/ready", timeout=5).json()["status"] == "ready"

        def motion_from(cameras: set[str], after: datetime) -> set[str]:
            with db.session() as s:
                rows = s.execute(select(EventRow.camera).where(EventRow.kind == "motion", EventRow.ts > after))
                return {c for (c,) in rows} & cameras

        t_start = datetime.now(UTC)
        assert wait_for(lambda: motion_from(set(cams), t_start) == set(cams), 40, step=0.5)

        orphans = {c for c, w in held.items() if w == "wA"}
        procs["wA"].send_signal(signal.SIGKILL)
        procs["wA"].wait(5)
        killed_at, t0 = datetime.now(UTC), time.monotonic()
        assert wait_for(lambda: set(_leases(observer).values()) == {"wB"} and sorted(_leases(observer)) == cams, 10)
        took = time.monotonic() - t0
        print(f"cameras of the killed worker leased by the survivor after {took:.1f}s (lease 3 s)")
        assert took < 10
        assert wait_for(lambda: motion_from(orphans, killed_at) == orphans, 30, step=0.5)
        assert f"koopsuz_cameras_held {len(cams)}" in scrape()  # the survivor ingests them all

        procs["wB"].send_signal(signal.SIGTERM)  # a clean stop hands the cameras back at once
        assert procs["wB"].wait(30) == 0
        assert _leases(observer) == {}
    finally:
        for p in procs.values():
            _stop(p)
        bus.close()
        db.dispose()
