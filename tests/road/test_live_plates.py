"""Plates read live from simulated road cameras: reads stored and searchable, a hotlist hit at once.

Two road cameras 100 m apart on one section (limit 60 km/h). The same car (01 234 BSZ) passes the
entry camera and, 3 s later, the exit camera (120 km/h); another (09 508 KGD, on the stolen list)
passes the entry camera and 10 s later the exit one (36 km/h). Everything real: rendered plates,
RTSP, the main-stream worker, the PP-OCR reader, the projection, the bus and the road watch.
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
from koopsuz.security.principal import Scope
from koopsuz.sim.render import render_scenario
from koopsuz.sim.rtsp import SimServer
from koopsuz.sim.scenario import Scenario
from koopsuz.store.event_repo import EventRepo
from koopsuz.system import System
from tests.road.test_road_limits import spot_body
from tests.road.test_spot_speed import ROAD

pytestmark = pytest.mark.timeout(240)
LOOP = 24
COMING = [[0.47, 0.36], [0.22, 1.25]]


def car(at: float, plate: str) -> dict[str, Any]:
    return {
        "id": plate.replace(" ", "").lower(),
        "at": at,
        "kind": "car",
        "path": COMING,
        "duration": 5.0,
        "plate": plate,
        "scale": 1.3,
    }


def scenario() -> Scenario:
    return Scenario.model_validate(
        {
            "seed": 6107,
            "fps": 10,
            "loop_seconds": LOOP,
            "gop_seconds": 1.0,
            "cameras": [
                {"id": "r-1", "scene": "road", "schedule": [car(0.5, "01 234 BSZ"), car(8.0, "09 508 KGD")]},
                {"id": "r-2", "scene": "road", "schedule": [car(3.5, "01 234 BSZ"), car(18.0, "09 508 KGD")]},
            ],
        }
    )


def wait_for(cond: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = cond()
        if v:
            return v
        time.sleep(0.3)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")


def events(system: System, kind: str) -> list[Any]:
    with system.db.session() as s:
        return EventRepo(s).search(Scope.national(), kind=kind, limit=200)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[System]:
    base = tmp_path_factory.mktemp("plates-live")
    rendered = render_scenario(scenario(), base / "cache", base / "no-faces", workers=1, progress=False)
    sim = SimServer(rendered, port=0, control_port=0)
    site = {"id": "a363", "name": "A363", "type": "road", "region": "KG-Y", "lat": 42.65, "lon": 77.2}
    cams = [
        {
            "id": cid,
            "name": cid,
            "site": "a363",
            "lat": 42.65,
            "lon": lon,
            "profile": "plates",
            "main_url": f"rtsp://127.0.0.1:{{port}}/{cid}/main",
            "sub_url": f"rtsp://127.0.0.1:{{port}}/{cid}/sub",
        }
        for cid, lon in (("r-1", 77.20), ("r-2", 77.2012))
    ]
    # r-1's lanes: the cars come down the left lane (COMING), nothing uses the right one
    cams[0]["lanes"] = [
        {"name": "1", "zone": [[0, 0.25], [0.53, 0.25], [0.75, 1], [0, 1]]},
        {"name": "2", "zone": [[0.53, 0.25], [1, 0.25], [1, 1], [0.75, 1]]},
    ]
    sim.start()
    for c in cams:
        c["main_url"] = c["main_url"].format(port=sim.port)
        c["sub_url"] = c["sub_url"].format(port=sim.port)
    dep = base / "deployment.yaml"
    dep.write_text(yaml.safe_dump({"name": "plates", "sites": [site], "cameras": cams}))
    system = System(Settings(data_dir=base / "var", secret_key="plates-test", record=False))
    system.load_deployment(dep)
    system.users.create("test", "admin", "pw-admin-000001", "admin", None)
    admin = system.users.authenticate("admin", "pw-admin-000001")
    system.sections.save(
        admin,
        {
            "id": "sec-1",
            "name": "A363 test section",
            "entry_camera": "r-1",
            "exit_camera": "r-2",
            "length_m": 100,
            "limit_kmh": 60,
        },
    )
    # r-1 also measures spot speed, calibrated from the simulator's own road geometry (limit 40: both cars,
    # at ~52 km/h, are over it); tests/road/test_spot_speed.py checks the same geometry without video
    system.sections.save_spot(admin, spot_body(camera="r-1"))
    stolen = system.hotlists.create_list(admin, {"name": "Stolen", "kind": "stolen", "priority": 1})
    until = (datetime.now(UTC) + timedelta(days=5)).isoformat()
    system.hotlists.add_entry(
        admin, stolen["id"], {"plate": "09 508 KGD", "reason": "stolen", "legal_basis": "report 1", "expires_at": until}
    )
    system.start(record=False)
    try:
        yield system
    finally:
        system.stop()
        sim.stop()


def test_plates_are_read_live_and_stored(live: System) -> None:
    want = {(c, p) for c in ("r-1", "r-2") for p in ("01 234 BSZ", "09 508 KGD")}

    def read_pairs() -> set[tuple[str, str]]:
        return {(e.camera, e.payload["text"]) for e in events(live, "plate_read")}

    wait_for(lambda: want <= read_pairs(), 3 * LOOP, "both plates read on both cameras")
    # a wrong 2016-format plate would be a false read a hotlist could act on: there is none; partial
    # fragments read as other formats happen (split plates) and are the vote's to outweigh
    private = {(c, p) for c, p in read_pairs() if len(p) == 10}
    assert private <= want, private
    read = next(e for e in events(live, "plate_read") if e.payload["text"] == "01 234 BSZ")
    assert read.payload["format"] == "private" and read.payload["plate_region"] == "KG-GB"
    assert read.media.get("plate") and live.media.path(read.media["plate"]).read_bytes()[:2] == b"\xff\xd8"
    admin = live.users.authenticate("admin", "pw-admin-000001")
    found = live.plate_search.search(admin, plate=read.payload["text"])
    assert read.id in {r["id"] for r in found["reads"]}
    # the lane each read names: r-1 has lanes and every car drove in "1"; r-2 has none, so no lane is said
    reads = [e for e in events(live, "plate_read") if (e.camera, e.payload["text"]) in want]
    assert {e.payload.get("lane") for e in reads if e.camera == "r-1"} == {"1"}
    assert all("lane" not in e.payload for e in reads if e.camera == "r-2")
    lanes = {r["id"]: r["lane"] for r in found["reads"]}
    assert all(lanes[e.id] == "1" for e in reads if e.camera == "r-1" and e.id in lanes)


def test_a_stolen_plate_alerts_soon_after_capture_once_per_pass(live: System) -> None:
    """The issue's acceptance: a stolen car passing a road camera raises a hotlist alert within a second.
    Timed as a command centre sees it: the alert's arrival on the bus minus its ``ts``, the capture time
    of the read it was raised on: a provisional read (sure, not yet decided) where the stage had one,
    else the decided read. One hit per pass: the decided read after a provisional hit confirms it.

    Asserted: at least one hit within the second, and none later than 4 s. Every hit within a second
    holds on this 2-core machine unshared (bench/plates.py --alerts: 31 of 31, p99 0.50 s at load 1-2,
    docs/benchmarks.md), but at load average 10-14 a look at a frame takes 0.6-0.9 s of wall time
    (0.2 s at load 2-4), so under a loaded test run a hit on a plate's first read can already be late."""
    arrived: dict[str, float] = {}

    def on_alert(_subject: str, e: Any) -> None:
        if e.payload.get("rule_kind") == "hotlist_hit":
            arrived.setdefault(e.id, time.time())

    sub = live.bus.subscribe("koopsuz.alert.>", on_alert)
    try:
        wait_for(lambda: len(arrived) >= 2, 2 * LOOP, "two hits heard on the bus")
    finally:
        sub.close()
    live.road_watch.flush()
    time.sleep(0.5)  # a decided read following a provisional hit: confirmed, no second alert
    hits = {e.id: e for e in events(live, "alert") if e.payload.get("rule_kind") == "hotlist_hit"}
    lags = sorted(arrived[i] - hits[i].ts.timestamp() for i in arrived)
    how = [(round(arrived[i] - hits[i].ts.timestamp(), 3), hits[i].payload.get("provisional")) for i in arrived]
    print("hotlist hit latency from capture (s, provisional):", how, live.road_watch.stats())
    reads = {e.id: e for kind in ("plate_provisional", "plate_read") for e in events(live, kind)}
    for hit in hits.values():
        assert hit.payload["plate"] == "09 508 KGD" and hit.severity == "critical" and hit.media.get("plate")
        read = reads[hit.payload["read"]]
        assert read.ts == hit.ts and read.camera == hit.camera
        assert hit.payload["provisional"] is (read.kind == "plate_provisional")
    per_pass = [h.payload["sighting"] for h in hits.values() if h.payload.get("sighting")]
    assert len(per_pass) == len(set(per_pass)), "a vehicle alerted twice for one entry"
    assert live.road_watch.stats()["unconfirmed"] == 0
    assert lags and min(lags) < 1.0 and max(lags) < 4.0, lags


