"""The store on a real PostgreSQL (started by the suite): migrations, the append-only audit log and
its chain, UTC on a server whose clock zone is not UTC, and nothing lost across restarts of
PostgreSQL and NATS in the middle of a stream of events."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import func, select, text

from koopsuz.bus import make_bus
from koopsuz.config import Settings
from koopsuz.domain.events import Event
from koopsuz.domain.evidence_manifest import public_key_from_pem
from koopsuz.security.audit import AuditLog
from koopsuz.security.signing import InstallationKey
from koopsuz.store.db import Database, alembic_config
from koopsuz.store.event_repo import EventRepo
from koopsuz.store.tables import EventRow, OutboxRow
from tests.conftest import DATA
from tests.scaleout.servers import NatsServer, PostgresServer, wait_for

_n = count()


@pytest.fixture
def pg_db(pg_server: PostgresServer) -> Database:
    db = Database(pg_server.create_database(f"s{next(_n)}"))
    db.migrate()
    yield db  # type: ignore[misc]
    db.dispose()


def test_migrations_reach_head_and_can_run_from_many_processes_at_once(pg_server: PostgresServer) -> None:
    url = pg_server.create_database(f"m{next(_n)}")
    dbs = [Database(url) for _ in range(3)]
    errors: list[BaseException] = []

    def go(d: Database) -> None:
        try:
            d.migrate()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=go, args=(d,)) for d in dbs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    head = ScriptDirectory.from_config(alembic_config(url)).get_current_head()
    with dbs[0].engine.connect() as conn:
        assert MigrationContext.configure(conn).get_current_revision() == head
        assert conn.execute(text("SHOW timezone")).scalar() == "UTC"  # pinned; the server says Bishkek
    for d in dbs:
        d.dispose()


def test_audit_log_is_append_only_and_the_chain_names_tampering(pg_db: Database, tmp_path: Path) -> None:
    audit = AuditLog(pg_db)
    key = InstallationKey(tmp_path / "keys")
    public = public_key_from_pem(key.public().pem)
    for i in range(6):
        audit.record("alice", "camera.update", target_id=f"cam-{i}", region="KG-Y", detail={"n": i, "ok": True})
    assert audit.seal(key.sign, key.public().key_id) is not None
    check = audit.verify(public)
    assert check.ok and check.entries == 6 and check.seals == 1
    for sql in (
        "UPDATE audit_log SET actor='mallory' WHERE seq=3",
        "DELETE FROM audit_log WHERE seq=2",
        "TRUNCATE audit_log",
    ):
        with pytest.raises(Exception, match="append-only"), pg_db.transaction() as s:
            s.execute(text(sql))
    assert audit.verify(public).ok  # all three were refused
    # an owner of the database switches the guard off and edits a row: the chain still tells
    with pg_db.transaction() as s:
        s.execute(text("ALTER TABLE audit_log DISABLE TRIGGER USER"))
        s.execute(text("UPDATE audit_log SET actor='mallory' WHERE seq=3"))
    check = audit.verify(public)
    assert not check.ok and check.first_broken == 3
    with pg_db.transaction() as s:  # and cutting the tail is caught by the seal
        s.execute(text("UPDATE audit_log SET actor='alice' WHERE seq=3"))
        s.execute(text("DELETE FROM audit_log WHERE seq >= 5"))
    assert audit.verify().ok
    check = audit.verify(public)
    assert not check.ok and check.first_broken == 5 and "removed" in (check.problem or "")


def test_audit_retention_deletes_only_behind_a_signed_anchor(pg_db: Database, tmp_path: Path) -> None:
    """Migration 0016 on PostgreSQL: the oldest entries go behind an anchor, nothing else can, the
    anchors are append-only, and the chain (sequence numbers never reused) still verifies."""
    audit = AuditLog(pg_db)
    key = InstallationKey(tmp_path / "keys")
    public = public_key_from_pem(key.public().pem)
    for i in range(4):
        audit.record("alice", "live.view", target_id=f"cam-{i}", region="KG-Y")
    audit.seal(key.sign, key.public().key_id)
    audit.record("alice", "live.view", target_id="cam-5", region="KG-Y")
    cut = audit.truncate(datetime.now(UTC) + timedelta(days=1), key.sign, key.public().key_id)
    assert cut is not None and (cut.first, cut.upto, cut.entries) == (1, 4, 4)
    for sql in ("DELETE FROM audit_log WHERE seq = 5", "TRUNCATE audit_log", "DELETE FROM audit_truncations"):
        with pytest.raises(Exception, match="append-only"), pg_db.transaction() as s:
            s.execute(text(sql))
    audit.record("bob", "live.view", target_id="cam-6", region="KG-Y")
    check = audit.verify(public)
    assert check.ok and check.entries == 2 and check.truncated == 4 and check.truncated_upto == 4


def test_event_times_are_utc_on_a_server_in_bishkek(pg_db: Database) -> None:
    ts = datetime(2026, 3, 1, 23, 30, 5, 123456, tzinfo=UTC)  # already 1 March... 2 March in Bishkek
    e = Event(kind="motion", region="KG-Y", camera="cam-1", ts=ts, payload={"area": 0.5, "flags": [True]})
    with pg_db.transaction() as s:
        EventRepo(s).add_with_outbox([e])
    with pg_db.session() as s:
        back = EventRepo(s).get(e.id)
        day = s.execute(text("SELECT to_char(ts, 'YYYY-MM-DD') FROM events WHERE id = :i"), {"i": e.id}).scalar()
    assert back == e and back is not None and back.ts.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert day == "2026-03-01"


def test_nats_into_postgres_loses_nothing_when_either_restarts(
    tmp_path: Path, nats_server: NatsServer, pg_server: PostgresServer
) -> None:
    from koopsuz.system import System

    url = pg_server.create_database(f"r{next(_n)}")
    settings = Settings(
        data_dir=tmp_path / "var", bus_url=nats_server.url, database_url=url, secret_key="t", record=False
    )
    system = System(settings)
    system.load_deployment(DATA / "two-regions.yaml")
    system.writer.outbox_retry_s = 0.3
    system.start(ingest=False, record=False)
    national = make_bus(nats_server.url)
    got: Counter[str] = Counter()
    lock = threading.Lock()

    def on_event(_s: str, e: Event) -> None:
        with lock:
            got[e.id] += 1

    national.subscribe("koopsuz.probe.>", on_event, durable="national-pg")
    sent: list[str] = []

    def send(n: int) -> None:
        for _ in range(n):
            e = Event(kind="probe", region="KG-C", camera="cam-7", ts=datetime.now(UTC), payload={"i": len(sent)})
            system.writer.submit(e)
            sent.append(e.id)

    try:
        send(15)
        assert wait_for(lambda: len(got) == 15, 10)
        pg_server.stop(remove=False)  # the database goes away mid-stream: the writer holds the batch
        send(15)
        pg_server.start()
        assert wait_for(lambda: system.writer.written == 30, 30), system.writer.written
        nats_server.stop()  # then the bus: stored, parked in the outbox
        send(15)
        assert wait_for(lambda: system.writer.written == 45, 20)
        nats_server.start()
        send(15)
        assert wait_for(lambda: len(got) == 60, 30), f"{len(got)} of 60 arrived"
        assert set(got) == set(sent) and max(got.values()) == 1
        assert wait_for(lambda: _outbox(system) == 0, 10)
        with system.db.session() as s:
            ids = s.scalars(select(EventRow.id).where(EventRow.kind == "probe")).all()
        assert sorted(ids) == sorted(sent)  # every event stored exactly once
    finally:
        national.close()
        system.stop()


def _outbox(system) -> int:  # type: ignore[no-untyped-def]
    with system.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(OutboxRow)) or 0)


def test_pg_mode_really_puts_the_suite_on_postgresql(request: pytest.FixtureRequest, system) -> None:  # type: ignore[no-untyped-def]
    from tests.scaleout.pgmode import pg_mode

    if not pg_mode(request.config):
        pytest.skip("checks `pytest --pg` itself; run with --pg")
    assert system.db.engine.dialect.name == "postgresql"
    assert Database(f"sqlite:///{request.getfixturevalue('tmp_path') / 'x.db'}").engine.dialect.name == "postgresql"
