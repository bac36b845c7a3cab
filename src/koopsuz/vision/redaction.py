"""Redaction of an export's viewing copy: which regions of which frames to blur, and the blur itself.

Pure logic, no I/O: the caller hands in what a face detector (and a plate reader) saw on each frame
of a clip, and gets back, per frame, the boxes to pixelate. Every face is blurred except the
subject's; every plate except the involved vehicles'.

One unblurred frame is a leak (a viewer pauses on it), and detectors miss faces now and then (a
turned head, motion blur, a frame of compression noise). So sightings are linked into tracks
across frames, and a blurred track is blurred on *every* frame of its life, including the ones
where the detector missed it (boxes interpolated between sightings), and a few frames before its
first and after its last sighting (held there and grown), all padded. A track is the subject only
if its compared sightings mostly match the reference (cosine >= threshold, SFace's published 0.363
by default); a single sighting in it that clearly does not match is blurred all the same. Mistakes
therefore fall on the side of blurring too much: blurring the subject for a moment costs a viewer
a little, leaving a bystander's face readable costs the bystander.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import cv2
import numpy as np

from koopsuz.vision.faces import SFACE_THRESHOLD

Box = tuple[float, float, float, float]  # x, y, w, h in pixels of the frame


@dataclass(frozen=True, slots=True)
class Sighting:
    """One face (or plate) found on one frame.

    ``similarity`` is the face's cosine similarity to the subject's reference, None when it was not
    compared (no subject given, or a face too small to embed). ``text`` is a plate's compact reading
    ("" when unread).
    """

    frame: int
    box: Box
    similarity: float | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class Policy:
    threshold: float = SFACE_THRESHOLD  # same person at or above (as the watchlists use)
    carry: int = 4  # frames blurred before a track's first and after its last sighting
    max_gap: int = 10  # a track missing this many frames in a row has ended
    pad: float = 0.3  # box grown by this fraction of its size on every side
    grow: float = 0.08  # and by this fraction more per frame of distance from a sighting
    link_buffer: float = 0.6  # boxes widened by this much (of their size) when linking frames


BAND = 0.5  # the lower half of a vehicle's box is blurred where its plate was not located

# Vehicles: boxes from a look every third frame, carried past a track's ends a little (a car leaves
# or enters the picture between looks), padded less than a face (the box is the whole vehicle).
VEHICLE_POLICY = Policy(carry=6, max_gap=15, pad=0.05, grow=0.06, link_buffer=0.3)


@dataclass(slots=True)
class Track:
    sightings: list[Sighting] = field(default_factory=list)
    keep: bool = False  # the subject's face / an involved plate

    @property
    def first(self) -> int:
        return self.sightings[0].frame

    @property
    def last(self) -> int:
        return self.sightings[-1].frame


@dataclass(frozen=True, slots=True)
class Plan:
    """Per frame, the padded boxes to blur; and what was done, for the manifest."""

    regions: dict[int, list[Box]]
    faces_blurred: int  # face tracks blurred
    faces_kept: int  # face tracks judged the subject's and left visible
    plates_blurred: int
    plates_kept: int
    face_sightings: int
    plate_sightings: int
    vehicles_seen: int = 0  # vehicle tracks (object detector)
    vehicles_kept: int = 0  # of those, carrying an involved plate: nothing of them blurred
    vehicle_bands: int = 0  # frames on which a vehicle's lower part was blurred (no plate located there)

    def at(self, frame: int) -> list[Box]:
        return self.regions.get(frame, [])

    def summary(self) -> dict[str, int]:
        return {
            "faces_blurred": self.faces_blurred,
            "faces_kept": self.faces_kept,
            "plates_blurred": self.plates_blurred,
            "plates_kept": self.plates_kept,
            "face_sightings": self.face_sightings,
            "plate_sightings": self.plate_sightings,
            "vehicles_seen": self.vehicles_seen,
            "vehicles_kept": self.vehicles_kept,
            "vehicle_bands": self.vehicle_bands,
            "frames_redacted": sum(1 for v in self.regions.values() if v),
        }


def compact_plate(text: str) -> str:
    """``01 123 ABC`` / ``01123abc`` -> ``01123ABC``: how involved plates and readings are compared."""
    return "".join(ch for ch in text.upper() if ch.isalnum())


# --------------------------------------------------------------------------- linking


def _iou(a: Box, b: Box) -> float:
    ax2, ay2, bx2, by2 = a[0] + a[2], a[1] + a[3], b[0] + b[2], b[1] + b[3]
    iw = max(0.0, min(ax2, bx2) - max(a[0], b[0]))
    ih = max(0.0, min(ay2, by2) - max(a[1], b[1]))
    inter = iw * ih
    union = a[2] * a[3] + b[2] * b[3] - inter
    return inter / union if union > 0 else 0.0


def link(frames: Sequence[Sequence[Sighting]], policy: Policy = Policy()) -> list[Track]:
    """Sightings joined across frames into tracks (greedy on buffered IoU, gaps up to ``max_gap``)."""
    live: list[Track] = []
    done: list[Track] = []
    for sightings in frames:
        if not sightings:
            continue
        frame = sightings[0].frame
        still = []
        for t in live:
            (still if frame - t.last <= policy.max_gap else done).append(t)
        live = still
        pairs = []
        for ti, t in enumerate(live):
            k = policy.link_buffer * (1 + 0.25 * (frame - t.last - 1))
            prev = _grown(t.sightings[-1].box, k)
            for si, s in enumerate(sightings):
                score = _iou(prev, _grown(s.box, policy.link_buffer))
                if score > 0.05:
                    pairs.append((score, ti, si))
        used_t: set[int] = set()
        used_s: set[int] = set()
        for _, ti, si in sorted(pairs, reverse=True):
            if ti in used_t or si in used_s:
                continue
            live[ti].sightings.append(sightings[si])
            used_t.add(ti)
            used_s.add(si)
        live += [Track([s]) for si, s in enumerate(sightings) if si not in used_s]
    return done + live


# --------------------------------------------------------------------------- deciding


def is_subject(track: Track, threshold: float) -> bool:
    """Most compared sightings match, and their median does: one lucky match is not the subject."""
    sims = [s.similarity for s in track.sightings if s.similarity is not None]
    if not sims:
        return False
    matching = sum(1 for v in sims if v >= threshold)
    return statistics.median(sims) >= threshold and matching * 2 >= len(sims)


def is_involved(track: Track, involved: frozenset[str]) -> bool:
    """The track's most frequent readable text is an involved plate (an unread plate is blurred)."""
    texts = Counter(compact_plate(s.text) for s in track.sightings if s.text)
    if not texts or not involved:
        return False
    best, _ = texts.most_common(1)[0]
    return best in involved