def test_average_speed_fines_the_fast_car_once_and_not_the_slow_one(live: System) -> None:
    """100 m in 3 s is 120 km/h (limit 60): one violation per passage, within 2 km/h; 100 m in 10 s is
    36 km/h: none. Holds under load because reads first made past the timing line are timed back
    through the stage's buffered frames."""

    def passed(plate: str) -> bool:
        reads = [e for e in events(live, "plate_read") if e.payload["text"] == plate]
        entry = [e.ts for e in reads if e.camera == "r-1"]
        return bool(entry) and any(e.camera == "r-2" and e.ts > min(entry) for e in reads)

    def fined() -> list[Any]:
        live.road_watch.flush()
        found = [v for v in events(live, "speed_violation") if v.payload.get("method") != "spot"]
        return found if passed("09 508 KGD") else []

    def why() -> str:
        reads = sorted(events(live, "plate_read"), key=lambda e: e.ts)
        stages = {c: live.ingest.analytics(c).get("plates") for c in ("r-1", "r-2")}  # type: ignore[union-attr]
        return "\n".join(
            [
                f"{e.camera} {e.payload['text']} {e.ts.time()} {e.payload.get('timing')} "
                f"gap={e.payload.get('timing_gap_s')} clock={e.payload.get('clock_trusted')}"
                for e in reads
            ]
            + [str(live.road_watch.stats()), str(stages)]
        )

    try:
        found = wait_for(fined, 3 * LOOP, "a violation for 01 234 BSZ and 09 508 KGD's passage")
    except AssertionError as exc:
        raise AssertionError(f"{exc}\n{why()}") from None
    why = why()  # type: ignore[assignment]
    assert {v.payload["plate"] for v in found} == {"01 234 BSZ"}, why
    print("violations (km/h):", [v.payload["speed_kmh"] for v in found], live.road_watch.stats())
    for v in found:
        assert v.payload["speed_kmh"] == pytest.approx(120, abs=2), why
        assert v.payload["exit"]["clock_trusted"] is not False and v.payload["entry"]["clock_trusted"] is not False
    # exactly one violation per passage: no entry or exit read is used twice
    assert (
        len({v.payload["entry"]["read"] for v in found})
        == len({v.payload["exit"]["read"] for v in found})
        == len(found)
    )
    assert live.road_watch.stats()["passages"] >= 2  # the slow car's passage was measured too, and not fined


