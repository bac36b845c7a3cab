"""What every Koopsuz PDF shares (fpdf2): the font, bilingual labels, label/value rows, bar charts.

DejaVu Sans (Debian's fonts-dejavu-core, installed by ``make setup``) carries Cyrillic; without it
a report falls back to the core Helvetica font and English only, rather than failing. Reports
are one style: a bold title, then rows of a label and a right-aligned value over a thin rule.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from fpdf import FPDF

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
FONT_BOLD = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf")
BAR_RGB = (52, 101, 164)
TRACK_RGB = (230, 233, 238)


@dataclass
class Doc:
    pdf: FPDF
    family: str
    unicode: bool

    def label(self, ru: str, en: str) -> str:
        """``ru / en`` where Cyrillic can be set, English alone otherwise."""
        return f"{ru} / {en}" if self.unicode else en

    def font(self, size: float, *, bold: bool = False) -> None:
        self.pdf.set_font(self.family, "B" if bold else "", size)

    def safe(self, text: str) -> str:
        """Text the loaded font can set: without DejaVu, what Latin-1 lacks (Cyrillic names) becomes '?'."""
        return text if self.unicode else text.encode("latin-1", "replace").decode("latin-1")

    def line(self, text: str, *, size: float = 10, bold: bool = False, h: float = 7) -> None:
        self.font(size, bold=bold)
        self.pdf.cell(0, h, self.safe(text), new_x="LMARGIN", new_y="NEXT")

    def row(self, label: str, value: str, *, label_w: float = 140, h: float = 7, size: float = 10) -> None:
        """A label and its value, right-aligned, over a thin rule."""
        self.font(size)
        self.pdf.cell(label_w, h, self.safe(label), border="B")
        self.font(size, bold=True)
        self.pdf.cell(0, h, self.safe(value), border="B", align="R", new_x="LMARGIN", new_y="NEXT")

    def bars(
        self,
        items: Sequence[tuple[str, float | None]],
        *,
        fmt: Callable[[float | None], str] = lambda v: "-" if v is None else f"{v:g}",
        max_value: float | None = None,
        label_w: float = 55,
        value_w: float = 22,
        h: float = 5,
        size: float = 8,
    ) -> None:
        """A horizontal bar chart: one row per item, label, bar scaled to ``max_value``, value."""
        pdf = self.pdf
        width = pdf.w - pdf.l_margin - pdf.r_margin - label_w - value_w
        top = max_value if max_value is not None else max((v or 0.0 for _, v in items), default=0.0)
        self.font(size)
        for text, value in items:
            if pdf.will_page_break(h):
                pdf.add_page()
            x, y = pdf.get_x(), pdf.get_y()
            pdf.cell(label_w, h, _fit(pdf, self.safe(text), label_w - 1, self._ellipsis))
            pdf.set_fill_color(*TRACK_RGB)
            pdf.rect(x + label_w, y + 1, width, h - 2, style="F")
            if value and top > 0:
                pdf.set_fill_color(*BAR_RGB)
                pdf.rect(x + label_w, y + 1, width * min(1.0, value / top), h - 2, style="F")
            pdf.set_xy(x + label_w + width, y)
            pdf.cell(value_w, h, fmt(value), align="R", new_x="LMARGIN", new_y="NEXT")


    def columns(self, labels: Sequence[str], values: Sequence[float], *, h: float = 30, size: float = 6) -> None:
        """A vertical bar chart across the page (e.g. 24 hours), the count above each bar."""
        pdf = self.pdf
        if pdf.will_page_break(h + 8):
            pdf.add_page()
        width = pdf.w - pdf.l_margin - pdf.r_margin
        step = width / max(1, len(values))
        top = max(values, default=0) or 1
        x0, y0 = pdf.l_margin, pdf.get_y() + 3
        self.font(size)
        for i, (text, v) in enumerate(zip(labels, values, strict=True)):
            bar = h * v / top
            x = x0 + i * step
            pdf.set_fill_color(*TRACK_RGB)
            pdf.rect(x + step * 0.15, y0, step * 0.7, h, style="F")
            if v:
                pdf.set_fill_color(*BAR_RGB)
                pdf.rect(x + step * 0.15, y0 + h - bar, step * 0.7, bar, style="F")
                pdf.set_xy(x, y0 + h - bar - 3)
                pdf.cell(step, 3, f"{v:g}", align="C")
            pdf.set_xy(x, y0 + h)
            pdf.cell(step, 4, text, align="C")
        pdf.set_xy(pdf.l_margin, y0 + h + 5)

    def table(
        self,
        header: Sequence[tuple[str, str]],
        rows: Sequence[Sequence[str]],
        widths: Sequence[float],
        *,
        size: float = 8,
    ) -> None:
        """A plain table: a bold header of (ru, en) pairs on two lines (English alone without the
        Cyrillic font), thin rules, the first column left-aligned, the rest right."""
        pdf = self.pdf
        lines = [[ru for ru, _ in header], [en for _, en in header]] if self.unicode else [[en for _, en in header]]
        for k, line in enumerate(lines):
            self.font(size, bold=k == 0)
            last = k == len(lines) - 1
            for i, (text, w) in enumerate(zip(line, widths, strict=True)):
                pdf.cell(w, 4.5, _fit(pdf, self.safe(text), w - 1, self._ellipsis), border="B" if last else 0,
                         align="L" if i == 0 else "R")
            pdf.ln(4.5)
        self.font(size)
        for row in rows:
            if pdf.will_page_break(5):
                pdf.add_page()
            for i, (text, w) in enumerate(zip(row, widths, strict=True)):
                text = _fit(pdf, self.safe(text), w - 1, self._ellipsis)
                pdf.cell(w, 5, text, border="B", align="L" if i == 0 else "R")
            pdf.ln(5)

    @property
    def _ellipsis(self) -> str:
        return "…" if self.unicode else "..."


def _fit(pdf: FPDF, text: str, width: float, ellipsis: str) -> str:
    """Cut ``text`` with an ellipsis so it fits ``width`` mm in the current font."""
    if pdf.get_string_width(text) <= width:
        return text
    while text and pdf.get_string_width(text + ellipsis) > width:
        text = text[:-1]
    return text + ellipsis


def new_document(*, title: str | None = None, margin: float = 15) -> Doc:
    """An A4 document with one page added and the report font loaded."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(auto=True, margin=margin)
    if title:
        pdf.set_title(title)
    pdf.add_page()
    unicode = FONT.is_file()
    if unicode:
        pdf.add_font("dejavu", "", str(FONT))
        pdf.add_font("dejavu", "B", str(FONT_BOLD if FONT_BOLD.is_file() else FONT))
    return Doc(pdf, "dejavu" if unicode else "helvetica", unicode)
