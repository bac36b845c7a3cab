"""The accountability dashboard: a region's (or the country's) figures over a period, by district.

A regional head sees their own region (asking for another answers 403 and is audited); national
roles and national auditors see the country, each region's figures and the ranking of regions.
The figures are ``domain.dashboard``'s; this service only loads rows in scope, works out each
incident's and camera's district, and hands them over. Exports (CSV, PDF) are audited as
``dashboard.export``: they leave the system and go into board papers.

Uptime: offline intervals from ingest's ``camera_offline``/``camera_online`` events, merged with
the recording gaps of ``OUTAGE_GAP_CAUSES``.

Districts: a camera's district is its site's. An incident opened from an alert takes the district
of the alert's camera; a call or hand-made incident the district of the nearest site or town
within ``DISTRICT_BY_PLACE_M``; anything else is reported under "no district".
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from datetime import datetime
from typing import Any

from koopsuz.domain.dashboard import (
    DEFINITIONS,
    DISTRICT_BY_PLACE_M,
    BadPeriod,
    CameraFact,
    CameraTime,
    HealthChange,
    IncidentFact,
    SiteFact,
    Verdict,
    covered_s,
    figures,
    merge,
    nearest_district,
    outages,
    period,
    rank,
    ranking_row,
)
from koopsuz.domain.regions import REGIONS, region_codes
from koopsuz.security.audit import AuditLog
from koopsuz.security.principal import Permission, Principal, Scope
from koopsuz.services.command_history import Clock, History, require, utcnow
from koopsuz.services.errors import Invalid
from koopsuz.store.dashboard_repo import DashboardRepo
from koopsuz.store.db import Database
from koopsuz.store.incident_repo import aware
from koopsuz.store.retention_repo import RETENTION_CAUSE

NO_DISTRICT = "-"
OUTAGE_GAP_CAUSES = ("stream_lost", "system_down")
"""Recording gaps that mean the camera was not watched: the recorder could not reach it, or the
system was down (which ingest, being down too, never reported). Recorder faults (disk full, a
crash, a bad stream) and a disabled camera lower recording coverage, not the camera's uptime.
Recorded time is the sessions' spans plus the ``retention`` gaps ("recorded, then deleted by
policy"), so a month-old period keeps its coverage after schools' 14-day footage is gone."""
REGION_NAMES = {r.code: {"en": r.name_en, "ru": r.name_ru, "ky": r.name_ky} for r in REGIONS}
CSV_COLUMNS = ("region", "district", "figure", "item", "value", "n")


