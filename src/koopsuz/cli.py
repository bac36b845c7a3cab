"""The ``koopsuz`` command line: demo, serve, recorder, sim, camera, user, audit."""

from __future__ import annotations

import getpass
import importlib
import json
import logging
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from koopsuz.commands import locks as locks_cli
from koopsuz.commands import retention as retention_cli
from koopsuz.config import Settings
from koopsuz.domain.deployment import DeploymentError, parse_deployment
from koopsuz.logging_setup import setup_logging, uvicorn_log_config
from koopsuz.security.principal import Role, Scope
from koopsuz.services.errors import ServiceError

app = typer.Typer(
    help="Koopsuz: public-safety video platform (cameras, analytics, command centres).",
    no_args_is_help=True,
    rich_markup_mode="rich",
)
camera_app = typer.Typer(help="List, add and disable cameras.", no_args_is_help=True)
user_app = typer.Typer(help="Manage user accounts.", no_args_is_help=True)
audit_app = typer.Typer(help="Read and verify the audit log.", no_args_is_help=True)
app.add_typer(camera_app, name="camera")
app.add_typer(user_app, name="user")
app.add_typer(audit_app, name="audit")
app.add_typer(retention_cli.app, name="retention")
app.add_typer(locks_cli.app, name="lock")
app.add_typer(importlib.import_module("koopsuz.commands.evidence").app, name="evidence")
app.add_typer(importlib.import_module("koopsuz.commands.face").app, name="face")
app.add_typer(importlib.import_module("koopsuz.commands.plate").app, name="plate")
app.add_typer(importlib.import_module("koopsuz.commands.federation").app, name="federation")
app.add_typer(importlib.import_module("koopsuz.commands.access").app, name="access")  # access review (issue 8)
app.registered_commands += importlib.import_module("koopsuz.commands.scaleout").app.registered_commands  # worker, api
console = Console()
err = Console(stderr=True)

DataDir = Annotated[Path | None, typer.Option("--data-dir", help="where the database and media live [default: ./var]")]
PILOT = Path("deploy/issyk-kul.yaml")
DEMO_ROLES: list[tuple[str, Role, str | None, str]] = [
    ("admin", Role.ADMIN, None, "System Administrator"),
    ("national", Role.NATIONAL_OPERATOR, None, "National Centre Operator"),
    ("issykkul.operator", Role.REGIONAL_OPERATOR, "KG-Y", "Issyk-Kul Operator"),
    ("issykkul.head", Role.REGIONAL_HEAD, "KG-Y", "Issyk-Kul Regional Head"),
    ("investigator", Role.INVESTIGATOR, "KG-Y", "Issyk-Kul Investigator"),
    ("auditor", Role.AUDITOR, None, "Auditor"),
]


def _actor() -> str:
    return f"cli:{getpass.getuser()}"


def _settings(data_dir: Path | None, **kw: object) -> Settings:
    s = Settings()
    updates = {k: v for k, v in kw.items() if v is not None}
    if data_dir is not None:
        updates["data_dir"] = data_dir
    return s.model_copy(update=updates) if updates else s


def _system(settings: Settings):  # type: ignore[no-untyped-def]
    from koopsuz.system import System

    return System(settings)


def _fail(message: str, code: int = 1) -> None:
    err.print(f"[red]error:[/red] {escape(message)}")  # messages quote patterns like [a-z0-9]
    raise typer.Exit(code)


def _logging(verbose: bool) -> None:
    try:
        setup_logging(verbose)  # KOOPSUZ_LOG_FORMAT=json: one JSON object per line; never a secret
    except ValueError as exc:
        _fail(str(exc))
    logging.getLogger("libav").setLevel(logging.ERROR)
    import av.logging

    av.logging.set_level(av.logging.PANIC)


