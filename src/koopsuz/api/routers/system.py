"""Operations: readiness for load balancers and orchestrators, Prometheus metrics for monitoring.

``/api/system/health`` (in app.py) says the process answers; ``/api/system/ready`` says it can do its
job: the database answers, the bus is connected, the event writer runs and its outbox is not piling
up. Readiness is public like health: a load balancer or a Kubernetes probe cannot sign in, and the
answer names only checks and counts, never a camera, a region or an event.

``/metrics`` (Prometheus text format, outside ``/api`` like every exporter) carries per-camera
figures, and which cameras are down is itself sensitive, so it is served to a scraper presenting
``KOOPSUZ_METRICS_TOKEN`` as a bearer token, or, with no token configured, to loopback clients only
(a Prometheus agent on the same host).
"""

from __future__ import annotations

import contextlib
import hmac
import time
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text

from koopsuz.api.feed_hub import live_totals
from koopsuz.system import System

router = APIRouter(tags=["system"])
LOOPBACK = {"127.0.0.1", "::1", "localhost"}


def _system(request: Request) -> System:
    return request.app.state.system  # type: ignore[no-any-return]


def readiness(system: System) -> tuple[bool, dict[str, dict[str, Any]]]:
    """Each check with ``ok`` and a short reason; all must pass."""
    checks: dict[str, dict[str, Any]] = {}
    t = time.perf_counter()
    try:
        with system.db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        checks["database"] = {
            "ok": True,
            "dialect": system.db.engine.dialect.name,
            "ms": round(1000 * (time.perf_counter() - t), 1),
        }
    except Exception as exc:
        checks["database"] = {"ok": False, "error": f"database unreachable: {type(exc).__name__}"}
    connected = bool(getattr(system.bus, "connected", True))  # the in-process bus is always there
    checks["bus"] = {"ok": connected, "kind": type(system.bus).__name__}
    if not connected:
        checks["bus"]["error"] = "bus disconnected: events wait in the outbox"
    w = system.writer
    checks["writer"] = {"ok": w.alive, "queue": w.queue_depth, "written": w.written}
    if not w.alive:
        checks["writer"]["error"] = "event writer not running" if w.started else "event writer not started"
    if checks["database"]["ok"]:
        depth = w.outbox_depth()
        limit = system.settings.ready_max_outbox
        checks["outbox"] = {"ok": depth <= limit, "depth": depth, "limit": limit}
        if depth > limit:
            checks["outbox"]["error"] = f"{depth} events not yet published (limit {limit})"
    uploader = getattr(system.recording, "uploader", None)
    if uploader is not None and uploader.running:  # recordings on S3: an outage is buffered, so it never fails
        checks["recordings_upload"] = {"ok": True} | uploader.stats()
    return all(c["ok"] for c in checks.values()), checks


@router.get("/api/system/ready")
def ready(request: Request) -> JSONResponse:
    """200 when this process can serve and write; 503 naming the failing check otherwise."""
    ok, checks = readiness(_system(request))
    failing = [name for name, c in checks.items() if not c["ok"]]
    body = {"status": "ready" if ok else "not ready", "failing": failing, "checks": checks}
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", response_class=PlainTextResponse, include_in_schema=False)
def metrics(request: Request) -> PlainTextResponse:
    system = _system(request)
    host = request.client.host if request.client else ""
    refusal = metrics_refusal(system.settings.metrics_token, request.headers.get("authorization", ""), host)
    if refusal is not None:
        raise HTTPException(*refusal)
    return PlainTextResponse(render_metrics(system), media_type=METRICS_TYPE)


METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def metrics_refusal(token: str | None, authorization: str, client_host: str) -> tuple[int, str] | None:
    """Why a scrape is refused (status, message), or None: shared by the API and the worker's listener."""
    if token:
        if not hmac.compare_digest(authorization.encode(), f"Bearer {token}".encode()):
            return 401, "send the metrics token: Authorization: Bearer <KOOPSUZ_METRICS_TOKEN>"
        return None
    if client_host not in LOOPBACK:
        return 403, "metrics are served to loopback only; set KOOPSUZ_METRICS_TOKEN to scrape remotely"
    return None