class DashboardService:
    def __init__(self, db: Database, audit: AuditLog) -> None:
        self._db = db
        self._audit = audit
        self._h = History(audit)
        self.now: Clock = utcnow

    # -- the figures ----------------------------------------------------------------------------
    def dashboard(
        self, who: Principal, region: str | None, start_text: str | None, end_text: str | None
    ) -> dict[str, Any]:
        require(who, Permission.STATS_READ)
        now = self.now()
        try:
            start, end = period(start_text, end_text, now)
        except BadPeriod as exc:
            raise Invalid(f"period: {exc}") from None
        scope = self._scope(who, region)
        measured_end = min(end, now)
        data = self._load(scope, start, end, measured_end)
        codes = sorted(scope.regions) if scope.regions is not None else [r.code for r in REGIONS]

        def group(keep: Any) -> dict[str, Any]:
            fig = figures(
                [i for i in data["incidents"] if keep(i.region, i.district)],
                [v for v in data["verdicts"] if keep(v.region, data["camera_district"].get(v.camera or ""))],
                [c for c in data["cameras"] if keep(c.region, c.district)],
                [s for s in data["sites"] if keep(s.region, s.district)],
                data["camera_time"],
                start,
                max(measured_end, start),
            )
            for row in (*fig["unprotected_sites"], *fig["camera_uptime"]):
                row["district_name"] = data["district_names"].get(row["district"] or "")
            return fig

        out: dict[str, Any] = {
            "region": codes[0] if len(codes) == 1 else None,
            "region_name": REGION_NAMES[codes[0]] if len(codes) == 1 else None,
            "national": scope.is_national,
            "regions": codes,
            "from": start.isoformat(),
            "to": end.isoformat(),
            "measured_to": measured_end.isoformat(),
            "generated_at": now.isoformat(),
            "summary": group(lambda _r, _d: True),
            "districts": [],
            "by_region": None,
            "ranking": None,
            "definitions": DEFINITIONS,
        }
        if len(codes) == 1:
            names = data["district_names"]
            seen = {d for d in (*[i.district for i in data["incidents"]], *[c.district for c in data["cameras"]],
                                *[s.district for s in data["sites"]])} | set(names)  # every registered one
            ids = sorted(d for d in seen if d) + ([NO_DISTRICT] if None in seen else [])
            out["districts"] = [
                {
                    "id": d,
                    "name": names.get(d, d) if d != NO_DISTRICT else None,
                    "figures": group(lambda _r, dist, d=d: (dist or NO_DISTRICT) == d),
                }
                for d in ids
            ]
        if scope.is_national:
            by_region = {code: group(lambda r, _d, code=code: r == code) for code in codes}
            out["by_region"] = {code: ranking_row(f) for code, f in by_region.items()}
            out["ranking"] = [row | {"name": REGION_NAMES[row["region"]]} for row in rank(out["by_region"])]
        return out

    def _scope(self, who: Principal, region: str | None) -> Scope:
        if region in (None, ""):
            return who.scope
        if region not in region_codes():
            raise Invalid(f"region: unknown region {region!r}; use one of {', '.join(sorted(region_codes()))}")
        self._h.in_scope(who, "region", region, region)
        return Scope.of(region)

    def _load(self, scope: Scope, start: datetime, end: datetime, measured_end: datetime) -> dict[str, Any]:
        with self._db.session() as s:
            repo = DashboardRepo(s)
            district_names = {d.id: d.name for d in repo.districts(scope)}
            site_rows = repo.sites(scope)
            city_rows = repo.cities(scope)
            camera_rows = repo.cameras(scope)
            incident_rows = repo.incidents(scope, start, end)
            alert_cams = repo.alert_cameras([r.id for r in incident_rows])
            verdict_rows = repo.verdicts(scope, start, end)
            changes = repo.health_changes(scope, start, measured_end) if measured_end > start else []
            before = repo.health_before(scope, start)
            live = measured_end > start
            gaps = repo.gaps(scope, start, measured_end, OUTAGE_GAP_CAUSES) if live else []
            deleted = repo.gaps(scope, start, measured_end, (RETENTION_CAUSE,)) if live else []
            recorded = {c.id: repo.recorded_spans(c.id, start, measured_end) if live else [] for c in camera_rows}

        site_district = {s.id: s.district for s in site_rows}
        sites = [SiteFact(s.id, s.name, s.type, s.region, s.district) for s in site_rows]
        cameras = [
            CameraFact(c.id, c.name, c.region, c.site, site_district.get(c.site), bool(c.enabled)) for c in camera_rows
        ]
        camera_district = {c.id: c.district for c in cameras}
        places: dict[str, list[tuple[float, float, str]]] = defaultdict(list)
        for row in (*site_rows, *city_rows):
            if row.district:
                places[row.region].append((row.lat, row.lon, row.district))

        incidents = []
        for r in incident_rows:
            cam = alert_cams.get(r.id)
            district = camera_district.get(cam) if cam else None
            if district is None and not cam:
                district = nearest_district(r.lat, r.lon, places[r.region], DISTRICT_BY_PLACE_M)
            incidents.append(
                IncidentFact(
                    r.region, district, r.category, aware(r.created_at),  # type: ignore[arg-type]
                    aware(r.dispatched_at), aware(r.on_scene_at),
                )
            )
        verdicts = [
            Verdict(reg, cam, rule, kind, name, verdict) for reg, cam, rule, verdict, kind, name in verdict_rows
        ]
        by_cam: dict[str, list[HealthChange]] = defaultdict(list)
        for cam, ts, kind in changes:
            by_cam[cam].append(HealthChange(cam, ts, kind == "camera_online"))
        gap_spans: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
        for cam, a, b in gaps:
            gap_spans[cam].append((a, b or measured_end))
        camera_time: dict[str, CameraTime] = {}
        for c in cameras:
            outs, online = outages(by_cam.get(c.id, []), before.get(c.id) != "camera_offline", start, measured_end)
            if gap_spans.get(c.id):  # what the recorder saw down; overlaps with ingest's reports count once
                outs = merge([*outs, *gap_spans[c.id]], start, measured_end)
                online = online and not any(b >= measured_end for _, b in gap_spans[c.id])
            spans = recorded[c.id] + [(a, b or measured_end) for cam, a, b in deleted if cam == c.id]
            camera_time[c.id] = CameraTime(outs, online, covered_s(spans, start, measured_end))
        return {
            "incidents": incidents,
            "verdicts": verdicts,
            "cameras": cameras,
            "sites": sites,
            "camera_time": camera_time,
            "camera_district": camera_district,
            "district_names": district_names,
        }

    # -- exports --------------------------------------------------------------------------------
    def audited_export(self, who: Principal, report: dict[str, Any], fmt: str) -> None:
        self._audit.record(
            who,
            "dashboard.export",
            target_type="dashboard",
            target_id=report["region"] or "national",
            region=report["region"],
            detail={"format": fmt, "from": report["from"], "to": report["to"], "regions": report["regions"]},
        )


