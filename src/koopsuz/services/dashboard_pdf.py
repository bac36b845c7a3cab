"""The dashboard as a PDF a regional head takes to a board meeting: figures, charts, districts.

Russian and English side by side like the transparency report (``pdf_common``'s style). Unlike
that public report it names cameras and sites: it is for the ministry's own board, and its
export is audited. Watchlist names and plates never appear (face and hotlist alerts are grouped
by kind in ``domain.dashboard``).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import pairwise
from typing import Any

from koopsuz.domain.dashboard import BISHKEK, RESPONSE_BUCKETS_S
from koopsuz.services.pdf_common import new_document

TOP = 15  # rows per bar chart: the worst cameras and the largest rules fit on the page


def _day(iso: str) -> str:
    return f"{datetime.fromisoformat(iso) + BISHKEK:%d.%m.%Y %H:%M}"


def _s(v: float | None) -> str:
    if v is None:
        return "-"
    return f"{v / 60:.1f} min" if v >= 600 else f"{v:.0f} s"


def _pct(v: float | None) -> str:
    return "-" if v is None else f"{v * 100:.1f} %"


def _bucket_labels() -> list[str]:
    edges = [e // 60 for e in RESPONSE_BUCKETS_S]
    return [f"<= {edges[0]} min", *[f"{a}-{b} min" for a, b in pairwise(edges)], f"> {edges[-1]} min"]


def render_dashboard_pdf(report: dict[str, Any]) -> bytes:
    doc = new_document(title="Koopsuz dashboard")
    pdf, L = doc.pdf, doc.label
    fig = report["summary"]
    if report["region"]:
        names = report["region_name"]
        where = (f"{names['ru']} / {names['en']}" if doc.unicode else names["en"]) + f" ({report['region']})"
    else:
        where = L("Вся страна", "Whole country")
    doc.line(L("Koopsuz: показатели работы", "Koopsuz: accountability report"), size=15, bold=True, h=9)
    doc.line(where, size=12, bold=True)
    to = datetime.fromisoformat(report["to"]) - timedelta(seconds=1)
    doc.line(f"{_day(report['from'])} - {to + BISHKEK:%d.%m.%Y %H:%M} (UTC+6)", size=10)
    pdf.ln(2)

    t_d, t_s = fig["time_to_dispatch"], fig["time_to_on_scene"]
    unprotected = L("Школы и детсады без работающей камеры", "Schools and kindergartens with no working camera")
    rows = (
        (L("Происшествия", "Incidents"), str(fig["incidents"])),
        (L("До направления наряда, медиана", "To dispatch, median"), _s(t_d["median_s"])),
        (L("До направления наряда, 90-й процентиль", "To dispatch, 90th percentile"), _s(t_d["p90_s"])),
        (L("До прибытия на место, медиана", "To on scene, median"), _s(t_s["median_s"])),
        (L("До прибытия на место, 90-й процентиль", "To on scene, 90th percentile"), _s(t_s["p90_s"])),
        (L("Точность тревог", "Alert precision"), f"{_pct(fig['precision'])} ({fig['alerts_reviewed']})"),
        (L("Доступность камер", "Camera uptime"), _pct(fig["uptime"])),
        (L("Покрытие записью", "Recording coverage"), _pct(fig["coverage"])),
        (L("Камеры: работают / включены / всего", "Cameras: working / enabled / all"),
         f"{fig['cameras_working']} / {fig['cameras_enabled']} / {fig['cameras']}"),
        (unprotected, f"{len(fig['unprotected_sites'])} / {fig['protected_sites']}"),
    )
    for label, value in rows:
        doc.row(label, value, label_w=130, h=6.5)

    pdf.ln(3)
    doc.line(L("Происшествия по категориям", "Incidents by category"), bold=True)
    doc.bars([(k, n) for k, n in fig["by_category"].items()] or [("-", 0)], fmt=lambda v: f"{v or 0:g}")
    pdf.ln(2)
    doc.line(L("Происшествия по часам суток (Бишкек)", "Incidents by hour of day (Bishkek)"), bold=True)
    doc.columns([f"{h:02d}" for h in range(24)], fig["by_hour"])
    doc.line(L("Время до направления наряда", "Time to dispatch"), bold=True)
    hist = fig["response_histogram"]
    doc.bars(list(zip(_bucket_labels(), hist["dispatch"], strict=True)), fmt=lambda v: f"{v or 0:g}")
    pdf.ln(2)
    doc.line(L("Время до прибытия на место", "Time to on scene"), bold=True)
    doc.bars(list(zip(_bucket_labels(), hist["on_scene"], strict=True)), fmt=lambda v: f"{v or 0:g}")

    pdf.ln(2)
    doc.line(L("Точность тревог по правилам", "Alert precision per rule"), bold=True)
    rules = sorted(fig["precision_by_rule"], key=lambda r: -(r["confirmed"] + r["dismissed"]))[:TOP]
    doc.bars(
        [(f"{r['camera'] or '-'}: {r['label']} ({r['confirmed'] + r['dismissed']})", r["precision"]) for r in rules]
        or [("-", None)],
        fmt=_pct,
        max_value=1.0,
        label_w=80,
    )
    pdf.ln(2)
    doc.line(L("Доступность камер (худшие)", "Camera uptime (lowest first)"), bold=True)
    cams = sorted(fig["camera_uptime"], key=lambda c: (c["uptime"] is not None, c["uptime"] or 0))[:TOP]
    doc.bars([(f"{c['camera']} {c['name']}", c["uptime"]) for c in cams] or [("-", None)], fmt=_pct, max_value=1.0,
             label_w=80)

    if report["districts"]:
        pdf.ln(3)
        doc.line(L("По районам", "By district"), bold=True)
        doc.table(
            [("Район", "District"), ("Происш.", "Incidents"), ("Напр., мед.", "Dispatch med."),
             ("Приб., мед.", "On scene med."), ("Точность", "Precision"), ("Доступн.", "Uptime"),
             ("Запись", "Coverage"), ("Без камер", "Unprotected")],
            [
                (d["name"] or L("без района", "no district"), str(f["incidents"]),
                 _s(f["time_to_dispatch"]["median_s"]), _s(f["time_to_on_scene"]["median_s"]),
                 _pct(f["precision"]), _pct(f["uptime"]), _pct(f["coverage"]),
                 str(len(f["unprotected_sites"])))
                for d in report["districts"]
                for f in (d["figures"],)
            ],
            [44, 18, 22, 22, 18, 18, 18, 20],
        )
    if fig["unprotected_sites"]:
        pdf.ln(3)
        doc.line(unprotected, bold=True)
        doc.table(
            [("Объект", "Site"), ("Тип", "Type"), ("Район", "District"), ("Камер", "Cameras")],
            [
                (s["name"], s["type"], s["district_name"] or s["district"] or "-", str(s["cameras"]))
                for s in fig["unprotected_sites"]
            ],
            [80, 35, 45, 20],
        )
    if report["ranking"]:
        pdf.ln(3)
        doc.line(L("Рейтинг регионов (1 = лучший)", "Ranking of regions (1 = best)"), bold=True)
        doc.table(
            [("Регион", "Region"), ("Место", "Rank"), ("Балл", "Score"), ("Происш.", "Incidents"),
             ("Напр., мед.", "Dispatch med."), ("Точность", "Precision"), ("Доступн.", "Uptime"),
             ("Запись", "Coverage")],
            [
                ((r["name"]["ru"] if doc.unicode else r["name"]["en"]), "-" if r["rank"] is None else str(r["rank"]),
                 "-" if r["score"] is None else f"{r['score']:.2f}", str(r["figures"]["incidents"]),
                 _s(r["figures"]["median_dispatch_s"]), _pct(r["figures"]["precision"]), _pct(r["figures"]["uptime"]),
                 _pct(r["figures"]["coverage"]))
                for r in report["ranking"]
            ],
            [46, 14, 16, 18, 24, 20, 20, 20],
        )
    pdf.ln(4)
    doc.font(7)
    notes = "; ".join(f"{k}: {v}" for k, v in report["definitions"].items())
    pdf.multi_cell(0, 3.5, doc.safe(f"{notes}. Generated {_day(report['generated_at'])} (UTC+6)."))
    return bytes(pdf.output())
