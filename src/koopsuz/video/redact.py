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

Plates are looked for on every camera's export (issue 8), not only on plate cameras, which a
whole-frame read (~1 s of CPU a 720p frame) made too dear: with an object detector handed in, the
scan reads crops (:class:`_PlateSearch`: vehicles, moving areas, where a plate was) every
``SEARCH_EVERY`` frames, and the plan blurs the lower half of every uninvolved vehicle where no
plate was located on it (``vision.redaction.vehicle_bands``).
"""

from __future__ import annotations

import bisect
import difflib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Protocol

import av
import cv2
import numpy as np

from koopsuz.vision.faces import Face, FaceDetector, FaceEngine, similarity
from koopsuz.vision.plates import MIN_VEHICLE_PX
from koopsuz.vision.redaction import (
    VEHICLE_POLICY,
    ChangeGate,
    Plan,
    Policy,
    Sighting,
    moved_boxes,
    pixelate_yuv,
    plan,
)

SCAN_SCORE = 0.5
PLATE_EVERY = 3  # a whole-frame plate read costs ~1 s of CPU at 720p (text detection), a face look ~30 ms
# With a vehicle detector, every second face look: ~2.5 crops a look at ~0.1-0.2 s each on a busy street
# (bench/redaction.py --plates); the plan carries plate boxes 9 frames and interpolates between reads.
SEARCH_EVERY = 6
MIN_EMBED_PX = 20.0  # faces smaller than this are not compared: their vectors say nothing
STRIDE = 3  # faces are looked for on every third frame; the plan interpolates and carries between looks
DETECT_SIDE = 960  # ... on a copy this wide (a 720p frame's faces of 28 px are 21 px there, YuNet finds ~10 px)
VEHICLE_CLASSES = frozenset({"car", "bus", "truck", "motorcycle"})
MIN_CROP_PX = 72  # follow-up windows at least this wide (the reader skips crops under 64 px)


class RedactionError(RuntimeError):
    """The file could not be scanned; the message says why."""


class PlateFinder(Protocol):
    """``vision.plates.PlateReader``: ``read(image)`` -> reads with ``box`` (x0, y0, x1, y1) and ``text``."""

    def read(self, image: np.ndarray, vehicle: Any = None) -> list[Any]: ...


class VehicleFinder(Protocol):
    """``vision.detectors.Detector``: ``detect(image)`` -> ``Detections`` (``xyxy``, ``class_name``)."""

    def detect(self, image: np.ndarray) -> Any: ...


@dataclass(slots=True)
class Scan:
    pts: list[int] = field(default_factory=list)  # of every frame, in decode order
    faces: list[list[Sighting]] = field(default_factory=list)  # per frame
    plates: list[list[Sighting]] = field(default_factory=list)  # per frame (empty where not looked at)
    vehicles: list[list[Sighting]] = field(default_factory=list)  # per frame, when a vehicle detector was given
    width: int = 0
    height: int = 0
    seconds: float = 0.0
    stride: int = 1  # faces looked for every ``stride`` frames
    looked: int = 0  # frames looked at (every ``stride``-th)
    looked_still: int = 0  # of those, the ones whose picture had not changed since the last look
    plate_search: str = "none"  # "none", "whole_frame" (every plate look) or "vehicles" (see scan)
    plate_every: int = PLATE_EVERY  # plates looked for every this many frames
    plate_looks: int = 0  # frames searched for plates
    plate_crops: int = 0  # vehicle or moving-area crops handed to the plate reader
    whole_reads: int = 0  # whole-frame plate reads
    plates_held: int = 0  # plate sightings carried to a later look because nothing moved where they were
    plates_followed: int = 0  # reads around a plate of the last look that no crop read again
    plate_s: float = 0.0  # seconds spent finding vehicles and plates


def scan(
    src: Path,
    engine: FaceEngine,
    reference: np.ndarray | None,
    *,
    plates: PlateFinder | None = None,
    vehicles: VehicleFinder | None = None,
    read_vehicles: bool = True,
    plate_every: int = PLATE_EVERY,
    embed_every: int = 2,
    stride: int = STRIDE,
    detect_side: int = DETECT_SIDE,
    progress: Callable[[float], None] | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> Scan:
    """Faces (with their similarity to ``reference``) every ``stride`` frames of ``src``, and plates
    every ``plate_every`` (a multiple of ``stride``); frames in between are left to the plan.

    Plates: without ``vehicles``, the reader searches the whole frame on every plate look (~1 s of
    CPU at 720p). With ``vehicles`` (the object detector) it reads crops only, see
    :class:`_PlateSearch`: the whole frame once, on the first look, then where the picture moved
    and (``read_vehicles``: when involved plates are named) on the vehicles found."""
    t0 = time.monotonic()
    assert engine.models is not None
    if stride < 1 or plate_every % stride:
        raise ValueError("stride must be >= 1 and divide plate_every")
    detector = FaceDetector(engine.models.detector, score_threshold=SCAN_SCORE, max_side=1 << 16)  # owned here
    refs = None if reference is None else np.atleast_2d(np.asarray(reference, np.float32))
    out = Scan(stride=stride, plate_every=plate_every)
    gate = ChangeGate(every=max(1, 15 // stride))  # counted in looks: still at least once a second at 15 fps
    last_faces: list[Sighting] = []
    last_plates: list[Sighting] = []
    last_vehicles: list[Sighting] = []
    search = None if plates is None or vehicles is None else _PlateSearch(plates, vehicles, out, read_vehicles)
    out.plate_search = "none" if plates is None else "whole_frame" if search is None else "vehicles"
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
                    out.vehicles.append([])
                    continue
                out.looked += 1
                small = frame.reformat(width=sw, height=sh, format="bgr24").to_ndarray()
                grey = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY)
                if out.looked > 1 and not gate.changed(grey):
                    # nothing moved since the last look: its faces, plates and vehicles stand for this frame
                    out.faces.append([Sighting(i, s.box) for s in last_faces])
                    out.plates.append([Sighting(i, s.box, None, s.text) for s in last_plates])
                    out.vehicles.append([Sighting(i, s.box) for s in last_vehicles])
                    out.looked_still += 1
                    continue
                if out.looked == 1:
                    gate.changed(grey)
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
                cars: list[Sighting] = []
                if plates is not None and i % plate_every == 0:
                    t_plates = time.monotonic()
                    img = frame.to_ndarray(format="bgr24") if img is None else img
                    out.plate_looks += 1
                    if search is not None:
                        seen, cars = search.look(i, img, small, grey, 1 / scale, last_plates)
                        last_vehicles = cars
                    else:
                        out.whole_reads += 1
                        seen = [_plate_sighting(i, r) for r in plates.read(img)]
                    last_plates = seen
                    out.plate_s += time.monotonic() - t_plates
                out.plates.append(seen)
                out.vehicles.append(cars)
                if progress is not None and total > 0 and tb is not None and out.looked % 5 == 0:
                    progress(min(1.0, float(pts * tb) / total))
    except av.error.FFmpegError as exc:
        raise RedactionError(f"cannot scan {src.name} for faces: {exc}") from None
    out.seconds = time.monotonic() - t0
    return out


def _plate_sighting(frame: int, read: Any) -> Sighting:
    x0, y0, x1, y1 = read.box
    return Sighting(frame, (x0, y0, x1 - x0, y1 - y0), None, str(read.text))


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection of two (x0, y0, x1, y1) boxes over the area of ``a``."""
    iw = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    area = max(1e-6, (a[2] - a[0]) * (a[3] - a[1]))
    return iw * ih / area


