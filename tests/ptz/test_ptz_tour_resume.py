"""A patrol tour outlives the API process that ran it. Three PtzServices on one database stand for three
``koopsuz api`` processes: A starts a tour on the simulated dome and crashes (its tasks cancelled, the
lease left as it was); B and C race for the orphan, exactly one resumes it within a bound, at the step
after the last one done, in the operator's name, audited; a tour stopped on purpose is not resumed. A
dead camera's tour backs off (logged once) and a camera no longer PTZ ends it; and racing adopters on
separate connections, one winner each round, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from ulid import ULID

from koopsuz.security.principal import SYSTEM, Scope
from koopsuz.services.ptz import PtzService, backoff_s
from koopsuz.sim.rtsp import SimServer
from koopsuz.store.db import Database
from koopsuz.store.ptz_leases import PtzLeaseRepo, PtzLeaseRow
from koopsuz.store.tables import CameraRow, PtzTourRow
from tests.conftest import PASSWORD
from tests.scaleout.conftest import pg_server  # noqa: F401  (a fixture: a throw-away PostgreSQL)

pytestmark = pytest.mark.timeout(120)
LEASE_S, WATCH_S, DWELL_S = 2.0, 0.3, 1.0


def until_true(what: Callable[[], object], limit_s: float, why: str) -> float:
    """Seconds until ``what()`` holds; fails the test after ``limit_s``."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit_s:
        if what():
            return time.monotonic() - t0
        time.sleep(0.05)
    raise AssertionError(f"{why} (waited {limit_s:g} s)")


def running(svc: PtzService, camera: str = "yk-dome") -> bool:
    tour = svc._tours.get(camera)
    return tour is not None and not tour[1].done()


def lease_row(db: Database, camera: str) -> PtzLeaseRow:
    with db.session() as s:
        row = s.get(PtzLeaseRow, camera)
        assert row is not None
        return row


def test_a_crashed_processs_tour_is_resumed_by_one_other(ptz_system, dome: SimServer) -> None:
    head = dome.ptz_heads["yk-dome"]
    op = ptz_system.users.authenticate("yk.operator", PASSWORD)
    a = ptz_system.ptz
    a.lease_s = LEASE_S
    b, c = (PtzService(ptz_system.db, ptz_system.audit, ptz_system.registry, lease_s=LEASE_S) for _ in range(2))

    def at(pan: float) -> bool:
        return abs(head.position()[0] - pan) < 1e-3 and not any(head.moving())

    try:
        a.move(op, "yk-dome", {"mode": "absolute", "pan": 0.4, "tilt": 0.0, "zoom": 0.0})
        until_true(lambda: at(0.4), 5, "the dome did not reach the gate")
        gate = a.set_preset(op, "yk-dome", "gate")["token"]
        a.move(op, "yk-dome", {"mode": "absolute", "pan": -0.4, "tilt": 0.0, "zoom": 0.0})
        until_true(lambda: at(-0.4), 5, "the dome did not reach home")
        home = a.set_preset(op, "yk-dome", "home")["token"]
        steps = [{"preset": gate, "dwell_s": DWELL_S}, {"preset": home, "dwell_s": DWELL_S}]
        tour = a.save_tour(op, "yk-dome", {"name": "school", "steps": steps})
        for svc in (a, b, c):
            svc.start_tour_watch(WATCH_S)

        assert a.start_tour(op, "yk-dome", tour["id"])["tour"] == tour["id"]
        until_true(lambda: at(0.4), 5, "the tour did not take the dome to its first preset")
        # A crashes while the dome dwells at the gate: its tasks stop, the lease stays as it was
        assert a._watch is not None and a._loop is not None
        a._watch.cancel()
        a._loop.call_soon_threadsafe(a._tours["yk-dome"][1].cancel)
        until_true(lambda: not running(a), 2, "A's tour did not stop")
        held = lease_row(ptz_system.db, "yk-dome")
        assert (held.tour, held.username, held.runner, held.step) == (tour["id"], "yk.operator", a.process, 0)

        # one of B and C adopts it once the lease has run out: at most dwell + lease + a watch round or two
        took = until_true(lambda: running(b) or running(c), DWELL_S + LEASE_S + 2 * WATCH_S + 2.0, "nobody resumed")
        winner, loser = (b, c) if running(b) else (c, b)
        assert not running(loser)
        # ... at the step after the one done: home, not the gate again
        until_true(lambda: at(-0.4), 5, "the resumed tour did not move the dome to the next preset")
        st = loser.status(op, "yk-dome")  # any process shows it running, in the operator's name
        assert (st["tour"], st["controlled_by"]) == (tour["id"], "yk.operator")
        held = lease_row(ptz_system.db, "yk-dome")
        assert (held.username, held.runner) == ("yk.operator", winner.process)
        resumed = ptz_system.audit.search(Scope.national(), action="ptz.tour.resume")
        assert len(resumed) == 1, "the orphan was adopted twice"
        d = resumed[0].detail
        assert (d["tour"], d["operator"], d["process"], d["previous_process"], d["step"]) == (
            tour["id"], "yk.operator", winner.process, a.process, 1,
        )  # fmt: skip
        assert 0.0 < d["unattended_s"] <= took + 1.0, d
        until_true(lambda: at(0.4), 5, "the resumed tour did not go round again")

        # stopped on purpose (through the other process): not resumed, even with its lease run out
        assert loser.stop_tour(op, "yk-dome")["tour"] is None
        until_true(lambda: not running(winner), DWELL_S + 3, "the winner's tour kept running")
        time.sleep(LEASE_S + 2 * WATCH_S + 0.3)
        assert not any(running(s) for s in (a, b, c))
        assert lease_row(ptz_system.db, "yk-dome").tour is None
        assert len(ptz_system.audit.search(Scope.national(), action="ptz.tour.resume")) == 1
        stops = ptz_system.audit.search(Scope.national(), action="ptz.tour.stop")
        assert [e.actor for e in stops] == ["yk.operator"]  # audited though the tour ran in another process
    finally:
        for svc in (b, c):
            svc.close()
        for token in {p["token"] for p in a.presets(op, "yk-dome")}:  # the dome is shared by the package's tests
            a.remove_preset(op, "yk-dome", token)
        a.move(op, "yk-dome", {"mode": "absolute", "pan": 0.0, "tilt": 0.0, "zoom": 0.0})
        until_true(lambda: at(0.0), 5, "the dome did not go back")
        a.release(op, "yk-dome")


