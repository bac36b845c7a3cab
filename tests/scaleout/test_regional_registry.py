"""Issue 9, regions, region -> capital: a regional centre's sites and cameras reach the national store,
also when they change while the line to the capital is cut; never their stream credentials.

Real servers: the hub and a regional leaf as nats-server processes with their own JetStream domains,
the leaf reaching the hub through the TCP forwarder the test cuts (tests/scaleout/leafnodes.py). Both
sides are ``System``s wired by their settings alone (``KOOPSUZ_NATIONAL_DOMAIN`` on the region,
``KOOPSUZ_REGIONAL_DOMAINS`` in the capital), on separate stores; the region's registry is changed
through its real RegistryService, the capital's copy read through the national API.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from koopsuz.api.app import create_app
from koopsuz.bus.federation import RegistryState
from koopsuz.cli import app
from koopsuz.config import Settings
from koopsuz.security.principal import Principal, Role
from koopsuz.services.errors import Conflict
from koopsuz.services.regional_registry import apply_registry, placeholder_url, regional_state
from koopsuz.store.db import Database
from koopsuz.store.tables import CameraRow, SiteRow
from koopsuz.system import System
from tests.conftest import PASSWORD
from tests.scaleout.leafnodes import JetStreamNode
from tests.scaleout.servers import wait_for

ADMIN = Principal(1, "admin", "Administrator", Role.ADMIN, None)
SECRET = "Zx9-s3cret-pw"  # in every regional stream URL: must never reach the capital


def _db(path: Path) -> Database:
    db = Database(f"sqlite:///{path}")
    db.migrate()
    return db


def _url(db: Database) -> str:
    """The store's real URL (under ``pytest --pg`` a SQLite path opens a PostgreSQL copy in this process only)."""
    return db.engine.url.render_as_string(hide_password=False)


def _camera(cid: str, name: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": cid,
        "name": name,
        "site": "yk-pier",
        "main_url": f"rtsp://admin:{SECRET}@10.9.0.{len(cid)}:554/main",
        "sub_url": f"rtsp://admin:{SECRET}@10.9.0.{len(cid)}:554/sub",
        "lat": 42.49,
        "lon": 78.39,
    } | extra


def _national_cameras(db: Database) -> dict[str, CameraRow]:
    with db.session() as s:
        return {r.id: r for r in s.execute(select(CameraRow)).scalars()}


