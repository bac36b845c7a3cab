"""Fixtures that start real NATS and PostgreSQL servers; skipped only where the binary is absent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scaleout.servers import NatsServer, PostgresServer, nats_binary, pg_bin


@pytest.fixture
def nats_server(tmp_path: Path) -> Iterator[NatsServer]:
    if nats_binary() is None:
        pytest.skip("nats-server is not installed (apt-get install nats-server, or make setup)")
    server = NatsServer(tmp_path / "jetstream").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    if pg_bin() is None:
        pytest.skip("PostgreSQL binaries are not installed (apt-get install postgresql, or make setup)")
    server = PostgresServer(tmp_path_factory.mktemp("pg")).start()
    yield server
    server.stop()
