"""Shared fixtures: an in-process system for API tests, and a live system (simulator + server)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml

from koopsuz.config import Settings

ROOT = Path(__file__).resolve().parent.parent
DATA = Path(__file__).resolve().parent / "data"
PASSWORD = "correct-horse-battery"
ROLE_USERS = {
    "admin": ("admin", None),
    "national_operator": ("national", None),
    "regional_operator": ("yk.operator", "KG-Y"),
    "regional_head": ("yk.head", "KG-Y"),
    "investigator": ("yk.investigator", "KG-Y"),
    "auditor": ("auditor", None),
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before opening port {port}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"port {port} did not open within {timeout}s")


def csrf_header(page: object) -> dict[str, str]:
    """The X-CSRF-Token header the pages' fetch helper sends, for API calls a browser test makes with
    ``page.request`` (the page's cookies): unsafe cookie-authenticated requests are refused without it."""
    cookies = page.context.cookies()  # type: ignore[attr-defined]
    return {"X-CSRF-Token": next((c["value"] for c in cookies if c["name"] == "koopsuz_csrf"), "")}


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path / "var",
        ingest_open_timeout_s=1.0,
        ingest_read_timeout_s=2.0,
        ingest_backoff_initial_s=0.5,
        ingest_backoff_max_s=2.0,
        secret_key="test-secret",
    )


@pytest.fixture
def system(settings: Settings) -> Iterator[object]:
    from koopsuz.system import System

    s = System(settings)
    s.load_deployment(DATA / "two-regions.yaml")
    for role, (username, region) in ROLE_USERS.items():
        s.users.create("test", username, PASSWORD, role, region)
    s.users.create("test", "ch.operator", PASSWORD, "regional_operator", "KG-C")
    yield s
    s.stop()


# -- the live system: simulator over RTSP + `koopsuz serve`, both real processes --------------
@dataclass
class Sim:
    proc: subprocess.Popen[bytes]
    port: int
    control_url: str
    truth_path: Path

    def truth(self) -> list[dict[str, object]]:
        if not self.truth_path.exists():
            return []
        return [json.loads(line) for line in self.truth_path.read_text().splitlines() if line.strip()]

    def control(self, path: str, method: str = "POST") -> dict[str, object]:
        req = urllib.request.Request(self.control_url + path, method=method, data=b"" if method == "POST" else None)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read() or b"{}")


@dataclass
class LiveSystem:
    base_url: str
    users: dict[str, tuple[str, str]]
    sim: Sim
    data_dir: Path
    cameras: dict[str, str] = field(default_factory=dict)  # camera id -> region
    server: subprocess.Popen[bytes] | None = None


def _stop(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(5)


def _deployment_for(camera_ids: list[str], rtsp_port: int) -> dict[str, object]:
    """The last simulated camera goes to Chuy (KG-C) so scope is tested on live data too."""
    sites = [
        {
            "id": "yk-test-site",
            "name": "Karakol test street",
            "type": "street",
            "region": "KG-Y",
            "lat": 42.4907,
            "lon": 78.3936,
        },
        {
            "id": "ch-test-site",
            "name": "Tokmok test street",
            "type": "street",
            "region": "KG-C",
            "lat": 42.8417,
            "lon": 75.2911,
        },
    ]
    cams = []
    for i, cid in enumerate(camera_ids):
        other = i == len(camera_ids) - 1
        cams.append(
            {
                "id": cid,
                "name": f"Test camera {cid}",
                "site": "ch-test-site" if other else "yk-test-site",
                "main_url": f"rtsp://127.0.0.1:{rtsp_port}/{cid}/main",
                "sub_url": f"rtsp://127.0.0.1:{rtsp_port}/{cid}/sub",
                "lat": 42.8418 if other else 42.4908,
                "lon": 75.2912 if other else 78.3937,
                "motion": {"cooldown_s": 2.0},
            }
        )
    return {"name": "live test", "sites": sites, "cameras": cams}


@pytest.fixture(scope="session")
def live_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveSystem]:
    base = tmp_path_factory.mktemp("live")
    scenario = ROOT / "scenarios" / "motion-test.yaml"
    camera_ids = [c["id"] for c in yaml.safe_load(scenario.read_text())["cameras"]]
    rtsp_port, control_port, http_port = free_port(), free_port(), free_port()
    truth = base / "truth.jsonl"
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    cache = ROOT / "var" / "sim" / "cache"  # rendered once per machine, shared across runs
    sim_proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "koopsuz",
            "sim",
            "--scenario",
            str(scenario),
            "--port",
            str(rtsp_port),
            "--control-port",
            str(control_port),
            "--truth",
            str(truth),
            "--cache-dir",
            str(cache),
        ],
        cwd=ROOT,
        env=env,
    )
    server = None
    try:
        wait_port(rtsp_port, 600, sim_proc)
        wait_port(control_port, 30, sim_proc)
        deployment = base / "deployment.yaml"
        deployment.write_text(yaml.safe_dump(_deployment_for(camera_ids, rtsp_port), sort_keys=False))
        data_dir = base / "var"
        senv = env | {
            "KOOPSUZ_DATA_DIR": str(data_dir),
            "KOOPSUZ_INGEST_BACKOFF_MAX_S": "2",
            "KOOPSUZ_INGEST_BACKOFF_INITIAL_S": "0.5",
            "KOOPSUZ_INGEST_READ_TIMEOUT_S": "2",
            "KOOPSUZ_SECRET_KEY": "live-test-secret",
        }
        users: dict[str, tuple[str, str]] = {}
        for role, (username, region) in ROLE_USERS.items():
            cmd = [
                sys.executable,
                "-m",
                "koopsuz",
                "user",
                "add",
                username,
                "--role",
                role,
                "--password",
                PASSWORD,
            ]
            if region:
                cmd += ["--region", region]
            subprocess.run(cmd, cwd=ROOT, env=senv, check=True, capture_output=True)
            users[role] = (username, PASSWORD)
        log = (base / "server.log").open("wb")
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "koopsuz",
                "serve",
                "--deployment",
                str(deployment),
                "--port",
                str(http_port),
            ],
            cwd=ROOT,
            env=senv,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_port(http_port, 60, server)
        live = LiveSystem(
            base_url=f"http://127.0.0.1:{http_port}",
            users=users,
            sim=Sim(sim_proc, rtsp_port, f"http://127.0.0.1:{control_port}", truth),
            data_dir=data_dir,
            cameras={cid: ("KG-C" if i == len(camera_ids) - 1 else "KG-Y") for i, cid in enumerate(camera_ids)},
            server=server,
        )
        yield live
    finally:
        _stop(server)
        _stop(sim_proc)
        artifacts = ROOT / "artifacts"
        artifacts.mkdir(exist_ok=True)
        for name in ("server.log", "truth.jsonl"):
            if (base / name).exists():
                shutil.copy(base / name, artifacts / f"live-{name}")


# -- scale-out: `pytest --pg` runs store-touching tests on a PostgreSQL the suite starts itself --------
from tests.scaleout.pgmode import _sqlite_only_tests, _store_on_postgres, pg_template  # noqa: E402, F401


def pytest_addoption(parser: pytest.Parser) -> None:
    from tests.scaleout.pgmode import add_option

    add_option(parser)
