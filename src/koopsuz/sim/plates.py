"""Kyrgyz licence plates of the 2016 standard: text generation, validation and a drawn plate image.

Plate recognition is scored against what the simulator drew, so the text grammar here must be
the one real cars carry (private ``NN NNN LLL``; legal entities ``NN NNN LL``, which also covers
government ``NN NNN PT``), and the picture must be legible at 720p like a real reflective plate:
white field, black characters, and a left field with the region code, a small flag and "KG".
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageDraw, ImageFont

from koopsuz.domain.plates import parse_plate

REGION_CODES = tuple(f"{i:02d}" for i in range(1, 10))
# Generated plates leave out I, O and Q: they are easily confused with digits and many issuing
# series avoid them; the validator still accepts every Latin letter.
GEN_LETTERS = "ABCDEFGHJKLMNPRSTUVWXYZ"
PLATE_W, PLATE_H = 520, 112  # pixels of the master image, 1 px = 1 mm of the real plate

_FONT_CANDIDATES = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSansNarrow-Bold.ttf",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
)


def is_valid_plate(text: str) -> bool:
    """True for a 2016-standard private (``09 123 ABC``) or legal-entity (``09 123 AB``) plate.

    The grammar is the recogniser's (:mod:`koopsuz.domain.plates`), held strictly: canonical
    spacing and Latin letters as given, no confusion fixed, no other format (the sim draws these).
    """
    p = parse_plate(text)
    return p is not None and p.text == text and p.corrections == 0 and p.format in ("private", "legal", "government")


def check_plate(text: str) -> str:
    """Normalise spacing and case, then raise ``ValueError`` with the expected format if invalid."""
    norm = " ".join(text.upper().split())
    if not is_valid_plate(norm):
        raise ValueError(
            f"plate {text!r} is not a Kyrgyz 2016 plate: expected 'NN NNN LLL' such as '09 123 ABC' "
            "(region code 01..09, three digits, two or three Latin letters)"
        )
    return norm


def random_plate(rng: np.random.Generator, region: str | None = None) -> str:
    """A private plate; ``region`` fixes the two-digit code (the pilot region Issyk-Kul is 09)."""
    code = region or REGION_CODES[int(rng.integers(0, len(REGION_CODES)))]
    digits = f"{int(rng.integers(0, 1000)):03d}"
    letters = "".join(GEN_LETTERS[int(i)] for i in rng.integers(0, len(GEN_LETTERS), 3))
    return f"{code} {digits} {letters}"


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    for path in _FONT_CANDIDATES:
        if Path(path).exists():
            return ImageFont.truetype(path, size)
    return ImageFont.load_default(size)  # Pillow's bundled font: works on a bare machine


def _fit_text(draw: ImageDraw.ImageDraw, xy: tuple[int, int, int, int], text: str, size: int) -> None:
    """Draw ``text`` centred in the box, squeezed horizontally like the narrow plate typeface."""
    x0, y0, x1, y1 = xy
    font = _font(size)
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tw, th = right - left, bottom - top
    tmp = Image.new("L", (tw + 4, th + 4), 0)
    ImageDraw.Draw(tmp).text((2 - left, 2 - top), text, font=font, fill=255)
    tw_fit = min(tw + 4, x1 - x0)
    th_fit = min(th + 4, y1 - y0)
    tmp = tmp.resize((tw_fit, th_fit), Image.Resampling.LANCZOS)
    ox = x0 + (x1 - x0 - tw_fit) // 2
    oy = y0 + (y1 - y0 - th_fit) // 2
    draw.bitmap((ox, oy), tmp, fill=(12, 12, 12))


@lru_cache(maxsize=256)
def plate_image(text: str) -> np.ndarray:
    """The plate as a BGR image of ``PLATE_W x PLATE_H``; drawn once per plate and resized per frame."""
    code, digits, letters = check_plate(text).split(" ")
    img = Image.new("RGB", (PLATE_W, PLATE_H), (245, 245, 240))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((2, 2, PLATE_W - 3, PLATE_H - 3), radius=10, outline=(15, 15, 15), width=5)
    # Left field: flag of Kyrgyzstan (red, yellow sun) over "KG", then the region code.
    d.rectangle((14, 14, 62, 46), fill=(210, 16, 52))
    d.ellipse((29, 21, 47, 39), fill=(255, 214, 0))
    d.ellipse((33, 25, 43, 35), fill=(210, 16, 52))
    _fit_text(d, (12, 54, 66, 96), "KG", 36)
    _fit_text(d, (70, 12, 150, 100), code, 92)
    d.line((156, 12, 156, PLATE_H - 12), fill=(15, 15, 15), width=4)
    _fit_text(d, (166, 10, PLATE_W - 14, 102), f"{digits} {letters}", 96)
    return cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
