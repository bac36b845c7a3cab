"""The public transparency report: what the system did in a region and a month, with no personal data.

Counts only, never a name, plate, face or place smaller than a region: cameras by site type,
watchlist entries active, face and plate searches run, alerts and how many operators confirmed,
incidents and response times, and what retention deleted. Anyone may read it (it is how the
ministry earns public trust), so it is computed from aggregates and cached per region and month.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from koopsuz.domain.regions import REGIONS, region_codes
from koopsuz.domain.watchlists import EntryStatus
from koopsuz.security.principal import SYSTEM
from koopsuz.services.errors import Invalid
from koopsuz.services.incidents import IncidentService
from koopsuz.store.db import Database
from koopsuz.store.tables import (
    AlertFeedbackRow,
    AuditRow,
    CameraRow,
    EventRow,
    FaceSearchRow,
    RetentionRunRow,
    SiteRow,
    WatchlistEntryRow,
    WatchlistRow,
)

BISHKEK = timedelta(hours=6)
RESPONSE_MEASURES = ("time_to_acknowledge", "time_to_dispatch", "time_to_arrive", "time_to_resolve")


def month_range(month: str) -> tuple[datetime, datetime]:
    """``2026-11`` -> [1 Nov 00:00, 1 Dec 00:00) on the Bishkek clock, in UTC."""
    try:
        y, m = (int(x) for x in month.split("-"))
        start = datetime(y, m, 1, tzinfo=UTC) - BISHKEK
        end = datetime(y + (m == 12), m % 12 + 1, 1, tzinfo=UTC) - BISHKEK
    except ValueError:
        raise Invalid(f"month must look like 2026-11, not {month!r}") from None
    if not 2000 <= y <= 2100:
        raise Invalid("month: a year between 2000 and 2100")
    return start, end


class TransparencyService:
    def __init__(self, db: Database, incidents: IncidentService) -> None:
        self._db = db
        self._incidents = incidents

    def report(self, region: str, month: str) -> dict[str, Any]:
        if region not in region_codes():
            raise Invalid(f"unknown region {region!r}; use one of {', '.join(sorted(region_codes()))}")
        start, end = month_range(month)
        names = next((r.name_en, r.name_ru, r.name_ky) for r in REGIONS if r.code == region)
        with self._db.session() as s:
            cams = Counter(
                t
                for (t,) in s.execute(
                    select(SiteRow.type).join(CameraRow, CameraRow.site == SiteRow.id).where(CameraRow.region == region)
                ).all()
            )
            active = Counter(
                k
                for k, reg in s.execute(
                    select(WatchlistRow.kind, WatchlistRow.region)
                    .join(WatchlistEntryRow, WatchlistEntryRow.watchlist_id == WatchlistRow.id)
                    .where(
                        WatchlistEntryRow.status == EntryStatus.ACTIVE,
                        WatchlistEntryRow.created_at < end,
                        WatchlistEntryRow.expires_at >= start,
                    )
                ).all()
                if reg in (region, None)
            )
            face_searches = sum(
                1
                for (regions,) in s.execute(
                    select(FaceSearchRow.regions).where(
                        FaceSearchRow.created_at >= start, FaceSearchRow.created_at < end
                    )
                ).all()
                if not regions or region in regions
            )
            plate_searches = s.execute(
                select(func.count()).select_from(AuditRow).where(
                    AuditRow.action == "plates.search", AuditRow.ts >= start, AuditRow.ts < end,
                    (AuditRow.region == region) | AuditRow.region.is_(None),
                )
            ).scalar()
            alerts = Counter(
                kind_of(p)
                for (p,) in s.execute(
                    select(EventRow.payload).where(
                        EventRow.kind == "alert", EventRow.region == region, EventRow.ts >= start, EventRow.ts < end
                    )
                ).all()
            )
            verdicts = Counter(
                v
                for (v,) in s.execute(
                    select(AlertFeedbackRow.verdict)
                    .join(EventRow, EventRow.id == AlertFeedbackRow.event_id)
                    .where(AlertFeedbackRow.region == region, EventRow.ts >= start, EventRow.ts < end)
                ).all()
            )
            violations = s.execute(
                select(func.count()).select_from(EventRow).where(
                    EventRow.kind == "speed_violation", EventRow.region == region, EventRow.ts >= start,
                    EventRow.ts < end,
                )
            ).scalar()
            in_region = set(s.execute(select(CameraRow.id).where(CameraRow.region == region)).scalars())
            runs = list(
                s.execute(
                    select(RetentionRunRow).where(RetentionRunRow.started_at >= start, RetentionRunRow.started_at < end)
                ).scalars()
            )
        deleted_bytes, deleted_segments = _retention_in_region(runs, in_region)
        judged = verdicts.get("confirmed", 0) + verdicts.get("dismissed", 0)
        incidents = self._incidents.stats(SYSTEM, region, start, end)
        return {
            "region": region,
            "region_name": {"en": names[0], "ru": names[1], "ky": names[2]},
            "month": month,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "cameras_by_site_type": dict(sorted(cams.items())),
            "cameras": sum(cams.values()),
            "watchlist_entries_active": dict(sorted(active.items())),
            "face_searches": face_searches,
            "plate_searches": int(plate_searches or 0),
            "alerts": dict(sorted(alerts.items())),
            "alerts_total": sum(alerts.values()),
            "alerts_confirmed": verdicts.get("confirmed", 0),
            "alerts_dismissed": verdicts.get("dismissed", 0),
            "alert_precision": round(verdicts.get("confirmed", 0) / judged, 3) if judged else None,
            "speed_violations": int(violations or 0),
            "incidents": incidents["incidents"],
            "incidents_by_category": incidents["by_category"],
            "response_times_s": {k: incidents[k] for k in RESPONSE_MEASURES},
            "retention": {"runs": len(runs), "deleted_segments": deleted_segments, "deleted_bytes": deleted_bytes},
            "generated_at": datetime.now(UTC).isoformat(),
            "note": "Counts only; no person, plate, face or place below the region is named.",
        }


def kind_of(payload: dict[str, Any] | None) -> str:
    """An alert's kind for the report: the rule kind (zone, line, face match, hotlist hit...)."""
    return str((payload or {}).get("rule_kind") or "other")


def _retention_in_region(runs: list[RetentionRunRow], cameras: set[str]) -> tuple[int, int]:
    """Bytes and segments the month's retention runs deleted on the region's cameras (from their reports)."""
    total_bytes = total_segments = 0
    for run in runs:
        deleted = (run.report or {}).get("deleted", {}) if isinstance(run.report, dict) else {}
        for camera, groups in deleted.items():
            if camera in cameras and isinstance(groups, dict):
                total_bytes += sum(int(g.get("bytes", 0)) for g in groups.values())
                total_segments += sum(int(g.get("segments", 0)) for g in groups.values())
    return total_bytes, total_segments
