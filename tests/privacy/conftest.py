"""A running System over real simulator RTSP: ingest (live view, motion snapshots) and recording.

pm-1 (KG-Y) has a privacy mask over the top-left quarter of its picture; pm-2 (KG-C) has the same
mask. Users: every role of tests.conftest (KG-Y where regional), plus a second region's
investigator and head. About 10 s to start.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
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
from tests.recording.conftest import segments_of, wait_until
from tests.sim.conftest import tiny_scenario

QUARTER = [[0.0, 0.0], [0.5, 0.0], [0.5, 0.5], [0.0, 0.5]]


@dataclass
class Masked:
    system: System
    app: Any

    def client(self, who: str) -> TestClient:
        c = TestClient(self.app)
        username = ROLE_USERS[who][0] if who in ROLE_USERS else who
        r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
        assert r.status_code == 200, r.text
        c.headers["X-CSRF-Token"] = r.json()["csrf"]  # cookie sessions echo it, like the pages
        return c


@pytest.fixture(scope="package")
def masked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Masked]:
    base = tmp_path_factory.mktemp("privacy")
    rendered = render_scenario(tiny_scenario(), base / "cache", base / "no-faces", workers=1, progress=False)
    sim = SimServer(rendered, port=0, control_port=0)
    sim.start()
    sites = [
        {"id": "yk-priv", "name": "School", "type": "school", "region": "KG-Y", "lat": 42.49, "lon": 78.39},
        {"id": "ch-priv", "name": "Homes", "type": "street", "region": "KG-C", "lat": 42.84, "lon": 75.29},
    ]
    cams = [("pm-1", "yk-priv", "t-1"), ("pm-2", "ch-priv", "t-2")]
    dep = {
        "name": "privacy test",
        "sites": sites,
        "cameras": [
            {
                "id": cid,
                "name": cid,
                "site": site,
                "lat": 42.5,
                "lon": 78.0,
                "main_url": f"rtsp://127.0.0.1:{sim.port}/{stream}/main",
                "sub_url": f"rtsp://127.0.0.1:{sim.port}/{stream}/sub",
                "privacy_masks": [QUARTER],
                "motion": {"cooldown_s": 0.5},
            }
            for cid, site, stream in cams
        ],
    }
    (base / "deployment.yaml").write_text(yaml.safe_dump(dep))
    settings = Settings(data_dir=base / "var", secret_key="privacy-test", recording_segment_s=2.0)
    system = System(settings)
    system.load_deployment(base / "deployment.yaml")
    for role, (username, region) in ROLE_USERS.items():
        system.users.create("test", username, PASSWORD, role, region)
    system.users.create("test", "ch.investigator", PASSWORD, "investigator", "KG-C")
    system.users.create("test", "ch.head", PASSWORD, "regional_head", "KG-C")
    app = create_app(system, start_system=False)
    system.start()
    try:
        wait_until(lambda: segments_of(system, "pm-1") >= 2, 25, "two recorded segments of pm-1")
        yield Masked(system, app)
    finally:
        system.stop()
        sim.stop()
