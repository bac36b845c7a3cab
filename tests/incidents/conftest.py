"""An in-process system with units on the Issyk-Kul shore, alerts written through the real writer,
and one API client that acts as several users (Bearer tokens), on a clock the tests control."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete

from koopsuz.api.app import create_app
from koopsuz.config import Settings
from koopsuz.domain.events import Event, Severity
from koopsuz.store.tables import (
    AlertFeedbackRow,
    AlertStateRow,
    CommandLogRow,
    DispatchRow,
    EventRow,
    IncidentEvidenceRow,
    IncidentNoteRow,
    IncidentRow,
    OutboxRow,
    UnitRow,
)
from tests.conftest import DATA, PASSWORD, ROLE_USERS

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
# Real places (WGS 84): the units stand in the towns, incidents are placed between them.
KARAKOL = (42.4907, 78.3936)
CHOLPON_ATA = (42.6496, 77.0822)
BALYKCHY = (42.4600, 76.1870)
BOSTERI = (42.6490, 77.2140)  # 11 km east of Cholpon-Ata
TOKMOK = (42.8417, 75.2911)  # Chuy


class Clock:
    def __init__(self) -> None:
        self.t = T0

    def __call__(self) -> datetime:
        return self.t

    def at(self, seconds: float) -> datetime:
        self.t = T0 + timedelta(seconds=seconds)
        return self.t


class Api:
    """One TestClient; each call names the user it acts as."""

    def __init__(self, client: TestClient, tokens: dict[str, str]) -> None:
        self.c = client
        self.tokens = tokens

    def __call__(self, user: str, method: str, path: str, **kw: Any) -> Any:
        self.c.cookies.clear()
        return self.c.request(method, path, headers={"Authorization": f"Bearer {self.tokens[user]}"}, **kw)


@pytest.fixture(scope="module")
def command_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One system per module (users are slow to create: argon2); each test starts from empty tables."""
    from koopsuz.system import System

    base = tmp_path_factory.mktemp("command")
    s = System(Settings(data_dir=base / "var", secret_key="test-secret"))
    s.load_deployment(DATA / "two-regions.yaml")
    for role, (username, region) in ROLE_USERS.items():
        s.users.create("test", username, PASSWORD, role, region)
    s.users.create("test", "ch.operator", PASSWORD, "regional_operator", "KG-C")
    s.users.create("test", "yk.operator2", PASSWORD, "regional_operator", "KG-Y")
    yield s
    s.stop()


@pytest.fixture
def system(command_system: Any) -> Any:
    with command_system.db.transaction() as s:
        for table in (DispatchRow, IncidentEvidenceRow, IncidentNoteRow, CommandLogRow, UnitRow, IncidentRow):
            s.execute(delete(table))
        for table in (AlertStateRow, AlertFeedbackRow, OutboxRow):
            s.execute(delete(table))
        s.execute(delete(EventRow))
    return command_system


@pytest.fixture
def clock(system: Any) -> Clock:
    c = Clock()
    system.incidents.set_clock(c)
    return c


@pytest.fixture(scope="module")
def tokens(command_system: Any) -> dict[str, str]:
    app = create_app(command_system, start_system=False)
    with TestClient(app) as c:
        out = {}
        for u in ("admin", "national", "yk.operator", "yk.operator2", "yk.head", "ch.operator", "auditor"):
            r = c.post("/api/auth/login", json={"username": u, "password": PASSWORD})
            assert r.status_code == 200, r.text
            out[u] = r.json()["token"]
        return out


@pytest.fixture
def api(system: Any, clock: Clock, tokens: dict[str, str]) -> Iterator[Api]:
    app = create_app(system, start_system=False)
    with TestClient(app) as c:
        yield Api(c, tokens)


def add_alert(
    system, region: str = "KG-Y", *, severity: str = "high", ts: datetime = T0, rule: str = "zone-1"
) -> Event:
    cam, site = ("yk-cam-1", "yk-square") if region == "KG-Y" else ("ch-cam-1", "ch-school")
    e = Event(
        kind="alert",
        region=region,
        camera=cam,
        site=site,
        ts=ts,
        severity=Severity(severity),
        payload={"rule": rule, "rule_name": f"Rule {rule}"},
    )
    system.writer.write_now([e])
    return e


def add_units(api: Api) -> None:
    for uid, sign, region, pos in (
        ("yk-karakol-1", "Karakol-1", "KG-Y", KARAKOL),
        ("yk-cholpon-1", "Cholpon-1", "KG-Y", CHOLPON_ATA),
        ("yk-balykchy-1", "Balykchy-1", "KG-Y", BALYKCHY),
        ("ch-tokmok-1", "Tokmok-1", "KG-C", TOKMOK),
    ):
        r = api("admin", "POST", "/api/units", json={"id": uid, "call_sign": sign, "region": region})
        assert r.status_code == 201, r.text
        r = api("admin", "POST", f"/api/units/{uid}/position", json={"lat": pos[0], "lon": pos[1]})
        assert r.status_code == 200, r.text
    # off duty at the very place of the incident: never suggested
    r = api(
        "admin",
        "POST",
        "/api/units",
        json={
            "id": "yk-bosteri-1",
            "call_sign": "Bosteri-1",
            "region": "KG-Y",
            "status": "off_duty",
            "lat": BOSTERI[0],
            "lon": BOSTERI[1],
        },
    )
    assert r.status_code == 201, r.text
