"""Which limit applies: vehicle-class limits on a section, and spot speed on a calibrated camera.

Reads go through the real event writer, the road watch and the violations projection (as in
tests/road/test_violations.py); the spot camera's calibration is the simulator road camera's own
geometry (tests/road/test_spot_speed.py), and the plate path that of a simulated car at ~52 km/h.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from koopsuz.security.principal import Scope
from koopsuz.services.violation_notice import limit_text
from tests.road.test_spot_speed import MARKS, ROAD, drive, plate_centre_m
from tests.road.test_violations import SECTION, as_user, client, pdf_text, plate_read, violation_of  # noqa: F401


def test_class_limits_are_checked_applied_and_shown(client: TestClient, system) -> None:  # noqa: F811
    as_user(client, "admin")
    bad = client.post("/api/sections", json=SECTION | {"class_limits": {"tank": 40}})
    assert bad.status_code == 422 and "unknown vehicle class tank" in bad.text
    above = client.post("/api/sections", json=SECTION | {"class_limits": {"truck": 80}})
    assert above.status_code == 422 and "above limit_kmh" in above.text  # the general limit must be the highest
    ok = client.post("/api/sections", json=SECTION | {"class_limits": {"truck": 45, "bus": 45}})
    assert ok.status_code == 200 and ok.json()["class_limits"] == {"truck": 45, "bus": 45}
    assert client.get("/api/sections").json()[0]["class_limits"] == {"truck": 45, "bus": 45}

    t0 = datetime.now(UTC) - timedelta(minutes=20)
    for i, (plate, entry_cls, exit_cls) in enumerate(
        [("01 101 TRK", "truck", "truck"), ("01 102 CAR", "car", "car"), ("01 103 MIX", "truck", "car"),
         ("01 104 UNK", "truck", "vehicle")]
    ):  # fmt: skip
        at = t0 + timedelta(seconds=10 * i)
        plate_read(system, "yk-cam-1", plate, at, vehicle=entry_cls)
        plate_read(system, "yk-cam-2", plate, at + timedelta(seconds=324), vehicle=exit_cls)  # 4.5 km: 50 km/h
    system.road_watch.flush()
    truck, unknown = violation_of(system, "01 101 TRK"), violation_of(system, "01 104 UNK")
    assert truck.limit_kmh == 45 and truck.speed_kmh == pytest.approx(50.0) and truck.over_kmh == pytest.approx(5.0)
    assert unknown.limit_kmh == 45  # one read said truck, the other could not tell
    with pytest.raises(AssertionError):
        violation_of(system, "01 102 CAR", timeout=0.5)  # a car at 50 under the general 60: none
    with pytest.raises(AssertionError):
        violation_of(system, "01 103 MIX", timeout=0.5)  # truck at entry, car at exit: the doubt is the driver's

    as_user(client, "yk.head")
    v = client.get(f"/api/violations/{truck.id}").json()
    assert (v["method"], v["limit_class"], v["limit_kmh"], v["section_limit_kmh"]) == ("section", "truck", 45, 60)
    assert client.post(f"/api/violations/{truck.id}/confirm").status_code == 200
    pdf = client.get(f"/api/violations/{truck.id}/notice.pdf")
    assert pdf.status_code == 200 and b"(01 101 TRK)" in pdf_text(pdf.content)
    assert limit_text(v, lambda ru, en: en) == "45 km/h (trucks; general limit 60)"


def spot_body(**extra: object) -> dict[str, object]:
    return {
        "camera": "yk-cam-1",
        "image_points": [list(p) for p in MARKS],
        "road_points": [list(ROAD.to_ground(*p)) for p in MARKS],
        "camera_height_m": ROAD.camera_height_m,
        "plate_height_m": plate_centre_m("car", 1.3),  # the simulated car's plate centre (scale 1.3)
        "limit_kmh": 40,
        "tolerance_kmh": 3,
    } | extra


def test_spot_speed_on_a_calibrated_camera_is_a_lower_weight_violation(client: TestClient, system) -> None:  # noqa: F811
    as_user(client, "yk.operator")
    assert client.post("/api/spot-cameras", json=spot_body()).status_code == 403  # cameras.write only
    as_user(client, "admin")
    line = spot_body(image_points=[[0.1, 0.5], [0.2, 0.5], [0.3, 0.5], [0.5, 0.9]])
    r = client.post("/api/spot-cameras", json=line)
    assert r.status_code == 422 and "one line" in r.text
    assert (
        client.post("/api/spot-cameras", json=spot_body(image_points=[[0, 0], [2, 0], [0, 1], [1, 1]])).status_code
        == 422
    )
    assert client.post("/api/spot-cameras", json=spot_body(camera="nowhere")).status_code == 422
    r = client.post("/api/spot-cameras", json=spot_body())
    assert r.status_code == 200, r.text
    assert [a.action for a in system.audit.search(Scope.national(), target_id="yk-cam-1")] == ["spot_camera.save"]

    pts, truth = drive("car", [[0.47, 0.36], [0.22, 1.25]], 5.0, 1.3)  # ~52 km/h, limit 40
    path = [[round(t - pts[0][0], 3), x, y] for t, x, y in pts]
    now = datetime.now(UTC) - timedelta(minutes=2)
    plate_read(system, "yk-cam-1", "01 201 SPT", now, plate_path=path)
    plate_read(system, "yk-cam-1", "01 202 CLK", now, plate_path=path, clock_trusted=False)  # near a clock jump
    slow = [[t * 2, x, y] for t, x, y in path]  # the same places in twice the time: ~26 km/h
    plate_read(system, "yk-cam-1", "01 203 SLW", now, plate_path=slow)
    plate_read(system, "yk-cam-1", "01 204 UNS", now, plate_path=path, confidence=0.4)  # an uncertain read
    system.road_watch.flush()
    row = violation_of(system, "01 201 SPT")
    assert row.speed_kmh == pytest.approx(truth, abs=1.0) and row.limit_kmh == 40 and row.section == "spot-yk-cam-1"
    for plate in ("01 202 CLK", "01 203 SLW", "01 204 UNS"):
        with pytest.raises(AssertionError):
            violation_of(system, plate, timeout=0.5)
    st = system.road_watch.stats()
    assert st["spot_measured"] == 4 and st["spot_violations"] == 1 and st["spot_uncertain"] == 1

    as_user(client, "yk.head")
    v = client.get(f"/api/violations/{row.id}").json()
    assert v["method"] == "spot" and v["evidential_weight"] == "lower" and v["evidence"]["intact"] is True
    assert client.post(f"/api/violations/{row.id}/confirm").status_code == 200
    pdf = client.get(f"/api/violations/{row.id}/notice.pdf")
    assert pdf.status_code == 200 and b"(01 201 SPT)" in pdf_text(pdf.content)
    [stats] = [x for x in client.get("/api/violations/stats").json()["sections"] if x["section"] == "spot-yk-cam-1"]
    assert (stats["passages"], stats["confirmed"], stats["speeding_share"]) == (4, 1, 0.25)  # every vehicle measured


def test_lanes_are_checked_stored_and_named_on_reads(client: TestClient, system) -> None:  # noqa: F811
    """A camera's lanes over the API: refused with the reason when malformed, stored when good; a read that
    names its lane keeps it in the searchable reads (the live test has the plate stage name it)."""
    as_user(client, "admin")
    left = {"name": "1", "zone": [[0, 0.3], [0.5, 0.3], [0.5, 1], [0, 1]]}
    for bad, why in (
        ([left, left], "each lane needs its own name"),
        ([{"name": "2", "zone": [[0, 0], [1.2, 0], [1, 1]]}], "outside 0..1"),
        ([{"name": "2", "zone": [[0, 0], [1, 0]]}], "at least 3"),
    ):
        r = client.patch("/api/cameras/yk-cam-1", json={"lanes": bad})
        assert r.status_code == 422 and why in r.text, r.text
    r = client.patch("/api/cameras/yk-cam-1", json={"lanes": [left]})
    assert r.status_code == 200 and r.json()["lanes"] == [left], r.text
    read = plate_read(system, "yk-cam-1", "01 105 LNE", datetime.now(UTC), lane="1")
    found = client.get("/api/plates/reads", params={"plate": "01 105 LNE"}).json()["reads"]
    assert [(r["id"], r["lane"]) for r in found] == [(read.id, "1")]
