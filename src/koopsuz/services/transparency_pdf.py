"""The transparency report as a one-page PDF (fpdf2), in Russian and English side by side.

Font, rows and fallback (English in Helvetica where DejaVu Sans is missing) are ``pdf_common``'s.
"""

from __future__ import annotations

from typing import Any

from koopsuz.services.pdf_common import new_document

ROWS: tuple[tuple[str, str, str], ...] = (
    ("cameras", "Камеры", "Cameras"),
    ("watchlist_entries", "Активные записи в списках розыска", "Watchlist entries active"),
    ("face_searches", "Поиски по лицу", "Face searches run"),
    ("plate_searches", "Поиски по номерам", "Plate searches run"),
    ("alerts_total", "Тревоги", "Alerts"),
    ("alerts_confirmed", "из них подтверждено операторами", "confirmed by operators"),
    ("alerts_dismissed", "из них отклонено", "dismissed"),
    ("alert_precision", "Точность тревог", "Alert precision"),
    ("speed_violations", "Нарушения средней скорости", "Average-speed violations"),
    ("incidents", "Происшествия", "Incidents"),
    ("retention_segments", "Удалено по срокам хранения (фрагментов)", "Deleted by retention (segments)"),
    ("retention_gb", "Удалено по срокам хранения (ГБ)", "Deleted by retention (GB)"),
)


def value_text(report: dict[str, Any], key: str) -> str:
    if key == "watchlist_entries":
        v = report["watchlist_entries_active"]
        return str(sum(v.values())) + (f" ({', '.join(f'{k} {n}' for k, n in v.items())})" if v else "")
    if key == "alert_precision":
        p = report["alert_precision"]
        return "-" if p is None else f"{p * 100:.0f} %"
    if key == "retention_segments":
        return str(report["retention"]["deleted_segments"])
    if key == "retention_gb":
        return f"{report['retention']['deleted_bytes'] / 1e9:.2f}"
    return str(report[key])


def render_pdf(report: dict[str, Any]) -> bytes:
    doc = new_document()
    pdf, unicode = doc.pdf, doc.unicode
    names = report["region_name"]
    title = "Koopsuz: отчёт о прозрачности / transparency report" if unicode else "Koopsuz transparency report"
    doc.line(title, size=15, bold=True, h=9)
    where = f"{names['ru']} / {names['en']} ({report['region']})" if unicode else f"{names['en']} ({report['region']})"
    doc.line(f"{where}, {report['month']}", size=11)
    pdf.ln(3)
    for key, ru, en in ROWS:
        doc.row(doc.label(ru, en), value_text(report, key))
    pdf.ln(4)
    doc.line(doc.label("Камеры по типам объектов", "Cameras by site type"), bold=True)
    for site_type, n in report["cameras_by_site_type"].items():
        doc.row(site_type, str(n), h=6, label_w=140)
    pdf.ln(3)
    doc.line(doc.label("Время реагирования, с (медиана)", "Response times, s (median)"), bold=True)
    for k, v in report["response_times_s"].items():
        median = v.get("median_s") if isinstance(v, dict) else None
        doc.row(k.replace("_", " "), "-" if median is None else f"{median:.0f}", h=6)
    pdf.ln(4)
    doc.font(8)
    pdf.multi_cell(0, 4, f"{report['note']} Generated {report['generated_at']}.")
    return bytes(pdf.output())