class _PlateSearch:
    """Plates on every camera at a fraction of a whole-frame read's cost: read crops, not frames.

    On each plate look: the object detector looks at the scan's downscaled copy (one inference, its
    boxes are the vehicle sightings the plan blurs the lower part of where no plate was read); the
    reader then reads (``read(image, vehicle=box)``, ~60-100 ms a crop against ~1 s a 720p frame)
    every moving area the detector did not explain (SSD-MobileNet misses vehicles seen head-on that
    a plate reader reads fine; the plate stage reads where things move for the same reason) and,
    when ``read_vehicles`` (involved plates are named: only a read tells an involved vehicle from
    the others), every vehicle box that moved. Without involved plates a detected vehicle is not
    read at all: whatever its plate says it is blurred, and its band covers it.

    Moving areas are where the picture differs from both earlier plate looks (three-frame
    differencing: where a thing is now, not the trail it left), less the vehicle boxes and the
    people the detector found (a walker is a tall moving area, read in pieces for nothing); wider than
    the reader's ``det_side`` they are read in overlapping pieces, so a plate is not shrunk below
    what the reader can see. A plate of the last look that no crop read again is carried to this
    one where nothing moved around it (a parked car's plate stays blurred, no read spent on it), or
    looked for in a small window where it was when something did move there (two cars crossing: a
    crop holding both can lose one). The first look reads the whole frame once, as there is no
    earlier picture to compare with.
    """

    def __init__(self, reader: PlateFinder, vehicles: VehicleFinder, out: Scan, read_vehicles: bool = True) -> None:
        self.reader, self.vehicles, self.out = reader, vehicles, out
        self.read_vehicles = read_vehicles
        self.side = int(getattr(reader, "det_side", 640))
        self._prev: np.ndarray | None = None
        self._earlier: np.ndarray | None = None
        self.people: list[tuple[float, float, float, float]] = []  # the detector's people on the last look

    def look(
        self, i: int, img: np.ndarray, small: np.ndarray, grey: np.ndarray, k: float, last: list[Sighting]
    ) -> tuple[list[Sighting], list[Sighting]]:
        earlier, prev = self._earlier, self._prev
        self._earlier, self._prev = prev, grey
        if prev is None:
            self.out.whole_reads += 1
            return [_plate_sighting(i, r) for r in self.reader.read(img)], self._vehicles(i, small, k)
        moved = [(x0 * k, y0 * k, x1 * k, y1 * k) for x0, y0, x1, y1 in moved_boxes(prev, grey)]
        cars = self._vehicles(i, small, k)
        boxes = [(s.box[0], s.box[1], s.box[0] + s.box[2], s.box[1] + s.box[3]) for s in cars]
        known = boxes + [(x, y, x + w, y + h) for x, y, w, h in self.people]  # people carry no plates
        fresh = moved_boxes(prev, grey, earlier=earlier, exclude=[tuple(v / k for v in b) for b in known])
        crops = [b for b in boxes if any(_overlap(b, m) > 0 for m in moved)] if self.read_vehicles else []
        crops += [piece for m in fresh for piece in self._pieces(_raised(m, k))]
        crops = [c for c in crops if c[2] - c[0] >= MIN_VEHICLE_PX]  # the reader reads nothing narrower
        found: list[tuple[float, Sighting]] = []
        for c in crops:
            found += [
                (float(getattr(r, "confidence", 0.0)), _plate_sighting(i, r)) for r in self.reader.read(img, vehicle=c)
            ]
        reads = _merged(found)
        held, follow = [], []
        for s in last:  # plates of the last look that no crop read again
            if _near(s, reads):
                continue
            x, y, bw, bh = s.box
            around = (x - bw * 0.2, y - bh, x + bw * 1.2, y + bh * 2)
            if any(_overlap(around, m) > 0 for m in moved):  # lost in a larger crop (cars crossing): look there
                follow.append(self._window(s, img.shape[1], img.shape[0]))
            else:  # nothing moved there since: still there, no read needed
                held.append(Sighting(i, s.box, None, s.text))
        for c in follow:
            for r in self.reader.read(img, vehicle=c):
                found.append((float(getattr(r, "confidence", 0.0)), _plate_sighting(i, r)))
        reads = (_merged(found) if follow else reads) + held
        self.out.plate_crops += len(crops) + len(follow)
        self.out.plates_followed += len(follow)
        self.out.plates_held += len(held)
        return reads, cars

    @staticmethod
    def _window(s: Sighting, width: int, height: int) -> tuple[float, float, float, float]:
        """Around a plate read on the last look: a plate-width either side, two heights above and
        three below (it moves down as a car comes closer), at least the reader's smallest crop."""
        x, y, w, h = s.box
        cx = x + w / 2
        half = max(1.5 * w, MIN_CROP_PX / 2)
        x0, x1 = max(0.0, cx - half), min(float(width), cx + half)
        return (x0, max(0.0, y - 2 * h), x1, min(float(height), y + 3 * h + MIN_CROP_PX / 4))

    def _vehicles(self, i: int, small: np.ndarray, k: float) -> list[Sighting]:
        """Vehicles on the scan copy, in frame pixels; the people found are kept in ``self.people``."""
        found = self.vehicles.detect(small)
        out, self.people = [], []
        for (x0, y0, x1, y1), name in zip(found.xyxy, found.class_name, strict=True):
            box = (float(x0) * k, float(y0) * k, float(x1 - x0) * k, float(y1 - y0) * k)
            if name in VEHICLE_CLASSES:
                out.append(Sighting(i, box))
            elif name == "person":
                self.people.append(box)
        return out

    def _pieces(self, box: tuple[float, float, float, float]) -> list[tuple[float, float, float, float]]:
        """``box`` cut into overlapping pieces no wider or higher than the reader's ``det_side``."""
        x0, y0, x1, y1 = box
        out = []
        for ax0, ax1 in _spans(x0, x1, self.side):
            for ay0, ay1 in _spans(y0, y1, self.side):
                out.append((ax0, ay0, ax1, ay1))
        return out


