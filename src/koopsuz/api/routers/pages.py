"""HTML pages of the command centre: sign-in, map, camera, playback, event feed, camera health,
legal bases, face watchlists and face search.

The pages are server-rendered shells (Jinja2, translated with ``t(key)``); the page scripts fill
them from the JSON API and keep them live over ``/api/ws/events``. Language: the ``koopsuz_lang``
cookie, else the user's own language, else Russian; ``/lang/{code}`` sets the cookie.
"""

from __future__ import annotations

import json
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from koopsuz.api.deps import optional_principal, session_from_cookie, token_of
from koopsuz.domain.regions import REGIONS, UnknownRegion, region
from koopsuz.security.principal import Permission, Principal
from koopsuz.web import (
    DEFAULT_LANGUAGE,
    DISPLAY_TIMEZONE,
    LANG_COOKIE,
    LANGUAGES,
    TEMPLATES_DIR,
    asset_version,
    catalogue,
    catalogue_json,
    normalise_language,
    translate,
)

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

OptionalPrincipal = Annotated[Principal | None, Depends(optional_principal)]

_LANG_COOKIE_MAX_AGE = 365 * 24 * 3600
_NO_STORE = {"Cache-Control": "no-store"}


def page_language(request: Request, principal: Principal | None) -> str:
    """Cookie first (the operator's pick), then the user's own language, then Russian."""
    lang = normalise_language(request.cookies.get(LANG_COOKIE))
    if lang is None and principal is not None:
        lang = normalise_language(principal.language)
    return lang or DEFAULT_LANGUAGE


def _safe_next(target: str | None, default: str = "/") -> str:
    """Only same-site absolute paths: no scheme, no ``//host``, no backslash tricks."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    return target


def _here(request: Request) -> str:
    return request.url.path + (f"?{request.url.query}" if request.url.query else "")


def _login_redirect(request: Request) -> RedirectResponse:
    return RedirectResponse(f"/login?next={quote(_here(request), safe='/')}", status_code=303)


def _region_label(lang: str, code: str | None) -> str:
    if code is None:
        return translate(lang, "header.national")
    try:
        r = region(code)
    except UnknownRegion:
        return code
    return getattr(r, f"name_{lang}", r.name_en)


def _render(
    request: Request,
    template: str,
    principal: Principal | None,
    *,
    page: str,
    title_key: str,
    boot: dict[str, Any] | None = None,
) -> Response:
    lang = page_language(request, principal)
    user = None
    if principal is not None:
        role = str(principal.role)
        region_code = principal.region
        user = {
            "username": principal.username,
            "full_name": principal.full_name or principal.username,
            "role": role,
            "role_label": translate(lang, f"role.{role}") if f"role.{role}" in catalogue(lang) else role,
            "region": region_code,
            "region_label": _region_label(lang, region_code),
            # What the pages may offer (the API enforces it either way).
            "permissions": sorted(str(x) for x in principal.role_permissions()),
        }
    boot_data = {
        "page": page,
        "lang": lang,
        "timeZone": DISPLAY_TIMEZONE,
        "user": user,
        "regions": {r.code: {"en": r.name_en, "ru": r.name_ru, "ky": r.name_ky} for r in REGIONS},
        **(boot or {}),
    }
    token = token_of(request)
    if principal is not None and token and session_from_cookie(request):
        # the CSRF token also rides in the page, for sessions signed in before the koopsuz_csrf cookie existed
        boot_data["csrf"] = request.app.state.sessions.csrf(token)
    context = {
        "lang": lang,
        "languages": LANGUAGES,
        "t": lambda key, **params: translate(lang, key, **params),
        "page": page,
        "title_key": title_key,
        "user": user,
        "v": asset_version(),
        "here": _here(request),
        "catalogue_json": catalogue_json(lang),
        "boot_json": json.dumps(boot_data, ensure_ascii=False).replace("</", "<\\/"),
    }
    return templates.TemplateResponse(request, template, context, headers=_NO_STORE)


@router.get("/login", name="page_login")
def login_page(request: Request, principal: OptionalPrincipal, next: str | None = None) -> Response:
    target = _safe_next(next)
    if principal is not None:
        return RedirectResponse(target, status_code=303)
    return _render(request, "login.html", None, page="login", title_key="login.title", boot={"next": target})


@router.get("/", name="page_map")
def map_page(request: Request, principal: OptionalPrincipal) -> Response:
    if principal is None:
        return _login_redirect(request)
    return _render(request, "map.html", principal, page="map", title_key="nav.map")


@router.get("/cameras/{camera_id}", name="page_camera")
def camera_page(camera_id: str, request: Request, principal: OptionalPrincipal) -> Response:
    if principal is None:
        return _login_redirect(request)
    return _render(
        request,
        "camera.html",
        principal,
        page="camera",
        title_key="camera.title",
        boot={"cameraId": camera_id},
    )


@router.get("/cameras/{camera_id}/playback", name="page_playback")
def playback_page(camera_id: str, request: Request, principal: OptionalPrincipal) -> Response:
    """Recorded footage of one camera; ``?cameras=b,c,d`` adds up to three more, played in sync."""
    if principal is None:
        return _login_redirect(request)
    extra = [c for c in request.query_params.get("cameras", "").split(",") if c and c != camera_id]
    settings = request.app.state.system.settings
    boot = {"cameraIds": [camera_id, *extra][:4], "clipPreS": settings.clip_pre_s}
    return _render(request, "playback.html", principal, page="playback", title_key="playback.title", boot=boot)


@router.get("/events", name="page_events")
def events_page(request: Request, principal: OptionalPrincipal) -> Response:
    if principal is None:
        return _login_redirect(request)
    return _render(request, "events.html", principal, page="events", title_key="nav.events")


@router.get("/health", name="page_health")
def health_page(request: Request, principal: OptionalPrincipal) -> Response:
    if principal is None:
        return _login_redirect(request)
    return _render(request, "health.html", principal, page="health", title_key="nav.health")


@router.get("/evidence", name="page_evidence")
def evidence_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Signed evidence exports (with ``evidence.export``) and a drop zone to verify a package (anyone)."""
    if principal is None:
        return _login_redirect(request)
    return _render(request, "evidence.html", principal, page="evidence", title_key="nav.evidence")


