"""A watchlisted face walking past a simulated camera raises an alert; a stranger does not.

Real everything: the simulator renders two people with real face photos (obama.jpg on f-1, biden.jpg
on f-2) walking towards school-yard cameras and serves them over RTSP; the system ingests the sub
streams (detection, tracking) and the main streams' keyframes (faces), with obama2.jpg and
obama3.jpg enrolled on an approved missing-person entry. An operator's rejection then suppresses
the same match on the same camera.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

pytest.importorskip("gi")

from koopsuz.config import Settings
from koopsuz.domain.watchlists import EntryIn, WatchlistIn
from koopsuz.security.principal import Scope
from koopsuz.sim.render import render_scenario
from koopsuz.sim.rtsp import SimServer
from koopsuz.sim.scenario import Scenario
from koopsuz.system import System
from tests.faces.photos import SDIST_DIR, portraits

pytestmark = pytest.mark.timeout(240)
PHOTOS = portraits()
LOOP = 10


def scenario() -> Scenario:
    def walker(face: str) -> dict[str, Any]:
        return {"id": "p1", "at": 0.5, "kind": "person", "path": [[0.45, 0.55], [0.5, 1.1]], "duration": 7.0,
                "face": face, "face_photo": f"{face}.jpg", "scale": 2.2}

    return Scenario.model_validate(
        {
            "seed": 7070,
            "fps": 15,
            "loop_seconds": LOOP,
            "gop_seconds": 1.0,
            "cameras": [
                {"id": "f-1", "scene": "school", "schedule": [walker("obama")]},
                {"id": "f-2", "scene": "school", "schedule": [walker("biden")]},
            ],
        }
    )


def wait_for(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    if not {"obama", "obama2", "obama3", "biden"} <= PHOTOS.keys():
        pytest.skip("face photos could not be fetched from PyPI")
    base = tmp_path_factory.mktemp("faces-live")
    rendered = render_scenario(scenario(), base / "cache", SDIST_DIR, workers=1, progress=False)
    sim = SimServer(rendered, port=0, control_port=0)
    sim.start()
    site = {"id": "yk-school", "name": "School No. 3", "type": "school", "region": "KG-Y", "lat": 42.49, "lon": 78.39}
    cams = [
        {"id": cid, "name": cid, "site": "yk-school", "lat": 42.49, "lon": 78.39, "profile": "faces",
         "main_url": f"rtsp://127.0.0.1:{sim.port}/{cid}/main", "sub_url": f"rtsp://127.0.0.1:{sim.port}/{cid}/sub"}
        for cid in ("f-1", "f-2")
    ]
    dep = base / "deployment.yaml"
    dep.write_text(yaml.safe_dump({"name": "faces", "sites": [site], "cameras": cams}))
    system = System(Settings(data_dir=base / "var", secret_key="faces-test", record=False))
    system.load_deployment(dep)
    system.users.create("test", "yk.investigator", "pw-investigator-1", "investigator", "KG-Y")
    system.users.create("test", "yk.head", "pw-head-000001", "regional_head", "KG-Y")
    investigator = system.users.authenticate("yk.investigator", "pw-investigator-1")
    head = system.users.authenticate("yk.head", "pw-head-000001")
    wl = system.watchlists.create_list(head, WatchlistIn(name="Missing", kind="missing", region="KG-Y").model_dump())
    until = datetime.now(UTC) + timedelta(days=10)
    basis = system.legal.register(
        investigator,
        {"case_number": "MP-7", "kind": "missing_person", "authority": "Karakol police", "document_ref": "No. 7",
         "purposes": ["watchlist"], "valid_until": until.isoformat()},
    )
    body = EntryIn(full_name="Missing Man", legal_basis_id=basis["id"], expires_at=until).model_dump(mode="json")
    entry = system.watchlists.add_entry(investigator, wl["id"], body)
    for name in ("obama2", "obama3"):
        system.watchlists.add_photo(investigator, entry["id"], PHOTOS[name].read_bytes())
    system.watchlists.decide(head, entry["id"], True, "checked")
    system.start(record=False)
    try:
        yield system
    finally:
        system.stop()
        sim.stop()


def _alerts(system: System, camera: str) -> list[Any]:
    from koopsuz.store.event_repo import EventRepo

    with system.db.session() as s:
        found = EventRepo(s).search(Scope.national(), camera=camera, kind="alert", limit=50)
    return [e for e in found if e.payload.get("rule_kind") == "face_match"]


def test_watchlisted_face_alerts_and_stranger_does_not(live: System) -> None:
    hit = wait_for(lambda: _alerts(live, "f-1"), 3 * LOOP, "a face match on f-1")[0]
    p = hit.payload
    assert p["full_name"] == "Missing Man" and p["list_kind"] == "missing" and p["similarity"] >= p["threshold"]
    assert hit.severity == "high" and hit.region == "KG-Y" and p["rule"] == f"face:{p['entry']}"
    for name in ("snapshot", "enrolled"):
        assert live.media.path(hit.media[name]).read_bytes()[:2] == b"\xff\xd8"
    # an operator rejects the match: later passes of the same face on f-1 are not alerted again
    head = live.users.authenticate("yk.head", "pw-head-000001")
    live.rules.feedback(head, hit.id, {"verdict": "dismissed", "note": "not him"})
    dismissed_at = datetime.now(UTC)
    before = live.ingest.analytics("f-1")["faces"]["suppressed"]
    # the stranger on f-2 is looked at (usable faces), and never matches
    wait_for(lambda: live.ingest.analytics("f-2")["faces"]["usable"] >= 2, 3 * LOOP, "usable stranger faces on f-2")
    assert _alerts(live, "f-2") == [], "a stranger matched"
    wait_for(lambda: live.ingest.analytics("f-1")["faces"]["suppressed"] > before, 3 * LOOP, "a suppressed repeat")
    later = [e for e in _alerts(live, "f-1") if e.ts > dismissed_at + timedelta(seconds=1)]
    assert later == [], "a rejected match was raised again on the same camera"
