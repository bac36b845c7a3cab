"""The transparency report as a one-page PDF (fpdf2), in Russian and English side by side.

DejaVu Sans (Debian's fonts-dejavu-core, installed by ``make setup``) carries Cyrillic; without it
the report falls back to the core Helvetica font and English only, rather than failing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fpdf import FPDF

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")

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
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    unicode = FONT.is_file()
    if unicode:
        pdf.add_font("dejavu", "", str(FONT))
        pdf.add_font("dejavu", "B", str(FONT_BOLD if FONT_BOLD.is_file() else FONT))
    family = "dejavu" if unicode else "helvetica"
    names = report["region_name"]
    pdf.set_font(family, "B", 15)
    title = "Koopsuz: отчёт о прозрачности / transparency report" if unicode else "Koopsuz transparency report"
    pdf.cell(0, 9, title, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 11)
    where = f"{names['ru']} / {names['en']} ({report['region']})" if unicode else f"{names['en']} ({report['region']})"
    pdf.cell(0, 7, f"{where}, {report['month']}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    for key, ru, en in ROWS:
        pdf.set_font(family, "", 10)
        label = f"{ru} / {en}" if unicode else en
        pdf.cell(140, 7, label, border="B")
        pdf.set_font(family, "B", 10)
        pdf.cell(0, 7, value_text(report, key), border="B", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "B", 10)
    pdf.cell(0, 7, "Камеры по типам объектов / Cameras by site type" if unicode else "Cameras by site type",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    for site_type, n in report["cameras_by_site_type"].items():
        pdf.cell(140, 6, site_type)
        pdf.cell(0, 6, str(n), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    pdf.set_font(family, "B", 10)
    pdf.cell(0, 7, "Время реагирования, с (медиана) / Response times, s (median)" if unicode else "Response times, s",
             new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 10)
    for k, v in report["response_times_s"].items():
        median = v.get("median_s") if isinstance(v, dict) else None
        pdf.cell(140, 6, k.replace("_", " "))
        pdf.cell(0, 6, "-" if median is None else f"{median:.0f}", align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(family, "", 8)
    pdf.multi_cell(0, 4, f"{report['note']} Generated {report['generated_at']}.")
    return bytes(pdf.output())
