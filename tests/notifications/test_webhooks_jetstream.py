"""Two API processes' worth of systems on one JetStream bus and one store: the webhook dispatchers
share a durable consumer, so each alert is POSTed once, not once per process."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from koopsuz.config import Settings
from tests.conftest import DATA, PASSWORD
from tests.scaleout.conftest import nats_server  # noqa: F401  (a fixture)
from tests.scaleout.servers import NatsServer

from .conftest import Receiver, alert


def test_each_alert_is_delivered_once_across_processes(
    tmp_path: Path, nats_server: NatsServer, receiver: Receiver  # noqa: F811
) -> None:
    from koopsuz.system import System

    systems: list[Any] = []
    try:
        for _ in range(2):
            s = System(Settings(data_dir=tmp_path / "var", bus_url=nats_server.url, secret_key="t", record=False))
            systems.append(s)
        a, b = systems
        a.load_deployment(DATA / "two-regions.yaml")
        a.users.create("test", "admin", PASSWORD, "admin", None)
        for s in systems:
            s.start(ingest=False, record=False)
        who = a.users.authenticate("admin", PASSWORD)
        a.webhooks.create(who, {"name": "Dispatch", "url": receiver.url, "secret": "x" * 20})
        b.webhook_dispatcher.reload_s = 0.2  # b learns of the subscription made through a
        time.sleep(1.0)
        sent = [alert() for _ in range(6)]
        a.writer.write_now(sent[:3])
        b.writer.write_now(sent[3:])
        receiver.wait(6, timeout=15)
        time.sleep(1.5)  # a duplicate would come now
        ids = [json.loads(body)["event"]["id"] for _h, body, _p in receiver.requests]
        assert sorted(ids) == sorted(e.id for e in sent), ids
    finally:
        for s in systems:
            s.stop()
