"""Spatial queries of the store: cameras near a place, nearest available patrol units (issue 9).

Two ways to the same answers. On PostgreSQL with the ``postgis`` extension created in the database
the query runs there: ``ST_DWithin`` for "within so many metres" and the KNN operator ``<->`` to
take the nearest units first, both on ``geography`` points, so a national store with tens of
thousands of cameras does not ship them all to Python for each incident. Anywhere else (SQLite,
PostgreSQL without PostGIS) the rows in scope are read and measured in Python (``domain/geo``).

Both measure on the sphere, not the WGS 84 spheroid: PostGIS is asked for sphere distances
(``use_spheroid => false``; its sphere has the mean radius ``domain/geo`` uses), so the two paths
agree to the millimetre and give the same order, which a test checks. The spheroid would move a
distance by up to 0.5 %, far below what a straight line says about a road, and would make the
answer depend on which store a deployment runs.

No geometry column is added: points are built from the existing ``lat``/``lon`` columns, so the
tables and migrations stay the same on every store.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from koopsuz.domain.geo import great_circle_m
from koopsuz.security.principal import Scope
from koopsuz.store.tables import CameraRow, UnitRow

log = logging.getLogger(__name__)
_KNN_SLACK = 10  # KNN candidates beyond the limit, re-ranked exactly (ties broken by call sign)
_postgis: dict[str, bool] = {}


def has_postgis(engine: Engine) -> bool:
    """Whether this store's database has the postgis extension (asked once per database URL)."""
    key = engine.url.render_as_string(hide_password=True)
    if key not in _postgis:
        found = False
        if engine.dialect.name == "postgresql":
            try:
                with engine.connect() as conn:
                    row = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'postgis'")).first()
                found = row is not None
            except Exception as exc:  # no answer now: the Python path works everywhere; ask again next time
                log.warning("spatial: cannot tell whether PostGIS is installed (%s); measuring in Python", exc)
                return False
        _postgis[key] = found
        if found:
            log.info("spatial: PostGIS found; distance queries run in the database")
    return _postgis[key]


def _geog(lat: Any, lon: Any) -> Any:
    """A WGS 84 geography point (PostGIS); ``geography(...)`` is the cast written as a call."""
    return func.geography(func.ST_SetSRID(func.ST_MakePoint(lon, lat), 4326))


def _in_scope(q: Any, column: Any, scope: Scope) -> Any:
    return q if scope.is_national else q.where(column.in_(sorted(scope.regions or ())))


class SpatialRepo:
    """``postgis``: the session's database has the extension (``has_postgis``)."""

    def __init__(self, session: Session, postgis: bool) -> None:
        self.s = session
        self.postgis = postgis

    def cameras_within(
        self, scope: Scope, lat: float, lon: float, within_m: float, limit: int | None = None
    ) -> list[tuple[CameraRow, float]]:
        """Cameras in scope within ``within_m`` of the point, nearest first (then by id), with metres."""
        if self.postgis:
            here, cam = _geog(lat, lon), _geog(CameraRow.lat, CameraRow.lon)
            dist = func.ST_Distance(cam, here, False).label("d")
            q = select(CameraRow, dist).where(func.ST_DWithin(cam, here, within_m, False)).order_by(dist, CameraRow.id)
            q = _in_scope(q, CameraRow.region, scope)
            if limit is not None:
                q = q.limit(limit)
            return [(row, float(d)) for row, d in self.s.execute(q).all()]
        rows = self.s.execute(_in_scope(select(CameraRow), CameraRow.region, scope)).scalars().all()
        near = [(r, great_circle_m(lat, lon, r.lat, r.lon)) for r in rows]
        near = sorted(((r, d) for r, d in near if d <= within_m), key=lambda x: (x[1], x[0].id))
        return near[:limit] if limit is not None else near

    def available_units_nearest(self, scope: Scope, lat: float, lon: float, limit: int) -> list[tuple[UnitRow, float]]:
        """Available units in scope with a known position, nearest first (then by call sign), with metres."""
        q = select(UnitRow).where(UnitRow.status == "available", UnitRow.lat.is_not(None), UnitRow.lon.is_not(None))
        q = _in_scope(q, UnitRow.region, scope)
        if self.postgis:
            here, unit = _geog(lat, lon), _geog(UnitRow.lat, UnitRow.lon)
            q = q.add_columns(func.ST_Distance(unit, here, False)).order_by(unit.op("<->")(here))
            found = [(row, float(d)) for row, d in self.s.execute(q.limit(limit + _KNN_SLACK)).all()]
        else:
            rows = self.s.execute(q).scalars().all()
            found = [(r, great_circle_m(lat, lon, r.lat, r.lon)) for r in rows]  # type: ignore[arg-type]
        found.sort(key=lambda x: (x[1], x[0].call_sign))
        return found[:limit]
