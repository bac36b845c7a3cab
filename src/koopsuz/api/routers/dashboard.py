"""Accountability dashboard: JSON for the page, CSV and PDF for the board (exports audited).

``stats.read`` (national operator, regional head, auditor, admin). A regional caller gets their own
region; naming another answers 403 (audited). National callers get the country with each
region's figures and the ranking, or one region by ``region=``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response

from koopsuz.api.deps import PrincipalDep, SystemDep
from koopsuz.services.dashboard import csv_text
from koopsuz.services.dashboard_pdf import render_dashboard_pdf

router = APIRouter(tags=["dashboard"])
Region = Annotated[str | None, Query(description="ISO 3166-2:KG code, e.g. KG-Y; default: your scope")]
From = Annotated[
    str | None, Query(alias="from", description="2026-11-01 (Bishkek day) or ISO 8601 with offset; default: 7 days ago")
]
To = Annotated[str | None, Query(alias="to", description="2026-11-30 (that day included) or ISO 8601; default: now")]


def _name(report: dict[str, Any], ext: str) -> str:
    return f"koopsuz-dashboard-{report['region'] or 'national'}-{report['from'][:10]}-{report['to'][:10]}.{ext}"


@router.get("/api/dashboard")
def dashboard(who: PrincipalDep, system: SystemDep, region: Region = None, start: From = None, end: To = None) -> Any:
    """Incidents by category and hour, response times (median, p90), alert precision per rule and
    camera, camera uptime and recording coverage, unprotected schools, by district; nationally
    each region's figures and the ranking."""
    return system.dashboard.dashboard(who, region, start, end)


@router.get("/api/dashboard.csv")
def dashboard_csv(
    who: PrincipalDep, system: SystemDep, region: Region = None, start: From = None, end: To = None
) -> Response:
    """The same figures as one long table: region, district, figure, item, value, n (audited)."""
    report = system.dashboard.dashboard(who, region, start, end)
    system.dashboard.audited_export(who, report, "csv")
    return Response(
        "\ufeff" + csv_text(report),  # a BOM, so spreadsheet programs read the Cyrillic names as UTF-8
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{_name(report, "csv")}"'},
    )


@router.get("/api/dashboard.pdf")
def dashboard_pdf(
    who: PrincipalDep, system: SystemDep, region: Region = None, start: From = None, end: To = None
) -> Response:
    """The report for a board meeting: figures, charts, districts, unprotected sites, ranking (audited)."""
    report = system.dashboard.dashboard(who, region, start, end)
    system.dashboard.audited_export(who, report, "pdf")
    return Response(
        render_dashboard_pdf(report),
        media_type="application/pdf",
        headers={"Content-Disposition": f'attachment; filename="{_name(report, "pdf")}"'},
    )
