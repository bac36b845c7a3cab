"""``koopsuz camera add --onvif-url`` registers a dome (ptz, its ONVIF address); a bad address is refused."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from koopsuz.cli import app
from tests.conftest import DATA

runner = CliRunner()


def test_camera_add_registers_a_dome_with_its_onvif_address(tmp_path: Path) -> None:
    from koopsuz.config import Settings
    from koopsuz.security.principal import SYSTEM
    from koopsuz.system import System

    system = System(Settings(data_dir=tmp_path))
    system.load_deployment(DATA / "two-regions.yaml")
    system.stop()
    base = ["camera", "add", "--site", "yk-square", "--main-url", "rtsp://10.1.1.9/main"]
    base += ["--sub-url", "rtsp://10.1.1.9/sub", "--lat", "42.49", "--lon", "78.39", "--data-dir", str(tmp_path)]
    r = runner.invoke(
        app, [*base[:2], "yk-dome-9", *base[2:], "--onvif-url", "http://op:pw@10.1.1.9/onvif/device_service"]
    )
    assert r.exit_code == 0, r.output
    r = runner.invoke(app, [*base[:2], "yk-dome-10", *base[2:], "--onvif-url", "ftp://10.1.1.9/"])
    assert r.exit_code == 1 and "onvif_url" in r.output
    system = System(Settings(data_dir=tmp_path))
    try:
        row = system.registry.camera(SYSTEM, "yk-dome-9")
        assert row.ptz and row.onvif_url == "http://op:pw@10.1.1.9/onvif/device_service"
    finally:
        system.stop()
