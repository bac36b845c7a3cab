"""A simulated PTZ dome served in-process (RTSP + ONVIF) and a system whose registry points at it.

``yk-dome``'s loop is empty, so its picture changes only when the head moves; ``yk-dome-2`` has a
person walking across its 2 s loop (rendered once, a few seconds).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from koopsuz.config import Settings
from koopsuz.security.principal import SYSTEM
from koopsuz.sim.render import render_scenario
from koopsuz.sim.rtsp import SimServer
from koopsuz.sim.scenario import Scenario
from tests.conftest import DATA, PASSWORD, ROLE_USERS

ONVIF_USER, ONVIF_PASSWORD = "ptzop", "dome-secret"


@pytest.fixture(scope="package")
def dome(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimServer]:
    world = Scenario.model_validate(
        {
            "seed": 11,
            "loop_seconds": 2,
            "cameras": [
                {"id": "yk-dome", "scene": "square", "ptz": True, "schedule": [], "onvif_user": ONVIF_USER,
                 "onvif_password": ONVIF_PASSWORD},
                # a dome whose loop has a person crossing: at home it shows them, turned away it does not
                {"id": "yk-dome-2", "scene": "street", "ptz": True, "schedule": [
                    {"id": "walker", "at": 0.0, "kind": "person", "path": [[0.1, 0.9], [0.9, 0.9]], "duration": 2.0}]},
            ],
        }
    )  # fmt: skip
    tmp = tmp_path_factory.mktemp("dome")
    rendered = render_scenario(world, tmp / "cache", tmp / "faces", progress=False)
    with SimServer(rendered, port=0) as server:
        yield server


def onvif_url(server: SimServer, user: str = ONVIF_USER, password: str = ONVIF_PASSWORD) -> str:
    url = next(c for c in server.health()["cameras"] if c["id"] == "yk-dome")["onvif_url"]
    return url.replace("http://", f"http://{user}:{password}@")


@pytest.fixture
def ptz_system(tmp_path: Path, dome: SimServer) -> Iterator[object]:
    """Two regions (tests/data/two-regions.yaml) plus the dome in Issyk-Kul and a dead PTZ in Chuy."""
    from koopsuz.system import System

    s = System(Settings(data_dir=tmp_path / "var", secret_key="test-secret"))
    s.load_deployment(DATA / "two-regions.yaml")
    for role, (username, region) in ROLE_USERS.items():
        s.users.create("test", username, PASSWORD, role, region)
    s.users.create("test", "yk.operator2", PASSWORD, "regional_operator", "KG-Y")
    s.users.create("test", "ch.operator", PASSWORD, "regional_operator", "KG-C")
    base = {"lat": 42.4916, "lon": 78.3951, "ptz": True, "zoom_max": 28}
    s.registry.add_camera(
        SYSTEM,
        base
        | {
            "id": "yk-dome", "name": "Square dome", "site": "yk-square", "main_url": dome.url("yk-dome", "main"),
            "sub_url": dome.url("yk-dome", "sub"), "onvif_url": onvif_url(dome),
        },
    )  # fmt: skip
    s.registry.add_camera(
        SYSTEM,
        base
        | {
            "id": "ch-dome", "name": "School dome", "site": "ch-school", "lat": 42.8421, "lon": 75.2901,
            "main_url": "rtsp://127.0.0.1:9/ch-dome/main", "sub_url": "rtsp://127.0.0.1:9/ch-dome/sub",
            "onvif_url": "http://a:b@127.0.0.1:9/onvif/device_service",
        },
    )  # fmt: skip
    yield s
    s.stop()
