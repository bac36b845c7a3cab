"""Distances on the ground and which region a point lies in: pure functions, no files read.

Great-circle distance (haversine on a sphere of the Earth's mean radius) is within ~0.5 % of the
ellipsoidal distance at these latitudes, far below the error of using a straight line for a road.
The region of a point is found in the admin-1 boundaries handed in (GeoJSON features): a point in
no polygon is outside the country. Osh city has no polygon of its own in that data (it lies inside
Osh region there), so points within ``CITY_RADIUS_M`` of a listed city centre go to the city.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

EARTH_RADIUS_M = 6_371_008.8
CITY_RADIUS_M = 9_000.0  # the disc the map draws for a region with no polygon (web/static/js/map.js)


def great_circle_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Metres between two WGS 84 points along the sphere (haversine)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def _in_ring(lon: float, lat: float, ring: Sequence[Sequence[float]]) -> bool:
    """Even-odd ray casting; ring points are [lon, lat] as GeoJSON writes them."""
    inside = False
    n = len(ring)
    j = n - 1
    for i in range(n):
        xi, yi = ring[i][0], ring[i][1]
        xj, yj = ring[j][0], ring[j][1]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def in_geometry(lat: float, lon: float, geometry: Mapping[str, Any]) -> bool:
    """Inside a GeoJSON Polygon or MultiPolygon (holes respected)."""
    kind = geometry.get("type")
    polys = [geometry["coordinates"]] if kind == "Polygon" else geometry.get("coordinates", [])
    if kind not in ("Polygon", "MultiPolygon"):
        return False
    for rings in polys:
        if rings and _in_ring(lon, lat, rings[0]) and not any(_in_ring(lon, lat, h) for h in rings[1:]):
            return True
    return False


def region_at(
    lat: float,
    lon: float,
    features: Iterable[Mapping[str, Any]],
    cities: Mapping[str, tuple[float, float]] | None = None,
) -> str | None:
    """The ISO 3166-2 code of the region containing the point, or None outside the country.

    ``cities`` are regions without a polygon (code -> centre); they win over the polygon around them.
    """
    for code, (clat, clon) in (cities or {}).items():
        if great_circle_m(lat, lon, clat, clon) <= CITY_RADIUS_M:
            return code
    hits = [f["properties"]["iso_3166_2"] for f in features if in_geometry(lat, lon, f["geometry"])]
    if not hits:
        return None
    # Bishkek's polygon sits inside Chuy's outline in some editions: the smaller (city) wins.
    return "KG-GB" if "KG-GB" in hits else hits[0]
