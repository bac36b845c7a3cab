"""Faces on person tracks, matched live against the watchlists.

The sub stream (640x360) that the pipeline analyses shows a face a few pixels wide; recognition
needs 40 or more. So a face camera also has a second worker on its *main* stream that decodes
keyframes only (one picture per GOP, for the cost of demuxing) and hands each to ``offer``. On
the first analysed frame close in time to a new keyframe, the stage takes every confirmed person
track seen on that frame, moves its box to the keyframe's moment (by the track's velocity) and
scale, cuts the head region out of the full-resolution keyframe, and looks for a face there only.
A usable face (size, sharpness, pose: ``FaceEngine.quality``) is embedded and searched at once; a
hit above the list's threshold is an ``alert`` (``rule_kind`` ``face_match``) with the probe crop,
the enrolled photo, the similarity, the list and the person; one per track and entry, and none
while an operator's rejection of that entry on this camera stands. Each track keeps its best few
faces (by quality), for the observations kept for investigators where the site's policy allows.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import cv2
import numpy as np

from koopsuz.analytics.motion_stage import SnapshotWriter
from koopsuz.analytics.pipeline import CameraInfo, EventSink, FrameContext
from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.domain.face_policy import FacePolicy
from koopsuz.domain.watchlists import Match, face_rule
from koopsuz.video.worker import DecodedFrame
from koopsuz.vision.faces import Face, FaceEngine
from koopsuz.vision.tracker import Track

log = logging.getLogger(__name__)


class Matcher(Protocol):
    """What the stage needs of the live matcher (services.face_matching.FaceMatcher)."""

    def match(self, embedding: np.ndarray, region: str, kinds: Collection[str]) -> list[Match]: ...

    def suppressed(self, camera: str, entry_id: str) -> bool: ...

    def __len__(self) -> int: ...


Observe = Callable[..., None]  # keyword args: camera, region, ts, track, embedding, quality, jpeg, keep_h
Lookup = Callable[[str], dict[str, Any] | None]  # entry id -> who, which list (for the alert)
PhotoBytes = Callable[[int], bytes | None]  # enrolled photo id -> its image


@dataclass(slots=True)
class SeenFace:
    quality: float
    similarity_best: float
    embedding: np.ndarray
    jpeg: bytes
    t: float


@dataclass(slots=True)
class _TrackFaces:
    uid: str | None = None
    best: list[SeenFace] = field(default_factory=list)
    alerted: set[str] = field(default_factory=set)


def severity_for(kind: str, priority: int) -> Severity:
    if kind == "wanted":
        return Severity.CRITICAL if priority <= 1 else Severity.HIGH
    if kind == "missing":
        return Severity.HIGH
    return Severity.MEDIUM if priority >= 3 else Severity.HIGH


class FaceStage:
    name = "faces"

    def __init__(
        self,
        engine: FaceEngine,
        matcher: Matcher | None,
        policy: FacePolicy,
        save: SnapshotWriter | None,
        *,
        lookup: Lookup,
        enrolled_photo: PhotoBytes,
        observe: Observe | None = None,
        keep_per_track: int = 3,
        max_skew_s: float = 0.5,
    ) -> None:
        self._engine = engine
        self._matcher = matcher
        self._policy = policy
        self._save = save
        self._lookup = lookup
        self._enrolled = enrolled_photo
        self._observe = observe
        self._keep = keep_per_track
        self._skew = max_skew_s
        self._key: DecodedFrame | None = None
        self._used_seq = -1
        self._tracks: dict[int, _TrackFaces] = {}
        self.keyframes = 0
        self.looked = 0
        self.faces = 0
        self.usable = 0
        self.matches = 0
        self.suppressed = 0
        self.observed = 0
        self.ms = 0.0

    def offer(self, decoded: DecodedFrame) -> None:
        """A main-stream keyframe (called from the keyframe worker's thread): one reference swap."""
        self._key = decoded
        self.keyframes += 1

    def stats(self) -> dict[str, Any]:
        return {
            "keyframes": self.keyframes,
            "looked": self.looked,
            "faces": self.faces,
            "usable": self.usable,
            "matches": self.matches,
            "suppressed": self.suppressed,
            "observed": self.observed,
            "ms_per_look": round(self.ms / self.looked, 1) if self.looked else None,
            "index": len(self._matcher) if self._matcher is not None else 0,
        }

    def process(self, ctx: FrameContext, emit: EventSink) -> None:
        for tr in ctx.results.get("tracks_ended") or ():
            self._left(ctx.camera, tr.id)
        key = self._key
        if key is None or key.seq == self._used_seq:
            return
        key_t = key.captured_at.timestamp()
        if key_t - ctx.ts.timestamp() > self._skew:
            return  # the keyframe is ahead of this frame: a later frame will take it
        # people whose box was measured close to the keyframe's moment (following and load
        # shedding mean a detection is not on every frame); each box is moved to that moment
        people = [
            tr
            for tr in ctx.results.get("tracks") or ()
            if tr.class_name == "person" and abs(key_t - tr.last_t) <= self._skew
        ]
        if not people:
            if ctx.ts.timestamp() - key_t > self._skew:
                self._used_seq = key.seq  # too late for this keyframe now
            return
        self._used_seq = key.seq
        t = ctx.ts.timestamp()
        started = time.perf_counter()
        image = key.bgr()
        sub = ctx.decoded.frame
        scale = (image.shape[1] / sub.width, image.shape[0] / sub.height)
        uids: dict[int, str] = ctx.results.get("track_uids") or {}
        for tr in people:
            self.looked += 1
            found = self._face_of(image, tr, key_t - tr.last_t, scale)
            if found is None:
                continue
            crop, face, offset = found
            self.faces += 1
            q = self._engine.quality(crop, face)
            if not q.usable:
                continue
            self.usable += 1
            emb = self._engine.embed(crop, face)
            jpeg = face_crop_jpeg(crop, face.box)
            state = self._tracks.setdefault(tr.id, _TrackFaces(uids.get(tr.id)))
            matches = self._search(emb, ctx.camera)
            state.best.append(SeenFace(q.score, matches[0].similarity if matches else 0.0, emb, jpeg, t))
            state.best.sort(key=lambda f: -f.quality)
            del state.best[self._keep :]
            for m in matches:
                if m.face.entry_id in state.alerted:
                    continue
                state.alerted.add(m.face.entry_id)
                if self._matcher is not None and self._matcher.suppressed(ctx.camera.id, m.face.entry_id):
                    self.suppressed += 1
                    continue
                self.matches += 1
                box = (face.box[0] + offset[0], face.box[1] + offset[1], face.box[2], face.box[3])
                emit(self._alert(ctx, key.captured_at, m, jpeg, uids.get(tr.id), box, image.shape, q.score))
        self.ms += 1000 * (time.perf_counter() - started)

    def close(self, camera: CameraInfo, emit: EventSink) -> None:
        """The camera stops: every track's best face is observed as if the track had ended."""
        for track_id in list(self._tracks):
            self._left(camera, track_id)

    # -- helpers -------------------------------------------------------------------------------
    def _left(self, camera: CameraInfo, track_id: int) -> None:
        """A track ended: its best face becomes an observation where the site's policy keeps them."""
        state = self._tracks.pop(track_id, None)
        if state is None or not state.best or self._observe is None or self._policy.keep_observations_h <= 0:
            return
        best = state.best[0]
        self._observe(
            camera=camera.id,
            region=camera.region,
            ts=datetime.fromtimestamp(best.t, UTC),
            track=state.uid,
            embedding=best.embedding,
            quality=best.quality,
            jpeg=best.jpeg,
            keep_h=self._policy.keep_observations_h,
        )
        self.observed += 1

    def _face_of(
        self, image: np.ndarray, tr: Track, skew: float, scale: tuple[float, float]
    ) -> tuple[np.ndarray, Face, tuple[int, int]] | None:
        """The largest face inside the track's head region on the keyframe, in the crop's pixels."""
        x0, y0, x1, y1 = (float(v) for v in tr.box)
        dx, dy = (float(v) * skew for v in tr.velocity)
        x0, x1, y0, y1 = x0 + dx, x1 + dx, y0 + dy, y1 + dy
        h = y1 - y0
        cx = (x0 + x1) / 2
        half = max(x1 - x0, 0.45 * h) * 0.6
        region = (cx - half, y0 - 0.08 * h, cx + half, y0 + 0.42 * h)  # head and shoulders
        H, W = image.shape[:2]
        rx0, ry0 = max(0, round(region[0] * scale[0])), max(0, round(region[1] * scale[1]))
        rx1, ry1 = min(W, round(region[2] * scale[0])), min(H, round(region[3] * scale[1]))
        if rx1 - rx0 < 24 or ry1 - ry0 < 24:
            return None
        crop = np.ascontiguousarray(image[ry0:ry1, rx0:rx1])
        faces = self._engine.faces(crop)
        if not faces:
            return None
        return crop, faces[0], (rx0, ry0)

    def _search(self, emb: np.ndarray, camera: CameraInfo) -> list[Match]:
        if self._matcher is None:
            return []
        return self._matcher.match(emb, camera.region, {str(k) for k in self._policy.lists})

    def _alert(
        self,
        ctx: FrameContext,
        seen_at: datetime,
        m: Match,
        jpeg: bytes,
        track_uid: str | None,
        box: tuple[float, float, float, float],
        shape: tuple[int, ...],
        quality: float,
    ) -> Event:
        who = self._lookup(m.face.entry_id) or {}
        h, w = shape[:2]
        event = Event(
            id=new_id(),
            kind="alert",
            region=ctx.camera.region,
            camera=ctx.camera.id,
            site=ctx.camera.site,
            ts=seen_at,
            severity=severity_for(m.face.kind, m.face.priority),
            payload={
                "rule": face_rule(m.face.entry_id),
                "rule_kind": "face_match",
                "rule_name": f"{who.get('list_name', m.face.kind)}: {who.get('full_name', m.face.entry_id)}",
                "class": "person",
                "track": track_uid,
                "entry": m.face.entry_id,
                "full_name": who.get("full_name"),
                "notes": who.get("notes"),
                "watchlist": m.face.watchlist_id,
                "list_kind": m.face.kind,
                "priority": m.face.priority,
                "similarity": round(m.similarity, 3),
                "threshold": m.face.threshold,
                "quality": round(quality, 3),
                "photo": m.face.photo_id,
                "legal_basis_id": who.get("legal_basis_id"),
                "face_box": [round(box[0] / w, 4), round(box[1] / h, 4), round(box[2] / w, 4), round(box[3] / h, 4)],
            },
        )
        if self._save is not None:
            try:
                event.media["snapshot"] = self._save(ctx.camera.id, event.id, seen_at, jpeg)
                enrolled = _as_jpeg(self._enrolled(m.face.photo_id))
                if enrolled is not None:
                    event.media["enrolled"] = self._save(ctx.camera.id, f"{event.id}-enrolled", seen_at, enrolled)
            except OSError as exc:  # a full disk costs the pictures, never the alert
                event.payload["snapshot_error"] = str(exc)
        return event


def face_crop_jpeg(image: np.ndarray, box: tuple[float, float, float, float]) -> bytes:
    """The face with a margin, at least 160 px tall so an operator can compare it by eye."""
    x, y, w, h = box
    m = 0.35
    x0, y0 = max(0, round(x - m * w)), max(0, round(y - m * h))
    x1, y1 = min(image.shape[1], round(x + w * (1 + m))), min(image.shape[0], round(y + h * (1 + m)))
    img = image[y0:y1, x0:x1]
    if img.shape[0] < 160:
        f = 160 / img.shape[0]
        img = cv2.resize(img, (round(img.shape[1] * f), 160), interpolation=cv2.INTER_CUBIC)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise RuntimeError("face crop encoding failed")
    return buf.tobytes()


def _as_jpeg(data: bytes | None) -> bytes | None:
    """The enrolled photo re-encoded as JPEG (drops its metadata; PNG enrolments display alike)."""
    if not data:
        return None
    img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
    if img is None:
        return None
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
    return buf.tobytes() if ok else None