def _lerp(a: Box, b: Box, t: float) -> Box:
    return (
        a[0] + (b[0] - a[0]) * t,
        a[1] + (b[1] - a[1]) * t,
        a[2] + (b[2] - a[2]) * t,
        a[3] + (b[3] - a[3]) * t,
    )


def _grown(b: Box, k: float) -> Box:
    """``b`` widened on every side by ``k`` times its longer side: a plate is wide and flat, but a
    car coming closer moves it down by more than its height between two frames."""
    x, y, w, h = b
    m = k * max(w, h)
    return (x - m, y - m, w + 2 * m, h + 2 * m)


def _moved(b: Box, v: tuple[float, float], frames: int) -> Box:
    return (b[0] + v[0] * frames, b[1] + v[1] * frames, b[2], b[3])


def _velocity(a: Sighting, b: Sighting) -> tuple[float, float]:
    """Centre motion per frame from ``a`` to ``b`` (pixels), for carrying a box past its sightings."""
    n = max(1, b.frame - a.frame)
    return (
        (b.box[0] + b.box[2] / 2 - a.box[0] - a.box[2] / 2) / n,
        (b.box[1] + b.box[3] / 2 - a.box[1] - a.box[3] / 2) / n,
    )


def _track_boxes(track: Track, policy: Policy, frames: int) -> Iterable[tuple[int, Box]]:
    """The track's box on every frame it may be on screen: interpolated, carried on along its last
    motion (and back along its first), padded; carried boxes grow with the distance."""
    ss = track.sightings
    v_first = _velocity(ss[0], ss[1]) if len(ss) > 1 else (0.0, 0.0)
    v_last = _velocity(ss[-2], ss[-1]) if len(ss) > 1 else (0.0, 0.0)
    lo, hi = max(0, track.first - policy.carry), min(frames - 1, track.last + policy.carry)
    j = 0
    for f in range(lo, hi + 1):
        while j + 1 < len(ss) and ss[j + 1].frame <= f:
            j += 1
        cur = ss[j]
        if f < cur.frame:  # before the first sighting
            back = cur.frame - f
            yield f, _grown(_moved(cur.box, v_first, -back), policy.pad + policy.grow * back)
        elif f == cur.frame or j + 1 >= len(ss):  # on a sighting, or after the last one
            on = f - cur.frame
            yield f, _grown(_moved(cur.box, v_last, on), policy.pad + policy.grow * on)
        else:  # in a gap between two sightings
            nxt = ss[j + 1]
            t = (f - cur.frame) / (nxt.frame - cur.frame)
            away = min(f - cur.frame, nxt.frame - f)
            yield f, _grown(_lerp(cur.box, nxt.box, t), policy.pad + policy.grow * away)