def test_spot_speed_on_the_calibrated_camera_matches_the_simulators_truth(live: System) -> None:
    """Both cars drive 70.75 m of road in 4.9 s on r-1 (the simulator's ground truth: 52.0 km/h); the plate
    stage's followed positions through the calibration give it within 2 km/h (a plate followed by its
    picture is within a pixel or so; measured 51.6-52.4; one camera over 2-3 s is the weaker evidence, and
    labelled so)."""
    a, b = ROAD.to_ground(0.47, 0.36), ROAD.to_ground(0.22, 1.25)
    truth = ((a[0] - b[0]) ** 2 + (a[1] - b[1]) ** 2) ** 0.5 / 4.9 * 3.6

    def spots() -> list[Any]:
        live.road_watch.flush()
        return [v for v in events(live, "speed_violation") if v.payload.get("method") == "spot"]

    found = wait_for(spots, 3 * LOOP, "a spot-speed violation on r-1")
    print("spot speeds (km/h):", [(v.payload["plate"], v.payload["speed_kmh"], v.payload["spot"]) for v in found])
    for v in found:
        assert v.camera == "r-1" and v.payload["evidential_weight"] == "lower" and v.payload["limit_kmh"] == 40
        assert v.payload["speed_kmh"] == pytest.approx(truth, abs=2.0), v.payload
