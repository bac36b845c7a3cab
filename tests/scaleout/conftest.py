"""Fixtures that start real NATS and PostgreSQL servers; skipped only where the binary is absent."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scaleout.leafnodes import JetStreamNode
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


@pytest.fixture
def hub_and_leaf(tmp_path: Path) -> Iterator[tuple[JetStreamNode, JetStreamNode]]:
    """The national hub and Issyk-Kul's leaf node, each its own JetStream domain, the leaf linked to the
    hub through the TCP forwarder a test cuts (``hub.link``)."""
    if nats_binary() is None:
        pytest.skip("nats-server is not installed (apt-get install nats-server, or make setup)")
    hub = JetStreamNode(tmp_path, "hub", "national", leaf_listen=True).start()
    assert hub.link is not None
    leaf = JetStreamNode(tmp_path, "issyk-kul", "issyk-kul", remote_port=hub.link.port).start()
    yield hub, leaf
    leaf.close()
    hub.close()