def _sighting_boxes(s: Sighting, policy: Policy, frames: int) -> Iterable[tuple[int, Box]]:
    for f in range(max(0, s.frame - policy.carry), min(frames - 1, s.frame + policy.carry) + 1):
        yield f, _grown(s.box, policy.pad + policy.grow * abs(f - s.frame))


def plan(
    faces: Sequence[Sequence[Sighting]],
    frames: int,
    *,
    subject: bool,
    plates: Sequence[Sequence[Sighting]] = (),
    involved: Iterable[str] = (),
    policy: Policy = Policy(),
    plate_policy: Policy | None = None,
    vehicles: Sequence[Sequence[Sighting]] = (),
    vehicle_policy: Policy | None = None,
    band: float = BAND,
) -> Plan:
    """What to blur on each of ``frames`` frames.

    ``faces`` (and ``plates``, ``vehicles``) hold, per frame that was looked at, its sightings
    (frames with none may be left out). Without a ``subject`` every face is blurred; with one, face
    tracks that match it are kept, except single sightings in them that fall below the threshold.
    Plates are read on fewer frames than faces are looked for, so they get their own
    ``plate_policy`` (longer carry). Vehicles (the object detector's boxes) are linked into tracks
    too; see :func:`vehicle_bands` for what of them is blurred.
    """
    regions: dict[int, list[Box]] = {}

    def add(items: Iterable[tuple[int, Box]]) -> None:
        for f, b in items:
            regions.setdefault(f, []).append(b)

    face_tracks = link(faces, policy)
    kept = blurred = 0
    for t in face_tracks:
        t.keep = subject and is_subject(t, policy.threshold)
        if not t.keep:
            blurred += 1
            add(_track_boxes(t, policy, frames))
            continue
        kept += 1
        for s in t.sightings:  # inside the subject's track, a sighting that is not them stays blurred
            if s.similarity is not None and s.similarity < policy.threshold * 0.5:
                add(_sighting_boxes(s, policy, frames))
    wanted = frozenset(compact_plate(p) for p in involved if compact_plate(p))
    pp = plate_policy or policy
    plate_tracks = link(plates, pp)
    p_kept = p_blurred = 0
    plate_regions: dict[int, list[Box]] = {}
    for t in plate_tracks:
        t.keep = is_involved(t, wanted)
        if t.keep:
            p_kept += 1
        else:
            p_blurred += 1
            for f, b in _track_boxes(t, pp, frames):
                plate_regions.setdefault(f, []).append(b)
    for f, boxes in plate_regions.items():
        regions.setdefault(f, []).extend(boxes)
    vehicle_tracks = link(vehicles, vehicle_policy or VEHICLE_POLICY)
    carrying = _carrying_involved(vehicle_tracks, plates, wanted, band)
    v_kept = bands = 0
    for i, t in enumerate(vehicle_tracks):
        if i in carrying:
            t.keep = True
            v_kept += 1
            continue
        for f, b in vehicle_bands(t, vehicle_policy or VEHICLE_POLICY, frames, plate_regions, band):
            regions.setdefault(f, []).append(b)
            bands += 1
    return Plan(
        regions=regions,
        faces_blurred=blurred,
        faces_kept=kept,
        plates_blurred=p_blurred,
        plates_kept=p_kept,
        face_sightings=sum(len(f) for f in faces),
        plate_sightings=sum(len(f) for f in plates),
        vehicles_seen=len(vehicle_tracks),
        vehicles_kept=v_kept,
        vehicle_bands=bands,
    )


# --------------------------------------------------------------------------- vehicles


def _inside(point: tuple[float, float], b: Box) -> bool:
    return b[0] <= point[0] <= b[0] + b[2] and b[1] <= point[1] <= b[1] + b[3]


def _centre(b: Box) -> tuple[float, float]:
    return (b[0] + b[2] / 2, b[1] + b[3] / 2)


