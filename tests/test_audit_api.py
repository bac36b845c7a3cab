"""Auditors search the log by person, camera, case and action, export it, and check the chain."""

from __future__ import annotations

import csv
import io

from fastapi.testclient import TestClient

from koopsuz.api.app import create_app
from tests.test_api_scope import login


def test_search_export_and_verify(system) -> None:
    a = system.audit
    a.record("yk.investigator", "faces.search", target_id="s1", region="KG-Y", detail={"case": "CC-1"})
    a.record("yk.investigator", "evidence.export", target_id="e1", region="KG-Y",
             detail={"case": "CC-1", "cameras": ["yk-cam-1"]})
    a.record("ch.operator", "playback.view", target_id="ch-cam-1", region="KG-C")
    a.record("yk.operator", "watchlist.entry.create", target_id="w1", region="KG-Y")
    with TestClient(create_app(system)) as c:
        login(c, "yk.operator")
        assert c.get("/api/audit").status_code == 403
        assert c.get("/api/audit/export").status_code == 403
        c.post("/api/auth/logout")
        login(c, "auditor")
        by_case = c.get("/api/audit", params={"case": "CC-1"}).json()
        assert [e["action"] for e in by_case] == ["evidence.export", "faces.search"]
        by_camera = c.get("/api/audit", params={"camera": "yk-cam-1"}).json()
        assert [e["target_id"] for e in by_camera] == ["e1"]
        prefix = c.get("/api/audit", params={"action": "watchlist.*"}).json()
        assert [e["target_id"] for e in prefix] == ["w1"]
        r = c.get("/api/audit/export", params={"case": "CC-1"})
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(r.text)))
        # oldest first; the auditor's own searches of the case are entries of the case too
        assert [row["action"] for row in rows] == ["faces.search", "evidence.export", "audit.read"]
        assert all(len(row["hash"]) == 64 for row in rows)
        check = c.get("/api/audit/verify").json()
        assert check["ok"] and check["entries"] >= 4
    exported = system.audit.search(system_scope(), action="audit.export")
    assert exported and exported[0].detail["case"] == "CC-1" and exported[0].detail["rows"] == 3


def system_scope():  # type: ignore[no-untyped-def]
    from koopsuz.security.principal import Scope

    return Scope.national()
