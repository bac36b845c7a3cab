"""ByteTrack-style multi-object tracking: one id per person or vehicle, not a detection per frame.

Why ByteTrack's idea: a detector's confidence drops when an object is half hidden or blurred;
throwing those detections away breaks tracks, keeping them all makes ghosts. So detections are
split by confidence: confident ones are matched first (and may start tracks), weak ones only
extend tracks that already exist. Matching is greedy on buffered IoU (boxes widened, more the
longer a track went unseen) between each track's *predicted* box and the detections, gated by
class group (a person never continues a car's track).

What differs from the paper, and why:
* Time, not frame counts: cameras are sampled at varying rates and frames are skipped under load,
  so prediction uses the capture-time step and ages are in seconds.
* An alpha-beta filter (constant velocity) instead of a Kalman filter: the same prediction for
  boxes moving steadily, a fraction of the code, and no covariance to tune per camera.
* Birth and death with hysteresis for a detector that misses often (the shipped SSD finds a
  synthetic person on about half the frames): a track is *tentative* until it has ``min_hits``
  matches, dies quietly if unconfirmed for ``tentative_max_age_s`` or for ``tentative_looks``
  looks, whichever is longer (under load the detector looks at a busy camera only a few times a
  second, and a time limit alone would then leave a weakly seen person one chance to be
  confirmed); a confirmed track survives
  ``max_age_s`` unseen (occlusion, missed detections) and ends earlier only when its prediction
  has left the picture.

Pure logic, no I/O: the caller keeps pictures; a track remembers which frame was its best view.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

import numpy as np

from koopsuz.vision.detections import CLASS_GROUP, CLASSES, Detections, box_iou


@dataclass(frozen=True, slots=True)
class TrackerConfig:
    high_confidence: float = 0.35  # may start a track, matched first (the SSD is rarely more sure)
    low_confidence: float = 0.25  # below: ignored; between: only extends tracks
    match_iou: float = 0.2  # predicted box vs detection
    low_match_iou: float = 0.3  # weak detections must overlap more
    min_hits: int = 2
    tentative_max_age_s: float = 0.7
    tentative_looks: float = 3.0  # ... or this many of the intervals between looks, if longer
    max_age_s: float = 2.5
    # Buffered IoU (C-BIoU, Yang et al. 2023): boxes are widened before IoU so that a detector
    # running a few frames a second still links a narrow, fast object across frames. The buffer
    # grows with the time a track went unseen; a tentative track has no velocity yet, so more.
    buffer: float = 0.15
    buffer_tentative: float = 0.5
    buffer_per_s: float = 0.4
    alpha: float = 0.7  # position gain of the alpha-beta filter
    beta: float = 0.3  # velocity gain
    path_min_step_px: float = 2.0  # path points closer than this to the last are not stored
    # Between looks, a track follows the moving area that is its own (see ``follow_motion``)
    motion_gain: float = 0.5  # how far towards the moving area's centre
    motion_beta: float = 0.2  # velocity gain from it
    motion_overlap: float = 0.3  # the moving area covers at least this share of the track's box
    motion_max_area: float = 3.0  # ... and is within this factor of its size (not a crowd's blob, not a hand)
    tentative_motion_max_age_s: float = 2.0  # a tentative track kept moving lives this long unconfirmed


@dataclass(frozen=True, slots=True)
class BestShot:
    """The frame (its sequence number and time) on which the track was seen best, and where."""

    frame: int
    t: float
    box: tuple[float, float, float, float]
    confidence: float
    score: float


@dataclass(slots=True)
class Track:
    id: int
    box: np.ndarray  # xyxy, pixels: the filtered estimate (predicted while unseen)
    velocity: np.ndarray  # centre velocity, px/s
    first_t: float
    last_t: float  # last time a detection matched
    confidence: float
    hits: int = 1
    confirmed: bool = False
    path: list[tuple[float, float, float]] = field(default_factory=list)  # (t, foot x, foot y)
    best: BestShot | None = None
    # the last matched detection's box, as the detector saw it at ``last_t``: what rules judge a seen
    # object by (the filtered box overshoots a car that brakes hard, and lags one that turns)
    measured: np.ndarray | None = None
    _votes: dict[int, float] = field(default_factory=lambda: defaultdict(float))
    _predicted_t: float = 0.0
    _moved_t: float = -1e18  # last time a moving area of its own carried it between looks
    _corrected_t: float = 0.0  # last correction, by a detection or a moving area

    @property
    def class_id(self) -> int:
        return max(self._votes, key=self._votes.__getitem__)

    @property
    def class_name(self) -> str:
        return CLASSES[self.class_id]

    @property
    def speed(self) -> float:
        """Current speed of the box centre, pixels per second (filtered)."""
        return float(math.hypot(*self.velocity))

    @property
    def duration(self) -> float:
        return self.last_t - self.first_t

    @property
    def mean_speed(self) -> float:
        """Path length over duration, pixels per second: what a track's summary reports."""
        if len(self.path) < 2 or self.duration <= 0:
            return 0.0
        pts = np.array([(x, y) for _, x, y in self.path])
        return float(np.linalg.norm(np.diff(pts, axis=0), axis=1).sum() / self.duration)

    def seen_at(self, t: float) -> bool:
        return self.last_t == t

    def carried_at(self, t: float) -> bool:
        """A moving area of its own carried it at ``t`` (a frame without a look)."""
        return self._moved_t == t


