"""The notice of a confirmed average-speed violation: one A4 page a person can read, Russian and English.

Same approach as the transparency report (fpdf2, DejaVu Sans for Cyrillic, Helvetica and English
only when the font is missing). The plate and the evidence hash are set in Courier, a core font,
so they stay plain Latin text in the file (copyable, and findable by a test after inflating it).
Times are shown on the Bishkek clock (UTC+6), which is what a driver's watch said.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from koopsuz.services.pdf_common import new_document

TZ = ZoneInfo("Asia/Bishkek")
LABEL_W = 88  # mm: the longest Russian / English label on one line


def bishkek(ts: str) -> str:
    t = datetime.fromisoformat(ts).astimezone(TZ)
    return f"{t:%d.%m.%Y %H:%M:%S}.{t.microsecond // 10_000:02d} (UTC+6)"


def clock_line(trusted: bool | None) -> tuple[str, str]:
    if trusted is True:
        return "часы обеих камер проверены", "both cameras' clocks checked and trusted"
    if trusted is False:
        return "часы камеры не проверены", "a camera clock was not trusted"
    return ("смещение часов камер не измерялось (данных нет)",
            "camera clock offsets were not measured (no clock-trust data)")


SPOT_METHOD = ("мгновенная скорость по одной калиброванной камере; доказательная сила ниже, чем у средней "
               "скорости на участке", "spot speed from one calibrated camera; lower evidential weight than an "
               "average over a section")
CLASS_NAMES = {"car": ("легковые", "cars"), "bus": ("автобусы", "buses"), "truck": ("грузовые", "trucks"),
               "motorcycle": ("мотоциклы", "motorcycles")}


def limit_text(v: dict[str, Any], label: Callable[[str, str], str]) -> str:
    """The limit that applied, and when it was a vehicle class's, which class and the general limit."""
    text = f"{v['limit_kmh']:.0f} km/h"
    cls, general = v.get("limit_class"), v.get("section_limit_kmh")
    if cls in CLASS_NAMES and isinstance(general, int | float):
        text += f" ({label(*CLASS_NAMES[cls])}; " + label("общее ограничение", "general limit") + f" {general:.0f})"
    return text


