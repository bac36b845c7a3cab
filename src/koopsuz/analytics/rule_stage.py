"""Rules on tracks: observations (``track_entered``, ``track_crossed``) and alerts.

Runs after ``DetectStage`` and reads ``ctx.results["tracks"]`` (confirmed tracks),
``["tracks_ended"]`` and ``["track_uids"]``. Costs nothing without tracks; with tracks, a few
point-in-polygon tests per track and rule, and a colour conversion only when an alert needs its
snapshot.

* Every zone entry and every committed line crossing is an observation event (severity info),
  including repeats and crossings against a rule's direction: those are the line counts. The
  event writer tallies ``track_crossed`` events into ``line_counts`` (per rule, hour, class and
  direction) in the same transaction as the events, so the statistics cannot disagree with them
  and outlive them when retention deletes events.
* The first hit of a rule on a track is an ``alert`` (de-duplicated per track and rule by the
  engine) with the rule's severity, the snapshot with the box (and the zone or line) drawn and
  the track's path; a rule of severity ``info`` only observes. The event writer adds the clip
  reference when recording is on.
* Only tracks matched on this frame, or carried on it by a moving area of their own between
  looks, are evaluated for entries, crossings and dwell (a predicted box is a guess); a crowd
  counts every live track. A track confirmed on this frame first has its earlier sightings
  replayed (``RuleEngine.replay``): what it crossed while tentative still counts, its events
  marked ``late_s``.

``set_rules`` swaps the rules in place (the ingest supervisor calls it when a camera's rule set
changes): the engine starts afresh, so an alert already raised for a live track may be raised
once more under the new rules, which is what an operator who just changed them expects.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np

from koopsuz.analytics.detect_stage import PATH_POINTS, _norm
from koopsuz.analytics.motion_stage import SnapshotWriter
from koopsuz.analytics.pipeline import EventSink, FrameContext
from koopsuz.domain.events import Event, Severity, new_id
from koopsuz.domain.rules import Observation, Rule, RuleEngine, RuleHit, RuleKind
from koopsuz.domain.schedule import Hours
from koopsuz.vision.tracker import Track

OBSERVED = {RuleKind.ZONE_ENTRY: "track_entered", RuleKind.LINE_CROSSING: "track_crossed"}


class RuleStage:
    name = "rules"

    def __init__(self, rules: list[Rule] | tuple[Rule, ...], hours: Hours | None, save: SnapshotWriter | None) -> None:
        self._save = save
        self.engine = RuleEngine(rules, hours=hours)
        self._since: float | None = None  # capture time of the first frame the engine judged
        self.alerts = 0
        self.observations = 0

    def set_rules(self, rules: list[Rule] | tuple[Rule, ...], hours: Hours | None) -> None:
        self.engine = RuleEngine(rules, hours=hours)  # one assignment: the decode thread sees old or new
        self._since = None  # new rules judge what tracks did from now on, not before

    def stats(self) -> dict[str, Any]:
        return {"rules": len(self.engine.rules), "alerts": self.alerts, "observations": self.observations}

    def process(self, ctx: FrameContext, emit: EventSink) -> None:
        engine = self.engine
        tracks: list[Track] | None = ctx.results.get("tracks")
        for tr in ctx.results.get("tracks_ended") or ():
            engine.end(str(tr.id))
        t = ctx.ts.timestamp()
        if self._since is None:
            self._since = t
        if not tracks or not engine.rules:
            return
        frame = ctx.decoded.frame
        size = (frame.width, frame.height)
        by_id = {str(tr.id): tr for tr in tracks}
        present = [_observation(tr, size, t) for tr in tracks]
        seen = [o for o, tr in zip(present, tracks, strict=True) if tr.seen_at(t) or tr.carried_at(t)]
        uids: dict[int, str] = ctx.results.get("track_uids") or {}
        hits: list[RuleHit] = []
        for o in seen:
            if not engine.knows(o.track):  # newly confirmed: first what it did while tentative
                w, h = size
                earlier = [(pt, (x / w, min(y, h) / h)) for pt, x, y in by_id[o.track].path if self._since <= pt < t]
                hits.extend(engine.replay(o.track, o.class_name, o.height, earlier))
        hits.extend(engine.step(t, seen, present))
        for hit in hits:
            tr = by_id[hit.track]
            uid = uids.get(tr.id, hit.track)
            kind = OBSERVED.get(hit.rule.kind)
            if kind is not None:
                self.observations += 1
                emit(self._event(ctx, kind, hit, tr, uid, size, Severity.INFO))
            if hit.alert and hit.matches and hit.rule.severity != "info":
                self.alerts += 1
                emit(self._alert(ctx, hit, tr, uid, size))

    def _event(
        self, ctx: FrameContext, kind: str, hit: RuleHit, tr: Track, uid: str, size: tuple[int, int], sev: Severity
    ) -> Event:
        payload: dict[str, Any] = {
            "rule": hit.rule.id,
            "rule_kind": str(hit.rule.kind),
            "rule_name": hit.rule.name,
            "track": uid,
            "track_no": tr.id,
            "class": hit.class_name,
            "box": _norm(_visible(tr.box, size), size),
            "point": [round(hit.point[0], 4), round(hit.point[1], 4)],
        }
        if hit.direction is not None:
            payload["direction"] = hit.direction
        if hit.dwell_s is not None:
            payload["dwell_s"] = hit.dwell_s
        late = ctx.ts.timestamp() - hit.t
        if late > 0:  # happened while the track was tentative; reported once it was confirmed
            payload["late_s"] = round(late, 2)
        if hit.tracks:
            payload["tracks"] = list(hit.tracks)
            payload["count"] = len(hit.tracks)
        return Event(
            kind=kind,
            region=ctx.camera.region,
            camera=ctx.camera.id,
            site=ctx.camera.site,
            ts=ctx.ts,
            payload=payload,
            severity=sev,
        )

    def _alert(self, ctx: FrameContext, hit: RuleHit, tr: Track, uid: str, size: tuple[int, int]) -> Event:
        event = self._event(ctx, "alert", hit, tr, uid, size, Severity(hit.rule.severity))
        event.id = new_id()
        w, h = size
        step = -(-len(tr.path) // PATH_POINTS) or 1
        event.payload["path"] = [
            [round(pt - tr.first_t, 2), round(x / w, 4), round(y / h, 4)] for pt, x, y in tr.path[::step]
        ]
        event.payload["first_seen_s"] = round(ctx.ts.timestamp() - tr.first_t, 2)
        if self._save is not None:
            try:
                jpeg = _annotated(ctx.bgr, _visible(tr.box, size), f"{hit.rule.name}: {hit.class_name}", hit.rule, size)
                event.media["snapshot"] = self._save(ctx.camera.id, event.id, ctx.ts, jpeg)
            except OSError as exc:  # a full disk costs the picture, never the alert
                event.payload["snapshot_error"] = str(exc)
        return event


def _visible(box: Any, size: tuple[int, int]) -> tuple[float, float, float, float]:
    """The part of a track's box inside the picture.

    The tracker keeps a leaving object's box moving past the edge (its velocity must stay honest until
    the box has left), but the rules, the event and the snapshot only know what the camera shows: an
    unclipped foot point off the picture could cross a line drawn near the edge that the object never
    reached in view, and an event's box would leave 0..1."""
    w, h = size
    x0, y0, x1, y1 = (float(v) for v in box)
    x0, x1 = min(max(x0, 0.0), w), min(max(x1, 0.0), w)
    y0, y1 = min(max(y0, 0.0), h), min(max(y1, 0.0), h)
    return x0, y0, x1, y1


