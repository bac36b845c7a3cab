"""Districts, cities, sites and cameras, always read through a scope."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from koopsuz.domain.registry import Camera, City, District, Site
from koopsuz.security.principal import Scope
from koopsuz.store.tables import CameraRow, CityRow, DistrictRow, SiteRow


def _scoped(q, column, scope: Scope):  # type: ignore[no-untyped-def]
    return q if scope.is_national else q.where(column.in_(scope.regions or ()))


class RegistryRepo:
    def __init__(self, session: Session) -> None:
        self.s = session

    # -- reads -------------------------------------------------------------
    def cameras(self, scope: Scope, *, enabled_only: bool = False) -> Sequence[CameraRow]:
        q = _scoped(select(CameraRow).order_by(CameraRow.region, CameraRow.id), CameraRow.region, scope)
        if enabled_only:
            q = q.where(CameraRow.enabled.is_(True))
        return self.s.execute(q).scalars().all()

    def camera(self, camera_id: str) -> CameraRow | None:
        """Unscoped by design: callers compare ``row.region`` with the scope to answer 403 vs 404."""
        return self.s.get(CameraRow, camera_id)

    def sites(self, scope: Scope) -> Sequence[SiteRow]:
        return self.s.execute(_scoped(select(SiteRow).order_by(SiteRow.id), SiteRow.region, scope)).scalars().all()

    def site(self, site_id: str) -> SiteRow | None:
        return self.s.get(SiteRow, site_id)

    def cities(self, scope: Scope) -> Sequence[CityRow]:
        return self.s.execute(_scoped(select(CityRow).order_by(CityRow.id), CityRow.region, scope)).scalars().all()

    def districts(self, scope: Scope) -> Sequence[DistrictRow]:
        q = _scoped(select(DistrictRow).order_by(DistrictRow.id), DistrictRow.region, scope)
        return self.s.execute(q).scalars().all()

    # -- writes ------------------------------------------------------------
    def upsert_district(self, d: District) -> None:
        self.s.merge(DistrictRow(id=d.id, name=d.name, region=d.region))

    def upsert_city(self, c: City) -> None:
        self.s.merge(CityRow(id=c.id, name=c.name, region=c.region, district=c.district, lat=c.lat, lon=c.lon))

    def upsert_site(self, site: Site) -> None:
        self.s.merge(
            SiteRow(
                id=site.id,
                name=site.name,
                type=str(site.type),
                region=site.region,
                city=site.city,
                district=site.district,
                address=site.address,
                lat=site.lat,
                lon=site.lon,
                opening_hours=site.opening_hours,
            )
        )

    def upsert_camera(self, cam: Camera, region: str) -> CameraRow:
        row = CameraRow(
            id=cam.id,
            name=cam.name,
            site=cam.site,
            region=region,
            main_url=cam.main_url,
            sub_url=cam.sub_url,
            lat=cam.lat,
            lon=cam.lon,
            heading=cam.heading,
            fov=cam.fov,
            ptz=cam.ptz,
            zoom_max=cam.zoom_max,
            onvif_url=cam.onvif_url,
            profile=cam.profile,
            enabled=cam.enabled,
            motion=cam.motion.model_dump(),
            motion_masks=[[list(p) for p in poly] for poly in cam.motion_masks],
            privacy_masks=[[list(p) for p in poly] for poly in cam.privacy_masks],
            lanes=[{"name": lane.name, "zone": [list(p) for p in lane.zone]} for lane in cam.lanes],
            updated_at=datetime.now(UTC),
        )
        return self.s.merge(row)


def camera_model(row: CameraRow) -> Camera:
    """The validated domain record of a stored camera (what ingest and the API work with)."""
    return Camera.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "site": row.site,
            "main_url": row.main_url,
            "sub_url": row.sub_url,
            "lat": row.lat,
            "lon": row.lon,
            "heading": row.heading,
            "fov": row.fov,
            "ptz": row.ptz,
            "zoom_max": row.zoom_max,
            "onvif_url": row.onvif_url,
            "profile": row.profile,
            "enabled": row.enabled,
            "motion": row.motion or {},
            "motion_masks": row.motion_masks or [],
            "privacy_masks": row.privacy_masks or [],
            "lanes": row.lanes or [],
        }
    )