# -- serve ------------------------------------------------------------------------
@app.command()
def serve(
    data_dir: DataDir = None,
    deployment: Annotated[Path | None, typer.Option(help="deployment YAML to load before serving")] = None,
    host: Annotated[str | None, typer.Option(help="address to bind [default: 127.0.0.1]")] = None,
    port: Annotated[int | None, typer.Option(help="port [default: 8080]")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Serve the API, the command-centre pages and ingest every enabled camera."""
    import uvicorn

    from koopsuz.api.app import create_app

    _logging(verbose)
    settings = _settings(data_dir, host=host, port=port, deployment=deployment)
    system = _system(settings)
    if settings.deployment:
        _load(system, settings.deployment)
    console.print(f"Koopsuz on http://{settings.host}:{settings.port}  (API docs: /docs)")
    uvicorn.run(
        create_app(system),
        host=settings.host,
        port=settings.port,
        log_level="warning",
        ws="websockets-sansio",
        log_config=uvicorn_log_config(),
    )


@app.command()
def recorder(
    data_dir: DataDir = None,
    deployment: Annotated[Path | None, typer.Option(help="deployment YAML to load before recording")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Record every enabled camera's main stream, nothing else (no API, no analytics); stop with Ctrl-C."""
    import threading

    _logging(verbose)
    settings = _settings(data_dir, deployment=deployment)
    system = _system(settings)
    if settings.deployment:
        _load(system, settings.deployment)
    done = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_a: done.set())
    system.start(ingest=False, record=True)
    console.print(f"recording into {settings.media_dir.resolve()}; stop with Ctrl-C")
    try:
        done.wait()
    finally:
        system.stop()


def _load(system, path: Path) -> None:  # type: ignore[no-untyped-def]
    try:
        n = system.load_deployment(path, _actor())
    except FileNotFoundError:
        _fail(f"deployment file {path} not found")
    except DeploymentError as exc:
        _fail(str(exc))
    else:
        console.print(f"loaded {n} camera(s) from {path}")


# -- demo -------------------------------------------------------------------------
@app.command()
def demo(
    data_dir: Annotated[Path, typer.Option(help="demo data folder")] = Path("var/demo"),
    deployment: Annotated[Path, typer.Option(help="deployment to run")] = PILOT,
    port: Annotated[int, typer.Option(help="web port")] = 8080,
    sim_port: Annotated[int, typer.Option(help="RTSP port of the simulator (must match the deployment)")] = 8554,
) -> None:
    """Run the Issyk-Kul pilot: simulated RTSP cameras, ingest, motion events, command-centre pages."""
    import uvicorn

    from koopsuz.api.app import create_app

    _logging(False)
    settings = _settings(data_dir, port=port)
    system = _system(settings)
    _load(system, deployment)
    creds = _demo_users(system, data_dir)
    console.print(
        "[bold]starting the camera simulator[/bold] (the first start renders the scenes; later starts are instant)"
    )
    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "koopsuz",
            "sim",
            "--deployment",
            str(deployment),
            "--port",
            str(sim_port),
            "--truth",
            str(data_dir / "truth.jsonl"),
        ],
    )
    try:
        _wait_port(sim_port, sim, timeout=900)
        console.print(f"\n[bold green]Koopsuz demo[/bold green] on http://127.0.0.1:{port}  — sign in as:")
        table = Table("username", "password", "role", "region")
        for username, password, role, region in creds:
            table.add_row(username, password, role, region or "whole country")
        console.print(table)
        console.print("Stop with Ctrl-C.")
        uvicorn.run(
            create_app(system),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            ws="websockets-sansio",
            log_config=uvicorn_log_config(),
        )
    finally:
        sim.send_signal(signal.SIGTERM)
        try:
            sim.wait(10)
        except subprocess.TimeoutExpired:
            sim.kill()


def _demo_users(system, data_dir: Path) -> list[tuple[str, str, str, str | None]]:  # type: ignore[no-untyped-def]
    path = data_dir / "credentials.json"
    saved: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    existing = {u.username for u in system.users.list()}
    out = []
    for username, role, region, name in DEMO_ROLES:
        if username not in existing:
            saved[username] = secrets.token_urlsafe(9)
            system.users.create(_actor(), username, saved[username], role, region, name, "ru")
        out.append((username, saved.get(username, "(set earlier)"), str(role), region))
    path.write_text(json.dumps(saved, indent=1))
    path.chmod(0o600)
    return out


def _wait_port(port: int, proc: subprocess.Popen[bytes], timeout: float) -> None:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _fail(f"the simulator exited with code {proc.returncode}; see its messages above")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.5)
    _fail(f"the simulator did not open port {port} within {timeout:.0f}s")


