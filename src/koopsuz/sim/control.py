"""A tiny HTTP control API for the simulator, so tests in other processes can drive it.

End-to-end tests run the simulator as a separate process next to the system under test; they
need to read its ground truth and cut or restore a camera mid-run. The standard library server
is enough: a handful of requests per test, no dependencies, one daemon thread.

    GET  /health                      cameras, their clients and whether they are on the air
    GET  /truth?since=<unix ts>       ground-truth lines newer than ``since``
    POST /cameras/<id>/cut[?mode=stall]
    POST /cameras/<id>/restore
    GET  /units                       patrol units: where each is on its road, driving or not
    POST /units/<id>/drive            {"to": [lat, lon], "speed_kmh", "interval_s", "on_arrival", "api_url", "token"}
    POST /units/<id>/report           post its position once ({"api_url", "token"} optional)
    POST /units/<id>/halt             stop where it is
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

if TYPE_CHECKING:
    from koopsuz.sim.rtsp import SimServer


class ControlServer:
    def __init__(self, sim: SimServer, host: str = "127.0.0.1", port: int = 8555) -> None:
        handler = type("Handler", (_Handler,), {"sim": sim})
        self._httpd = ThreadingHTTPServer((host, port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="sim-control", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


class _Handler(BaseHTTPRequestHandler):
    sim: SimServer
    server_version = "koopsuz-sim/1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # tests poll /truth often; the access log would drown everything else

    def _send(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        if url.path == "/health":
            self._send(200, self.sim.health())
        elif url.path == "/units":
            self._send(200, self.sim.units.state() if self.sim.units is not None else [])
        elif url.path == "/truth":
            try:
                since = float(parse_qs(url.query).get("since", ["0"])[0])
            except ValueError:
                self._send(400, {"error": "since must be a unix timestamp"})
                return
            self._send(200, self.sim.truth_since(since))
        else:
            self._send(404, {"error": f"no such resource {url.path}"})

    def do_POST(self) -> None:
        url = urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "units":
            self._unit(parts[1], parts[2])
            return
        if len(parts) != 3 or parts[0] != "cameras" or parts[2] not in ("cut", "restore"):
            self._send(404, {"error": f"no such action {url.path}"})
            return
        cam_id, action = parts[1], parts[2]
        if cam_id not in self.sim.camera_ids:
            self._send(404, {"error": f"unknown camera {cam_id!r}"})
            return
        if action == "cut":
            mode = parse_qs(url.query).get("mode", ["drop"])[0]
            if mode not in ("drop", "stall"):
                self._send(400, {"error": "mode must be drop or stall"})
                return
            self.sim.cut(cam_id, mode)  # type: ignore[arg-type]
        else:
            self.sim.restore(cam_id)
        cam = next(c for c in self.sim.health()["cameras"] if c["id"] == cam_id)
        self._send(200, cam)

    def _unit(self, unit_id: str, action: str) -> None:
        """Patrol units (koopsuz.sim.units): a bad order is 400 with the field named, never a dropped request."""
        from koopsuz.sim.units import UnitError

        fleet = self.sim.units
        if fleet is None or unit_id not in fleet.ids:
            self._send(
                404, {"error": f"unknown unit {unit_id!r}; the scenario's units are {fleet.ids if fleet else []}"}
            )
            return
        if action not in ("drive", "report", "halt"):
            self._send(404, {"error": f"no such action {action!r}; use drive, report or halt"})
            return
        try:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            body = json.loads(raw) if raw.strip() else {}
        except ValueError:
            self._send(400, {"error": "the body must be a JSON object"})
            return
        if not isinstance(body, dict):
            self._send(400, {"error": "the body must be a JSON object"})
            return
        try:
            if action == "drive":
                self._send(200, fleet.drive(unit_id, body))
            elif action == "report":
                self._send(200, fleet.report(unit_id, body))
            else:
                self._send(200, fleet.halt(unit_id))
        except UnitError as exc:
            self._send(400, {"error": str(exc)})