class _Out:
    """Prometheus text exposition: HELP/TYPE once per family, then its samples."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_: str, samples: Iterable[tuple[dict[str, str], float | None]]) -> None:
        rows = [(labels, v) for labels, v in samples if v is not None]
        self.lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}"]
        for labels, v in rows:
            lbl = ",".join(f'{k}="{_esc(val)}"' for k, val in labels.items())
            self.lines.append(f"{name}{{{lbl}}} {_num(v)}" if lbl else f"{name} {_num(v)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def _esc(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _num(v: float) -> str:
    return str(int(v)) if isinstance(v, bool | int) or float(v).is_integer() else repr(float(v))


def render_metrics(system: System) -> str:
    out = _Out()
    cams = system.ingest.stats()
    region_of: dict[str, str] = {}
    with contextlib.suppress(Exception):  # the database being away must not take the metrics with it
        region_of = {cam.id: region for cam, region in system.registry.enabled_cameras()}

    def per_cam(pick: Any) -> list[tuple[dict[str, str], float | None]]:
        rows = []
        for cid, st in sorted(cams.items()):
            try:
                v = pick(st)
            except (KeyError, TypeError):
                v = None
            rows.append(({"camera": cid, "region": region_of.get(cid, "")}, v))
        return rows

    out.family("koopsuz_cameras_held", "gauge", "Cameras this process ingests.", [({}, len(cams))])
    out.family(
        "koopsuz_camera_up",
        "gauge",
        "1 when the camera delivers frames.",
        per_cam(lambda s: 1 if s["health"]["state"] == "online" else 0),
    )
    out.family(
        "koopsuz_camera_decode_fps", "gauge", "Decoded frames per second.", per_cam(lambda s: s["health"]["fps"])
    )
    out.family(
        "koopsuz_camera_lag_seconds",
        "gauge",
        "Wall clock minus capture time of the last frame.",
        per_cam(lambda s: s["health"]["lag_s"]),
    )
    out.family(
        "koopsuz_camera_reconnects_total", "counter", "Stream reconnects.", per_cam(lambda s: s["health"]["reconnects"])
    )
    out.family(
        "koopsuz_camera_decode_errors_total",
        "counter",
        "Frames that failed to decode.",
        per_cam(lambda s: s["health"]["decode_errors"]),
    )
    out.family(
        "koopsuz_frames_analysed_total",
        "counter",
        "Frames through the analytics pipeline.",
        per_cam(lambda s: s["analysed"]),
    )
    out.family(
        "koopsuz_inference_ms",
        "gauge",
        "Mean object-detector milliseconds per detected frame.",
        per_cam(lambda s: s["detect"]["ms_per_frame"]),
    )
    out.family("koopsuz_detections_total", "counter", "Objects detected.", per_cam(lambda s: s["detect"]["detections"]))
    out.family(
        "koopsuz_looks_rationed_total",
        "counter",
        "Frames with motion but no look: the detector budget refused, or the frame was late (the tracker carried it).",
        per_cam(lambda s: s["detect"]["rationed"]),
    )
    out.family(
        "koopsuz_looks_stale_total",
        "counter",
        "Of those, frames too late to look at (a look waits for a fresh frame so alerts are not late).",
        per_cam(lambda s: s["detect"]["stale"]),
    )
    budget = system.ingest.detection_budget() or {}
    out.family("koopsuz_detector_copies", "gauge", "Detector copies inferring at once.", [({}, budget.get("lanes"))])
    out.family("koopsuz_detector_look_ms", "gauge", "Smoothed time of one look.", [({}, budget.get("look_ms"))])
    out.family(
        "koopsuz_detector_interval_ms",
        "gauge",
        "Least time between two looks of one camera under the current demand.",
        [({}, budget.get("interval_ms"))],
    )
    out.family("koopsuz_alerts_total", "counter", "Rule alerts raised.", per_cam(lambda s: s["rules"]["alerts"]))
    out.family("koopsuz_plates_total", "counter", "Plates read.", per_cam(lambda s: s["plates"]["plates"]))
    out.family(
        "koopsuz_face_matches_total", "counter", "Watchlist face matches.", per_cam(lambda s: s["faces"]["matches"])
    )

    w = system.writer
    out.family("koopsuz_event_writer_queue_depth", "gauge", "Events waiting for the writer.", [({}, w.queue_depth)])
    out.family("koopsuz_events_written_total", "counter", "Events committed to the store.", [({}, w.written)])
    out.family("koopsuz_event_writer_up", "gauge", "1 while the writer thread runs.", [({}, 1 if w.alive else 0)])
    try:
        depth: int | None = w.outbox_depth()
    except Exception:
        depth = None
    out.family("koopsuz_outbox_depth", "gauge", "Stored events not yet published on the bus.", [({}, depth)])
    feed = live_totals()
    out.family("koopsuz_live_feed_sockets", "gauge", "Live-feed WebSockets open.", [({}, feed["sockets"])])
    out.family("koopsuz_live_feed_messages_total", "counter", "Messages queued to live-feed sockets.",
               [({}, feed["offered"])])  # fmt: skip
    out.family("koopsuz_live_feed_too_slow_total", "counter", "Live-feed sockets closed as too slow (4408).",
               [({}, feed["too_slow"])])  # fmt: skip

    recs = [(cid, system.recording.recorder(cid)) for cid in sorted(region_of)]
    recs = [(cid, r) for cid, r in recs if r is not None]
    out.family("koopsuz_recorders_active", "gauge", "Cameras this process records.", [({}, len(recs))])
    lbl = lambda cid: {"camera": cid, "region": region_of.get(cid, "")}  # noqa: E731
    out.family(
        "koopsuz_recorder_segments_total",
        "counter",
        "Recorded segments.",
        [(lbl(cid), r.health.segments) for cid, r in recs],
    )
    out.family(
        "koopsuz_recorder_restarts_total",
        "counter",
        "Recorder (ffmpeg) restarts.",
        [(lbl(cid), r.health.restarts) for cid, r in recs],
    )
    uploader = getattr(system.recording, "uploader", None)
    if uploader is not None and uploader.running:  # recordings on S3: the disk buffers while the bucket is away
        u = uploader.stats()
        out.family("koopsuz_recording_upload_pending", "gauge", "Files waiting for upload.", [({}, u["pending"])])
        out.family(
            "koopsuz_recording_upload_pending_bytes", "gauge", "Bytes waiting on disk.", [({}, u["pending_bytes"])]
        )
        out.family(
            "koopsuz_recording_upload_oldest_pending_seconds",
            "gauge",
            "Age of the oldest file waiting for upload.",
            [({}, u["oldest_pending_s"])],
        )
        out.family("koopsuz_recording_uploads_total", "counter", "Files moved to the bucket.", [({}, u["uploaded"])])
        out.family(
            "koopsuz_recording_upload_failures_total", "counter", "Failed upload attempts.", [({}, u["failures"])]
        )

    remote = getattr(system, "remote_health", None)
    copies = remote.copies() if remote is not None else {}
    if copies:  # the capital: regions' cameras, never counted above as this process's (no sample when unknown)
        up = {"online": 1, "offline": 0}
        samples = []
        for cid, copy in sorted(copies.items()):
            state = remote.health(cid, copy.domain)["state"]  # type: ignore[union-attr]
            samples.append(({"camera": cid, "region": copy.region, "domain": copy.domain}, up.get(state)))
        out.family(
            "koopsuz_regional_camera_up",
            "gauge",
            "A region's camera as the capital last heard it: 1 online, 0 offline (none: unknown, or online"
            " before the line to its region went down).",
            samples,
        )

    leases = getattr(system, "leases", None)
    if leases is not None:  # a koopsuz worker: its share of the cameras
        who = {"worker": leases.worker_id}
        out.family("koopsuz_camera_leases", "gauge", "Cameras this worker leases.", [(who, len(leases.held()))])
        out.family("koopsuz_lease_rounds_total", "counter", "Lease rounds completed.", [(who, leases.ticks)])

    bus = system.bus
    out.family(
        "koopsuz_bus_connected",
        "gauge",
        "1 when the bus is connected.",
        [({"kind": type(bus).__name__}, 1 if getattr(bus, "connected", True) else 0)],
    )
    stats = getattr(bus, "stats", None)
    if callable(stats):
        b = stats()
        out.family("koopsuz_bus_published_total", "counter", "Events the bus acknowledged.", [({}, b["published"])])
        out.family(
            "koopsuz_bus_duplicates_total",
            "counter",
            "Publishes dropped as duplicates (same event id).",
            [({}, b["duplicates"])],
        )
        out.family("koopsuz_bus_reconnects_total", "counter", "Reconnections to the bus.", [({}, b["reconnects"])])
        subs = b["subscriptions"]
        out.family(
            "koopsuz_bus_consumer_backlog",
            "gauge",
            "Messages fetched but not yet handled, per consumer.",
            [({"pattern": s["pattern"], "durable": s["durable"] or ""}, s["backlog"]) for s in subs],
        )
        out.family(
            "koopsuz_bus_consumer_delivered_total",
            "counter",
            "Messages handled, per consumer.",
            [({"pattern": s["pattern"], "durable": s["durable"] or ""}, s["delivered"]) for s in subs],
        )
    return out.text()