def test_a_regions_registry_reaches_the_capital_across_a_cut_line(
    tmp_path: Path, hub_and_leaf: tuple[JetStreamNode, JetStreamNode]
) -> None:
    hub, leaf = hub_and_leaf
    assert hub.link is not None
    region_db, national_db = _db(tmp_path / "region.db"), _db(tmp_path / "national.db")
    region = System(
        Settings(
            data_dir=tmp_path / "region-node",
            secret_key="region",
            database_url=_url(region_db),
            bus_url=leaf.url,
            national_domain="national",
        )
    )
    capital = System(
        Settings(
            data_dir=tmp_path / "national-node",
            secret_key="capital",
            database_url=_url(national_db),
            bus_url=hub.url,
            regional_domains="issyk-kul=KG-Y",  # pinned: this centre may only send Issyk-Kul's rows
        )
    )
    assert region.registry_out is not None and capital.registry_in is not None
    try:
        site = {"id": "yk-pier", "name": "Cholpon-Ata pier", "type": "tourist_area", "region": "KG-Y",
                "lat": 42.65, "lon": 77.08}  # fmt: skip
        region.registry.save_site(ADMIN, site)
        region.registry.add_camera(ADMIN, _camera("yk-a", "Pier gate", ptz=True, zoom_max=28))
        region.registry.add_camera(ADMIN, _camera("yk-c", "Pier kiosk"))
        region.start(ingest=False, record=False, watch_roads=False)
        capital.start(ingest=False, record=False, watch_roads=False)
        # first contact (45 s: a busy 2-core machine; it takes a few seconds)
        assert wait_for(lambda: set(_national_cameras(national_db)) == {"yk-a", "yk-c"}, 45), _national_cameras(
            national_db
        )

        # the line is cut; the region adds a camera, renames and disables another, deletes a third
        hub.link.cut()
        region.registry.add_camera(ADMIN, _camera("yk-b", "Beach north", heading=90.0, fov=60.0))
        region.registry.update_camera(ADMIN, "yk-a", {"name": "Pier main gate"})
        region.registry.set_enabled(ADMIN, "yk-a", False)
        with region_db.transaction() as s:  # no delete in the API yet: the row goes as an operator's SQL would
            s.delete(s.get(CameraRow, "yk-c"))
        leaf_state = RegistryState(region.bus)  # type: ignore[arg-type]
        assert wait_for(lambda: "issyk-kul.camera.yk-b" in leaf_state.read("issyk-kul"), 10)  # the leaf has it
        # a leaf that takes another domain's subjects (compromised) and writes a site as Chuy: the hub's
        # source for issyk-kul copies only koopsuzreg.issyk-kul.>, so it never reaches the capital
        forged = json.dumps({"id": "ch-forged", "name": "Forged", "type": "street", "region": "KG-C",
                             "lat": 42.8, "lon": 74.6}).encode()  # fmt: skip

        async def forge(_nc: Any, js: Any) -> None:
            cfg = (await js.stream_info("KOOPSUZ_REGISTRY")).config
            cfg.subjects = [*cfg.subjects, "koopsuzreg.chuy.>"]
            await js.update_stream(cfg)
            await js.publish("koopsuzreg.chuy.site.ch-forged", forged, stream="KOOPSUZ_REGISTRY")

        region.bus.call(forge)  # type: ignore[attr-defined]
        time.sleep(1.0)
        assert set(_national_cameras(national_db)) == {"yk-a", "yk-c"}, "a change crossed a cut line"

        # the line returns: the copy resumes, nobody sends anything again
        hub.link.restore()
        t0 = time.monotonic()

        def caught_up() -> bool:
            rows = _national_cameras(national_db)
            a = rows.get("yk-a")
            return set(rows) == {"yk-a", "yk-b"} and a is not None and a.name == "Pier main gate" and not a.enabled

        assert wait_for(caught_up, 45), {k: (r.name, r.enabled) for k, r in _national_cameras(national_db).items()}
        print(f"the capital has the region's changes {time.monotonic() - t0:.1f} s after the line returned")

        assert RegistryState(capital.bus).read("chuy") == {}  # type: ignore[arg-type]  # not on the hub
        with national_db.session() as s:
            assert s.get(SiteRow, "ch-forged") is None
        # the operator's view of the link: the region's registry fully copied (its events' stream is not
        # linked in this test: no national writer)
        r = CliRunner().invoke(app, ["federation", "status", "--json", "--bus-url", hub.url])
        assert r.exit_code == 0, r.output
        (status,) = [json.loads(line) for line in r.stdout.splitlines()]
        got = (status["domain"], status["linked"], status["registry_lag"], status["lag"])
        assert got == ("issyk-kul", True, 0, None), status

        rows = _national_cameras(national_db)
        b = rows["yk-b"]
        assert (b.site, b.region, b.heading, b.fov, b.owner_domain) == ("yk-pier", "KG-Y", 90.0, 60.0, "issyk-kul")
        assert rows["yk-a"].ptz and rows["yk-a"].zoom_max == 28
        # no credentials, nor any stream address, in the capital: not in the store, not on the hub
        for r in rows.values():
            assert (r.main_url, r.sub_url, r.onvif_url) == (placeholder_url("issyk-kul", r.id),) * 2 + (None,)
        hub_values = RegistryState(capital.bus).read("issyk-kul")  # type: ignore[arg-type]
        assert hub_values and not any(SECRET.encode() in v or b"10.9.0." in v for v in hub_values.values())
        # the national store's ingest and recording leave the region's cameras alone
        assert capital.registry.enabled_cameras() == []

        # the national API shows them, and refuses to change them
        capital.users.create("test", "admin", PASSWORD, "admin", None)
        with TestClient(create_app(capital, start_system=False)) as c:
            r = c.post("/api/auth/login", json={"username": "admin", "password": PASSWORD})
            c.headers["X-CSRF-Token"] = r.json()["csrf"]
            got = c.get("/api/cameras/yk-b").json()
            assert (got["name"], got["site_name"], got["site_type"], got["region"]) == (
                "Beach north", "Cholpon-Ata pier", "tourist_area", "KG-Y"
            )  # fmt: skip
            assert got["owner_domain"] == "issyk-kul"  # the pages can say where to edit it
            assert c.get("/api/sites").json()[0]["owner_domain"] == "issyk-kul"
            assert SECRET not in c.get("/api/cameras").text
            r = c.patch("/api/cameras/yk-b", json={"name": "renamed in the capital"})
            assert r.status_code == 409 and "issyk-kul" in r.json()["detail"], r.text
            assert c.post("/api/cameras/yk-b/enable").status_code == 409
            # nor steer, watch or play it back: the region keeps its stream, recordings and ONVIF address
            for method, path in (
                ("put", "/api/cameras/yk-b/rules"),
                ("get", "/api/cameras/yk-b/frame.jpg"),
                ("get", "/api/cameras/yk-b/timeline"),
                ("post", "/api/cameras/yk-a/ptz/stop"),
            ):
                r = c.request(method.upper(), path, json={"rules": []} if method == "put" else None)
                assert r.status_code == 409 and "regional centre 'issyk-kul'" in r.json()["detail"], (path, r.text)
            r = c.patch("/api/sites/yk-pier", json={"name": "x"})
            assert r.status_code == 409 and "change it in that region" in r.json()["detail"], r.text
        with pytest.raises(Conflict, match="issyk-kul"):  # nor a national camera on the region's site
            capital.registry.add_camera(ADMIN, _camera("nat-x", "National on a regional site"))
        assert _national_cameras(national_db)["yk-b"].name == "Beach north"

        # a deletion made while the region's publisher was not running is carried at its next start
        region.stop()
        with region_db.transaction() as s:
            s.delete(s.get(CameraRow, "yk-b"))
        region = System(region.settings)
        region.start(ingest=False, record=False, watch_roads=False)
        assert wait_for(lambda: set(_national_cameras(national_db)) == {"yk-a"}, 30), _national_cameras(national_db)
    finally:
        region.stop()
        capital.stop()
        region_db.dispose()
        national_db.dispose()