def test_a_failing_camera_backs_off_and_an_unfit_one_ends_the_tour(ptz_system, caplog) -> None:
    """ch-dome's ONVIF address answers nothing: each try fails at once, so only the back-off spaces them."""
    now = [time.time() + 10_000.0]
    svc = PtzService(ptz_system.db, ptz_system.audit, ptz_system.registry, lease_s=LEASE_S, clock=lambda: now[0])
    db = ptz_system.db
    tour_id = str(ULID())
    with db.transaction() as s:
        s.add(PtzTourRow(id=tour_id, camera="ch-dome", region="KG-C", name="school gate", created_by="ch.operator",
                         steps=[{"preset": "1", "dwell_s": 5.0}], created_at=datetime.now(UTC)))  # fmt: skip
        PtzLeaseRepo(s).take("ch-dome", "KG-C", "ch.operator", "", now[0] - 40, now[0] - 70, tour=tour_id, runner="x:1")
    caplog.set_level(logging.WARNING, logger="koopsuz.services.ptz")

    def adopt() -> list[str]:
        got = svc._run(svc._adopt_orphans())
        until_true(lambda: not running(svc, "ch-dome"), 15, "the tour on the dead camera did not give up")
        return got

    try:
        assert adopt() == ["ch-dome"]
        row = lease_row(db, "ch-dome")
        assert (row.tour, row.fails, row.runner) == (tour_id, 1, None)
        assert row.until == pytest.approx(now[0] + backoff_s(1), abs=1.0)
        now[0] += backoff_s(1) / 2
        assert adopt() == []  # backing off
        now[0] += backoff_s(1)
        assert adopt() == ["ch-dome"]
        row = lease_row(db, "ch-dome")
        assert row.fails == 2 and row.until == pytest.approx(now[0] + backoff_s(2), abs=1.0)
        assert backoff_s(2) == 2 * backoff_s(1) and backoff_s(30) == 300.0
        paused = [r for r in caplog.records if "ch-dome" in r.getMessage() and "paused" in r.getMessage()]
        assert len(paused) == 1, [r.getMessage() for r in caplog.records]  # logged once, not per try

        # the camera is no longer a PTZ camera: the tour ends instead of resuming, and says why
        with db.transaction() as s:
            cam = s.get(CameraRow, "ch-dome")
            assert cam is not None
            cam.ptz = False
        now[0] += backoff_s(2) + 1
        assert adopt() == []
        assert lease_row(db, "ch-dome").tour is None
        ended = ptz_system.audit.search(Scope.national(), action="ptz.tour.end")
        assert len(ended) == 1 and "no longer a PTZ camera" in ended[0].detail["reason"]
        resumed = ptz_system.audit.search(Scope.national(), action="ptz.tour.resume")
        assert sorted(e.detail["fails"] for e in resumed) == [0, 1]  # each try audited, with the failures before it
        now[0] += 1000
        assert adopt() == []  # nothing left to adopt

        # a tour runs in its operator's name: one whose account was disabled since is not resumed
        with db.transaction() as s:
            s.get(CameraRow, "ch-dome").ptz = True  # type: ignore[union-attr]
            PtzLeaseRepo(s).take("ch-dome", "KG-C", "ch.operator", "", now[0] - 40, now[0] - 70, tour=tour_id,
                                 runner="x:2", force=True)  # fmt: skip
        ptz_system.users.update(SYSTEM, "ch.operator", active=False)
        assert adopt() == [] and lease_row(db, "ch-dome").tour is None
        ended = ptz_system.audit.search(Scope.national(), action="ptz.tour.end")
        assert "'ch.operator' was disabled" in ended[0].detail["reason"], [e.detail for e in ended]
    finally:
        svc.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_racing_adopters_on_separate_connections_one_wins(backend: str, tmp_path: Path, request) -> None:  # type: ignore[no-untyped-def]
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'adopt.db'}"
    else:
        pg = request.getfixturevalue("pg_server")
        url = pg.create_database(f"ptz_adopt_{int(time.time() * 1000)}")
    Database(url).migrate()
    dbs = [Database(url) for _ in range(4)]  # four "processes", each with its own engine
    rounds, tour = 12, str(ULID())
    winners: list[list[str]] = [[] for _ in range(rounds)]
    barrier = threading.Barrier(len(dbs) + 1)
    errors: list[BaseException] = []

    def contender(i: int) -> None:
        try:
            for r in range(rounds):
                barrier.wait(10)  # the round's orphan is in place
                now = 1000.0 + r * 100
                with dbs[i].session() as s:
                    orphans = PtzLeaseRepo(s).orphans(now)
                for orphan in orphans:
                    with dbs[i].transaction() as s:
                        if PtzLeaseRepo(s).adopt(orphan, f"p{i}", now + 30, now):
                            winners[r].append(f"p{i}")
                barrier.wait(10)  # the round is over
        except BaseException as exc:  # reported below: a thread's failure must fail the test
            errors.append(exc)

    threads = [threading.Thread(target=contender, args=(i,)) for i in range(len(dbs))]
    for t in threads:
        t.start()
    try:
        for r in range(rounds):
            now = 1000.0 + r * 100
            stopped = r % 4 == 3  # every fourth round the operator stopped the tour before its runner died
            with dbs[0].transaction() as s:
                PtzLeaseRepo(s).take("dome", "KG-Y", "op", "Op", now - 5, now - 40, tour=None if stopped else tour,
                                     force=True, runner="dead:1")  # fmt: skip
            barrier.wait(10)
            barrier.wait(10)
            assert len(winners[r]) == (0 if stopped else 1), (r, winners[r])
    finally:
        for t in threads:
            t.join(60)
    assert errors == []
    with dbs[0].session() as s:
        assert PtzLeaseRepo(s).current("dome", 1000.0 + (rounds - 1) * 100) is None  # the last round: stopped
    for db in dbs:
        db.dispose()


