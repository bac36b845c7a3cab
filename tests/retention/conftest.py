"""Fixtures for retention over real recordings: one simulator for the package, systems of our own.

The shared recorded run of tests/recording is left alone (other tests read it); these tests
record their own cameras into their own data folders and delete from those only.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from koopsuz.config import Settings
from koopsuz.system import System


@pytest.fixture(scope="package")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    pytest.importorskip("gi")
    from koopsuz.sim.render import render_scenario
    from koopsuz.sim.rtsp import SimServer
    from tests.sim.conftest import tiny_scenario

    base = tmp_path_factory.mktemp("retention-sim")
    rendered = render_scenario(tiny_scenario(), base / "cache", base / "no-faces", workers=1, progress=False)
    server = SimServer(rendered, port=0, control_port=0)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def deployment(port: int, cameras: list[tuple[str, str, str, str]]) -> dict[str, Any]:
    """cameras: (id, simulator stream, site type, region)."""
    sites, cams = [], []
    for cid, stream, site_type, region in cameras:
        sites.append({"id": f"site-{cid}", "name": cid, "type": site_type, "region": region, "lat": 42.5, "lon": 76.0})
        cams.append(
            {
                "id": cid,
                "name": cid,
                "site": f"site-{cid}",
                "lat": 42.5,
                "lon": 76.0,
                "main_url": f"rtsp://127.0.0.1:{port}/{stream}/main",
                "sub_url": f"rtsp://127.0.0.1:{port}/{stream}/sub",
            }
        )
    return {"name": "retention test", "sites": sites, "cameras": cams}


def make_system(base: Path, port: int, cameras: list[tuple[str, str, str, str]], **settings: Any) -> System:
    base.mkdir(parents=True, exist_ok=True)
    dep = base / "deployment.yaml"
    dep.write_text(yaml.safe_dump(deployment(port, cameras)))
    s = Settings(
        data_dir=base / "var",
        secret_key="retention-test",
        recording_segment_s=1.0,
        recording_backoff_initial_s=0.3,
        recording_backoff_max_s=1.0,
        recording_stall_s=4.0,
        ingest_read_timeout_s=2.0,
        **settings,
    )
    system = System(s)
    system.load_deployment(dep)
    return system
