"""The dashboard API: figures from the recorded times, region scope, ranking, CSV columns, the PDF."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pypdf import PdfReader

from koopsuz.api.app import create_app
from koopsuz.security.principal import Scope
from koopsuz.services.dashboard import CSV_COLUMNS
from tests.conftest import PASSWORD

from .conftest import EXPECTED, USERS, seed

DAY = datetime(2026, 11, 9, 18, tzinfo=UTC)  # 10 November 2026 on the Bishkek clock
PERIOD = {"from": "2026-11-10", "to": "2026-11-10"}


@pytest.fixture(scope="module")
def client(dash_system: Any) -> Iterator[TestClient]:
    seed(dash_system, DAY)
    dash_system.dashboard.now = lambda: DAY + timedelta(days=3)
    with TestClient(create_app(dash_system, start_system=False)) as c:
        c.tokens = {}  # type: ignore[attr-defined]
        for username, _role, _region in USERS:
            r = c.post("/api/auth/login", json={"username": username, "password": PASSWORD})
            assert r.status_code == 200, r.text
            c.tokens[username] = r.json()["token"]  # type: ignore[attr-defined]
        c.cookies.clear()
        yield c


def get(c: TestClient, user: str, path: str, **params: str) -> Any:
    return c.get(path, params=params, headers={"Authorization": f"Bearer {c.tokens[user]}"})  # type: ignore[attr-defined]


def test_regional_head_sees_the_figures_of_the_recorded_times(client: TestClient) -> None:
    r = get(client, "yk.head", "/api/dashboard", **PERIOD)
    assert r.status_code == 200, r.text
    d = r.json()
    exp = EXPECTED["KG-Y"]
    f = d["summary"]
    assert d["region"] == "KG-Y" and d["regions"] == ["KG-Y"] and not d["national"] and d["ranking"] is None
    assert d["from"] == "2026-11-09T18:00:00+00:00" and d["to"] == "2026-11-10T18:00:00+00:00"
    assert f["incidents"] == exp["incidents"] and f["by_category"] == exp["by_category"]
    assert f["by_hour"][9] == 2 and sum(f["by_hour"]) == 2  # opened at 09:01 and 09:01:40 in Bishkek
    assert f["time_to_dispatch"]["median_s"] == exp["dispatch_median"]
    assert f["time_to_dispatch"]["p90_s"] == pytest.approx(exp["dispatch_p90"])
    assert f["time_to_on_scene"] == {"n": 1, "median_s": 660.0, "p90_s": 660.0, "mean_s": 660.0, "max_s": 660.0}
    assert f["precision"] == exp["precision"] and f["alerts_reviewed"] == 4
    assert f["uptime"] == exp["uptime"] and f["coverage"] == exp["coverage"]
    cams = {c["camera"]: c for c in f["camera_uptime"]}
    assert set(cams) == {"yk-cam-1", "yk-cam-2"}  # nothing of Chuy
    assert cams["yk-cam-2"]["offline_s"] == 6 * 3600 and cams["yk-cam-1"]["coverage"] == 0.5
    assert [s["site"] for s in f["unprotected_sites"]] == ["yk-kinder"] and f["protected_sites"] == 2
    rules = {r["key"]: r for r in f["precision_by_rule"]}
    assert rules["yk-cam-1/zone-1"]["label"] == "Zone zone-1" and rules["yk-cam-1/zone-1"]["kind"] == "zone"
    districts = {x["id"]: x for x in d["districts"]}
    assert set(districts) == {"ak-suu", "jeti-oguz", "karakol-city"}
    assert districts["jeti-oguz"]["figures"]["incidents"] == 0 and districts["jeti-oguz"]["figures"]["cameras"] == 0
    ak, kk = districts["ak-suu"]["figures"], districts["karakol-city"]["figures"]
    assert districts["ak-suu"]["name"] == "Ak-Suu district"
    assert ak["incidents"] == 1 and ak["by_category"] == {"theft": 1} and ak["precision"] == 1.0
    assert ak["time_to_dispatch"]["median_s"] == 60.0 and ak["unprotected_sites"] == []
    assert kk["incidents"] == 1 and kk["by_category"] == {"assault": 1} and kk["precision"] == 0.6667
    assert [s["site"] for s in kk["unprotected_sites"]] == ["yk-kinder"]


def test_scope_and_ranking(dash_system: Any, client: TestClient) -> None:
    denied = get(client, "yk.head", "/api/dashboard", region="KG-C", **PERIOD)
    assert denied.status_code == 403 and "outside your region" in denied.json()["detail"]
    assert any(
        e.actor == "yk.head" and e.target_id == "KG-C"
        for e in dash_system.audit.search(Scope.national(), action="access.denied")
    )
    for path in ("/api/dashboard", "/api/dashboard.csv", "/api/dashboard.pdf"):
        assert get(client, "yk.head", path, region="KG-C").status_code == 403, path
        assert get(client, "yk.operator", path).status_code == 403, path  # operators read no measures
        assert client.get(path).status_code == 401, path
    nat = get(client, "national", "/api/dashboard", **PERIOD).json()
    assert nat["national"] and nat["region"] is None and len(nat["regions"]) == 9 and nat["districts"] == []
    assert nat["summary"]["incidents"] == 3 and nat["summary"]["precision"] == 0.6  # 3 of 5 reviewed
    ranking = nat["ranking"]
    assert [(r["region"], r["rank"]) for r in ranking[:2]] == [("KG-Y", 1), ("KG-C", 2)]
    assert all(r["rank"] is None for r in ranking[2:]) and len(ranking) == 9
    chuy = next(r for r in ranking if r["region"] == "KG-C")
    assert chuy["figures"]["uptime"] == round(17 / 24, 4) and chuy["figures"]["precision"] == 0.0  # events + gap
    assert chuy["figures"]["unprotected_sites"] == 1 and chuy["ranks"]["uptime"] == 2
    one = get(client, "national", "/api/dashboard", region="KG-Y", **PERIOD).json()
    assert one["summary"] == get(client, "yk.head", "/api/dashboard", **PERIOD).json()["summary"]
    assert one["ranking"] is None  # ranking is the country view's
    empty = get(client, "yk.head", "/api/dashboard", **{"from": "2026-10-01", "to": "2026-10-02"}).json()
    assert empty["summary"]["incidents"] == 0 and empty["summary"]["precision"] is None


def test_bad_input_gets_a_clear_422(client: TestClient) -> None:
    for params in (
        {"region": "KG-Q"},
        {"from": "tomorrow"},
        {"from": "2026-11-10", "to": "2026-11-01"},
        {"from": "2020-01-01", "to": "2026-01-01"},
        {"from": "2026-11-10T09:00"},
    ):
        r = get(client, "national", "/api/dashboard", **params)
        assert r.status_code == 422 and r.json()["detail"], (params, r.text)


def test_csv_has_the_columns_and_the_figures(dash_system: Any, client: TestClient) -> None:
    r = get(client, "yk.head", "/api/dashboard.csv", **PERIOD)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert 'filename="koopsuz-dashboard-KG-Y-2026-11-09-2026-11-10.csv"' in r.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(r.content.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_COLUMNS
    top = {(x["figure"], x["item"]): x for x in rows if x["district"] == ""}
    assert top["incidents", "total"]["value"] == "2"
    assert top["time_to_dispatch_s", "median"]["value"] == "180.0" and top["time_to_dispatch_s", "median"]["n"] == "2"
    assert float(top["time_to_dispatch_s", "p90"]["value"]) == pytest.approx(276.0)
    assert top["precision", "all"]["value"] == "0.75" and top["precision", "all"]["n"] == "4"
    assert top["precision_by_rule", "yk-cam-1/zone-1"]["value"] == "0.6667"
    assert top["camera_uptime", "yk-cam-2"]["value"] == "0.75"
    assert top["unprotected_site", "yk-kinder"]["value"] == "kindergarten"
    assert {x["district"] for x in rows} == {"", "ak-suu", "jeti-oguz", "karakol-city"}
    assert {x["region"] for x in rows} == {"KG-Y"}
    nat = get(client, "national", "/api/dashboard.csv", **PERIOD).content.decode("utf-8-sig")
    ranks = [x for x in csv.DictReader(io.StringIO(nat)) if x["figure"] == "rank" and x["item"] == "overall"]
    assert [(x["region"], x["value"]) for x in ranks[:2]] == [("KG-Y", "1"), ("KG-C", "2")]
    exports = dash_system.audit.search(Scope.national(), action="dashboard.export")
    assert {(e.actor, e.detail["format"]) for e in exports} >= {("yk.head", "csv"), ("national", "csv")}
    assert next(e for e in exports if e.actor == "yk.head").region == "KG-Y"


def test_pdf_is_a_pdf_with_the_regions_name_and_figures(dash_system: Any, client: TestClient) -> None:
    r = get(client, "yk.head", "/api/dashboard.pdf", **PERIOD)
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf" and r.content[:5] == b"%PDF-"
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(r.content)).pages)
    flat = " ".join(text.split())
    assert "Issyk-Kul" in flat and "Иссык-Кульская область" in flat and "10.11.2026" in flat
    assert "To dispatch, median 180 s" in flat and "90th percentile 276 s" in flat and "11.0 min" in flat
    assert "75.0 %" in flat  # precision
    assert "Karakol kindergarten 5" in flat and "Ak-Suu district" in flat
    nat = get(client, "national", "/api/dashboard.pdf", **PERIOD)
    nat_text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(nat.content)).pages).split())
    assert "Ranking of regions" in nat_text and "Чуйская область" in nat_text
    exports = dash_system.audit.search(Scope.national(), action="dashboard.export")
    assert any(e.detail["format"] == "pdf" for e in exports)


def test_pdf_without_the_cyrillic_font_still_renders(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without DejaVu Sans the report falls back to Helvetica and English; Cyrillic names become '?'."""
    from koopsuz.services import pdf_common
    from koopsuz.services.dashboard_pdf import render_dashboard_pdf

    report = get(client, "yk.head", "/api/dashboard", **PERIOD).json()
    report["summary"]["unprotected_sites"][0]["name"] = "Детский сад №5"
    monkeypatch.setattr(pdf_common, "FONT", pdf_common.FONT.with_name("no-such-font.ttf"))
    text = " ".join(p.extract_text() for p in PdfReader(io.BytesIO(render_dashboard_pdf(report))).pages)
    assert "Issyk-Kul" in text and "Иссык" not in text and "Schools and kindergartens" in text
