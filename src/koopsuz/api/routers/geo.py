"""Regions and their boundaries (Natural Earth admin-1, shipped in the package: no tiles fetched)."""

from __future__ import annotations

import json
from functools import lru_cache
from importlib import resources
from typing import Any

from fastapi import APIRouter

from koopsuz.api.deps import PrincipalDep
from koopsuz.domain.regions import REGIONS

router = APIRouter(prefix="/api", tags=["geo"])


@lru_cache(maxsize=1)
def _admin1() -> dict[str, Any]:
    return json.loads(resources.files("koopsuz.data").joinpath("kg_admin1.geojson").read_text("utf-8"))


@router.get("/regions")
def regions(who: PrincipalDep) -> list[dict[str, Any]]:
    return [
        {
            "code": r.code,
            "plate_code": r.plate_code,
            "name_en": r.name_en,
            "name_ru": r.name_ru,
            "name_ky": r.name_ky,
            "centre": list(r.centre),
            "in_scope": who.scope.allows(r.code),
        }
        for r in REGIONS
    ]


@router.get("/geo/regions")
def region_shapes(who: PrincipalDep) -> dict[str, Any]:
    """Boundaries are public geography; every operator gets the whole map for orientation."""
    return _admin1()