def _gated(principal: Principal, permissions: tuple[Permission, ...], what: str) -> None:
    """A page shown only to roles with one of ``permissions`` (the API refuses the rest anyway)."""
    if not any(principal.can(p) for p in permissions):
        raise HTTPException(403, f"role {principal.role} may not see {what}")


@router.get("/legal", name="page_legal")
def legal_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Legal bases: the registry (``legal.manage`` registers and revokes; auditors read)."""
    if principal is None:
        return _login_redirect(request)
    _gated(principal, (Permission.LEGAL_MANAGE, Permission.AUDIT_READ), "legal bases")
    return _render(request, "legal.html", principal, page="legal", title_key="nav.legal")


@router.get("/watchlists", name="page_watchlists")
def watchlists_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Face watchlists, their entries, photos and the second officer's approval."""
    if principal is None:
        return _login_redirect(request)
    _gated(principal, (Permission.WATCHLIST_READ,), "watchlists")
    return _render(request, "watchlists.html", principal, page="watchlists", title_key="nav.watchlists")


@router.get("/faces/search", name="page_face_search")
def face_search_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Search faces by photo (investigators); auditors see the searches run."""
    if principal is None:
        return _login_redirect(request)
    _gated(principal, (Permission.FACE_SEARCH, Permission.AUDIT_READ), "face searches")
    return _render(request, "face_search.html", principal, page="face_search", title_key="nav.face_search")


@router.get("/plates", name="page_plates")
def plates_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Plate reads search and routes, and average-speed violations (road safety)."""
    if principal is None:
        return _login_redirect(request)
    _gated(principal, (Permission.PLATES_SEARCH,), "plate searches")
    return _render(request, "plates.html", principal, page="plates", title_key="plates.title")


@router.get("/hotlists", name="page_hotlists")
def hotlists_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Plate hotlists: lists, entries, one plate or a CSV file added, a plate removed with a reason."""
    if principal is None:
        return _login_redirect(request)
    _gated(principal, (Permission.HOTLISTS_READ,), "hotlists")
    return _render(request, "hotlists.html", principal, page="hotlists", title_key="hotlists.title")


@router.get("/spot-speed", name="page_spot_speed")
def spot_speed_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Spot-speed calibration of plate cameras: four points clicked on a still, their road positions typed."""
    if principal is None:
        return _login_redirect(request)
    _gated(principal, (Permission.CAMERAS_WRITE,), "camera calibrations")
    return _render(request, "spot_speed.html", principal, page="spot_speed", title_key="spot.title")


@router.get("/command", name="page_command")
def command_page(request: Request, principal: OptionalPrincipal) -> Response:
    """The command centre: alert queue, incidents, dispatch (issue 7)."""
    if principal is None:
        return _login_redirect(request)
    return _render(request, "command.html", principal, page="command", title_key="nav.command")


@router.get("/dashboard", name="page_dashboard")
def dashboard_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Accountability figures with charts, a period and (nationally) a region picker, CSV and PDF."""
    if principal is None:
        return _login_redirect(request)
    _gated(principal, (Permission.STATS_READ,), "the dashboard")
    return _render(request, "dashboard.html", principal, page="dashboard", title_key="nav.dashboard")


@router.get("/access-review", name="page_access_review")
def access_review_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Access review: accounts, their powers, last sign-in and last use (administrators and auditors)."""
    if principal is None:
        return _login_redirect(request)
    _gated(principal, (Permission.AUDIT_READ,), "the access review")
    return _render(request, "access_review.html", principal, page="access_review", title_key="access.title")


@router.get("/webhooks", name="page_webhooks")
def webhooks_page(request: Request, principal: OptionalPrincipal) -> Response:
    """Alert webhooks: add, test-fire, switch off and remove subscriptions (administrators)."""
    if principal is None:
        return _login_redirect(request)
    _gated(principal, (Permission.CAMERAS_WRITE,), "webhooks")
    return _render(request, "webhooks.html", principal, page="webhooks", title_key="webhooks.title")


@router.get("/lang/{code}", name="set_language")
def set_language(code: str, next: str | None = None) -> Response:
    """Remember the operator's language in the ``koopsuz_lang`` cookie and go back."""
    lang = normalise_language(code)
    if lang is None:
        raise HTTPException(status_code=404, detail=f"unknown language {code!r}")
    response = RedirectResponse(_safe_next(next), status_code=303)
    response.set_cookie(LANG_COOKIE, lang, max_age=_LANG_COOKIE_MAX_AGE, path="/", samesite="lax", httponly=False)
    return response


@router.get("/i18n/{lang}.json", name="i18n_catalogue")
def i18n_catalogue(lang: str) -> Response:
    code = normalise_language(lang)
    if code is None or code != lang:
        raise HTTPException(status_code=404, detail=f"unknown language {lang!r}")
    return Response(
        catalogue_json(code),
        media_type="application/json; charset=utf-8",
        headers={"Cache-Control": "public, max-age=300"},
    )
