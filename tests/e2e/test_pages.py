"""The HTML pages without a browser: sign-in redirects, language choice, safe redirects, escaping.

Only the pages router is mounted, with the signed-in user given by a dependency override, so
these run in milliseconds and need no system behind them.
"""

from __future__ import annotations

import json
import re
from urllib.parse import quote

import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from fastapi.testclient import TestClient

from koopsuz.api.deps import optional_principal
from koopsuz.api.routers import pages
from koopsuz.security.principal import Principal, Role
from koopsuz.web import STATIC_DIR, catalogue

PAGES = ["/", "/cameras/yk-cam-1", "/events", "/health"]


def make_client(principal: Principal | None) -> TestClient:
    app = FastAPI()
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    app.dependency_overrides[optional_principal] = lambda: principal
    return TestClient(app, follow_redirects=False)


def boot_of(html: str) -> dict[str, object]:
    m = re.search(r'<script type="application/json" id="koopsuz-boot">(.*?)</script>', html, re.S)
    assert m, "page has no boot data"
    return json.loads(m.group(1))


OPERATOR = Principal(7, "yk.operator", "Жээнбекова Айгүл", Role.REGIONAL_OPERATOR, "KG-Y", "ky")
NATIONAL = Principal(8, "national", "Асанов Бакыт", Role.NATIONAL_OPERATOR, None, "ru")
AUDITOR = Principal(9, "auditor", "Audit Office", Role.AUDITOR, None, "en")


@pytest.mark.parametrize("path", PAGES)
def test_signed_out_pages_redirect_to_login_with_next(path: str) -> None:
    r = make_client(None).get(path + "?camera=x")
    assert r.status_code == 303
    assert r.headers["location"].startswith("/login?next=" + path.replace("/", "/"))
    assert "camera%3Dx" in r.headers["location"] or "camera=x" in r.headers["location"]


def test_login_page_renders_in_russian_by_default_and_keeps_a_safe_next() -> None:
    c = make_client(None)
    r = c.get("/login?next=/events")
    assert r.status_code == 200
    assert '<html lang="ru"' in r.text
    assert catalogue("ru")["login.submit"] in r.text
    assert boot_of(r.text)["next"] == "/events"
    for evil in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        assert boot_of(c.get("/login", params={"next": evil}).text)["next"] == "/"


def test_login_page_sends_a_signed_in_user_on() -> None:
    r = make_client(NATIONAL).get("/login?next=/health")
    assert r.status_code == 303 and r.headers["location"] == "/health"


@pytest.mark.parametrize("path", PAGES)
def test_pages_render_in_the_users_language_with_header(path: str) -> None:
    r = make_client(OPERATOR).get(path)
    assert r.status_code == 200, r.text[:500]
    assert r.headers["cache-control"] == "no-store"
    assert '<html lang="ky"' in r.text
    ky = catalogue("ky")
    assert ky["header.sign_out"] in r.text
    assert ky["role.regional_operator"] in r.text
    assert "Ысык-Көл облусу" in r.text  # the operator's region, in Kyrgyz
    assert 'data-testid="lang-switch"' in r.text
    boot = boot_of(r.text)
    assert boot["lang"] == "ky" and boot["timeZone"] == "Asia/Bishkek"
    assert boot["user"]["region"] == "KG-Y"  # type: ignore[index]


def test_cookie_beats_the_users_language_and_unknown_cookie_is_ignored() -> None:
    c = make_client(OPERATOR)
    c.cookies.set("koopsuz_lang", "en")
    assert '<html lang="en"' in c.get("/health").text
    c.cookies.set("koopsuz_lang", "de")
    assert '<html lang="ky"' in c.get("/health").text


def test_national_user_sees_whole_country() -> None:
    r = make_client(NATIONAL).get("/")
    assert catalogue("ru")["header.national"] in r.text


def test_language_switch_sets_cookie_and_returns_safely() -> None:
    c = make_client(NATIONAL)
    r = c.get("/lang/ky", params={"next": "/events?kind=motion"})
    assert r.status_code == 303
    assert r.headers["location"] == "/events?kind=motion"
    assert "koopsuz_lang=ky" in r.headers["set-cookie"]
    assert c.get("/lang/ru", params={"next": "//evil.example"}).headers["location"] == "/"
    assert c.get("/lang/xx").status_code == 404
    c2 = make_client(NATIONAL)
    c2.cookies.set("koopsuz_lang", "ky")
    assert '<html lang="ky"' in c2.get("/").text


def test_catalogue_is_served_and_embedded_safely() -> None:
    c = make_client(None)
    r = c.get("/i18n/ky.json")
    assert r.status_code == 200 and r.json() == catalogue("ky")
    assert c.get("/i18n/xx.json").status_code == 404
    html = c.get("/login").text
    assert html.count("</script>") == html.count("<script")  # nothing in the JSON closes a tag


def test_camera_id_is_escaped_into_the_page() -> None:
    evil = 'x"><img src=x onerror=alert(1)><b>'
    r = make_client(NATIONAL).get("/cameras/" + quote(evil, safe=""))
    assert r.status_code == 200
    assert boot_of(r.text)["cameraId"] == evil
    outside_boot = re.sub(r'<script type="application/json" id="koopsuz-boot">.*?</script>', "", r.text, flags=re.S)
    assert "<img src=x" not in outside_boot and "<b>" not in outside_boot


def test_roles_without_events_do_not_get_the_events_link() -> None:
    assert 'data-testid="nav-events"' not in make_client(AUDITOR).get("/health").text
    assert 'data-testid="nav-events"' in make_client(NATIONAL).get("/health").text
    perms = boot_of(make_client(AUDITOR).get("/health").text)["user"]["permissions"]  # type: ignore[index]
    assert "events.read" not in perms and "cameras.read" in perms


def test_static_assets_exist_for_every_page() -> None:
    html = "".join(make_client(NATIONAL).get(p).text for p in PAGES)
    html += make_client(None).get("/login").text
    for src in set(re.findall(r'(?:src|href)="(/static/[^"?]+)', html)):
        if "/vendor/" in src and not (STATIC_DIR / "vendor").exists():
            continue  # vendored by scripts/web_assets.sh; the browser test needs it
        assert (STATIC_DIR / src.removeprefix("/static/")).is_file(), f"{src} is referenced but missing"
