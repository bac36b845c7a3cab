"""Access review: who can do what, in which region, last sign-in and last use of sensitive permissions.

The last uses come from the audit log, so the test makes real uses through the API (a sign-in, a
legal basis registered, a live frame refused) and reads them back from the report, the CSV and the
CLI; scope (a regional auditor sees their region's accounts only), refusal and audit are checked.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from koopsuz.api.app import create_app
from koopsuz.cli import app as cli_app
from koopsuz.security.principal import SYSTEM, Scope
from tests.conftest import PASSWORD

URL = "/api/admin/access-review"


@pytest.fixture
def api(system):
    system.users.create("test", "yk.auditor", PASSWORD, "auditor", "KG-Y")
    system.users.create("test", "yk.formula", PASSWORD, "regional_operator", "KG-Y", "=cmd|' /C calc'!A0")
    with TestClient(create_app(system, start_system=False)) as c:
        tokens: dict[str, str] = {}

        def call(who: str, method: str, path: str, **kw: Any):  # type: ignore[no-untyped-def]
            if who not in tokens:
                r = c.post("/api/auth/login", json={"username": who, "password": PASSWORD})
                assert r.status_code == 200, r.text
                tokens[who] = r.json()["token"]
                c.cookies.clear()
            return c.request(method, path, headers={"Authorization": f"Bearer {tokens[who]}"}, **kw)

        yield call


def accounts(report: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["username"]: a for a in report["accounts"]}


def test_report_shows_powers_region_and_last_use_from_the_audit_log(api, system) -> None:
    before = datetime.now(UTC) - timedelta(seconds=1)
    basis = {
        "case_number": "2026-0412-YK", "kind": "criminal_case", "authority": "Issyk-Kul regional prosecutor",
        "document_ref": "No. 17/4-2026", "purposes": ["face_search"],
        "valid_until": (datetime.now(UTC) + timedelta(days=30)).isoformat(),
    }
    assert api("yk.investigator", "POST", "/api/legal-bases", json=basis).status_code == 201
    # a refused attempt is not a use of the permission
    assert api("yk.operator", "GET", "/api/cameras/ch-cam-1/frame.jpg").status_code == 403
    r = api("admin", "GET", URL)
    assert r.status_code == 200, r.text
    report = r.json()
    by_user = accounts(report)
    assert report["scope"] == "national" and set(by_user) >= {"admin", "yk.investigator", "national", "auditor"}
    inv = by_user["yk.investigator"]
    assert inv["role"] == "investigator" and inv["region"] == "KG-Y" and inv["active"]
    assert "faces.search" in inv["permissions"] and "users.manage" not in inv["permissions"]
    assert datetime.fromisoformat(inv["last_sign_in"]) >= before and inv["sign_ins"] == 1
    assert datetime.fromisoformat(inv["sensitive"]["legal.manage"]["last_used"]) >= before
    assert inv["sensitive"]["legal.manage"]["uses"] == 1
    assert inv["sensitive"]["faces.search"] == {"last_used": None, "uses": 0}
    assert "faces.search" in inv["unused_permissions"] and "legal.manage" not in inv["unused_permissions"]
    assert "unused_permissions" in inv["flags"] and "no_sign_in" not in inv["flags"]
    # only permissions the role holds are listed
    assert "users.manage" not in inv["sensitive"] and "users.manage" in by_user["admin"]["sensitive"]
    op = by_user["yk.operator"]
    assert op["sensitive"]["live.view"]["last_used"] is None  # the 403 above was no use
    assert by_user["national"]["last_sign_in"] is None and "no_sign_in" in by_user["national"]["flags"]
    # deactivating an account shows at once
    system.users.update(SYSTEM, "national", active=False)
    assert "inactive" in accounts(api("admin", "GET", URL).json())["national"]["flags"]
    # reading the report is audited, with how many accounts it showed
    reads = system.audit.search(Scope.national(), action="access.review")
    assert reads[0].actor == "admin" and reads[0].detail["accounts"] == len(by_user)


def test_csv_is_one_row_per_account_and_sensitive_permission_and_defuses_formulas(api) -> None:
    assert api("yk.operator", "GET", "/api/cameras").status_code == 200  # signs in
    r = api("auditor", "GET", URL, params={"format": "csv", "days": 30})
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
    assert r.headers["content-disposition"].startswith('attachment; filename="access-review-')
    rows = list(csv.DictReader(io.StringIO(r.text)))
    op = [x for x in rows if x["username"] == "yk.operator"]
    assert {x["permission"] for x in op} == {"live.view", "playback.view", "plates.search", "ptz.control"}
    assert all(x["region"] == "KG-Y" and x["last_sign_in"] for x in op)
    forged = [x for x in rows if x["username"] == "yk.formula"]
    assert forged and all(x["full_name"] == "'=cmd|' /C calc'!A0" for x in forged)  # text, not a formula


def test_scope_refusal_and_bad_input(api) -> None:
    mine = accounts(api("yk.auditor", "GET", URL).json())
    assert mine and all(a["region"] == "KG-Y" for a in mine.values())
    assert "ch.operator" not in mine and "admin" not in mine
    for who in ("yk.operator", "yk.head", "yk.investigator", "national"):
        r = api(who, "GET", URL)
        assert r.status_code == 403, (who, r.status_code)
    assert api("admin", "GET", URL, params={"days": 0}).status_code == 422
    assert api("admin", "GET", URL, params={"format": "xml"}).status_code == 422


def test_cli_report(system, settings) -> None:
    system.audit.record("yk.head", "violation.confirm", target_type="violation", target_id="v1", region="KG-Y")
    runner = CliRunner(env={"COLUMNS": "200", "KOOPSUZ_SECRET_KEY": "test-secret"})
    r = runner.invoke(cli_app, ["access", "review", "--format", "json", "--data-dir", str(settings.data_dir)])
    assert r.exit_code == 0, r.output
    head = accounts(json.loads(r.output))["yk.head"]
    assert head["sensitive"]["violations.review"]["uses"] == 1
    r = runner.invoke(cli_app, ["access", "review", "--data-dir", str(settings.data_dir)])
    assert r.exit_code == 0 and "yk.head" in r.output and "violations.review" in r.output
    assert system.audit.search(Scope.national(), action="access.review")[0].actor.startswith("cli:")
    r = runner.invoke(cli_app, ["access", "review", "--format", "xml", "--data-dir", str(settings.data_dir)])
    assert r.exit_code == 2 and "table, json or csv" in r.output
