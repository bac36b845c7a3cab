"""Redaction of a viewing copy, the I/O half: look at the frames of a file, then paint the plan.

Two passes over the same file. The first (``scan``) decodes every frame but runs the face
detector only on every ``stride``-th (3), on a copy scaled to ``detect_side`` (960 px wide for
720p), and only when the picture changed since the last look (``vision.redaction.ChangeGate``; a
still picture is looked at once a second). The frames between looks are left to the plan, which
links sightings into tracks, interpolates their boxes over the frames between (and over the
detector's own misses) and carries them a few frames past a track's ends, padded: a face that
appears between two looks is covered from the frame it appears on. It embeds the faces of every
``embed_every``-th look with faces (2) when a subject is given (who a track is, is decided over the
whole track: a sixth of its frames is plenty, and embedding costs about as much as detecting),
and reads plates every ``plate_every`` frames. ``vision.redaction.plan`` turns that into per-frame
boxes. The second pass is the viewing copy's own re-encode (``video.watermark``), which calls a
:class:`Painter` on each frame before the watermark goes on, so redaction adds a scan but no
extra encode. Frames are matched between passes by presentation timestamp: both passes decode the
same file, so the timestamps are the same.

Why not look at every frame at full size (as this did until issue 8's speed work): YuNet costs
~60-100 ms a 720p frame on this loaded 2-core machine, which made exports 0.35-0.9x real time.
Every third frame at 960 px (about 0.56 of the pixels) is ~5x less detection for the same
guarantee (bench/redaction.py: 0 detectable non-subject faces on every frame of the viewing copy;
docs/benchmarks.md "Export redaction"). A 28 px face at 720p is 21 px at 960, well above the
~10 px YuNet finds; 640 px would halve it again and was not taken.

The scan detects faces with a lower score threshold (0.5) than the engine uses to recognise
(0.7): a face that scores 0.6 is still a face somebody could recognise, and blurring a patch of
wall by mistake costs nothing.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import av
import cv2
import numpy as np

from koopsuz.vision.faces import Face, FaceDetector, FaceEngine, similarity
from koopsuz.vision.redaction import ChangeGate, Plan, Policy, Sighting, pixelate_yuv, plan

SCAN_SCORE = 0.5
PLATE_EVERY = 3  # a whole-frame plate read costs ~1 s of CPU at 720p (text detection), a face look ~30 ms
MIN_EMBED_PX = 20.0  # faces smaller than this are not compared: their vectors say nothing
STRIDE = 3  # faces are looked for on every third frame; the plan interpolates and carries between looks
DETECT_SIDE = 960  # ... on a copy this wide (a 720p frame's faces of 28 px are 21 px there, YuNet finds ~10 px)


class RedactionError(RuntimeError):
    """The file could not be scanned; the message says why."""


class PlateFinder(Protocol):
    """``vision.plates.PlateReader``: ``read(image)`` -> reads with ``box`` (x0, y0, x1, y1) and ``text``."""

    def read(self, image: np.ndarray, vehicle: Any = None) -> list[Any]: ...


@dataclass(slots=True)
class Scan:
    pts: list[int] = field(default_factory=list)  # of every frame, in decode order
    faces: list[list[Sighting]] = field(default_factory=list)  # per frame
    plates: list[list[Sighting]] = field(default_factory=list)  # per frame (empty where not looked at)
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    stride: int = 1  # faces looked for every ``stride`` frames
    looked: int = 0  # frames looked at (every ``stride``-th)
    looked_still: int = 0  # of those, the ones whose picture had not changed since the last look


def scan(
    src: Path,
    engine: FaceEngine,
    reference: np.ndarray | None,
    *,
    plates: PlateFinder | None = None,
    plate_every: int = PLATE_EVERY,
    embed_every: int = 2,
    stride: int = STRIDE,
    detect_side: int = DETECT_SIDE,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Scan:
    """Faces (with their similarity to ``reference``) every ``stride`` frames of ``src``, and plates
    every ``plate_every`` (a multiple of ``stride``); frames in between are left to the plan."""
    t0 = time.monotonic()
    assert engine.models is not None
    if stride < 1 or plate_every % stride:
        raise ValueError("stride must be >= 1 and divide plate_every")
    detector = FaceDetector(engine.models.detector, score_threshold=SCAN_SCORE, max_side=1 << 16)  # owned here
    refs = None if reference is None else np.atleast_2d(np.asarray(reference, np.float32))
    out = Scan(stride=stride)
    gate = ChangeGate(every=max(1, 15 // stride))  # counted in looks: still at least once a second at 15 fps
    last_faces: list[Sighting] = []
    last_plates: list[Sighting] = []
    looks = 0  # looks that found faces: every ``embed_every``-th of them is embedded
    try:
        with av.open(str(src)) as inp:
            if not inp.streams.video:
                raise RedactionError(f"{src.name} has no video")
            ist = inp.streams.video[0]
            ist.thread_type = "AUTO"
            w, h = ist.codec_context.width, ist.codec_context.height
            out.width, out.height = w, h
            scale = min(1.0, detect_side / max(w, h, 1))
            sw, sh = max(2, round(w * scale) & ~1), max(2, round(h * scale) & ~1)
            tb = ist.time_base
            total = float(inp.duration / 1e6) if inp.duration else 0.0
            for i, frame in enumerate(inp.decode(ist)):
                if cancelled is not None and cancelled():
                    raise RedactionError("cancelled")
                pts = frame.pts if frame.pts is not None else (out.pts[-1] + 1 if out.pts else 0)
                out.pts.append(pts)
                if i % stride:  # between looks: the plan interpolates the tracks over this frame
                    out.faces.append([])
                    out.plates.append([])
                    continue
                out.looked += 1
                small = frame.reformat(width=sw, height=sh, format="bgr24").to_ndarray()
                if out.looked > 1 and not gate.changed(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)):
                    # nothing moved since the last look: its faces and plates stand for this frame
                    out.faces.append([Sighting(i, s.box) for s in last_faces])
                    out.plates.append([Sighting(i, s.box, None, s.text) for s in last_plates])
                    out.looked_still += 1
                    continue
                if out.looked == 1:
                    gate.changed(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY))
                found = [_scaled(f, 1 / scale) for f in detector.detect(small)]
                img: np.ndarray | None = None
                sims: list[float | None] = [None] * len(found)
                if refs is not None and looks % embed_every == 0:
                    big = [k for k, f in enumerate(found) if f.size >= MIN_EMBED_PX]
                    if big:
                        img = frame.to_ndarray(format="bgr24")  # the recogniser aligns on full pixels
                        vectors = engine.embed_many(img, [found[k] for k in big])
                        for k, v in zip(big, vectors, strict=True):
                            sims[k] = max(similarity(v, r) for r in refs)
                looks += bool(found)
                last_faces = [Sighting(i, f.box, s) for f, s in zip(found, sims, strict=True)]
                out.faces.append(last_faces)
                seen: list[Sighting] = []
                if plates is not None and i % plate_every == 0:
                    img = frame.to_ndarray(format="bgr24") if img is None else img
                    for r in plates.read(img):
                        x0, y0, x1, y1 = r.box
                        seen.append(Sighting(i, (x0, y0, x1 - x0, y1 - y0), None, str(r.text)))
                    last_plates = seen
                out.plates.append(seen)
                if progress is not None and total > 0 and tb is not None and out.looked % 5 == 0:
                    progress(min(1.0, float(pts * tb) / total))
    except av.error.FFmpegError as exc:
        raise RedactionError(f"cannot scan {src.name} for faces: {exc}") from None
    out.seconds = time.monotonic() - t0
    return out


def _scaled(face: Face, k: float) -> Face:
    """A face found on the downscaled copy, in the frame's own pixels."""
    if k == 1.0:
        return face
    x, y, w, h = face.box
    return Face((x * k, y * k, w * k, h * k), tuple((px * k, py * k) for px, py in face.landmarks), face.score)