def render_notice(
    v: dict[str, Any], *, reviewer_name: str, cameras: dict[str, str], crops: dict[str, Path | None]
) -> bytes:
    """``v`` is ``ViolationService.get``'s answer; ``crops`` the entry and exit plate pictures."""
    doc = new_document(title=f"Notice {v['id']} {v['plate']}", margin=12)
    pdf, unicode, family = doc.pdf, doc.unicode, doc.family

    def label(ru: str, en: str) -> str:
        return f"{ru} / {en}" if unicode else en

    spot = v.get("method") == "spot"
    pdf.set_font(family, "B", 14)
    title = (("Уведомление о превышении скорости (мгновенная скорость)", "Notice of a spot-speed violation") if spot
             else ("Уведомление о превышении средней скорости", "Notice of an average-speed violation"))
    pdf.multi_cell(0, 7, label(*title), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(family, "", 9)
    pdf.cell(0, 5, label("Нарушение №", "Violation no.") + f" {v['id']}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(family, "", 10)
    pdf.cell(LABEL_W, 9, label("Госномер", "Plate"))
    pdf.set_font("courier", "B", 18)
    pdf.cell(0, 9, v["plate"], new_x="LMARGIN", new_y="NEXT")
    length_km = v["length_m"] / 1000
    seconds = v.get("seconds")
    entry, exit_ = v["entry"], v["exit"]
    vehicle = ", ".join(x for x in (v.get("vehicle"), v.get("colour")) if x) or "-"
    took = f"{seconds:.2f} s" if isinstance(seconds, int | float) else "-"
    measured: tuple[tuple[tuple[str, str], str], ...] = (
        (("Участок дороги", "Road section"), f"{v['section_name']} ({v['section']})"),
        (("Длина участка", "Section length"), f"{length_km:.3f} km"),
        (("Въезд", "Entry"), f"{bishkek(entry['ts'])}, {cameras.get(entry['camera'], entry['camera'])}"),
        (("Выезд", "Exit"), f"{bishkek(exit_['ts'])}, {cameras.get(exit_['camera'], exit_['camera'])}"),
        (("Время в пути", "Time on the section"), took),
        (("Средняя скорость", "Average speed (measured)"), f"{v['speed_kmh']:.1f} km/h"),
    )
    if spot:  # one camera, a few metres of road: say so, and that it weighs less than a section's average
        measured = (
            (("Способ измерения", "Method"), label(*SPOT_METHOD)),
            (("Камера", "Camera"), cameras.get(exit_["camera"], exit_["camera"])),
            (("Время", "Time"), f"{bishkek(entry['ts'])} - {bishkek(exit_['ts'])}"),
            (("Путь измерения", "Measured over"), f"{v['length_m']:.1f} m, {took}"),
            (("Скорость", "Speed (measured)"), f"{v['speed_kmh']:.1f} km/h"),
        )
    rows = (
        (("Транспортное средство", "Vehicle"), vehicle),
        *measured,
        (("Разрешённая скорость", "Speed limit"), limit_text(v, label)),
        (("Допуск", "Enforcement tolerance"), f"{v['tolerance_kmh']:.1f} km/h"),
        (("Превышение", "Excess over the limit"), f"{v['over_kmh']:.1f} km/h"),
        (("Часы камер", "Camera clocks"), label(*clock_line(v.get("clock_trusted")))),
    )
    for (ru, en), value in rows:
        pdf.set_font(family, "", 9)
        pdf.cell(LABEL_W, 6, label(ru, en), border="B")
        pdf.set_font(family, "B", 9)
        pdf.multi_cell(0, 6, value, border="B", align="L", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)
    top = pdf.get_y()
    for i, (side, ru, en) in enumerate((("entry", "Въезд", "Entry"), ("exit", "Выезд", "Exit"))):
        x = pdf.l_margin + i * 95
        pdf.set_xy(x, top)
        pdf.set_font(family, "", 9)
        pdf.cell(90, 5, label(ru, en) + ": " + label("снимок номера", "plate picture"))
        path = crops.get(side)
        placed = False
        if path is not None:
            try:
                pdf.image(str(path), x=x, y=top + 6, w=80)
                placed = True
            except Exception:  # a damaged picture must not cost the notice; it says so instead
                placed = False
        if not placed:
            pdf.set_xy(x, top + 6)
            pdf.cell(80, 20, label("снимок недоступен", "picture unavailable"), border=1, align="C")
    pdf.set_xy(pdf.l_margin, max(pdf.get_y(), top + 6 + 30) + 4)
    pdf.set_font(family, "", 9)
    pdf.cell(0, 5, label("Хеш доказательств (SHA-256)", "Evidence hash (SHA-256)"), new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("courier", "", 9)
    pdf.cell(0, 5, v["evidence_sha256"], new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(family, "", 9)
    reviewed = bishkek(v["reviewed_at"]) if v.get("reviewed_at") else "-"
    who = f"{reviewer_name} ({v['reviewed_by']})" if reviewer_name else str(v["reviewed_by"])
    pdf.multi_cell(0, 5, label("Проверил и подтвердил", "Reviewed and confirmed by") + f": {who}, {reviewed}",
                   new_x="LMARGIN", new_y="NEXT")
    pdf.ln(2)
    pdf.set_font(family, "", 7)
    note_ru = ("Средняя скорость = длина участка / время между двумя распознаваниями номера. Хеш охватывает "
               "данные нарушения и файлы снимков; его можно проверить в системе.")
    note_en = ("Average speed = section length / time between the two plate reads. The hash covers the "
               "violation's data and picture files and can be re-checked in the system.")
    if spot:
        note_ru = ("Мгновенная скорость: положения номера на кадрах одной камеры, пересчитанные на дорогу по её "
                   "калибровке (четыре точки с известными расстояниями). Доказательная сила ниже, чем у средней "
                   "скорости на участке. Хеш охватывает данные нарушения и файлы снимков.")
        note_en = ("Spot speed: the plate's positions over one camera's frames, mapped onto the road by its "
                   "calibration (four points of known distances). Lower evidential weight than an average over a "
                   "section. The hash covers the violation's data and picture files.")
    pdf.multi_cell(0, 3.5, f"{note_ru}\n{note_en}" if unicode else note_en)
    return bytes(pdf.output())