def test_what_is_never_resumed() -> None:
    from koopsuz.services.ptz import GIVE_UP_FAILS, _not_resumable
    from koopsuz.store.ptz_leases import Orphan

    orphan = Orphan("dome", "KG-Y", "op", "T" * 26, 0.0, "gone:1", 0, 0.0, 0)
    cam = {"id": "dome", "enabled": True, "ptz": True, "onvif_url": "http://a:b@h/onvif/device_service"}
    tour = PtzTourRow(id="T" * 26, camera="dome", steps=[{"preset": "1", "dwell_s": 5}])
    assert _not_resumable(CameraRow(**cam), tour, orphan) is None
    assert _not_resumable(None, tour, orphan) == "the camera was deleted"
    assert _not_resumable(CameraRow(**cam | {"enabled": False}), tour, orphan) == "the camera is disabled"
    assert "no longer a PTZ" in (_not_resumable(CameraRow(**cam | {"ptz": False}), tour, orphan) or "")
    assert "onvif_url" in (_not_resumable(CameraRow(**cam | {"onvif_url": None}), tour, orphan) or "")
    assert _not_resumable(CameraRow(**cam), None, orphan) == "the tour was deleted"
    other = PtzTourRow(id="T" * 26, camera="elsewhere", steps=[{"preset": "1", "dwell_s": 5}])
    assert _not_resumable(CameraRow(**cam), other, orphan) == "the tour was deleted"
    failing = dataclasses.replace(orphan, fails=GIVE_UP_FAILS)
    assert "failed" in (_not_resumable(CameraRow(**cam), tour, failing) or "")