def _raised(m: tuple[int, int, int, int], k: float) -> tuple[float, float, float, float]:
    """A moving area (scan pixels) in frame pixels, raised by 45 % of its height: the reader takes a
    crop for one vehicle and ignores text in its top 30 % (a windscreen, a roof sign), but a moving
    area may hold two cars, one above the other, and the upper one's plate must not fall there."""
    x0, y0, x1, y1 = (v * k for v in m)
    return (x0, max(0.0, y0 - 0.45 * (y1 - y0)), x1, y1)


def _near(s: Sighting, reads: list[Sighting]) -> bool:
    """A read this look of (nearly) the same text lies within a plate size of where ``s`` was on the
    last one. Text counts: two cars cross, one's plate read where the other's was is not the other."""
    x, y, w, h = s.box
    grown = (x - w, y - 2 * h, 3 * w, 5 * h)
    return any(
        _over_smaller(grown, r.box) > 0 and difflib.SequenceMatcher(None, s.text, r.text).ratio() >= 0.6 for r in reads
    )


def _merged(found: list[tuple[float, Sighting]]) -> list[Sighting]:
    """One sighting per plate: crops overlap (a vehicle and a moving area, two pieces), so one plate
    may be read twice, once badly. Reads whose boxes mostly overlap are one plate: the most
    confident text, over the union of the boxes (a misread of an involved plate, left as a plate
    of its own, would blur it)."""
    out: list[tuple[float, Sighting]] = []
    for conf, s in sorted(found, key=lambda cs: -cs[0]):
        for j, (kc, k) in enumerate(out):
            if _over_smaller(s.box, k.box) > 0.5:
                x0, y0 = min(s.box[0], k.box[0]), min(s.box[1], k.box[1])
                x1, y1 = max(s.box[0] + s.box[2], k.box[0] + k.box[2]), max(s.box[1] + s.box[3], k.box[1] + k.box[3])
                out[j] = (kc, Sighting(k.frame, (x0, y0, x1 - x0, y1 - y0), None, k.text))
                break
        else:
            out.append((conf, s))
    return [s for _, s in out]