def test_applying_a_registry_is_idempotent_ordered_and_never_overwrites_the_capitals_rows(tmp_path: Path) -> None:
    """No servers: what the capital writes, given the hub's values (and some it must refuse)."""
    region_db, national_db = _db(tmp_path / "region.db"), _db(tmp_path / "national.db")
    with region_db.transaction() as s:
        s.add(SiteRow(id="yk-pier", name="Pier", type="tourist_area", region="KG-Y", lat=42.6, lon=77.0))
        s.add(SiteRow(id="yk-beach", name="Beach", type="tourist_area", region="KG-Y", lat=42.6, lon=77.1))
    with region_db.transaction() as s:
        for cid, site in (("yk-a", "yk-pier"), ("nat-1", "yk-beach")):
            s.add(CameraRow(id=cid, name=cid, site=site, region="KG-Y", main_url=f"rtsp://u:{SECRET}@h/{cid}",
                            sub_url="rtsp://h/s", lat=42.6, lon=77.0, updated_at=datetime.now(UTC)))  # fmt: skip
    with national_db.transaction() as s:  # the capital's own camera with an id the region also uses
        s.add(SiteRow(id="nat-site", name="Ala-Too", type="street", region="KG-GB", lat=42.87, lon=74.6))
    with national_db.transaction() as s:
        s.add(CameraRow(id="nat-1", name="Ala-Too", site="nat-site", region="KG-GB", main_url="rtsp://x/1",
                        sub_url="rtsp://x/2", lat=42.87, lon=74.6, updated_at=datetime.now(UTC)))  # fmt: skip
    values = {f"issyk-kul.{k}": v for k, v in regional_state(region_db).items()}
    assert not any(SECRET.encode() in v for v in values.values())
    cameras_only = {k: v for k, v in values.items() if ".camera." in k}
    # a domain pinned to another region sends nothing of Issyk-Kul's (its sites and cameras are dropped)
    assert apply_registry(national_db, values, pins={"issyk-kul": "KG-C"}) == (0, {})
    assert _national_cameras(national_db).keys() == {"nat-1"}
    changed, waiting = apply_registry(national_db, cameras_only)  # their sites have not arrived
    assert (changed, set(waiting)) == (0, {"issyk-kul.camera.yk-a"})  # nat-1 is the capital's: refused, not kept
    changed, waiting = apply_registry(national_db, waiting | values, pins={"issyk-kul": "KG-Y"})
    assert (changed, waiting) == (3, {})  # two sites and yk-a
    assert apply_registry(national_db, values) == (0, {})  # the same values again: nothing to do
    rows = _national_cameras(national_db)
    assert (rows["nat-1"].region, rows["nat-1"].owner_domain, rows["nat-1"].main_url) == ("KG-GB", None, "rtsp://x/1")
    # a site whose camera is still here waits for that camera's deletion; both go when it comes
    tomb = b'{"deleted":true}'
    assert apply_registry(national_db, {"issyk-kul.site.yk-pier": tomb}) == (0, {"issyk-kul.site.yk-pier": tomb})
    assert apply_registry(national_db, {"issyk-kul.site.yk-pier": tomb, "issyk-kul.camera.yk-a": tomb}) == (2, {})
    # another region cannot claim a row it does not own; malformed values are dropped
    forged = {"chuy.site.yk-beach": values["issyk-kul.site.yk-beach"], "x.y": b"{}", "issyk-kul.camera.zz": b"no"}
    refused: dict[str, bytes] = {}
    assert apply_registry(national_db, forged | {"issyk-kul.camera.nat-1": values["issyk-kul.camera.nat-1"]},
                          refused) == (0, {})  # fmt: skip
    assert set(refused) == {"chuy.site.yk-beach", "issyk-kul.camera.nat-1"}  # kept to try again, not applied
    with national_db.session() as s:
        assert s.get(SiteRow, "yk-beach").owner_domain == "issyk-kul"  # type: ignore[union-attr]
        assert s.get(SiteRow, "yk-pier") is None
    # the capital deletes its own nat-1 (an upgrade from a national deployment file): the region's comes
    with national_db.transaction() as s:
        s.delete(s.get(CameraRow, "nat-1"))
    assert apply_registry(national_db, dict(refused), refused) == (1, {})
    assert set(refused) == {"chuy.site.yk-beach"}
    assert _national_cameras(national_db)["nat-1"].owner_domain == "issyk-kul"
    # one region's bad value (no name; a region code too long for PostgreSQL's column) is dropped alone:
    # the good one in the same batch lands; and a capital following only issyk-kul ignores other domains
    good = {"id": "yk-dock", "name": "Dock", "type": "tourist_area", "region": "KG-Y", "lat": 42.6, "lon": 77.2}
    bad = {"chuy.site.ch-x": json.dumps(good | {"id": "ch-x", "name": "", "region": "KG-C"}).encode(),
           "chuy.site.ch-y": json.dumps(good | {"id": "ch-y", "region": "KG-CHUY-NORTH"}).encode(),
           "issyk-kul.site.yk-dock": json.dumps(good).encode()}  # fmt: skip
    assert apply_registry(national_db, bad) == (1, {})
    stray = {"chuy.site.ch-z": json.dumps(good | {"id": "ch-z", "region": "KG-C"}).encode()}
    assert apply_registry(national_db, stray, pins={"issyk-kul": "KG-Y"}) == (0, {})
    with national_db.session() as s:
        assert s.get(SiteRow, "yk-dock") is not None and s.get(SiteRow, "ch-x") is None
    region_db.dispose()
    national_db.dispose()
