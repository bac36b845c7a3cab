"""Redaction of a viewing copy, the I/O half: look at every frame of a file, then paint the plan.

Two passes over the same file. The first (``scan``) decodes every frame and runs the face
detector on every frame that changed since its last look (``vision.redaction.ChangeGate``: a
still picture is looked at once a second; a face seen on frame 40 and 42 but missed on 41 is still
blurred on 41, but only if the detector looked at 41's neighbours). It embeds the faces of every
``embed_every``-th frame with faces when a subject is given (who a track is, is decided over the
whole track: a third of its sightings is plenty, and embedding costs half as much again as
detecting), and reads plates every ``plate_every`` frames. ``vision.redaction.plan`` turns that
into per-frame boxes. The second pass is the viewing copy's own re-encode (``video.watermark``), which
calls a :class:`Painter` on each frame before the watermark goes on, so redaction adds a scan but
no extra encode. Frames are matched between passes by presentation timestamp: both passes decode
the same file, so the timestamps are the same.

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
import numpy as np

from koopsuz.vision.faces import FaceDetector, FaceEngine, similarity
from koopsuz.vision.redaction import ChangeGate, Plan, Policy, Sighting, pixelate_yuv, plan

SCAN_SCORE = 0.5
PLATE_EVERY = 3  # a whole-frame plate read costs ~1 s of CPU at 720p (text detection), a face look ~30 ms
MIN_EMBED_PX = 20.0  # faces smaller than this are not compared: their vectors say nothing


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
    looked_still: int = 0  # frames not looked at because nothing had changed since the last look


def scan(
    src: Path,
    engine: FaceEngine,
    reference: np.ndarray | None,
    *,
    plates: PlateFinder | None = None,
    plate_every: int = PLATE_EVERY,
    embed_every: int = 3,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Scan:
    """Faces (with their similarity to ``reference``) and plates on every frame of ``src``."""
    t0 = time.monotonic()
    assert engine.models is not None
    detector = FaceDetector(engine.models.detector, score_threshold=SCAN_SCORE)  # owned by this call
    refs = None if reference is None else np.atleast_2d(np.asarray(reference, np.float32))
    out = Scan()
    gate = ChangeGate()
    last_plates: list[Sighting] = []
    embedded = 0  # frames with faces so far: every ``embed_every``-th of them is embedded
    try:
        with av.open(str(src)) as inp:
            if not inp.streams.video:
                raise RedactionError(f"{src.name} has no video")
            ist = inp.streams.video[0]
            ist.thread_type = "AUTO"
            out.width, out.height = ist.codec_context.width, ist.codec_context.height
            tb = ist.time_base
            total = float(inp.duration / 1e6) if inp.duration else 0.0
            for i, frame in enumerate(inp.decode(ist)):
                if cancelled is not None and cancelled():
                    raise RedactionError("cancelled")
                pts = frame.pts if frame.pts is not None else (out.pts[-1] + 1 if out.pts else 0)
                if out.faces and not gate.changed(frame.to_ndarray(format="gray")):
                    # nothing moved since the last look: its faces and plates stand for this frame
                    out.faces.append([Sighting(i, s.box) for s in out.faces[-1]])
                    out.plates.append([Sighting(i, s.box, None, s.text) for s in last_plates])
                    out.pts.append(pts)
                    out.looked_still += 1
                    continue
                if not out.faces:
                    gate.changed(frame.to_ndarray(format="gray"))
                img = frame.to_ndarray(format="bgr24")
                found = detector.detect(img)
                sims: list[float | None] = [None] * len(found)
                if refs is not None and embedded % embed_every == 0:
                    big = [k for k, f in enumerate(found) if f.size >= MIN_EMBED_PX]
                    if big:
                        vectors = engine.embed_many(img, [found[k] for k in big])
                        for k, v in zip(big, vectors, strict=True):
                            sims[k] = max(similarity(v, r) for r in refs)
                embedded += bool(found)
                out.faces.append([Sighting(i, f.box, s) for f, s in zip(found, sims, strict=True)])
                seen: list[Sighting] = []
                if plates is not None and i % plate_every == 0:
                    for r in plates.read(img):
                        x0, y0, x1, y1 = r.box
                        seen.append(Sighting(i, (x0, y0, x1 - x0, y1 - y0), None, str(r.text)))
                    last_plates = seen
                out.plates.append(seen)
                out.pts.append(pts)
                if progress is not None and total > 0 and tb is not None and i % 15 == 0:
                    progress(min(1.0, float(pts * tb) / total))
    except av.error.FFmpegError as exc:
        raise RedactionError(f"cannot scan {src.name} for faces: {exc}") from None
    out.seconds = time.monotonic() - t0
    return out


def redaction_plan(found: Scan, *, subject: bool, involved: Sequence[str] = (), plate_every: int = PLATE_EVERY) -> Plan:
    """``vision.redaction.plan`` over a scan; plates carried over the frames that were not read."""
    plates = Policy(carry=plate_every + 3, max_gap=plate_every * 5, grow=0.15)
    n = len(found.pts)
    return plan(found.faces, n, subject=subject, plates=found.plates, involved=involved, plate_policy=plates)


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