def _over_smaller(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    iw = max(0.0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    ih = max(0.0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    return iw * ih / max(1e-6, min(a[2] * a[3], b[2] * b[3]))


def _spans(lo: float, hi: float, side: int) -> list[tuple[float, float]]:
    if hi - lo <= side:
        return [(lo, hi)]
    n = int(np.ceil((hi - lo - side) / (0.75 * side))) + 1
    step = (hi - lo - side) / (n - 1)
    return [(lo + j * step, lo + j * step + side) for j in range(n)]


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


def plate_policy(plate_every: int = PLATE_EVERY) -> Policy:
    """Plates are read every ``plate_every`` frames: carried that far past a track's ends (and 3 more),
    linked across four missed reads, boxes grown 15 % a frame away from a read."""
    return Policy(carry=plate_every + 3, max_gap=plate_every * 5, grow=0.15)


def vehicle_policy(plate_every: int) -> Policy:
    """``vision.redaction.VEHICLE_POLICY`` for vehicles looked for every ``plate_every`` frames."""
    return replace(VEHICLE_POLICY, carry=plate_every + 3, max_gap=plate_every * 5)


def redaction_plan(found: Scan, *, subject: bool, involved: Sequence[str] = ()) -> Plan:
    """``vision.redaction.plan`` over a scan; plates carried over the frames that were not read."""
    plates = plate_policy(found.plate_every)
    vehicles = VEHICLE_POLICY if found.plate_every == PLATE_EVERY else vehicle_policy(found.plate_every)
    n = len(found.pts)
    return plan(
        found.faces,
        n,
        subject=subject,
        plates=found.plates,
        involved=involved,
        policy=face_policy(found.stride),
        plate_policy=plates,
        vehicles=found.vehicles,
        vehicle_policy=vehicles,
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
