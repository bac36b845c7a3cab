"""``pytest --pg`` (or ``KOOPSUZ_TEST_PG=1``): run store-touching tests on PostgreSQL instead of SQLite.

The suite starts its own cluster (initdb + pg_ctl on a free port, see servers.py), migrates one
template database with the real Alembic migrations, and gives each test a fresh copy
(``CREATE DATABASE ... TEMPLATE``, a few milliseconds). Two routes lead tests to it:

- ``KOOPSUZ_DATABASE_URL`` is set for the test, so every ``Settings`` (the ``system`` fixture, the
  API tests) picks the PostgreSQL database;
- tests that open ``Database("sqlite:///<tmp>/x.db")`` themselves are redirected: each distinct
  SQLite path of a test maps to its own fresh PostgreSQL database, so a test that opens two files
  still gets two separate stores.

Nothing else changes, so the same assertions run on both engines.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.scaleout.servers import PostgresServer, pg_bin

TEMPLATE = "koopsuz_template"
# tests whose own SQL is SQLite DDL (they tamper with the audit log by dropping SQLite triggers); the
# PostgreSQL equivalent (ALTER TABLE ... DISABLE TRIGGER) is in tests/scaleout/test_postgres_store.py
SQLITE_ONLY = {
    "tests/test_audit_and_users.py::test_chain_verifies_and_names_the_first_altered_entry",
    "tests/test_audit_and_users.py::test_deleting_an_entry_is_detected",
    "tests/test_audit_and_users.py::test_seals_catch_entries_cut_off_the_end",
    "tests/test_audit_and_users.py::test_reordered_entries_and_forged_seals_are_named",
}
_counter = itertools.count()


def pg_mode(config: pytest.Config) -> bool:
    return bool(config.getoption("--pg", default=False)) or os.environ.get("KOOPSUZ_TEST_PG") == "1"


def add_option(parser: pytest.Parser) -> None:
    parser.addoption(
        "--pg",
        action="store_true",
        default=False,
        help="run the store on a PostgreSQL cluster the suite starts itself (also: KOOPSUZ_TEST_PG=1)",
    )


@pytest.fixture(scope="session")
def pg_template(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    if pg_bin() is None:
        pytest.fail("--pg given but no PostgreSQL binaries found (apt-get install postgresql, or make setup)")
    server = PostgresServer(tmp_path_factory.mktemp("pgmode")).start()
    from koopsuz.store.db import Database

    db = Database(server.create_database(TEMPLATE))
    db.migrate()
    db.dispose()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _store_on_postgres(request: pytest.FixtureRequest) -> Iterator[None]:
    if not pg_mode(request.config):
        yield
        return
    if request.node.nodeid in SQLITE_ONLY:
        pytest.skip("tampers through SQLite DDL; the PostgreSQL twin is in tests/scaleout/test_postgres_store.py")
    server: PostgresServer = request.getfixturevalue("pg_template")
    mp = pytest.MonkeyPatch()
    from koopsuz.store import db as db_module

    original = db_module.Database.__init__
    by_path: dict[str, str] = {}

    def fresh() -> str:
        return server.create_database(f"t{os.getpid()}_{next(_counter)}", template=TEMPLATE)

    def init(self, url: str) -> None:  # type: ignore[no-untyped-def]
        if url.startswith("sqlite"):
            if url not in by_path:
                by_path[url] = fresh()
            url = by_path[url]
        original(self, url)

    mp.setenv("KOOPSUZ_DATABASE_URL", fresh())
    mp.setattr(db_module.Database, "__init__", init)
    try:
        yield
    finally:
        mp.undo()