def _carrying_involved(
    vehicles: Sequence[Track], plates: Sequence[Sequence[Sighting]], wanted: frozenset[str], band: float = BAND
) -> set[int]:
    """The vehicle tracks (indexes) that carry an involved plate: left unblurred for their whole life.

    Whole-life trust is only given on evidence neither a passing car nor a misread can fake. A plate read
    is credited to a vehicle only where its centre lies in the vehicle's lower ``band`` (where its own
    plate sits) and, of the vehicles seen on that frame whose band holds it, this one is the nearest
    (lowest box bottom: in front). The vehicle is involved only if the text most often credited to it
    is an involved plate (as for a plate track: ``is_involved``; a plate misread now and then as the
    involved one is not), read on two frames or more at the same place on it (its offset across the box
    varying by at most ``_SAME_PLACE``). An involved car driving in front of a parked one, detected or
    not, moves across the parked one's box, so the parked car (whose own plate may never have been
    read) keeps its band."""
    if not wanted:
        return set()
    seen: dict[int, list[tuple[int, Box]]] = {}
    for i, t in enumerate(vehicles):
        for v in t.sightings:
            seen.setdefault(v.frame, []).append((i, v.box))
    texts: dict[int, Counter[str]] = {}
    offsets: dict[int, list[float]] = {}
    for frame in plates:
        for p in frame:
            text = compact_plate(p.text) if p.text else ""
            if not text:
                continue
            cx, cy = _centre(p.box)
            holders = [(i, b) for i, b in seen.get(p.frame, ()) if _inside((cx, cy), _lower(b, band))]
            if not holders:
                continue
            i, b = max(holders, key=lambda h: h[1][1] + h[1][3])
            texts.setdefault(i, Counter())[text] += 1
            if text in wanted:
                offsets.setdefault(i, []).append((cx - b[0]) / max(b[2], 1.0))
    out = set()
    for i, xs in offsets.items():
        best, _ = texts[i].most_common(1)[0]
        if best in wanted and len(xs) >= 2 and max(xs) - min(xs) <= _SAME_PLACE:
            out.add(i)
    return out


_SAME_PLACE = 0.25  # of the box's width: a plate moves this little on its own vehicle across frames


def _lower(b: Box, band: float) -> Box:
    x, y, w, h = b
    return (x, y + (1.0 - band) * h, w, band * h)


def vehicle_bands(
    track: Track, policy: Policy, frames: int, plate_regions: dict[int, list[Box]], band: float = BAND
) -> Iterable[tuple[int, Box]]:
    """The lower ``band`` of an uninvolved vehicle's box on every frame of its life where no blurred
    plate lies on it.

    Why blur a band, and not nothing, when the reader has not located the plate there: the reader
    misses plates it could not read (too small for it, tilted, blurred by motion, two-row) that a
    person pausing the video, or a better tool, might still read; a plate it cannot *read* is not
    returned at all, so "not found" is no proof of "not readable". A plate sits on the front or the
    rear of a vehicle below its middle (bumper or boot lid), so the box's lower half holds it from
    the front, the rear and three-quarter views; from the side no plate shows and the band only
    costs picture (measured in bench/redaction.py --plates: the band's area against the plates').
    Where a blurred plate track lies on the vehicle on that frame, the exact plate box is enough.
    An involved vehicle (``_carrying_involved``) gets no band, so its plate stays readable on the
    frames the reader missed it too.
    """
    for f, b in _track_boxes(track, policy, frames):
        if any(_inside(_centre(p), b) for p in plate_regions.get(f, ())):
            continue
        yield f, _lower(b, band)


# --------------------------------------------------------------------------- looking less


