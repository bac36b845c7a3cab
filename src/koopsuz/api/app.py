"""The FastAPI application factory; the system is handed in, never imported as a global."""

from __future__ import annotations

import importlib
import logging
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.routing import BaseRoute

from koopsuz import __version__
from koopsuz.api import security_headers
from koopsuz.api.deps import Sessions
from koopsuz.api.routers import access_review as access_review_router
from koopsuz.api.routers import admin, auth, cameras, events, geo, live, recordings, rules, sites, ws
from koopsuz.api.routers import dashboard as dashboard_router
from koopsuz.api.routers import evidence as evidence_router
from koopsuz.api.routers import evidence_locks as locks_router
from koopsuz.api.routers import faces as faces_router
from koopsuz.api.routers import incidents as incidents_router
from koopsuz.api.routers import notifications as notifications_router
from koopsuz.api.routers import plates as plates_router
from koopsuz.api.routers import privacy as privacy_router
from koopsuz.api.routers import ptz as ptz_router
from koopsuz.api.routers import storage as storage_router
from koopsuz.api.routers import system as system_router
from koopsuz.api.routers import transparency as transparency_router
from koopsuz.api.routers import violations as violations_router
from koopsuz.api.routers import watchlists as watchlists_router
from koopsuz.security.ratelimit import RateLimiter
from koopsuz.services.errors import ServiceError
from koopsuz.system import System

log = logging.getLogger(__name__)
WEB = Path(__file__).resolve().parent.parent / "web"


def create_app(system: System, *, start_system: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI):  # type: ignore[no-untyped-def]
        if start_system:
            system.start()
        try:
            yield
        finally:
            if start_system:
                system.stop()

    app = FastAPI(
        title="Koopsuz",
        version=__version__,
        description="Public-safety video platform: cameras, events and command centres, region-scoped.",
        lifespan=lifespan,
    )
    app.state.system = system
    security_headers.install(app)
    app.state.login_limiter = RateLimiter(system.settings.login_attempts_per_minute, 60.0)
    app.state.sessions = Sessions(system.settings.resolved_secret(), system.settings.session_hours * 3600)

    @app.exception_handler(ServiceError)
    async def _service_error(_request: Request, exc: ServiceError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=exc.status)

    @app.exception_handler(OverflowError)
    async def _out_of_range(request: Request, exc: OverflowError) -> JSONResponse:
        """A number or date too large for the database or the calendar (an id of 25 digits, year 9999
        shifted by an offset) is bad input, not a server error. Found by the API fuzzer
        (tests/test_api_fuzz.py); the handlers it named check their ranges themselves, this catches the rest."""
        log.warning("out-of-range input on %s %s: %s", request.method, request.url.path, exc)
        detail = f"a number or date in the request is out of range ({exc}); ids are at most 19 digits, dates "
        detail += "lie between the years 1970 and 2100"
        return JSONResponse({"detail": detail}, status_code=422)

    @app.get("/api/system/health", tags=["system"])
    def health() -> dict[str, object]:
        """Liveness for load balancers; says nothing about any camera."""
        return {"status": "ok", "version": __version__}

    for r in (auth, geo, cameras, sites, live, events, recordings, rules, ws, admin):
        app.include_router(r.router)
    for r in (locks_router, storage_router):  # evidence locks; storage and retention (issue 3)
        app.include_router(r.router)
    app.include_router(evidence_router.router)
    app.include_router(watchlists_router.router)  # legal bases and face watchlists (issues 5, 8)
    app.include_router(faces_router.router)  # face searches by photo (issue 5)
    app.include_router(incidents_router.router)  # command centres: queue, incidents, units (issue 7)
    app.include_router(dashboard_router.router)  # accountability dashboard, CSV and PDF (issue 7)
    app.include_router(plates_router.router)  # plate reads, hotlists, sections (issue 6)
    app.include_router(violations_router.router)  # speed violations: review, notice, statistics (issue 6)
    app.include_router(system_router.router)  # readiness and Prometheus metrics (issue 9)
    app.include_router(transparency_router.router)  # the public report (issue 8)
    app.include_router(privacy_router.router)  # privacy masks: unmask grants, masked copies (issue 8)
    app.include_router(access_review_router.router)  # who can do what, last used (issue 8)
    app.include_router(ptz_router.router)  # PTZ moves, presets and tours over ONVIF (issue 7)
    app.include_router(notifications_router.router)  # alert webhooks (issue 7)
    try:
        pages = importlib.import_module("koopsuz.api.routers.pages")
        app.include_router(pages.router)
    except ModuleNotFoundError:
        log.warning("web pages are not installed; serving the API only")
    static = WEB / "static"
    if static.is_dir():
        app.mount("/static", StaticFiles(directory=static), name="static")
    return app


def all_routes(app: FastAPI) -> list[BaseRoute]:
    """Every route of the app, included routers flattened.

    FastAPI includes routers lazily (``app.routes`` holds one entry per included router), so code
    that must see each route, like the test that every API route has a scope decision, asks here.
    """
    out: list[BaseRoute] = []

    def walk(routes: list[BaseRoute]) -> None:
        for r in routes:
            inner = getattr(r, "original_router", None)
            if inner is not None:
                walk(list(inner.routes))
            else:
                out.append(r)

    walk(list(app.routes))
    return out