def csv_text(report: dict[str, Any]) -> str:
    """The report as one long table (``CSV_COLUMNS``): every figure of the summary, each district
    and, nationally, each region's ranked figures; a spreadsheet pivots it as the board wants."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\r\n")
    w.writerow(CSV_COLUMNS)
    region = report["region"] or "national"
    for district, fig in [("", report["summary"]), *[(d["id"], d["figures"]) for d in report["districts"]]]:
        for row in figure_rows(fig):
            w.writerow((region, district, *row))
    for r in report["ranking"] or []:
        w.writerow((r["region"], "", "rank", "overall", r["rank"] if r["rank"] is not None else "", ""))
        w.writerow((r["region"], "", "rank", "score", r["score"] if r["score"] is not None else "", ""))
        for fig_name, v in r["figures"].items():
            w.writerow((r["region"], "", "region_figure", fig_name, "" if v is None else v, ""))
        for fig_name, v in r["ranks"].items():
            w.writerow((r["region"], "", "rank", fig_name, v, ""))
    return buf.getvalue()


def figure_rows(fig: dict[str, Any]) -> list[tuple[str, str, Any, Any]]:
    """(figure, item, value, n) rows of one group's figures; empty values are blank cells."""

    def cell(v: Any) -> Any:
        return "" if v is None else v

    rows: list[tuple[str, str, Any, Any]] = [("incidents", "total", fig["incidents"], "")]
    rows += [("incidents_by_category", k, n, "") for k, n in fig["by_category"].items()]
    rows += [("incidents_by_hour", f"{h:02d}", n, "") for h, n in enumerate(fig["by_hour"])]
    for name in ("time_to_dispatch", "time_to_on_scene"):
        s = fig[name]
        rows += [(f"{name}_s", stat, cell(s[f"{stat}_s"]), s["n"]) for stat in ("median", "p90", "mean", "max")]
    rows.append(("precision", "all", cell(fig["precision"]), fig["alerts_reviewed"]))
    rows += [
        ("precision_by_rule", r["key"], cell(r["precision"]), r["confirmed"] + r["dismissed"])
        for r in fig["precision_by_rule"]
    ]
    rows += [
        ("precision_by_camera", r["camera"] or "-", cell(r["precision"]), r["confirmed"] + r["dismissed"])
        for r in fig["precision_by_camera"]
    ]
    rows.append(("uptime", "mean", cell(fig["uptime"]), fig["cameras_enabled"]))
    rows.append(("coverage", "mean", cell(fig["coverage"]), fig["cameras_enabled"]))
    for c in fig["camera_uptime"]:
        rows.append(("camera_uptime", c["camera"], cell(c["uptime"]), ""))
        rows.append(("camera_coverage", c["camera"], cell(c["coverage"]), ""))
    rows.append(("protected_sites", "total", fig["protected_sites"], ""))
    rows += [("unprotected_site", s["site"], s["type"], s["cameras"]) for s in fig["unprotected_sites"]]
    return rows