def _observation(tr: Track, size: tuple[int, int], t: float) -> Observation:
    """Where the object stands for the rules: where the detector saw it on a frame it was seen on (the
    tracker's filtered box overshoots a car that brakes hard: a stop then counted from 1-1.5 s after the
    car stood still on the simulator), else where the tracker carries it."""
    w, h = size
    measured = tr.seen_at(t) and tr.measured is not None
    x0, y0, x1, y1 = _visible(tr.measured if measured else tr.box, size)
    foot = ((x0 + x1) / 2 / w, y1 / h)
    return Observation(str(tr.id), tr.class_name, foot, (y1 - y0) / h, estimated=not measured)


def _annotated(bgr: np.ndarray, box: Any, label: str, rule: Rule, size: tuple[int, int]) -> bytes:
    """The frame with the rule's zone or line (red) and the object's box (amber) drawn."""
    img = bgr.copy()
    w, h = size
    shape = rule.zone if rule.zone is not None else rule.line
    if shape is not None:
        pts = np.array([(round(x * w), round(y * h)) for x, y in shape], np.int32)
        cv2.polylines(img, [pts], rule.zone is not None, (0, 0, 230), 2, cv2.LINE_AA)
    x0, y0, x1, y1 = (round(float(v)) for v in box)
    cv2.rectangle(img, (x0, y0), (x1, y1), (0, 200, 255), 2)
    cv2.putText(img, label, (x0, max(12, y0 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 200, 255), 1, cv2.LINE_AA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 80])
    if not ok:
        raise RuntimeError("snapshot encoding failed")
    return buf.tobytes()