def face_policy(stride: int = STRIDE) -> Policy:
    """The face plan's policy for a scan that looked every ``stride`` frames: carried and kept linked
    across the frames between looks as well as across the detector's own misses."""
    base = Policy()
    return Policy(carry=base.carry + stride - 1, max_gap=max(base.max_gap, 4 * stride))


def redaction_plan(found: Scan, *, subject: bool, involved: Sequence[str] = (), plate_every: int = PLATE_EVERY) -> Plan:
    """``vision.redaction.plan`` over a scan; plates carried over the frames that were not read."""
    plates = Policy(carry=plate_every + 3, max_gap=plate_every * 5, grow=0.15)
    n = len(found.pts)
    return plan(
        found.faces,
        n,
        subject=subject,
        plates=found.plates,
        involved=involved,
        policy=face_policy(found.stride),
        plate_policy=plates,
    )


class Painter:
    """The ``before`` hook of ``burn_watermark``: pixelates the plan's boxes on the frame with that pts."""

    def __init__(self, found: Scan, redaction: Plan) -> None:
        self._pts = found.pts
        self._order = sorted(range(len(found.pts)), key=lambda i: found.pts[i])
        self._sorted = [found.pts[i] for i in self._order]
        self._plan = redaction
        self._w, self._h = found.width, found.height
        self.painted = 0

    def index(self, pts: int) -> int:
        """The scanned frame with this pts (the nearest one, should a decoder ever differ)."""
        if not self._sorted:
            return 0
        j = bisect.bisect_left(self._sorted, pts)
        if j == len(self._sorted) or (j > 0 and pts - self._sorted[j - 1] < self._sorted[j] - pts):
            j -= 1
        return self._order[j]

    def __call__(self, arr: np.ndarray, pts: int) -> None:
        boxes = self._plan.at(self.index(pts))
        if boxes:
            pixelate_yuv(arr, self._w, self._h, boxes)
            self.painted += 1
