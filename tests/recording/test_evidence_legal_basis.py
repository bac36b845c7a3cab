"""Evidence exports need a registered legal basis: valid, allowing "export" in the footage's region, in scope."""

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
    # without a registered basis: refused, naming the field and where to register one
    r = inv.post("/api/evidence/exports", json=body)
    assert r.status_code == 422 and "legal_basis_id" in r.json()["detail"] and "register one" in r.json()["detail"]
    # a basis for another region, a revoked one: refused with the reason
    admin = recorded.client("admin")
    chuy = admin.post("/api/legal-bases", json=basis | {"purposes": ["export"], "regions": ["KG-C"]}).json()
    r = inv.post("/api/evidence/exports", json=body | {"legal_basis_id": chuy["id"]})
    assert r.status_code == 404  # a KG-C basis is not in an Issyk-Kul investigator's scope at all
    r = admin.post("/api/evidence/exports", json=body | {"legal_basis_id": chuy["id"]})
    assert r.status_code == 403 and "covers KG-C, not KG-Y" in r.json()["detail"]
    r = inv.post(f"/api/legal-bases/{export_ok['id']}/revoke", json={"reason": "order quashed"})
    assert r.status_code == 200, r.text
    r = inv.post("/api/evidence/exports", json=body | {"legal_basis_id": export_ok["id"]})
    assert r.status_code == 403 and "revoked" in r.json()["detail"]
    exported = recorded.system.audit.search(Scope.national(), action="evidence.export", limit=50)
    assert exported and all(e.detail.get("legal_basis_id") for e in exported)  # none without a registered basis
