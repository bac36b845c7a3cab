"""Issue 9, regions, capital -> region: a national hotlist change reaches a regional node, also one whose
line to the capital was cut when the change was made (it keeps matching what it had meanwhile).

Real servers: the hub and a regional leaf as nats-server processes with their own JetStream domains,
the leaf reaching the hub through the TCP forwarder the test cuts (tests/scaleout/leafnodes.py); the
national and the regional stores are separate databases, the lists changed through the real
HotlistService, the region's plates read back through its own HotlistService (what the road watch
matches against).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from koopsuz.bus import make_bus
from koopsuz.bus.federation import NationalState
from koopsuz.bus.nats import NatsBus
from koopsuz.config import Settings
from koopsuz.domain.events import Event
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Principal, Role
from koopsuz.services.errors import Forbidden
from koopsuz.services.hotlists import HotlistService
from koopsuz.services.national_hotlists import NationalHotlistFollower, national_state
from koopsuz.store.db import Database
from koopsuz.system import System
from tests.conftest import ROOT
from tests.scaleout.leafnodes import JetStreamNode
from tests.scaleout.servers import wait_for

NATIONAL = Principal(1, "nat.investigator", "National Investigator", Role.INVESTIGATOR, None)
REGIONAL_HEAD = Principal(2, "yk.head", "Issyk-Kul Head", Role.REGIONAL_HEAD, "KG-Y")


def _store(path: Path) -> tuple[Database, HotlistService]:
    db = Database(f"sqlite:///{path}")
    db.migrate()
    return db, HotlistService(db, AuditLog(db))


def _url(db: Database) -> str:
    """The store's real URL (under ``pytest --pg`` a SQLite path opens a PostgreSQL copy in this process only)."""
    return db.engine.url.render_as_string(hide_password=False)


def _plates(svc: HotlistService) -> set[str]:
    return set(svc.active_plates())


