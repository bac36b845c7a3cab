"""The ``sim`` command: help, choice of cameras, deployments, and a real start/stop on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from koopsuz.sim.command import _from_deployment, register

pytestmark = pytest.mark.timeout(90)
ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner(env={"COLUMNS": "200"})


def _app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keeps "sim" a subcommand, as under the root koopsuz CLI
        pass

    return app


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_help_lists_every_option() -> None:
    r = runner.invoke(_app(), ["sim", "--help"])
    assert r.exit_code == 0, r.output
    for opt in ("--scenario", "--deployment", "--cameras", "--seed", "--port", "--control-port", "--truth"):
        assert opt in r.output
    assert "--cache-dir" in r.output and "--render-only" in r.output


def test_exactly_one_source_of_cameras() -> None:
    r = runner.invoke(_app(), ["sim"])
    assert r.exit_code == 2 and "exactly one of" in r.output
    r = runner.invoke(_app(), ["sim", "--cameras", "2", "--scenario", "x.yaml"])
    assert r.exit_code == 2


def test_bad_scenario_file_is_reported(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("seed: 1\ncameras: [{id: cam-1, scene: moon}]\n")
    r = runner.invoke(_app(), ["sim", "--scenario", str(bad), "--no-fetch-faces"])
    assert r.exit_code == 2 and "cameras[0].scene" in r.output


def test_render_only_fills_the_cache(tmp_path: Path) -> None:
    args = ["sim", "--cameras", "1", "--loop-seconds", "2", "--render-only", "--no-fetch-faces"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--faces-dir", str(tmp_path / "faces")]
    r = runner.invoke(_app(), args)
    assert r.exit_code == 0, r.output
    assert len(list((tmp_path / "cache").glob("*/meta.json"))) == 1


def test_deployment_cameras_on_localhost_are_simulated(tmp_path: Path) -> None:
    site = {"name": "Site", "region": "KG-Y", "lat": 42.49, "lon": 78.39}
    cam = {"name": "Cam", "lat": 42.49, "lon": 78.39}
    dep = {
        "name": "test",
        "sites": [{"id": "s-road", "type": "road", **site}, {"id": "s-school", "type": "school", **site}],
        "cameras": [
            {
                "id": "c-1",
                "site": "s-road",
                "main_url": "rtsp://127.0.0.1:9554/a/main",
                "sub_url": "rtsp://127.0.0.1:9554/a/sub",
                **cam,
            },
            {
                "id": "c-2",
                "site": "s-school",
                "main_url": "rtsp://10.0.0.5/main",
                "sub_url": "rtsp://localhost:9554/b",
                **cam,
            },
            {"id": "c-3", "site": "s-road", "main_url": "rtsp://10.0.0.6/m", "sub_url": "rtsp://10.0.0.6/s", **cam},
        ],
    }
    path = tmp_path / "dep.yaml"
    path.write_text(yaml.safe_dump(dep))
    scenario, paths, port = _from_deployment(path, seed=4, loop_seconds=10)
    assert port == 9554
    assert [(c.id, c.scene) for c in scenario.cameras] == [("c-1", "road"), ("c-2", "school")]
    assert paths == {"c-1": ("/a/main", "/a/sub"), "c-2": ("/c-2/main", "/b")}


@pytest.mark.slow
def test_process_serves_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    port, control = _free_port(), _free_port()
    cmd = [sys.executable, "-m", "koopsuz.sim", "--cameras", "1", "--loop-seconds", "2", "--no-fetch-faces"]
    cmd += ["--port", str(port), "--control-port", str(control), "--truth", str(tmp_path / "truth.jsonl")]
    cmd += ["--cache-dir", str(tmp_path / "cache"), "--faces-dir", str(tmp_path / "faces")]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=os.environ | {"COLUMNS": "200"}, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 60
        health = None
        while time.time() < deadline and health is None and proc.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{control}/health", timeout=2) as r:
                    health = json.loads(r.read())
            except OSError:
                time.sleep(0.3)
        assert health and health["cameras"][0]["sub_url"] == f"rtsp://127.0.0.1:{port}/cam-01/sub"
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
        assert proc.returncode == 0, err
        assert f"rtsp://127.0.0.1:{port}/cam-01/main" in err and "simulator stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
