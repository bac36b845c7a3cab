"""``pytest --pg`` (or ``KOOPSUZ_TEST_PG=1``): run store-touching tests on PostgreSQL instead of SQLite.

The suite starts its own cluster (initdb + pg_ctl on a free port, see servers.py), migrates one
template database with the real Alembic migrations, and from then on every ``Database`` opened on a
SQLite URL (``Settings.db_url`` under a test's data_dir, or a test's own ``sqlite:///<tmp>/x.db``)
opens instead a fresh PostgreSQL copy of the template (``CREATE DATABASE ... TEMPLATE``, a few
milliseconds), one per distinct SQLite path: a test opening two files still gets two stores, and a
second ``Database`` on the same path (two "processes" racing) reaches the same one.

Nothing else changes, so the same assertions run on both engines.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from tests.scaleout.servers import PostgresServer

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
    from tests.scaleout.servers import PostgresServer, pg_bin  # lazily: servers imports tests.conftest

    if pg_bin() is None:
        pytest.fail("--pg given but no PostgreSQL binaries found (apt-get install postgresql, or make setup)")
    server = PostgresServer(tmp_path_factory.mktemp("pgmode")).start()
    from koopsuz.store.db import Database

    db = Database(server.create_database(TEMPLATE))
    db.migrate()
    db.dispose()
    yield server
    server.stop()


@pytest.fixture(scope="session", autouse=True)
def _store_on_postgres(request: pytest.FixtureRequest) -> Iterator[None]:
    """For the whole session (module-scoped systems included): every SQLite store becomes PostgreSQL."""
    if not pg_mode(request.config):
        yield
        return
    server: PostgresServer = request.getfixturevalue("pg_template")
    mp = pytest.MonkeyPatch()
    from koopsuz.store import db as db_module

    original = db_module.Database.__init__
    by_path: dict[str, str] = {}

    def init(self, url: str) -> None:  # type: ignore[no-untyped-def]
        if url.startswith("sqlite"):
            if url not in by_path:
                by_path[url] = server.create_database(f"t{os.getpid()}_{next(_counter)}", template=TEMPLATE)
            url = by_path[url]
        original(self, url)

    mp.setattr(db_module.Database, "__init__", init)
    try:
        yield
    finally:
        mp.undo()


@pytest.fixture(autouse=True)
def _sqlite_only_tests(request: pytest.FixtureRequest) -> None:
    if pg_mode(request.config) and request.node.nodeid in SQLITE_ONLY:
        pytest.skip("tampers through SQLite DDL; the PostgreSQL twin is in tests/scaleout/test_postgres_store.py")
