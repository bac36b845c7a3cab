"""A copy of recorded footage with the camera's privacy masks burnt in, for viewers without a grant.

Recordings are kept as recorded (unmasked: a court may need the whole picture, and masks may change
later), so a viewer who may not see the masked areas gets a re-encoded copy instead: every frame
decoded, the masks filled in its YUV planes (vision/privacy.py), encoded again with libx264. The
``ultrafast`` preset because the copy is made while the viewer waits and is never evidence itself.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av

from koopsuz.vision.privacy import Polygon, YuvMasker


class MaskError(RuntimeError):
    """The masked copy could not be made; the message says why."""


@dataclass(frozen=True, slots=True)
class Masked:
    frames: int
    duration_s: float
    seconds: float  # wall time of the re-encode


def burn_masks(
    src: Path, dest: Path, polygons: Sequence[Polygon], *, crf: int = 26, preset: str = "ultrafast"
) -> Masked:
    """Re-encode ``src`` (any file PyAV reads) to ``dest`` (MP4, H.264 yuv420p) with the masks filled."""
    if not polygons:
        raise MaskError("no privacy masks to burn in")
    t0 = time.monotonic()
    frames, last = 0, 0.0
    try:
        with av.open(str(src)) as inp:
            if not inp.streams.video:
                raise MaskError(f"{src.name} has no video")
            ist = inp.streams.video[0]
            ist.thread_type = "AUTO"
            tb = ist.time_base or Fraction(1, 90000)
            rate = ist.average_rate or Fraction(15)
            with av.open(str(dest), "w", format="mp4", options={"movflags": "+faststart"}) as out:
                ost = out.add_stream("libx264", rate=rate)
                w, h = ist.codec_context.width, ist.codec_context.height
                ost.width, ost.height, ost.pix_fmt = w, h, "yuv420p"
                ost.time_base = tb
                ost.codec_context.time_base = tb
                ost.options = {"crf": str(crf), "preset": preset, "g": str(max(1, round(float(rate) * 2)))}
                out.metadata["comment"] = "privacy-masked viewing copy (re-encoded; not the recording)"
                masker = YuvMasker(w, h, polygons)
                for frame in inp.decode(ist):
                    pts = frame.pts if frame.pts is not None else 0
                    if frame.format.name != "yuv420p":
                        frame = frame.reformat(format="yuv420p")
                    arr = frame.to_ndarray()
                    masker.paint(arr)
                    new = av.VideoFrame.from_ndarray(arr, format="yuv420p")
                    new.pts, new.time_base = pts, tb
                    for pkt in ost.encode(new):
                        out.mux(pkt)
                    frames += 1
                    last = float(pts * tb)
                for pkt in ost.encode():
                    out.mux(pkt)
    except av.error.FFmpegError as exc:
        raise MaskError(f"cannot make the masked copy of {src.name}: {exc}") from None
    if frames == 0:
        raise MaskError(f"{src.name} has no frames")
    return Masked(frames, last + 1 / float(rate), time.monotonic() - t0)
