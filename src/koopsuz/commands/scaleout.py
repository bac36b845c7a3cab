"""Scale-out processes: ``koopsuz worker``, ``koopsuz api``, ``koopsuz writer`` (issue 9).

``serve`` runs everything in one process (the embedded mode). With ``KOOPSUZ_BUS_URL=nats://...``
and ``KOOPSUZ_DATABASE_URL=postgresql+psycopg://...`` the same system splits: any number of API
processes behind a load balancer, workers sharing the cameras through JetStream leases, and writers
feeding stores that are not the workers' own. See docs/deploy.md.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

from koopsuz.config import Settings
from koopsuz.logging_setup import setup_logging, uvicorn_log_config

app = typer.Typer(help="Scale-out processes.", no_args_is_help=True)
console = Console(highlight=False)
err = Console(stderr=True, highlight=False)
DataDir = Annotated[
    Path | None, typer.Option("--data-dir", help="where local files (keys, media) live [default: ./var]")
]
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")]


def _settings(data_dir: Path | None, **kw: object) -> Settings:
    s = Settings()
    updates = {k: v for k, v in kw.items() if v is not None}
    if data_dir is not None:
        updates["data_dir"] = data_dir
    return Settings(**(s.model_dump() | updates))  # validated again (worker id pattern)


def _fail(message: str) -> None:
    err.print(f"[red]error:[/red] {escape(message)}")
    raise typer.Exit(1)


def _logging(verbose: bool) -> None:
    try:
        setup_logging(verbose)  # KOOPSUZ_LOG_FORMAT=json: one JSON object per line; never a secret
    except ValueError as exc:
        _fail(str(exc))


def _wait_for_signal() -> None:
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_a: done.set())
    done.wait()


@app.command()
def worker(
    data_dir: DataDir = None,
    worker_id: Annotated[str | None, typer.Option("--id", help="this worker's name [default: host-pid]")] = None,
    lease_s: Annotated[float | None, typer.Option(help="camera lease life in seconds [default: 6]")] = None,
    record: Annotated[bool, typer.Option(help="record the leased cameras' main streams")] = True,
    metrics_port: Annotated[
        int | None, typer.Option(help="serve /metrics and /ready on this port (host: KOOPSUZ_HOST)")
    ] = None,
    verbose: Verbose = False,
) -> None:
    """Ingest, analyse and record this worker's share of the cameras (leases in JetStream KV); no API.

    Needs KOOPSUZ_BUS_URL=nats://... and the shared store in KOOPSUZ_DATABASE_URL. A worker that dies
    loses its cameras to the others within about lease-s; a new one takes its share without restarts.
    """
    from koopsuz.system import System

    _logging(verbose)
    try:
        settings = _settings(data_dir, worker_id=worker_id, lease_s=lease_s, record=record, retention=False)
        system = System(settings, leased_cameras=True)
    except ValueError as exc:
        _fail(str(exc))
        return
    system.start(ingest=True, record=record)
    assert system.leases is not None
    server = _metrics_server(system, settings.host, metrics_port) if metrics_port else None
    console.print(f"worker {system.leases.worker_id}: {len(system.leases.held())} camera(s); stop with Ctrl-C")
    try:
        _wait_for_signal()
    finally:
        if server is not None:
            server.shutdown()
        system.stop()


def _metrics_server(system, host: str, port: int):  # type: ignore[no-untyped-def]
    """A worker has no API: a small listener gives Prometheus its metrics and probes its readiness."""
    import json
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from koopsuz.api.routers.system import METRICS_TYPE, metrics_refusal, readiness, render_metrics

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/metrics":
                refusal = metrics_refusal(
                    system.settings.metrics_token, self.headers.get("authorization", ""), self.client_address[0]
                )
                if refusal is not None:
                    return self._send(refusal[0], "text/plain", refusal[1].encode())
                return self._send(200, METRICS_TYPE, render_metrics(system).encode())
            if self.path == "/ready":
                ok, checks = readiness(system)
                body = {"status": "ready" if ok else "not ready", "checks": checks}
                return self._send(200 if ok else 503, "application/json", json.dumps(body).encode())
            return self._send(404, "text/plain", b"not found: /metrics or /ready")

        def _send(self, status: int, ctype: str, body: bytes) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: object) -> None:  # scrapes every few seconds: not worth a log line
            return

    server = ThreadingHTTPServer((host, port), Handler)
    threading.Thread(target=server.serve_forever, name="worker-metrics", daemon=True).start()
    return server


@app.command()
def api(
    data_dir: DataDir = None,
    host: Annotated[str | None, typer.Option(help="address to bind [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [default: 8080]")] = None,
    verbose: Verbose = False,
) -> None:
    """Serve the API and the pages only (no ingest, no recording): run any number behind a load balancer."""
    import uvicorn

    from koopsuz.api.app import create_app
    from koopsuz.system import System

    _logging(verbose)
    try:
        settings = _settings(data_dir, host=host, port=port)
        system = System(settings)
    except ValueError as exc:
        _fail(str(exc))
        return
    system.start(ingest=False, record=False, watch_roads=False)  # the workers watch the roads, once each
    console.print(f"Koopsuz API on http://{settings.host}:{settings.port}")
    try:
        uvicorn.run(
            create_app(system, start_system=False),
            host=settings.host,
            port=settings.port,
            log_level="warning",
            ws="websockets-sansio",
            log_config=uvicorn_log_config(),
        )
    finally:
        system.stop()


@app.command()
def writer(
    data_dir: DataDir = None,
    pattern: Annotated[str, typer.Option(help="subjects to store, e.g. koopsuz.*.KG-Y.>")] = "koopsuz.>",
    durable: Annotated[str, typer.Option(help="durable consumer name: one per store")] = "store-writer",
    verbose: Verbose = False,
) -> None:
    """Follow the bus into the store in KOOPSUZ_DATABASE_URL, idempotently (the national store, a replica)."""
    from koopsuz.bus import make_bus
    from koopsuz.bus.nats import NatsBus
    from koopsuz.services.plate_reads import project_plate_reads
    from koopsuz.services.store_writer import StoreWriter
    from koopsuz.store.db import Database
    from koopsuz.store.rule_repo import RuleRepo

    _logging(verbose)
    settings = _settings(data_dir)
    try:
        bus = make_bus(settings.bus_url)
    except (ValueError, RuntimeError) as exc:
        _fail(str(exc))
        return
    if not isinstance(bus, NatsBus):
        bus.close()
        _fail("the writer follows a durable JetStream consumer: set KOOPSUZ_BUS_URL=nats://host:4222")
    db = Database(settings.db_url)
    db.migrate()
    w = StoreWriter(
        db,
        bus,
        pattern=pattern,
        durable=durable,
        projections=[lambda s, events: RuleRepo(s).add_crossings(events), project_plate_reads],
    )
    w.start()
    if settings.regional_domains:  # the national writer on the hub: its stream sources these regions
        from koopsuz.bus.federation import Federation

        try:  # linked once the durable consumer exists: a region's backlog copied now is not skipped
            linked = Federation(bus).link(settings.regional_domains)
            console.print(f"national stream sources the regions: {', '.join(linked)}")
        except ValueError as exc:
            w.stop()
            bus.close()
            _fail(f"KOOPSUZ_REGIONAL_DOMAINS: {exc}")
    console.print(f"writing {pattern} into {db.engine.url.render_as_string(hide_password=True)}; stop with Ctrl-C")
    try:
        _wait_for_signal()
    finally:
        w.stop()
        bus.close()
        db.dispose()
