"""A still photo for the reader and the CLI: plates the simulator draws, pasted into a street scene.

The background is the simulator's street (sky, buildings, texture, an on-screen camera label);
the plates are tilted a little, warped in perspective, softened, and the whole picture goes
through JPEG, as a photo from a phone or an exported frame would.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from koopsuz.sim.plates import plate_image
from koopsuz.sim.scene import build_stage

# (plate, top-left x, y, width px, tilt degrees); the biggest is the clearest.
PASTED = (("01 234 BSZ", 300, 430, 240, 4.0), ("08 116 AB", 820, 520, 160, -3.0))


def _warp_onto(img: np.ndarray, sprite: np.ndarray, x: int, y: int, w: int, tilt: float) -> None:
    h = round(w * sprite.shape[0] / sprite.shape[1])
    src = np.array([[0, 0], [sprite.shape[1], 0], [sprite.shape[1], sprite.shape[0]], [0, sprite.shape[0]]], np.float32)
    t = np.tan(np.radians(tilt)) * w
    skew = 0.06 * h  # the far edge a little shorter: seen slightly from the side
    dst = np.array([[x, y], [x + w, y - t + skew], [x + w, y - t + h - skew], [x, y + h]], np.float32)
    m = cv2.getPerspectiveTransform(src, dst)
    warped = cv2.warpPerspective(sprite, m, (img.shape[1], img.shape[0]), flags=cv2.INTER_AREA)
    mask = cv2.warpPerspective(np.full(sprite.shape[:2], 255, np.uint8), m, (img.shape[1], img.shape[0]))
    img[mask > 128] = warped[mask > 128]


def street_photo(path: Path) -> list[str]:
    """Write the photo (JPEG) to ``path``; returns the plate texts in it, the clearest first."""
    stage = build_stage("street", "day", np.random.default_rng(7), "CAM 12")
    img = stage.image.copy()
    cv2.rectangle(img, (250, 330), (600, 520), (60, 60, 150), -1)  # a car's rear, roughly
    cv2.putText(img, "KOOPSUZ", (700, 200), cv2.FONT_HERSHEY_DUPLEX, 2.0, (20, 20, 20), 4, cv2.LINE_AA)  # a sign
    for text, x, y, w, tilt in PASTED:
        _warp_onto(img, plate_image(text), x, y, w, tilt)
    img = cv2.GaussianBlur(img, (0, 0), 0.8)
    ok, jpg = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 85])
    assert ok
    path.write_bytes(jpg.tobytes())
    return [p[0] for p in PASTED]


def flat_plate(text: str, *, yellow: bool = False, width: int = 240) -> np.ndarray:
    """A one-line plate in the 2016 style but any text: pre-2016, foreign-citizen (black on yellow),
    Kazakh, Russian, Uzbek. The simulator draws only 2016 Kyrgyz plates; these test the reader on
    the other formats the grammar knows."""
    from PIL import Image, ImageDraw, ImageFont

    w, h = 520, 112
    img = Image.new("RGB", (w, h), (250, 210, 0) if yellow else (245, 245, 240))
    d = ImageDraw.Draw(img)
    d.rounded_rectangle((2, 2, w - 3, h - 3), radius=10, outline=(15, 15, 15), width=5)
    font_path = Path("/usr/share/fonts/truetype/dejavu/DejaVuSansCondensed-Bold.ttf")
    font = ImageFont.truetype(str(font_path), 96) if font_path.exists() else ImageFont.load_default(96)
    left, top, right, bottom = d.textbbox((0, 0), text, font=font)
    strip = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(strip).text((2 - left, 2 - top), text, font=font, fill=255)
    strip = strip.resize((min(strip.width, w - 40), min(strip.height, h - 20)), Image.Resampling.LANCZOS)
    d.bitmap(((w - strip.width) // 2, (h - strip.height) // 2), strip, fill=(12, 12, 12))
    bgr = cv2.cvtColor(np.asarray(img), cv2.COLOR_RGB2BGR)
    return cv2.resize(bgr, (width, round(width * h / w)), interpolation=cv2.INTER_AREA)


def degraded_vehicle(
    rng: np.random.Generator,
    text: str,
    plate_h: float,
    *,
    tilt: float = 0.0,
    blur: float = 0.0,
    noise: float = 0.0,
    gain: float = 1.0,
    sprite: np.ndarray | None = None,
) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """A vehicle's rear (a plain body, lamps) with ``text``'s plate ``plate_h`` px high, then damaged.

    ``tilt`` degrees of roll, ``blur`` a Gaussian sigma in px (defocus, motion), ``noise`` the
    sigma of sensor noise, ``gain`` < 1 darkens (dusk, night; the noise is added after, as a
    sensor's gain would). ``sprite``: the plate picture (default: the simulator's 2016 plate of
    ``text``; :func:`flat_plate` for the other formats). Returns the image and the vehicle box.
    """
    pw = plate_h * PLATE_W_H
    vw = round(pw / 0.29)  # a 520 mm plate on a 1.8 m wide car
    vh = round(vw * 0.8)
    img = np.full((vh + 40, vw + 40, 3), 95, np.uint8)
    body = tuple(int(c) for c in rng.integers(30, 220, 3))
    cv2.rectangle(img, (20, 20), (20 + vw, 20 + vh), body, -1)
    for u in (0.1, 0.9):
        cv2.ellipse(img, (round(20 + u * vw), round(20 + 0.6 * vh)), (round(0.08 * vw), round(0.04 * vh)), 0, 0, 360,
                    (30, 30, 200), -1)  # fmt: skip
    x = round(20 + (vw - pw) / 2)
    y = round(20 + 0.72 * vh)
    _warp_onto(img, plate_image(text) if sprite is None else sprite, x, y, round(pw), tilt)
    out = img.astype(np.float32) * gain
    if blur:
        out = cv2.GaussianBlur(out, (0, 0), blur)
    if noise:
        out += rng.normal(0, noise, out.shape).astype(np.float32)
    return np.clip(out, 0, 255).astype(np.uint8), (20, 20, 20 + vw, 20 + vh)


PLATE_W_H = 520 / 112  # the 2016 plate's width over its height


# Damage applied to the plate test set: (name, degraded_vehicle keyword arguments).
CONDITIONS: tuple[tuple[str, dict[str, float]], ...] = (
    ("clean", {}),
    ("tilt 8°", {"tilt": 8.0}),
    ("blur 1 px", {"blur": 1.0}),
    ("blur 1.5 px", {"blur": 1.5}),
    ("noise 8", {"noise": 8.0}),
    ("night (gain 0.3, noise 6)", {"gain": 0.3, "noise": 6.0}),
)
DAYLIGHT = ("clean", "tilt 8°", "blur 1 px", "noise 8")


Scores = dict[tuple[int, str], list[bool]]


def plate_set_scores(  # type: ignore[no-untyped-def]
    reader, heights: tuple[int, ...], per_cell: int, seed: int = 1, conditions: tuple[str, ...] | None = None
) -> Scores:
    """Exact single reads of random 2016 plates per (plate height px, condition): one vehicle crop each."""
    from koopsuz.sim.plates import random_plate

    rng = np.random.default_rng(seed)
    out: dict[tuple[int, str], list[bool]] = {}
    for h in heights:
        for name, kw in CONDITIONS:
            if conditions is not None and name not in conditions:
                continue
            cell = out.setdefault((h, name), [])
            for _ in range(per_cell):
                text = random_plate(rng)
                img, box = degraded_vehicle(rng, text, h, **kw)
                reads = reader.read(img, box)
                cell.append(bool(reads) and reads[0].text == text)
    return out


# Plate formats of the accuracy report (docs/accuracy.md): (name, text generator, black on yellow, drawn by
# the simulator's 2016 plate painter). Letters: the Latin ones the formats use.
def _letters(rng: np.random.Generator, alphabet: str, n: int) -> str:
    return "".join(alphabet[int(i)] for i in rng.integers(0, len(alphabet), n))


def _digits(rng: np.random.Generator, n: int) -> str:
    return "".join(str(int(d)) for d in rng.integers(0, 10, n))


def format_sample(rng: np.random.Generator, fmt: str) -> tuple[str, np.ndarray | None]:
    """A random plate of format ``fmt`` and its picture (None: the simulator's 2016 drawing)."""
    from koopsuz.domain.plates import _LEGACY, RU_LETTERS
    from koopsuz.sim.plates import GEN_LETTERS, random_plate

    if fmt == "2016":
        return random_plate(rng), None
    if fmt == "pre-2016":
        text = f"{_letters(rng, ''.join(sorted(_LEGACY)), 1)} {_digits(rng, 4)} {_letters(rng, GEN_LETTERS, 2)}"
        return text, flat_plate(text)
    if fmt == "foreign citizen":
        text = f"0{int(rng.integers(1, 10))} {_digits(rng, 4)} {_letters(rng, GEN_LETTERS, 1)}"
        return text, flat_plate(text, yellow=True)
    if fmt == "Kazakhstan":
        text = f"{_digits(rng, 3)} {_letters(rng, GEN_LETTERS, 3)} {int(rng.integers(1, 18)):02d}"
        return text, flat_plate(text)
    if fmt == "Russia":
        ru = "".join(sorted(RU_LETTERS))
        text = f"{_letters(rng, ru, 1)} {_digits(rng, 3)} {_letters(rng, ru, 2)} {int(rng.integers(10, 99))}"
        return text, flat_plate(text)
    raise ValueError(f"no plate format {fmt!r}")


FORMATS = ("2016", "pre-2016", "foreign citizen", "Kazakhstan", "Russia")


def format_scores(  # type: ignore[no-untyped-def]
    reader, heights: tuple[int, ...], per_cell: int, seed: int = 3
) -> dict[tuple[str, int], list[bool]]:
    """Exact single reads per (format, plate height px) in daylight, the daylight damages taken in turn."""
    rng = np.random.default_rng(seed)
    damage = [kw for name, kw in CONDITIONS if name in DAYLIGHT]
    out: dict[tuple[str, int], list[bool]] = {}
    for fmt in FORMATS:
        for h in heights:
            cell = out.setdefault((fmt, h), [])
            for i in range(per_cell):
                text, sprite = format_sample(rng, fmt)
                img, box = degraded_vehicle(rng, text, h, sprite=sprite, **damage[i % len(damage)])
                reads = reader.read(img, box)
                cell.append(bool(reads) and reads[0].text == text)
    return out