@dataclass(frozen=True, slots=True)
class TrackUpdate:
    tracks: list[Track]  # confirmed, alive (seen now or coasting)
    started: list[Track]  # confirmed by this update
    ended: list[Track]  # confirmed tracks that ended with this update


class Tracker:
    def __init__(self, config: TrackerConfig = TrackerConfig()) -> None:
        self.config = config
        self._tracks: list[Track] = []
        self._next_id = 1
        self._last_t: float | None = None
        self._last_look: float | None = None
        self._look_gap = 0.0  # smoothed time between looks (updates where the detector ran)

    @property
    def active(self) -> list[Track]:
        """Confirmed tracks, seen now or coasting."""
        return [t for t in self._tracks if t.confirmed]

    @property
    def live(self) -> list[Track]:
        """Every track the tracker holds, tentative ones included."""
        return list(self._tracks)

    def update(
        self,
        dets: Detections,
        t: float,
        frame: int = 0,
        frame_size: tuple[int, int] | None = None,
        *,
        looked: bool = True,
    ) -> TrackUpdate:
        """Advance to capture time ``t`` (seconds) with this frame's detections (may be empty).

        ``looked``: the detector ran on this frame (an empty result then means nothing was
        found); False when only time advances, which does not count towards ``tentative_looks``.
        """
        cfg = self.config
        if self._last_t is not None and t < self._last_t:
            raise ValueError(f"time went backwards: {t} < {self._last_t}")
        self._last_t = t
        if looked:
            if self._last_look is not None:  # a pause in motion is not a slow detector: capped
                self._look_gap += 0.3 * (min(t - self._last_look, 1.0) - self._look_gap)
            self._last_look = t
        tentative_age = max(cfg.tentative_max_age_s, cfg.tentative_looks * self._look_gap)
        for tr in self._tracks:
            self._predict(tr, t)
        dets = dets[dets.confidence >= cfg.low_confidence]
        high = np.flatnonzero(dets.confidence >= cfg.high_confidence)
        low = np.flatnonzero(dets.confidence < cfg.high_confidence)
        confirmed = [i for i, tr in enumerate(self._tracks) if tr.confirmed]
        tentative = [i for i, tr in enumerate(self._tracks) if not tr.confirmed]

        matched: set[int] = set()
        started: list[Track] = []
        pairs = self._match(confirmed, high, dets, cfg.match_iou, t)
        rest_tracks = [i for i in confirmed if i not in {p[0] for p in pairs}]
        rest_high = [d for d in high if d not in {p[1] for p in pairs}]
        pairs += self._match(rest_tracks, low, dets, cfg.low_match_iou, t)
        pairs2 = self._match(tentative, np.array(rest_high, np.int64), dets, cfg.match_iou, t)
        rest_high = [d for d in rest_high if d not in {p[1] for p in pairs2}]
        for ti, di in pairs + pairs2:
            tr = self._tracks[ti]
            self._correct(tr, dets, di, t, frame, frame_size)
            matched.add(ti)
            if not tr.confirmed and tr.hits >= cfg.min_hits:
                tr.confirmed = True
                started.append(tr)

        ended: list[Track] = []
        alive: list[Track] = []
        for i, tr in enumerate(self._tracks):
            unseen = t - tr.last_t
            if i not in matched and (
                (not tr.confirmed and unseen > tentative_age and not self._carried(tr, t))
                or (tr.confirmed and (unseen > cfg.max_age_s or _outside(tr.box, frame_size)))
            ):
                if tr.confirmed:
                    ended.append(tr)
                continue
            alive.append(tr)
        for di in rest_high:
            tr = self._birth(dets, int(di), t, frame, frame_size)
            if cfg.min_hits <= 1:
                tr.confirmed = True
                started.append(tr)
            alive.append(tr)
        self._tracks = alive
        return TrackUpdate([tr for tr in alive if tr.confirmed], started, ended)

    def follow_motion(self, boxes: np.ndarray, t: float, *, move: bool = True) -> int:
        """Between looks, move each track towards the moving area that is its own; returns how many.

        Why: under load the detector looks at a busy camera a few times a second, and a person it
        sees on one look in four would otherwise be predicted from a standing start and lost before
        the next sighting. Motion is cheap and measured on every analysed frame, so it carries the
        track (position and velocity, with lower gains than a detection) until the detector sees it
        again. Only unambiguous areas count: one that two tracks claim, or one far larger than the
        track (a crowd, a lighting change), moves nobody. A moving area is no sighting: hits,
        confidence, the path and the rules (which evaluate tracks seen on the frame) are untouched;
        it only keeps a tentative track alive, for at most ``tentative_motion_max_age_s``.

        With ``move`` false the tracks are only predicted, and those whose own moving area covers
        the prediction are marked (``Track.carried_at``) as still moving there: for frames where a
        look is near anyway, so a group's blobs cannot drag its members off their detections.
        """
        cfg = self.config
        if self._last_t is not None and t < self._last_t:
            return 0
        boxes = np.asarray(boxes, np.float64).reshape(-1, 4)
        if not len(boxes) or not self._tracks:
            return 0
        for tr in self._tracks:
            self._predict(tr, t)
        m_area = np.maximum(1.0, (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]))
        claims: dict[int, list[int]] = defaultdict(list)
        for i, tr in enumerate(self._tracks):
            wide = _widen(tr.box[None], 0.25)[0].astype(np.float64)
            area = max(1.0, float((tr.box[2] - tr.box[0]) * (tr.box[3] - tr.box[1])))
            ix = np.clip(np.minimum(wide[2], boxes[:, 2]) - np.maximum(wide[0], boxes[:, 0]), 0, None)
            iy = np.clip(np.minimum(wide[3], boxes[:, 3]) - np.maximum(wide[1], boxes[:, 1]), 0, None)
            cover = ix * iy / area
            j = int(np.argmax(cover))
            if cover[j] >= cfg.motion_overlap and area / cfg.motion_max_area <= m_area[j] <= cfg.motion_max_area * area:
                claims[j].append(i)
        moved = 0
        for j, owners in claims.items():
            if len(owners) != 1:
                continue
            tr = self._tracks[owners[0]]
            tr._moved_t = t
            moved += 1
            if not move:
                continue
            zc = (boxes[j, :2] + boxes[j, 2:]) / 2
            pc = (tr.box[:2] + tr.box[2:]) / 2
            r = zc - pc
            dt = t - tr._corrected_t
            c = pc + cfg.motion_gain * r
            if dt > 0:
                tr.velocity = tr.velocity + cfg.motion_beta * r / dt
            half = (tr.box[2:] - tr.box[:2]) / 2
            tr.box = np.concatenate([c - half, c + half])
            tr._corrected_t = t
        self._last_t = t
        return moved

    def _carried(self, tr: Track, t: float) -> bool:
        """A tentative track that moving areas carried until now, not yet too long unconfirmed."""
        return tr._moved_t >= t - 0.5 and t - tr.last_t <= self.config.tentative_motion_max_age_s

    def finish(self) -> list[Track]:
        """End every confirmed track (the camera stops): each gets its ``left``."""
        ended = [tr for tr in self._tracks if tr.confirmed]
        self._tracks = []
        return ended

    # -- internals -----------------------------------------------------------------------------
    def _match(
        self, tracks: list[int], det_idx: np.ndarray | list[int], dets: Detections, thresh: float, t: float
    ) -> list[tuple[int, int]]:
        det_idx = np.asarray(det_idx, np.int64)
        if not tracks or len(det_idx) == 0:
            return []
        cfg = self.config
        iou = np.zeros((len(tracks), len(det_idx)), np.float32)
        for row, i in enumerate(tracks):
            tr = self._tracks[i]
            b = (cfg.buffer if tr.confirmed else cfg.buffer_tentative) + cfg.buffer_per_s * min(t - tr.last_t, 2.0)
            iou[row] = box_iou(_widen(tr.box[None], b), _widen(dets.xyxy[det_idx], b))[0]
        groups = np.array([CLASS_GROUP[self._tracks[i].class_id] for i in tracks])
        iou[groups[:, None] != CLASS_GROUP[dets.class_id[det_idx]][None, :]] = 0.0
        pairs: list[tuple[int, int]] = []
        # greedy by IoU: for the handful of objects in one camera it equals the Hungarian
        # assignment except in contrived ties, and needs no solver
        order = np.dstack(np.unravel_index(np.argsort(-iou, axis=None), iou.shape))[0]
        used_t, used_d = set(), set()
        for r, c in order:
            if iou[r, c] < thresh:
                break
            if r in used_t or c in used_d:
                continue
            used_t.add(r)
            used_d.add(c)
            pairs.append((tracks[r], int(det_idx[c])))
        return pairs

    def _predict(self, tr: Track, t: float) -> None:
        dt = t - tr._predicted_t
        if dt > 0:
            shift = tr.velocity * dt
            tr.box = tr.box + np.array([shift[0], shift[1], shift[0], shift[1]])
            tr._predicted_t = t

    def _correct(
        self, tr: Track, dets: Detections, di: int, t: float, frame: int, frame_size: tuple[int, int] | None
    ) -> None:
        cfg = self.config
        z = dets.xyxy[di].astype(np.float64)
        zc, pc = (z[:2] + z[2:]) / 2, (tr.box[:2] + tr.box[2:]) / 2
        dt = t - tr.last_t
        if tr.hits == 1 and dt > 0 and tr._moved_t < tr.last_t:
            tr.velocity = (zc - pc) / dt  # second sighting: the first honest velocity
            c = zc
        else:
            r = zc - pc
            c = pc + cfg.alpha * r
            dt = t - max(tr.last_t, tr._corrected_t)
            if dt > 0:
                tr.velocity = tr.velocity + cfg.beta * r / dt
        wh = (tr.box[2:] - tr.box[:2]) + 0.5 * ((z[2:] - z[:2]) - (tr.box[2:] - tr.box[:2]))
        tr.box = np.concatenate([c - wh / 2, c + wh / 2])
        tr.last_t = t
        tr._corrected_t = t
        tr.hits += 1
        tr.confidence = float(dets.confidence[di])
        tr._votes[int(dets.class_id[di])] += tr.confidence
        self._observe(tr, z, t, frame, frame_size)

    def _birth(self, dets: Detections, di: int, t: float, frame: int, frame_size: tuple[int, int] | None) -> Track:
        z = dets.xyxy[di].astype(np.float64)
        tr = Track(
            self._next_id, z.copy(), np.zeros(2), t, t, float(dets.confidence[di]), _predicted_t=t, _corrected_t=t
        )
        self._next_id += 1
        tr._votes[int(dets.class_id[di])] += tr.confidence
        self._observe(tr, z, t, frame, frame_size)
        return tr

    def _observe(self, tr: Track, z: np.ndarray, t: float, frame: int, frame_size: tuple[int, int] | None) -> None:
        """Record the path (foot points of the detections) and keep the best view."""
        tr.measured = z
        foot = ((z[0] + z[2]) / 2, z[3])
        if not tr.path or math.dist(tr.path[-1][1:], foot) >= self.config.path_min_step_px:
            tr.path.append((t, float(foot[0]), float(foot[1])))
        area = max(0.0, (z[2] - z[0]) * (z[3] - z[1]))
        cut = frame_size is not None and (
            z[0] <= 1 or z[1] <= 1 or z[2] >= frame_size[0] - 1 or z[3] >= frame_size[1] - 1
        )
        score = tr.confidence * math.sqrt(area) * (0.5 if cut else 1.0)  # a cut-off view is a poor picture
        if tr.best is None or score > tr.best.score:
            tr.best = BestShot(frame, t, (float(z[0]), float(z[1]), float(z[2]), float(z[3])), tr.confidence, score)


def _widen(xyxy: np.ndarray, b: float) -> np.ndarray:
    """Each box grown by ``b`` of its size on every side, about its centre."""
    wh = (xyxy[:, 2:] - xyxy[:, :2]) * b
    return np.concatenate([xyxy[:, :2] - wh, xyxy[:, 2:] + wh], axis=1).astype(np.float32)


def _outside(box: np.ndarray, frame_size: tuple[int, int] | None) -> bool:
    """The (predicted) box no longer overlaps the picture: the object has left, do not wait."""
    if frame_size is None:
        return False
    w, h = frame_size
    return bool(box[2] <= 0 or box[0] >= w or box[3] <= 0 or box[1] >= h)
