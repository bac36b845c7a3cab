"""Evidence exports naming a registered legal basis: it must allow "export" in the footage's region."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from koopsuz.security.principal import Scope

from .conftest import Run
from .evidence_helpers import iso, wait_ready


def test_a_registered_basis_is_checked_and_recorded(recorded: Run) -> None:
    inv = recorded.client("investigator")
    until = (datetime.now(UTC) + timedelta(days=10)).isoformat()
    basis = {"case_number": "CC-88", "kind": "criminal_case", "authority": "Karakol city court",
             "document_ref": "Order 88/2026", "valid_until": until}
    export_ok = inv.post("/api/legal-bases", json=basis | {"purposes": ["export"]}).json()
    search_only = inv.post("/api/legal-bases", json=basis | {"purposes": ["face_search"]}).json()
    m = recorded.marks
    body = {"cameras": ["rec-1"], "start": iso(m["start"] + 2), "end": iso(m["start"] + 4), "case_number": "CC-88",
            "legal_basis": "court order 88"}
    r = inv.post("/api/evidence/exports", json=body | {"legal_basis_id": search_only["id"]})
    assert r.status_code == 403 and "does not allow export" in r.json()["detail"]
    unknown = body | {"legal_basis_id": "01NOSUCHBASIS0000000000000"}
    assert inv.post("/api/evidence/exports", json=unknown).status_code == 404
    r = inv.post("/api/evidence/exports", json=body | {"legal_basis_id": export_ok["id"]})
    assert r.status_code == 202, r.text
    done = wait_ready(recorded, inv, r.json()["id"])
    assert export_ok["id"] in done["legal_basis"] and "Karakol city court" in done["legal_basis"]
    audit = recorded.system.audit.search(Scope.national(), action="evidence.export", target_id=r.json()["id"])
    assert audit[0].detail["legal_basis_id"] == export_ok["id"]