# -- cameras ----------------------------------------------------------------------
@camera_app.command("list")
def camera_list(
    data_dir: DataDir = None,
    region: Annotated[str | None, typer.Option(help="only this region (e.g. KG-Y)")] = None,
) -> None:
    """List registered cameras."""
    from koopsuz.store.registry_repo import RegistryRepo

    system = _system(_settings(data_dir))
    scope = Scope.of(region) if region else Scope.national()
    with system.db.session() as s:
        rows = RegistryRepo(s).cameras(scope)
    table = Table("id", "name", "region", "site", "profile", "enabled", "lat", "lon")
    for r in rows:
        table.add_row(
            r.id,
            r.name,
            r.region,
            r.site,
            r.profile,
            "yes" if r.enabled else "no",
            f"{r.lat:.5f}",
            f"{r.lon:.5f}",
        )
    console.print(table)
    console.print(f"{len(rows)} camera(s)")


@camera_app.command("add")
def camera_add(
    camera_id: Annotated[str, typer.Argument(help="new camera id, e.g. yk-karakol-gate-2")],
    site: Annotated[str, typer.Option(help="site id the camera belongs to")],
    main_url: Annotated[str, typer.Option(help="RTSP URL of the main (high quality) stream")],
    sub_url: Annotated[str, typer.Option(help="RTSP URL of the sub (low resolution) stream")],
    lat: Annotated[float, typer.Option(help="latitude (WGS84)")],
    lon: Annotated[float, typer.Option(help="longitude (WGS84)")],
    name: Annotated[str | None, typer.Option(help="display name [default: the id]")] = None,
    heading: Annotated[float, typer.Option(help="degrees clockwise from north")] = 0.0,
    fov: Annotated[float, typer.Option(help="field of view, degrees")] = 90.0,
    profile: Annotated[str, typer.Option(help="analytics profile")] = "motion",
    onvif_url: Annotated[
        str | None,
        typer.Option(help="a PTZ dome's ONVIF device service, http://user:pass@host:port/onvif/device_service"),
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Register a camera (the running server picks it up within seconds)."""
    from koopsuz.security.principal import SYSTEM

    system = _system(_settings(data_dir))
    data = {
        "id": camera_id,
        "name": name or camera_id,
        "site": site,
        "main_url": main_url,
        "sub_url": sub_url,
        "lat": lat,
        "lon": lon,
        "heading": heading,
        "fov": fov,
        "profile": profile,
        **({"ptz": True, "onvif_url": onvif_url} if onvif_url else {}),  # steered over ONVIF (services/ptz.py)
    }
    try:
        row = system.registry.add_camera(_cli_principal(SYSTEM), data)
    except ServiceError as exc:
        _fail(str(exc))
    console.print(f"added camera {row.id} in {row.region}")


@camera_app.command("disable")
def camera_disable(
    camera_id: Annotated[str, typer.Argument(help="camera id")],
    data_dir: DataDir = None,
) -> None:
    """Disable a camera: it stops being ingested but stays registered."""
    from koopsuz.security.principal import SYSTEM

    system = _system(_settings(data_dir))
    try:
        system.registry.set_enabled(_cli_principal(SYSTEM), camera_id, False)
    except ServiceError as exc:
        _fail(str(exc))
    console.print(f"camera {camera_id} disabled")


def _cli_principal(base):  # type: ignore[no-untyped-def]
    from dataclasses import replace

    return replace(base, username=_actor())


# -- users ------------------------------------------------------------------------
@user_app.command("add")
def user_add(
    username: Annotated[str, typer.Argument(help="sign-in name")],
    role: Annotated[Role, typer.Option(help="what the user may do")],
    region: Annotated[str | None, typer.Option(help="region scope (ISO code, e.g. KG-Y); none = whole country")] = None,
    full_name: Annotated[str, typer.Option(help="full name")] = "",
    language: Annotated[str, typer.Option(help="ru, ky or en")] = "ru",
    password: Annotated[
        str | None, typer.Option(help="password (asked for when omitted)", envvar="KOOPSUZ_NEW_PASSWORD")
    ] = None,
    data_dir: DataDir = None,
) -> None:
    """Create a user account."""
    system = _system(_settings(data_dir))
    if password is None:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    try:
        p = system.users.create(_actor(), username, password, role, region, full_name, language)
    except ServiceError as exc:
        _fail(str(exc))
    console.print(f"created {p.username} ({p.role}, {p.region or 'whole country'})")


@user_app.command("disable")
def user_disable(
    username: Annotated[str, typer.Argument(help="sign-in name")],
    data_dir: DataDir = None,
) -> None:
    """Disable an account at once (its open sessions stop working on their next request)."""
    from koopsuz.security.principal import SYSTEM

    system = _system(_settings(data_dir))
    try:
        system.users.update(_cli_principal(SYSTEM), username, active=False)
    except ServiceError as exc:
        _fail(str(exc))
    console.print(f"{username} disabled")


@user_app.command("list")
def user_list(data_dir: DataDir = None) -> None:
    """List user accounts."""
    system = _system(_settings(data_dir))
    table = Table("username", "full name", "role", "region", "language", "active")
    for u in system.users.list():
        table.add_row(
            u.username,
            u.full_name,
            u.role,
            u.region or "whole country",
            u.language,
            "yes" if u.active else "no",
        )
    console.print(table)


# -- audit ------------------------------------------------------------------------
@audit_app.command("show")
def audit_show(
    data_dir: DataDir = None,
    actor: Annotated[str | None, typer.Option(help="only this user")] = None,
    action: Annotated[str | None, typer.Option(help="only this action, e.g. auth.login")] = None,
    target: Annotated[str | None, typer.Option(help="only this target id (camera, user)")] = None,
    limit: Annotated[int, typer.Option(help="newest N entries")] = 50,
    as_json: Annotated[bool, typer.Option("--json", help="one JSON object per line")] = False,
) -> None:
    """Show the newest audit entries."""
    system = _system(_settings(data_dir))
    rows = system.audit.search(Scope.national(), actor=actor, action=action, target_id=target, limit=limit)
    if as_json:
        for r in rows:
            print(
                json.dumps(
                    {
                        "seq": r.seq,
                        "ts": r.ts.isoformat(),
                        "actor": r.actor,
                        "action": r.action,
                        "target": r.target_id,
                        "region": r.region,
                        "outcome": r.outcome,
                        "detail": r.detail,
                    },
                    ensure_ascii=False,
                )
            )
        return
    table = Table("seq", "time (UTC)", "actor", "action", "target", "region", "outcome")
    for r in rows:
        table.add_row(
            str(r.seq),
            f"{r.ts:%Y-%m-%d %H:%M:%S}",
            r.actor,
            r.action,
            r.target_id or "",
            r.region or "",
            r.outcome,
        )
    console.print(table)


@audit_app.command("verify")
def audit_verify(data_dir: DataDir = None) -> None:
    """Check the audit log's hash chain and its signed seals; names the first entry altered, removed or cut off."""
    system = _system(_settings(data_dir))
    check = system.audit_sealer.verify()
    if check.ok:
        console.print(f"audit chain intact: {check.entries} entries, {check.seals} signed seal(s) checked")
        if check.truncated_upto is not None:  # retention removed the oldest entries behind signed anchors
            console.print(
                f"truncated by retention: entries 1..{check.truncated_upto} ({check.truncated} removed, "
                f"{check.truncations} signed anchor(s) checked); the chain continues from the last one"
            )
    else:
        _fail(f"audit chain broken at entry {check.first_broken}: {check.problem} ({check.entries} read)", code=2)


@audit_app.command("seal")
def audit_seal(data_dir: DataDir = None) -> None:
    """Sign the audit chain's head with the installation key now (a running server does so every minute)."""
    system = _system(_settings(data_dir))
    row = system.audit_sealer.seal()
    if row is None:
        console.print("nothing new to seal")
    else:
        console.print(f"sealed entries 1..{row.seq} with key {row.key_id}")


@app.command("check-deployment")
def check_deployment(path: Annotated[Path, typer.Argument(help="deployment YAML")]) -> None:
    """Validate a deployment file without loading it; errors name the line and field."""
    try:
        d = parse_deployment(path.read_text(encoding="utf-8"), str(path))
    except FileNotFoundError:
        _fail(f"{path} not found")
    except DeploymentError as exc:
        _fail(str(exc))
    console.print(f"{path}: ok ({len(d.sites)} sites, {len(d.cameras)} cameras)")


def _register_plugins() -> None:
    try:
        from koopsuz.sim.command import register
    except ImportError:
        return
    register(app)


_register_plugins()


def main() -> None:
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    app()
