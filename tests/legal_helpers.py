"""Registered legal bases for tests of acts that need one (evidence exports, searches, unmasking).

Evidence exports refuse a free-text reason alone (issue 8): every export names a registered basis
allowing ``export`` in its cameras' regions, so tests that export register one first.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from koopsuz.security.principal import Principal


def basis_body(
    case: str = "UD-1/2026", purposes: tuple[str, ...] = ("export",), regions: tuple[str, ...] = (), days: float = 3
) -> dict[str, Any]:
    return {
        "case_number": case,
        "kind": "criminal_case",
        "authority": "Karakol city court",
        "document_ref": f"Order {case}",
        "purposes": list(purposes),
        "regions": list(regions),
        "valid_until": (datetime.now(UTC) + timedelta(days=days)).isoformat(),
    }


def register_basis(client: Any, case: str = "UD-1/2026", purposes: tuple[str, ...] = ("export",), **kw: Any) -> str:
    """Through the API (``client`` signed in with ``legal.manage``): the new basis's id."""
    r = client.post("/api/legal-bases", json=basis_body(case, purposes, **kw))
    assert r.status_code == 201, r.text
    return r.json()["id"]


def register_basis_for(system: Any, who: Principal, case: str = "UD-1/2026", **kw: Any) -> str:
    """Straight through the service (CLI tests): the new basis's id."""
    return system.legal.register(who, basis_body(case, **kw))["id"]
