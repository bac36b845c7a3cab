"""The public transparency report: a page, a PDF and JSON, for anyone, with counts only.

No sign-in: the report is how the ministry answers to the public. It holds no personal data (see
services/transparency.py), so serving it openly leaks nothing a region's own figures do not.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from koopsuz.api.deps import SystemDep
from koopsuz.domain.regions import REGIONS
from koopsuz.services.transparency_pdf import ROWS, render_pdf, value_text
from koopsuz.web import TEMPLATES_DIR

router = APIRouter(tags=["transparency"])
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
Region = Annotated[str, Query(description="ISO 3166-2:KG code, e.g. KG-Y")]
Month = Annotated[str | None, Query(description="YYYY-MM on the Bishkek clock; default: the current month")]


def _month(month: str | None) -> str:
    return month or (datetime.now(UTC) + timedelta(hours=6)).strftime("%Y-%m")


@router.get("/api/transparency")
def transparency(system: SystemDep, region: Region = "KG-Y", month: Month = None) -> dict[str, Any]:
    return system.transparency.report(region, _month(month))


@router.get("/transparency.pdf", include_in_schema=False)
def transparency_pdf(system: SystemDep, region: Region = "KG-Y", month: Month = None) -> Response:
    report = system.transparency.report(region, _month(month))
    name = f"koopsuz-transparency-{report['region']}-{report['month']}.pdf"
    return Response(
        render_pdf(report), media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{name}"'}
    )


@router.get("/transparency", include_in_schema=False, response_class=HTMLResponse)
def transparency_page(request: Request, system: SystemDep, region: Region = "KG-Y", month: Month = None) -> Response:
    report = system.transparency.report(region, _month(month))
    rows = [(key, ru, en, value_text(report, key)) for key, ru, en in ROWS]
    query = urlencode({"region": report["region"], "month": report["month"]})
    return templates.TemplateResponse(
        request, "transparency.html", {"report": report, "rows": rows, "regions": REGIONS, "query": query}
    )
