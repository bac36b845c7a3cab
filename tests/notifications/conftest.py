"""A system with the two-region deployment, an admin, and a local HTTP receiver the tests control."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from koopsuz.config import Settings
from koopsuz.domain.events import Event, Severity
from tests.conftest import DATA, PASSWORD


class Receiver:
    """A real HTTP server on loopback: records each POST (headers, raw body) and answers ``codes`` in turn."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes, str]] = []
        self.codes: list[int] = []  # answers for the next requests; 200 once empty
        self.got = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver.got:
                    code = receiver.codes.pop(0) if receiver.codes else 200
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body, self.path))
                    receiver.got.notify_all()
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *_a: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def wait(self, n: int, timeout: float = 10.0) -> list[tuple[dict[str, str], bytes, str]]:
        with self.got:
            self.got.wait_for(lambda: len(self.requests) >= n, timeout)
            return list(self.requests)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(b) for _h, b, _p in self.requests]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.close()


@pytest.fixture(scope="module")
def notif_system(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from koopsuz.system import System

    base: Path = tmp_path_factory.mktemp("notifications")
    s = System(Settings(data_dir=base / "var", secret_key="test-secret", record=False, webhook_backoff_s=0.2,
                        webhook_timeout_s=2.0))
    s.load_deployment(DATA / "two-regions.yaml")
    s.users.create("test", "admin", PASSWORD, "admin", None)
    s.users.create("test", "yk.operator", PASSWORD, "regional_operator", "KG-Y")
    s.start(ingest=False, record=False)
    yield s
    s.stop()


def alert(region: str = "KG-Y", severity: str = "critical", rule_kind: str = "zone") -> Event:
    cam, site = ("yk-cam-1", "yk-square") if region == "KG-Y" else ("ch-cam-1", "ch-school")
    return Event(kind="alert", region=region, camera=cam, site=site, ts=datetime.now(UTC),
                 severity=Severity(severity), payload={"rule": "r1", "rule_kind": rule_kind, "rule_name": "Zone"})
