"""A viewing copy with a visible watermark: case, operator, export time and each frame's wall clock.

The signed original stays byte for byte what the recorder wrote; this copy is for watching, and
anyone who passes it on passes the watermark with it. It is re-encoded (PyAV, libx264), so it is
never the evidence itself. Text is drawn straight into the luma plane of the decoded YUV frame
(the band darkened, its chroma made grey): no BGR conversion there and back, which is what would
make the re-encode slow. OpenCV's Hershey fonts are ASCII, so Cyrillic names and case numbers are
transliterated (Russian and Kyrgyz letters), never dropped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np

from koopsuz.domain.evidence_manifest import LOCAL_TZ

_TRANSLIT = dict(
    zip(
        "абвгдеёжзийклмнопрстуфхцчшщъыьэюяңөү",
        [
            "a",
            "b",
            "v",
            "g",
            "d",
            "e",
            "yo",
            "zh",
            "z",
            "i",
            "y",
            "k",
            "l",
            "m",
            "n",
            "o",
            "p",
            "r",
            "s",
            "t",
            "u",
            "f",
            "kh",
            "ts",
            "ch",
            "sh",
            "shch",
            "'",
            "y",
            "'",
            "e",
            "yu",
            "ya",
            "ng",
            "o",
            "u",
        ],
        strict=True,
    )
)


class WatermarkError(RuntimeError):
    pass


def ascii_text(text: str) -> str:
    """Cyrillic transliterated (case kept), anything else outside printable ASCII as ``?``."""
    out = []
    for ch in text:
        low = ch.lower()
        if low in _TRANSLIT:
            t = _TRANSLIT[low]
            out.append(t.capitalize() if ch != low else t)
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.append("?")
    return "".join(out)


@dataclass(frozen=True, slots=True)
class Stamp:
    case: str
    operator: str  # "username (full name)"
    exported_at: datetime
    camera: str  # "name (id)"


@dataclass(frozen=True, slots=True)
class Result:
    frames: int
    duration_s: float
    seconds: float  # wall time the re-encode took

    @property
    def speed(self) -> float:
        """How many times faster than real time."""
        return self.duration_s / self.seconds if self.seconds > 0 else 0.0


def piecewise_clock(pieces: Sequence[tuple[float, datetime]]) -> Callable[[float], datetime]:
    """Media time -> wall clock for a file whose pieces (offset s, wall start) were joined end to end."""
    ordered = sorted(pieces)

    def at(media_s: float) -> datetime:
        offset, start = ordered[0]
        for o, s in ordered:
            if o <= media_s + 1e-6:
                offset, start = o, s
            else:
                break
        return start + timedelta(seconds=media_s - offset)

    return at


class _Painter:
    """Draws the two bands on a yuv420p frame array (luma rows, then U, then V, as PyAV lays them out)."""

    def __init__(self, width: int, height: int, stamp: Stamp) -> None:
        self.w, self.h = width, height
        self.scale = max(0.35, height / 720 * 0.62)
        self.thick = max(1, round(height / 720 * 1.6))
        line = round(28 * height / 720)
        self.line = line + line % 2
        self.band = (2 * self.line + self.line // 2 + 3) // 4 * 4  # whole chroma rows
        exported = stamp.exported_at.astimezone(LOCAL_TZ).strftime("%Y-%m-%d %H:%M:%S UTC+6")
        top = [
            ascii_text(f"CASE {stamp.case} | exported by {stamp.operator} | {exported}"),
            ascii_text("VIEWING COPY - re-encoded, watermarked; the signed original is in original/"),
        ]
        self.top = np.zeros((self.band, width), np.uint8)
        for i, text in enumerate(top):
            self._put(self.top, text, (i + 1) * self.line)
        self.top_mask = self.top > 0
        self.camera = ascii_text(stamp.camera)

    def _put(self, img: np.ndarray, text: str, y: int) -> None:
        cv2.putText(img, text, (10, y), cv2.FONT_HERSHEY_SIMPLEX, self.scale, 255, self.thick, cv2.LINE_AA)

    def paint(self, arr: np.ndarray, wall: datetime) -> None:
        h, w, b = self.h, self.w, self.band
        y = arr[:h]
        q = h // 4  # rows of the flattened U (and V) plane
        for top in (0, h - b):
            band = y[top : top + b]
            band >>= 2  # darkened, the picture still faintly visible under the text
            arr[h + top // 4 : h + (top + b) // 4] = 128
            arr[h + q + top // 4 : h + q + (top + b) // 4] = 128
        top_band = y[:b]
        top_band[self.top_mask] = self.top[self.top_mask]
        bottom = y[h - b :]
        local = wall.astimezone(LOCAL_TZ)
        stamp = f"{self.camera} | {local:%Y-%m-%d %H:%M:%S}.{local.microsecond // 1000:03d} Bishkek (UTC+6)"
        self._put(bottom, stamp, b // 2 + self.line // 3)
        del w


def burn_watermark(
    src: Path,
    dest: Path,
    stamp: Stamp,
    wall_clock: Callable[[float], datetime],
    *,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
    crf: int = 23,
    preset: str = "veryfast",
    before: Callable[[np.ndarray, int], None] | None = None,
) -> Result:
    """Re-encode ``src`` to ``dest`` (H.264, yuv420p) with the watermark; timestamps kept.

    ``before(arr, pts)`` paints on each yuv420p frame array before the watermark goes on (redaction,
    privacy masks): one decode and one encode for all of them, the watermark always on top.
    """
    t0 = time.monotonic()
    frames = 0
    last_pts: float = 0.0
    try:
        with av.open(str(src)) as inp:
            if not inp.streams.video:
                raise WatermarkError(f"{src} has no video")
            ist = inp.streams.video[0]
            ist.thread_type = "AUTO"
            tb = ist.time_base or Fraction(1, 90000)
            total = float(inp.duration / 1e6) if inp.duration else 0.0
            rate = ist.average_rate or Fraction(15)
            with av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                ost = out.add_stream("libx264", rate=rate)
                ost.width, ost.height, ost.pix_fmt = ist.codec_context.width, ist.codec_context.height, "yuv420p"
                ost.time_base = tb
                ost.codec_context.time_base = tb
                ost.options = {"crf": str(crf), "preset": preset, "g": str(max(1, round(float(rate) * 2)))}
                out.metadata["comment"] = ascii_text(f"viewing copy, case {stamp.case}, watermarked")
                painter = _Painter(ost.width, ost.height, stamp)
                for frame in inp.decode(ist):
                    if cancelled is not None and cancelled():
                        raise WatermarkError("cancelled")
                    pts = frame.pts if frame.pts is not None else 0
                    media_s = float(pts * tb)
                    if frame.format.name != "yuv420p":
                        frame = frame.reformat(format="yuv420p")
                    arr = frame.to_ndarray()
                    if before is not None:
                        before(arr, pts)
                    painter.paint(arr, wall_clock(media_s))
                    new = av.VideoFrame.from_ndarray(arr, format="yuv420p")
                    new.pts, new.time_base = pts, tb
                    for pkt in ost.encode(new):
                        out.mux(pkt)
                    frames += 1
                    last_pts = media_s
                    if progress is not None and total > 0 and frames % 15 == 0:
                        progress(min(1.0, media_s / total))
                for pkt in ost.encode():
                    out.mux(pkt)
    except av.error.FFmpegError as exc:
        raise WatermarkError(f"cannot make the viewing copy of {src.name}: {exc}") from None
    if frames == 0:
        raise WatermarkError(f"{src.name} has no frames to watermark")
    duration = last_pts + 1 / float(rate)
    if progress is not None:
        progress(1.0)
    return Result(frames, duration, time.monotonic() - t0)
