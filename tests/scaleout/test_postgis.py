"""PostGIS where installed (issue 9): the same spatial answers from the database as from Python.

A PostgreSQL cluster the test starts (tests/scaleout/servers.py) holds 400 cameras and 120 patrol
units scattered around Karakol and Tokmok, some at exactly the same place (ties). The nearest
available units and the cameras within a radius are asked both ways, PostGIS (``ST_DWithin`` and
KNN ``<->`` on geography) and the Python haversine path, over the same rows: same rows, same order,
distances within a millimetre per 200 km. The PostGIS path is shown to run in the database (it fails on a
database without the extension), and ``has_postgis`` tells the two databases and SQLite apart.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy.exc
from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from koopsuz.config import Settings
from koopsuz.security.principal import Scope
from koopsuz.store.db import Database
from koopsuz.store.spatial import SpatialRepo, has_postgis
from koopsuz.store.tables import CameraRow, SiteRow, UnitRow
from koopsuz.system import System
from tests.conftest import PASSWORD
from tests.scaleout.servers import PostgresServer

pytestmark = pytest.mark.skipif(
    not Path("/usr/share/postgresql/15/extension/postgis.control").exists(),
    reason="PostGIS is not installed (apt-get install postgresql-15-postgis-3, or make setup)",
)

KARAKOL, TOKMOK = (42.49, 78.39), (42.84, 75.29)
STATUSES = ["available", "available", "available", "en_route", "on_scene", "off_duty"]


def seed(db: Database) -> None:
    rnd = random.Random(9)
    now = datetime.now(UTC)
    with db.transaction() as s:
        for site, region, (lat, lon) in (("yk", "KG-Y", KARAKOL), ("ch", "KG-C", TOKMOK)):
            s.add(SiteRow(id=site, name=site, type="street", region=region, lat=lat, lon=lon))
        s.flush()
        for i in range(400):
            site, region, (lat, lon) = ("yk", "KG-Y", KARAKOL) if i % 3 else ("ch", "KG-C", TOKMOK)
            if i % 50 == 7:  # two cameras on one mast: a tie broken by id
                lat, lon = lat + 0.004, lon - 0.003
            else:
                lat, lon = lat + rnd.uniform(-0.05, 0.05), lon + rnd.uniform(-0.07, 0.07)
            s.add(
                CameraRow(
                    id=f"cam-{i:03d}",
                    name=f"camera {i}",
                    site=site,
                    region=region,
                    main_url="rtsp://x/main",
                    sub_url="rtsp://x/sub",
                    lat=lat,
                    lon=lon,
                    updated_at=now,
                )
            )
        for i in range(120):
            region, (lat, lon) = ("KG-Y", KARAKOL) if i % 4 else ("KG-C", TOKMOK)
            known = i % 11 != 5  # some units never reported a position
            if i % 30 == 3:  # two crews parked at the same station: a tie broken by call sign
                lat, lon = lat + 0.01, lon + 0.01
            else:
                lat, lon = lat + rnd.uniform(-0.08, 0.08), lon + rnd.uniform(-0.1, 0.1)
            s.add(
                UnitRow(
                    id=f"u-{i:03d}",
                    call_sign=f"{'YK' if region == 'KG-Y' else 'CH'}-{(i * 37) % 1000:03d}",
                    region=region,
                    status=STATUSES[i % len(STATUSES)],
                    lat=lat if known else None,
                    lon=lon if known else None,
                    updated_at=now,
                )
            )


def both(db: Database, ask: object) -> tuple[list[tuple[str, float]], list[tuple[str, float]]]:
    with db.session() as s:
        fast = ask(SpatialRepo(s, True))  # type: ignore[operator]
        slow = ask(SpatialRepo(s, False))  # type: ignore[operator]
    return fast, slow


def same(fast: list[tuple[str, float]], slow: list[tuple[str, float]]) -> None:
    assert [k for k, _ in fast] == [k for k, _ in slow]
    # PostGIS's sphere is 3 cm smaller (radius 6 371 008.771 m, (2a+b)/3 of WGS 84): 1 mm per 200 km
    assert all(abs(a - b) <= 1e-4 + 1e-8 * b for (_, a), (_, b) in zip(fast, slow, strict=True)), (fast[:3], slow[:3])


def test_postgis_and_python_give_the_same_answers(pg_server: PostgresServer, tmp_path: Path) -> None:
    plain = Database(pg_server.create_database("spatial_plain"))
    plain.migrate()
    gis_url = pg_server.create_database("spatial_gis")
    with Database(gis_url).engine.begin() as conn:  # the DBA's step: the extension needs a superuser
        conn.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
    gis = Database(gis_url)
    gis.migrate()
    sqlite = Database(f"sqlite:///{tmp_path / 'k.db'}")
    sqlite.migrate()
    try:
        assert has_postgis(gis.engine) and not has_postgis(plain.engine) and not has_postgis(sqlite.engine)
        seed(gis)
        seed(plain)

        places = [KARAKOL, TOKMOK, (KARAKOL[0] + 0.004, KARAKOL[1] - 0.003), (42.6, 77.0), (40.5, 72.8)]
        for lat, lon in places:
            for scope in (Scope.national(), Scope.of("KG-Y"), Scope.of("KG-C", "KG-Y")):
                for within in (50.0, 2000.0, 6000.0):
                    fast, slow = both(
                        gis,
                        lambda r, lat=lat, lon=lon, scope=scope, within=within: [
                            (c.id, d) for c, d in r.cameras_within(scope, lat, lon, within)
                        ],
                    )
                    same(fast, slow)
                    assert all(d <= within for _, d in fast)
                fast, slow = both(
                    gis,
                    lambda r, lat=lat, lon=lon, scope=scope: [
                        (u.call_sign, d) for u, d in r.available_units_nearest(scope, lat, lon, 5)
                    ],
                )
                same(fast, slow)
        # the answers are not vacuous: cameras near Karakol, a tie, units in order, none off duty
        with gis.session() as s:
            r = SpatialRepo(s, True)
            near = r.cameras_within(Scope.national(), *places[2], 100.0)
            assert [c.id for c, _ in near[:2]] == ["cam-007", "cam-107"] and near[0][1] == near[1][1]
            assert len(r.cameras_within(Scope.national(), *KARAKOL, 6000.0)) > 150
            units = r.available_units_nearest(Scope.of("KG-Y"), *KARAKOL, 5)
            assert len(units) == 5 and all(u.status == "available" and u.region == "KG-Y" for u, _ in units)
            assert [d for _, d in units] == sorted(d for _, d in units)
            assert r.cameras_within(Scope.of("KG-C"), 40.5, 72.8, 6000.0) == []  # Osh: nothing there
        # the map API: cameras within a radius, in the caller's scope, through PostGIS here
        system = System(Settings(data_dir=tmp_path / "var", database_url=gis_url, secret_key="postgis-test"))
        try:
            system.users.create("test", "yk.operator", PASSWORD, "regional_operator", "KG-Y")
            with TestClient(create_app(system, start_system=False)) as c:
                r = c.post("/api/auth/login", json={"username": "yk.operator", "password": PASSWORD})
                assert r.status_code == 200, r.text
                r = c.get("/api/cameras", params={"lat": KARAKOL[0], "lon": KARAKOL[1], "within_m": 3000})
                assert r.status_code == 200, r.text
                with gis.session() as s:
                    want = SpatialRepo(s, False).cameras_within(Scope.of("KG-Y"), *KARAKOL, 3000.0)
                got = r.json()
                assert [x["id"] for x in got] == [cam.id for cam, _ in want] and len(got) > 20
                assert all(x["region"] == "KG-Y" for x in got)
                assert [x["distance_m"] for x in got] == [round(d, 1) for _, d in want]
                bads = [{"lat": 42.5, "lon": 78.4}, {"lat": 95, "lon": 78.4, "within_m": 10}]
                bads += [{"lat": 42.5, "lon": 78.4, "within_m": 0}, {"lat": 42.5, "lon": 78.4, "within_m": 1e7}]
                for bad in bads:
                    r = c.get("/api/cameras", params=bad)
                    assert r.status_code == 422 and r.json()["detail"], (bad, r.text)
        finally:
            system.stop()
        # the PostGIS path runs in the database: on one without the extension it cannot
        with plain.session() as s, pytest.raises(sqlalchemy.exc.ProgrammingError):
            SpatialRepo(s, True).cameras_within(Scope.national(), *KARAKOL, 2000.0)
    finally:
        for db in (plain, gis, sqlite):
            db.dispose()