def test_national_hotlist_changes_reach_a_region_across_a_cut_line(
    tmp_path: Path, hub_and_leaf: tuple[JetStreamNode, JetStreamNode]
) -> None:
    hub, leaf = hub_and_leaf
    assert hub.link is not None
    national_db, national = _store(tmp_path / "national.db")
    region_db, region = _store(tmp_path / "region.db")
    expires = (datetime.now(UTC) + timedelta(days=30)).isoformat()
    stolen = national.create_list(NATIONAL, {"name": "Stolen vehicles", "kind": "stolen", "priority": 1})
    local = region.create_list(REGIONAL_HEAD, {"name": "Karakol operation", "kind": "operation", "region": "KG-Y"})
    region.add_entry(REGIONAL_HEAD, local["id"], {"plate": "09 777 KKK", "reason": "operation", "legal_basis": "op-1",
                                                  "expires_at": expires})  # fmt: skip
    for plate in ("01 123 ABC", "08 456 DEF", "02 789 GHI"):
        national.add_entry(NATIONAL, stolen["id"], {"plate": plate, "reason": "stolen", "legal_basis": f"case {plate}",
                                                    "expires_at": expires})  # fmt: skip
    hub_bus, leaf_bus = make_bus(hub.url), make_bus(leaf.url)
    assert isinstance(hub_bus, NatsBus) and isinstance(leaf_bus, NatsBus)
    reloads: list[int] = []
    hub_state = NationalState(hub_bus)
    env = os.environ | {"KOOPSUZ_BUS_URL": hub.url, "KOOPSUZ_DATABASE_URL": _url(national_db)}
    log = (tmp_path / "share.log").open("ab")
    publisher = subprocess.Popen(  # the capital's side as deployed: one process on the hub
        [sys.executable, "-m", "koopsuz", "federation", "share-hotlists", "--interval-s", "0.2"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    # the region's node as deployed: KOOPSUZ_NATIONAL_DOMAIN makes it follow the capital's lists
    regional = System(
        Settings(
            data_dir=tmp_path / "region-node",
            secret_key="region-node",
            database_url=_url(region_db),
            bus_url=leaf.url,
            national_domain="national",
        )
    )
    follower = regional.national_hotlists
    assert isinstance(follower, NationalHotlistFollower)
    regional.hotlists.listeners.append(lambda: reloads.append(1))
    try:
        regional.start(ingest=False, record=False)
        # first contact: the hub process starts and the leaf opens its source (45 s: a busy machine)
        want = {"01123ABC", "08456DEF", "02789GHI", "09777KKK"}
        assert wait_for(lambda: _plates(region) == want, 45), f"region has {_plates(region)}"
        assert reloads, "the road watch was not told to reload"
        # and the region's cameras alert on a national plate at once
        read = Event(
            kind="plate_read",
            region="KG-Y",
            camera="yk-road-1",
            ts=datetime.now(UTC),
            payload={"text": "01 123 ABC", "compact": "01123ABC", "confidence": 0.97, "format": "private"},
        )
        regional.bus.publish(read)
        assert wait_for(lambda: regional.road_watch.stats()["hits"] >= 1, 10), regional.road_watch.stats()
        hit = region.active_plates()["01123ABC"][0]
        assert (hit.list_name, hit.kind, hit.region, hit.legal_basis) == ("Stolen vehicles", "stolen", None,
                                                                          "case 01 123 ABC")  # fmt: skip
        # read-only in the region, as national lists are today: the region cannot drift from the capital
        with pytest.raises(Forbidden):
            region.add_entry(REGIONAL_HEAD, stolen["id"], {"plate": "09 111 AAA", "reason": "x", "legal_basis": "y",
                                                           "expires_at": expires})  # fmt: skip

        # the line is cut; the capital removes one plate and lists another
        hub.link.cut()
        entry = next(e for e in national.entries(NATIONAL, stolen["id"]) if e["plate"] == "08 456 DEF")
        national.remove_entry(NATIONAL, stolen["id"], entry["id"], "vehicle recovered")
        national.add_entry(NATIONAL, stolen["id"], {"plate": "03 321 XYZ", "reason": "stolen", "legal_basis": "case 9",
                                                    "expires_at": expires})  # fmt: skip
        hub_rev = hub_state.revision()
        assert wait_for(lambda: hub_state.revision() >= hub_rev + 2, 30)  # the hub has both changes
        before = follower.revision
        assert not wait_for(lambda: follower.revision != before, 3, step=0.2), "a change crossed a cut line"
        assert _plates(region) == want  # the region keeps matching what it had

        # the line returns: the copy resumes where it stopped, nobody sends anything again
        hub.link.restore()
        t0 = time.monotonic()
        want_after = {"01123ABC", "02789GHI", "03321XYZ", "09777KKK"}
        assert wait_for(lambda: _plates(region) == want_after, 45), f"region has {_plates(region)}"
        print(f"region has the capital's changes {time.monotonic() - t0:.1f} s after the line returned")
        removed = [e for e in region.entries(REGIONAL_HEAD, stolen["id"]) if e["plate"] == "08 456 DEF"]
        assert len(removed) == 1 and not removed[0]["active"]  # removal keeps the row, as in the capital
        regional_entries = region.entries(REGIONAL_HEAD, local["id"])
        assert [e["plate"] for e in regional_entries] == ["09 777 KKK"]  # the region's own list untouched
        assert len(national_state(national_db)) == 1 + 4  # the list and its four entries, one key each
    finally:
        regional.stop()
        publisher.terminate()
        publisher.wait(10)
        log.close()
        hub_bus.close()
        leaf_bus.close()
        national_db.dispose()
        region_db.dispose()


def test_applying_national_state_is_idempotent_and_never_touches_a_regional_list(tmp_path: Path) -> None:
    """No servers: what the follower writes, given the hub's values (and some it must refuse)."""
    from koopsuz.services.national_hotlists import apply_national

    national_db, national = _store(tmp_path / "national.db")
    region_db, region = _store(tmp_path / "region.db")
    expires = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    stolen = national.create_list(NATIONAL, {"name": "Stolen vehicles", "kind": "stolen", "priority": 1})
    national.add_entry(
        NATIONAL, stolen["id"], {"plate": "01 123 ABC", "reason": "stolen", "legal_basis": "c1", "expires_at": expires}
    )
    local = region.create_list(REGIONAL_HEAD, {"name": "Local", "kind": "operation", "region": "KG-Y"})
    region.add_entry(
        REGIONAL_HEAD, local["id"], {"plate": "09 777 KKK", "reason": "op", "legal_basis": "o1", "expires_at": expires}
    )
    values = national_state(national_db)
    assert apply_national(region_db, values) == 2  # the list and its entry
    assert apply_national(region_db, values) == 0  # the same values again: nothing to do
    as_local = {k.replace(stolen["id"], local["id"]): v.replace(stolen["id"].encode(), local["id"].encode())
                for k, v in values.items()}  # fmt: skip
    forged = {  # national values naming the region's own list (the list and an entry), keys that are not lists
        **{k: v.replace(b'"id": 1', b'"id": 99') for k, v in as_local.items()},
        "hotlist.x.y.z": b"{}",
        "hotlist.broken": b"not json",
    }
    assert apply_national(region_db, forged) == 0
    assert [lst["region"] for lst in region.lists(REGIONAL_HEAD) if lst["id"] == local["id"]] == ["KG-Y"]
    national_entry = region.entries(REGIONAL_HEAD, stolen["id"])[0]
    assert national_entry["id"] < 0 and national_entry["plate"] == "01 123 ABC"
    assert [e["id"] > 0 for e in region.entries(REGIONAL_HEAD, local["id"])] == [True]  # no national entry in it
    national_db.dispose()
    region_db.dispose()
