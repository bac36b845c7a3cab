"""A system with districts, schools and one day of activity written through the real services.

``seed`` works an incident from an alert and one from a call through the incident service on a
clock it controls (so the dashboard must find the very times the service recorded), gives
operators' verdicts through the rule service, writes camera health events through the event
writer and indexes recorded segments. The expected figures are worked out in ``EXPECTED``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from koopsuz.config import Settings
from koopsuz.domain.events import Event, Severity
from koopsuz.store.tables import RecordingGapRow, RecordingSegmentRow, RecordingSessionRow
from tests.conftest import PASSWORD

DEPLOYMENT = Path(__file__).with_name("deployment.yaml")
USERS = (
    ("admin", "admin", None),
    ("national", "national_operator", None),
    ("yk.head", "regional_head", "KG-Y"),
    ("yk.operator", "regional_operator", "KG-Y"),
)
KARAKOL = (42.4907, 78.3936)
TOKMOK = (42.8417, 75.2911)


def make_system(base: Path, **settings: Any) -> Any:
    from koopsuz.system import System

    system = System(Settings(data_dir=base / "var", secret_key="dash-secret", **settings))
    system.load_deployment(DEPLOYMENT)
    for username, role, region in USERS:
        system.users.create("test", username, PASSWORD, role, region)
    return system


def day_start(t: datetime) -> datetime:
    """The UTC start of the Bishkek day holding ``t``."""
    local = t + timedelta(hours=6)
    return datetime(local.year, local.month, local.day, tzinfo=UTC) - timedelta(hours=6)


def seed(system: Any, day: datetime) -> dict[str, Any]:
    """One Bishkek day starting at ``day`` (UTC); returns the ids written."""
    admin = system.users.authenticate("admin", PASSWORD)
    op = system.users.authenticate("yk.operator", PASSWORD)
    t0 = day + timedelta(hours=9)  # 09:00 in Bishkek
    clock = {"t": t0}
    system.incidents.set_clock(lambda: clock["t"])

    def at(seconds: float) -> None:
        clock["t"] = t0 + timedelta(seconds=seconds)

    for uid, sign in (("yk-unit-1", "Karakol-1"), ("yk-unit-2", "Karakol-2")):
        system.units.create(admin, {"id": uid, "call_sign": sign, "region": "KG-Y", "lat": KARAKOL[0],
                                    "lon": KARAKOL[1]})

    def alert(cam: str, site: str, region: str, ts: datetime, rule: str = "zone-1") -> Event:
        e = Event(kind="alert", region=region, camera=cam, site=site, ts=ts, severity=Severity.HIGH,
                  payload={"rule": rule, "rule_kind": "zone", "rule_name": f"Zone {rule}"})
        system.writer.write_now([e])
        return e

    # incident 1: an alert on the school camera (Ak-Suu), opened +60 s, sent +120 s, on scene +720 s
    a1 = alert("yk-cam-2", "yk-school", "KG-Y", t0)
    at(60)
    i1 = system.incidents.create(op, {"source": "alert", "alerts": [a1.id], "category": "theft"})["id"]
    at(120)
    system.incidents.dispatch(op, i1, {"unit": "yk-unit-1"})
    at(720)
    system.incidents.unit_status(op, "yk-unit-1", {"status": "on_scene"})
    # incident 2: a 102 call in Karakol opened +100 s, sent +400 s, never on scene
    at(100)
    i2 = system.incidents.create(op, {"source": "call", "category": "assault", "caller_name": "A",
                                      "caller_phone": "+996700000000", "lat": KARAKOL[0], "lon": KARAKOL[1]})["id"]
    at(400)
    system.incidents.dispatch(op, i2, {"unit": "yk-unit-2"})
    # incident 3 in Chuy, by hand, never dispatched
    at(200)
    system.incidents.create(admin, {"source": "manual", "category": "fire", "lat": TOKMOK[0], "lon": TOKMOK[1]})
    system.incidents.set_clock(lambda: datetime.now(UTC))

    # verdicts: the square camera 2 of 3 confirmed, the school camera's alert confirmed, Chuy's dismissed
    square = [alert("yk-cam-1", "yk-square", "KG-Y", t0 + timedelta(minutes=m)) for m in (5, 6, 7)]
    chuy = alert("ch-cam-1", "ch-school", "KG-C", t0)
    for e, verdict, who in ((square[0], "confirmed", op), (square[1], "confirmed", op), (square[2], "dismissed", op),
                            (a1, "confirmed", op), (chuy, "dismissed", admin)):
        system.rules.feedback(who, e.id, {"verdict": verdict})
    alert("yk-cam-1", "yk-square", "KG-Y", t0 + timedelta(minutes=8))  # never reviewed: counts for neither side

    # health: the square camera was down since the day before, back 2 h into the day; the school
    # camera down from 12 h to 18 h into the day; Chuy's school camera down for the last 6 h
    def health(cam: str, region: str, kind: str, ts: datetime) -> None:
        system.writer.write_now([Event(kind=kind, region=region, camera=cam, ts=ts, severity=Severity.MEDIUM)])

    health("yk-cam-1", "KG-Y", "camera_offline", day - timedelta(hours=6))
    health("yk-cam-1", "KG-Y", "camera_online", day + timedelta(hours=2))
    health("yk-cam-2", "KG-Y", "camera_offline", day + timedelta(hours=12))
    health("yk-cam-2", "KG-Y", "camera_offline", day + timedelta(hours=13))  # reported twice: one outage
    health("yk-cam-2", "KG-Y", "camera_online", day + timedelta(hours=18))
    health("ch-cam-1", "KG-C", "camera_offline", day + timedelta(hours=18))

    # recording: the square camera recorded the first 12 h in 10-minute segments; the school
    # camera one segment that straddles the end of the day (its first minute counts)
    with system.db.transaction() as s:
        for cam in ("yk-cam-1", "yk-cam-2"):
            s.add(RecordingSessionRow(id=f"S{cam}".ljust(26, "0")[:26], camera=cam, region="KG-Y", started_at=day,
                                      dir="x", init_path="x/init.mp4", init_sha256="0" * 64, codec="h264", width=1280,
                                      height=720))
        s.flush()
        for k in range(12, 72):  # the first 2 h were deleted by retention since (a "recorded, then deleted" gap)
            a = day + timedelta(minutes=10 * k)
            s.add(RecordingSegmentRow(camera="yk-cam-1", region="KG-Y", session="Syk-cam-1".ljust(26, "0")[:26],
                                      seq=k, start=a, end=a + timedelta(minutes=10), duration_s=600.0, size=1,
                                      sha256="0" * 64, path=f"x/{k}.m4s"))
        # the recorder lost Chuy's camera an hour before ingest reported it (1 h more offline, the
        # overlapping hour once); a full disk on the square camera is a recording fault, not downtime
        s.add(RecordingGapRow(camera="ch-cam-1", region="KG-C", start=day + timedelta(hours=17),
                              end=day + timedelta(hours=19), cause="stream_lost", detail={}))
        s.add(RecordingGapRow(camera="yk-cam-1", region="KG-Y", start=day, end=day + timedelta(hours=2),
                              cause="retention", detail={}))
        s.add(RecordingGapRow(camera="yk-cam-1", region="KG-Y", start=day + timedelta(hours=13),
                              end=day + timedelta(hours=14), cause="disk_full", detail={}))
        a = day + timedelta(days=1, minutes=-1)
        s.add(RecordingSegmentRow(camera="yk-cam-2", region="KG-Y", session="Syk-cam-2".ljust(26, "0")[:26], seq=0,
                                  start=a, end=a + timedelta(minutes=2), duration_s=120.0, size=1, sha256="0" * 64,
                                  path="x/0.m4s"))
    return {"incidents": [i1, i2]}


EXPECTED = {
    "KG-Y": {
        "incidents": 2,
        "by_category": {"assault": 1, "theft": 1},
        "dispatch_median": 180.0,  # 60 and 300 s
        "dispatch_p90": 60 + 0.9 * 240,
        "on_scene_median": 660.0,
        "precision": 0.75,
        "uptime": round((round(22 / 24, 4) + 18 / 24) / 2, 4),  # the mean of the cameras' (rounded) figures
        "coverage": round((0.5 + round(60 / 86400, 4)) / 2, 4),
    },
}


@pytest.fixture(scope="module")
def dash_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    system = make_system(tmp_path_factory.mktemp("dashboard"), record=False)
    yield system
    system.stop()