class ChangeGate:
    """Whether a frame differs from the last one looked at: a still picture needs no second look.

    The luma plane is averaged into ``scale`` x ``scale`` blocks; if no block moved by more than
    ``threshold`` grey levels since the last frame the detector saw, nothing can have appeared and
    the detections of that frame stand for this one. A face entering changes its blocks by tens of
    levels; compression and sensor noise average out within a block. Every ``every`` frames the
    detector looks regardless, so slow drift cannot hide anything for long.
    """

    def __init__(self, scale: int = 8, threshold: float = 6.0, every: int = 15) -> None:
        self.scale, self.threshold, self.every = scale, threshold, every
        self._ref: np.ndarray | None = None
        self._since = 0

    def changed(self, luma: np.ndarray) -> bool:
        h, w = luma.shape[:2]
        small = cv2.resize(luma, (max(1, w // self.scale), max(1, h // self.scale)), interpolation=cv2.INTER_AREA)
        if (
            self._ref is None
            or self._ref.shape != small.shape
            or self._since + 1 >= self.every
            or int(cv2.absdiff(small, self._ref).max()) > self.threshold
        ):
            self._ref, self._since = small, 0
            return True
        self._since += 1
        return False


def moved_boxes(
    before: np.ndarray,
    after: np.ndarray,
    *,
    earlier: np.ndarray | None = None,
    exclude: Sequence[tuple[float, float, float, float]] = (),
    block: int = 8,
    threshold: float = 12.0,
    pad: int = 1,
) -> list[tuple[int, int, int, int]]:
    """Boxes (x0, y0, x1, y1 in the images' pixels) around what changed between two grey images.

    Both are averaged into ``block`` x ``block`` cells; cells that moved by more than ``threshold``
    grey levels, grown by ``pad`` cells, are joined into connected areas, one box each. Cheap (a
    resize and a labelling on ~1/64 of the pixels): it tells the plate search where a vehicle may
    have moved, the detector's blind spot being vehicles it does not recognise as such.

    With ``earlier`` (the image before ``before``) a cell must differ from both: where a thing *is*
    now, not the trail where it was (three-frame differencing), which halves a moving car's area.
    Cells inside ``exclude`` (boxes in pixels: what the caller already looks at) are left out.
    """
    h, w = after.shape[:2]
    size = (max(1, w // block), max(1, h // block))
    b = cv2.resize(after, size, interpolation=cv2.INTER_AREA)
    mask = cv2.absdiff(cv2.resize(before, size, interpolation=cv2.INTER_AREA), b) > threshold
    if earlier is not None:
        mask &= cv2.absdiff(cv2.resize(earlier, size, interpolation=cv2.INTER_AREA), b) > threshold
    mask = mask.astype(np.uint8)
    if pad > 0:
        mask = cv2.dilate(mask, np.ones((2 * pad + 1, 2 * pad + 1), np.uint8))
    kx, ky = w / size[0], h / size[1]
    m = pad + 1  # and the ring the dilation put around them
    for x0, y0, x1, y1 in exclude:
        cx0, cy0 = max(0, int(x0 / kx) - m), max(0, int(y0 / ky) - m)
        mask[cy0 : max(cy0, int(np.ceil(y1 / ky)) + m), cx0 : max(cx0, int(np.ceil(x1 / kx)) + m)] = 0
    n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
    out = []
    for x, y, bw, bh, _area in stats[1:n]:
        out.append((int(x * kx), int(y * ky), min(w, int(np.ceil((x + bw) * kx))), min(h, int(np.ceil((y + bh) * ky)))))
    return out


# --------------------------------------------------------------------------- the blur


def pixelate_yuv(arr: np.ndarray, width: int, height: int, boxes: Sequence[Box], cells: int = 4) -> None:
    """Pixelate ``boxes`` in place on a yuv420p frame array (PyAV's layout: Y rows, then U, then V).

    Each box becomes a mosaic about ``cells`` blocks across its shorter side (a face then has no
    eyes, nose or mouth for a detector or a person to find), luma and chroma alike. Four, not five:
    a 25 px face in its padded 45 px box under a five-block mosaic still scored 0.70-0.77 with YuNet
    (bench/redaction.py's clip), under four it is no face at all. Boxes are
    clipped to the frame and snapped outwards to even pixels so chroma covers them exactly.
    """
    y_plane = arr[:height]
    ch, cw = height // 2, width // 2
    chroma = [
        arr[height + i * height // 4 : height + (i + 1) * height // 4].reshape(-1)[: ch * cw].reshape(ch, cw)
        for i in range(2)
    ]
    for x, y, w, h in boxes:
        x0 = max(0, int(np.floor(x)) & ~1)
        y0 = max(0, int(np.floor(y)) & ~1)
        x1 = min(width, (int(np.ceil(x + w)) + 1) & ~1)
        y1 = min(height, (int(np.ceil(y + h)) + 1) & ~1)
        if x1 - x0 < 2 or y1 - y0 < 2:
            continue
        block = max(4, min(x1 - x0, y1 - y0) // cells)
        _mosaic(y_plane[y0:y1, x0:x1], block)
        for plane in chroma:
            _mosaic(plane[y0 // 2 : y1 // 2, x0 // 2 : x1 // 2], max(2, block // 2))


def _mosaic(region: np.ndarray, block: int) -> None:
    h, w = region.shape[:2]
    small = cv2.resize(region, (max(1, w // block), max(1, h // block)), interpolation=cv2.INTER_AREA)
    region[:] = cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
