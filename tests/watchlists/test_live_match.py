"""A watchlisted face walking past a simulated camera raises an alert; a stranger does not.

Real everything: the simulator renders two people with real face photos (obama.jpg on f-1 at a
school, biden.jpg on f-2 on a square) walking towards the cameras and serves them over RTSP; the system ingests the sub
streams (detection, tracking) and the main streams' keyframes (faces), with obama2.jpg and
obama3.jpg enrolled on an approved missing-person entry. An operator's rejection then suppresses
the same match on the same camera.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
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
    sites = [
        {"id": "yk-school", "name": "School No. 3", "type": "school", "region": "KG-Y", "lat": 42.49, "lon": 78.39},
        {"id": "yk-square", "name": "Central square", "type": "public_place", "region": "KG-Y", "lat": 42.49,
         "lon": 78.39},
    ]
    cams = [
        {"id": cid, "name": cid, "site": site, "lat": 42.49, "lon": 78.39, "profile": "faces",
         "main_url": f"rtsp://127.0.0.1:{sim.port}/{cid}/main", "sub_url": f"rtsp://127.0.0.1:{sim.port}/{cid}/sub"}
        for cid, site in (("f-1", "yk-school"), ("f-2", "yk-square"))
    ]
    dep = base / "deployment.yaml"
    dep.write_text(yaml.safe_dump({"name": "faces", "sites": sites, "cameras": cams}))
    settings = Settings(data_dir=base / "var", secret_key="faces-test", recording_segment_s=2.0)
    system = System(settings)
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
    system.start()
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


def search(live: System, who: str, password: str, photo: str, basis: str, minutes: float = 10) -> dict[str, Any]:
    officer = live.users.authenticate(who, password)
    now = datetime.now(UTC)
    body = {"legal_basis_id": basis, "start": (now - timedelta(minutes=minutes)).isoformat(), "end": now.isoformat()}
    return live.face_search.start(officer, PHOTOS[photo].read_bytes(), body)


def test_search_in_the_past_by_photo(live: System) -> None:
    """Observations (the square keeps faces 72 h) and recordings (the school keeps none) both answer."""
    from koopsuz.services.errors import Forbidden, Invalid, NotFound

    investigator = live.users.authenticate("yk.investigator", "pw-investigator-1")
    until = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    basis = live.legal.register(
        investigator,
        {"case_number": "CC-2026-55", "kind": "criminal_case", "authority": "Issyk-Kul prosecutor",
         "document_ref": "Sanction 55", "purposes": ["face_search"], "valid_until": until},
    )["id"]
    wait_for(lambda: live.ingest.analytics("f-2")["faces"]["observed"] >= 1, 3 * LOOP, "an observation on f-2")
    assert live.ingest.analytics("f-1")["faces"]["observed"] == 0  # a school keeps no observations
    live.face_observations.flush()
    # the stranger of f-2 is found among the observations at once
    s = search(live, "yk.investigator", "pw-investigator-1", "biden", basis)
    assert live.face_search.wait_idle(120)
    done = live.face_search.get(investigator, s["id"])
    assert done["status"] == "done" and done["detail"]["observations_compared"] >= 1
    seen = [r for r in done["results"] if r["source"] == "observation"]
    assert seen and {r["camera"] for r in seen} == {"f-2"} and seen[0]["similarity"] >= 0.40
    assert all(r["camera"] != "f-1" for r in done["results"])  # the school's man is someone else
    # the school's face was never observed, yet is found in the recordings (another photo of him)
    s2 = search(live, "yk.investigator", "pw-investigator-1", "obama2", basis)
    assert live.face_search.wait_idle(180)
    done2 = live.face_search.get(investigator, s2["id"])
    rec = [r for r in done2["results"] if r["source"] == "recording"]
    assert done2["status"] == "done" and done2["detail"]["segments_done"] == done2["detail"]["segments_total"] > 0
    assert rec and {r["camera"] for r in rec} == {"f-1"}, done2["results"]
    assert live.face_search.file(investigator, s2["id"], "0")[:2] == b"\xff\xd8"
    # only the investigator and auditors see it; every search and view is audited with the photo's hash
    live.users.create("test", "auditor1", "pw-auditor-00001", "auditor", None)
    live.users.create("test", "yk.investigator2", "pw-investigator-2", "investigator", "KG-Y")
    auditor = live.users.authenticate("auditor1", "pw-auditor-00001")
    other = live.users.authenticate("yk.investigator2", "pw-investigator-2")
    assert live.face_search.get(auditor, s2["id"])["id"] == s2["id"]
    with pytest.raises(NotFound):
        live.face_search.get(other, s2["id"])
    audit = live.audit.search(Scope.national(), action="faces.search")
    assert {e.target_id for e in audit} >= {s["id"], s2["id"]}
    assert all(len(e.detail["probe_sha256"]) == 64 for e in audit)
    # refusals: no basis, a basis for another purpose, a photo without a face; nothing is stored
    before = len(live.face_search.list(investigator))
    with pytest.raises(Invalid):
        search(live, "yk.investigator", "pw-investigator-1", "biden", "")
    watch_only = live.legal.search(investigator, case_number="MP-7")[0]["id"]
    with pytest.raises(Forbidden, match="does not allow face_search"):
        search(live, "yk.investigator", "pw-investigator-1", "biden", watch_only)
    now = datetime.now(UTC)
    with pytest.raises(Invalid, match="no face"):
        live.face_search.start(
            investigator, _blank_jpeg(), {"legal_basis_id": basis, "start": (now - timedelta(minutes=5)).isoformat(),
                                          "end": now.isoformat()},
        )
    assert len(live.face_search.list(investigator)) == before


def _blank_jpeg() -> bytes:
    import cv2
    import numpy as np

    ok, buf = cv2.imencode(".jpg", np.full((240, 320, 3), 120, np.uint8))
    assert ok
    return buf.tobytes()


def test_a_search_over_recordings_shows_progress_and_can_be_cancelled(live: System) -> None:
    investigator = live.users.authenticate("yk.investigator", "pw-investigator-1")
    basis = next(b["id"] for b in live.legal.search(investigator, case_number="CC-2026-55"))
    s = search(live, "yk.investigator", "pw-investigator-1", "obama2", basis, minutes=30)
    live.face_search.cancel(investigator, s["id"])
    assert live.face_search.wait_idle(60)
    done = live.face_search.get(investigator, s["id"])
    assert done["status"] == "cancelled", done["status"]
    assert done["detail"]["segments_done"] < done["detail"]["segments_total"]
    other = live.users.authenticate("yk.investigator2", "pw-investigator-2")
    from koopsuz.services.errors import NotFound

    with pytest.raises(NotFound):
        live.face_search.cancel(other, s["id"])  # not even visible to another investigator
    assert [e.target_id for e in live.audit.search(Scope.national(), action="faces.search.cancel")] == [s["id"]]


def test_a_node_that_did_not_record_searches_footage_through_the_segment_store(live: System, tmp_path: Path) -> None:
    """Footage is read through the segment store, not the node's own media folder: an API node of a
    deployment with recordings in a bucket searches them all the same. Here the "bucket" is a copy of
    the school camera's recordings in another folder, one of its segments missing (deleted by retention
    meanwhile): the search counts it as unavailable and goes on."""
    from koopsuz.services.face_search import FaceSearchService
    from koopsuz.video.segment_store import LocalSegmentStore

    elsewhere = tmp_path / "bucket"
    shutil.copytree(live.settings.media_dir / "recordings" / "f-1", elsewhere / "recordings" / "f-1")
    segs = sorted((elsewhere / "recordings" / "f-1").rglob("seg-*.m4s"))
    assert len(segs) >= 3
    segs[0].unlink()
    node = FaceSearchService(
        live.db, live.audit, live.legal, live.face_observations, live.face_search._enroller,
        LocalSegmentStore(elsewhere), tmp_path / "searches",
    )
    investigator = live.users.authenticate("yk.investigator", "pw-investigator-1")
    basis = next(b["id"] for b in live.legal.search(investigator, case_number="CC-2026-55"))
    now = datetime.now(UTC)
    body = {"legal_basis_id": basis, "start": (now - timedelta(minutes=10)).isoformat(), "end": now.isoformat()}
    try:
        s = node.start(investigator, PHOTOS["obama2"].read_bytes(), body)
        assert node.wait_idle(180)
        done = node.get(investigator, s["id"])
    finally:
        node.stop()
    detail = done["detail"]
    assert done["status"] == "done" and detail["segments_done"] == detail["segments_total"], detail
    assert detail["segments_unavailable"] >= 1 and "missing" in detail["unavailable_reason"], detail
    rec = [r for r in done["results"] if r["source"] == "recording"]
    assert rec and {r["camera"] for r in rec} == {"f-1"}, done["results"]
