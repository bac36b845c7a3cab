"""One recorded run shared by the recording tests: real RTSP, real ffmpeg, real faults.

The simulator serves two 6 s cameras over RTSP; an in-process System (no ingest: recording does
not need it) records their main streams in 2 s segments. During the run the fixture SIGKILLs
camera rec-1's ffmpeg, later cuts rec-1 in the simulator and restores it; rec-2 (another region)
is left alone, and rec-3 points at a stream path the simulator does not have. The tests then read
what the index, the API and the files say about it. About 30 s in all.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

pytest.importorskip("gi")

from koopsuz.api.app import create_app
from koopsuz.config import Settings
from koopsuz.sim.render import render_scenario
from koopsuz.sim.rtsp import SimServer
from koopsuz.system import System
from tests.conftest import PASSWORD, ROLE_USERS
from tests.sim.conftest import tiny_scenario

SEGMENT_S = 2.0


@dataclass
class Run:
    system: System
    sim: SimServer
    app: Any
    marks: dict[str, float]  # what the fixture did, and when (unix time)

    def client(self, who: str | None = None) -> TestClient:
        """A signed-in API client; ``who`` is a role of tests.conftest.ROLE_USERS or a username."""
        c = TestClient(self.app)
        if who:
            username = ROLE_USERS[who][0] if who in ROLE_USERS else who
            r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.headers["X-CSRF-Token"] = r.json()["csrf"]  # cookie sessions echo it, like the pages
        return c


def wait_until(cond: Any, timeout: float, what: str, step: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def deployment(port: int) -> dict[str, Any]:
    sites = [
        {"id": "yk-rec", "name": "Karakol", "type": "street", "region": "KG-Y", "lat": 42.49, "lon": 78.39},
        {"id": "ch-rec", "name": "Tokmok", "type": "street", "region": "KG-C", "lat": 42.84, "lon": 75.29},
    ]
    cams = [("rec-1", "yk-rec", "t-1"), ("rec-2", "ch-rec", "t-2"), ("rec-3", "yk-rec", "nowhere")]
    return {
        "name": "recording test",
        "sites": sites,
        "cameras": [
            {
                "id": cid,
                "name": cid,
                "site": site,
                "lat": 42.5,
                "lon": 78.0,
                "main_url": f"rtsp://127.0.0.1:{port}/{stream}/main",
                "sub_url": f"rtsp://127.0.0.1:{port}/{stream}/sub",
            }
            for cid, site, stream in cams
        ],
    }


def segments_of(system: System, camera: str) -> int:
    rec = system.recording.recorder(camera)
    return rec.health.segments if rec else 0


@pytest.fixture(scope="package")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    base = tmp_path_factory.mktemp("recording")
    rendered = render_scenario(tiny_scenario(), base / "cache", base / "no-faces", workers=1, progress=False)
    sim = SimServer(rendered, port=0, control_port=0)
    sim.start()
    dep = base / "deployment.yaml"
    dep.write_text(yaml.safe_dump(deployment(sim.port)))
    settings = Settings(
        data_dir=base / "var",
        secret_key="recording-test",
        recording_segment_s=SEGMENT_S,
        recording_backoff_initial_s=0.3,
        recording_backoff_max_s=1.0,
        recording_stall_s=4.0,
        ingest_read_timeout_s=2.0,
        clip_pre_s=3.0,
        clip_post_s=5.0,
    )
    system = System(settings)
    system.load_deployment(dep)
    for role, (username, region) in ROLE_USERS.items():
        system.users.create("test", username, PASSWORD, role, region)
    system.users.create("test", "ch.operator", PASSWORD, "regional_operator", "KG-C")
    app = create_app(system, start_system=False)
    marks: dict[str, float] = {"start": time.time()}
    system.start(ingest=False)
    try:
        wait_until(lambda: segments_of(system, "rec-1") >= 3, 20, "three segments of rec-1")
        pid = system.recording.recorder("rec-1").pid  # type: ignore[union-attr]
        assert pid
        marks["kill"] = time.time()
        os.kill(pid, signal.SIGKILL)
        n = segments_of(system, "rec-1")
        wait_until(lambda: segments_of(system, "rec-1") >= n + 2, 20, "rec-1 recording again after the kill")
        marks["cut"] = time.time()
        sim.cut("t-1", "drop")
        time.sleep(4.0)
        marks["restore"] = time.time()
        sim.restore("t-1")
        n = segments_of(system, "rec-1")
        wait_until(lambda: segments_of(system, "rec-1") >= n + 2, 20, "rec-1 recording again after the cut")
        marks["end"] = time.time()
        system.recording.flush()
        yield Run(system, sim, app, marks)
    finally:
        system.stop()
        sim.stop()


@pytest.fixture
def media_root(recorded: Run) -> Path:
    return recorded.system.settings.media_dir.resolve()
