"""Runs one worker and one pipeline per enabled camera and keeps them in step with the registry.

``reconcile`` compares what should run (the registry) with what runs, then starts, restarts or
stops workers; it is called at start, whenever a ``camera_config`` message arrives on the bus, and
every ``resync_s`` as a safety net. Health transitions become ``camera_offline`` and
``camera_online`` events, so the time a camera went down is a stored, queryable fact. A change of
a camera's rules (or of its site's hours) only swaps the rules of its running ``RuleStage``: no
reconnect, and its tracks carry on.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from koopsuz.analytics.detect_stage import DetectStage
from koopsuz.analytics.face_stage import FaceStage, Lookup, Matcher, Observe, PhotoBytes
from koopsuz.analytics.look_budget import LookBudget
from koopsuz.analytics.motion_stage import MotionStage, SnapshotWriter
from koopsuz.analytics.pipeline import CameraInfo, Pipeline, Stage
from koopsuz.analytics.plate_stage import PlateStage, Reader
from koopsuz.analytics.rule_stage import RuleStage
from koopsuz.bus.base import Bus
from koopsuz.config import Settings
from koopsuz.domain.events import Event, Severity
from koopsuz.domain.face_policy import policy_for
from koopsuz.domain.registry import Camera
from koopsuz.services.config_follower import ConfigFollower
from koopsuz.services.event_writer import EventWriter
from koopsuz.services.registry import RegistryService
from koopsuz.services.rules import RuleConfig, RuleService
from koopsuz.video.health import CameraHealth, State
from koopsuz.video.media import MediaStore
from koopsuz.video.source import SourceOptions
from koopsuz.video.worker import Backoff, CameraWorker
from koopsuz.vision.detectors import Detector, create_detector
from koopsuz.vision.detectors.pool import DetectorPool
from koopsuz.vision.faces import FaceEngine
from koopsuz.vision.motion import MotionConfig, MotionDetector
from koopsuz.vision.privacy import mask_jpeg

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FaceServices:
    """What a face camera's ``FaceStage`` needs; absent, face profiles run people detection only."""

    engine: Callable[[], FaceEngine]  # the shared engine, loaded at first need
    matcher: Matcher
    lookup: Lookup
    enrolled_photo: PhotoBytes
    observe: Observe | None = None  # faces seen, for investigators' searches where policy keeps them


@dataclass(frozen=True, slots=True)
class PlateServices:
    """What a plate camera's ``PlateStage`` needs: the shared reader, loaded at first need."""

    reader: Callable[[], Reader]
    node: str | None = None  # this process, named in each read (a scale-out worker's id); None: the only one


class _Running:
    def __init__(
        self,
        camera: Camera,
        region: str,
        worker: CameraWorker,
        pipeline: Pipeline,
        rules: RuleConfig | None = None,
        rule_stage: RuleStage | None = None,
        helpers: list[CameraWorker] | None = None,
    ) -> None:
        self.camera = camera
        self.region = region
        self.worker = worker
        self.pipeline = pipeline
        self.rules = rules
        self.rule_stage = rule_stage
        self.helpers = helpers or []  # e.g. the main-stream keyframe worker of a face camera

    def request_stop(self) -> None:
        for w in (self.worker, *self.helpers):
            w.request_stop()

    def stop(self) -> None:
        """Stop the decode threads, then close the pipeline (open tracks get their events)."""
        for w in (self.worker, *self.helpers):
            w.stop()
        if not self.worker.alive:
            self.pipeline.close()


class IngestService:
    def __init__(
        self,
        settings: Settings,
        registry: RegistryService,
        writer: EventWriter,
        bus: Bus,
        media: MediaStore,
        *,
        resync_s: float = 15.0,
        rules: RuleService | None = None,
        faces: FaceServices | None = None,
        plates: PlateServices | None = None,
    ) -> None:
        self._settings = settings
        self._registry = registry
        self._writer = writer
        self._bus = bus
        self._media = media
        self._rules = rules
        self._faces = faces
        self._plates = plates
        self._running: dict[str, _Running] = {}
        self._lock = threading.RLock()
        self._follower = ConfigFollower(bus, self.reconcile, name="ingest", resync_s=resync_s)
        self._detector: Detector | None = None  # one model for all cameras, loaded at first need
        self._budget: LookBudget | None = None  # its looks shared fairly among the busy cameras

    def start(self) -> None:
        self._follower.start()

    def stop(self) -> None:
        self._follower.stop()
        with self._lock:
            running = list(self._running.values())
            self._running.clear()
        for r in running:
            r.request_stop()
        for r in running:
            r.stop()

    def reconcile(self) -> None:
        desired = {cam.id: (cam, region) for cam, region in self._registry.enabled_cameras()}
        configs = self._rules.configs() if self._rules is not None else {}
        with self._lock:
            for cid in list(self._running):
                run = self._running[cid]
                want = desired.get(cid)
                if want is None or want[0] != run.camera or want[1] != run.region:
                    log.info("camera %s: stopping (%s)", cid, "removed or disabled" if want is None else "changed")
                    run.stop()
                    del self._running[cid]
            for cid, (cam, region) in desired.items():
                if cid not in self._running:
                    self._running[cid] = self._launch(cam, region, configs.get(cid))
                else:
                    self._update_rules(self._running[cid], configs.get(cid))

    def _update_rules(self, run: _Running, cfg: RuleConfig | None) -> None:
        if cfg == run.rules or run.rule_stage is None or cfg is None:
            return
        log.info("camera %s: rules changed (%d rule(s)); swapped in place", run.camera.id, len(cfg.rules))
        run.rule_stage.set_rules(cfg.rules, cfg.hours)
        run.rules = cfg

    def _launch(self, cam: Camera, region: str, rules: RuleConfig | None = None) -> _Running:
        s = self._settings
        info = CameraInfo(cam.id, region, cam.site)
        snapshot = _masked_writer(self._media.save_snapshot, cam.privacy_masks)  # stored snapshots are masked
        stages: list[Stage] = []
        objects: DetectStage | None = None
        if cam.motion.enabled:
            detector = MotionDetector(
                MotionConfig(
                    width=s.motion_width,
                    sensitivity=cam.motion.sensitivity,
                    min_area=cam.motion.min_area,
                    masks=cam.motion_masks,
                )
            )
            stages.append(MotionStage(detector, snapshot, cooldown_s=cam.motion.cooldown_s))
        if cam.profile != "motion":
            detector = self._object_detector()
            objects = DetectStage(
                detector,
                snapshot,
                max_lag_s=s.detector_max_lag_s,
                look_lag_s=s.detector_look_lag_s,
                budget=self._budget,
            )
            stages.append(objects)
        rule_stage = None
        if objects is not None and rules is not None:
            rule_stage = RuleStage(rules.rules, rules.hours, snapshot)
            stages.append(rule_stage)
        face_stage = self._face_stage(cam) if objects is not None else None
        if face_stage is not None:
            stages.append(face_stage)
        plate_stage = None
        if objects is not None and cam.profile in ("plates", "traffic") and self._plates is not None:
            # crops, see _masked_writer
            plate_stage = PlateStage(
                self._plates.reader(), self._media.save_snapshot, node=self._plates.node, lanes=cam.lanes
            )
            stages.append(plate_stage)
        pipeline = Pipeline(info, stages, self._writer.submit, s.motion_fps)
        worker = CameraWorker(
            cam.id,
            cam.sub_url,
            on_frame=pipeline.feed,
            on_health=lambda cid, old, h: self._health_changed(info, old, h),
            source_options=SourceOptions(s.ingest_open_timeout_s, s.ingest_read_timeout_s),
            backoff=Backoff(s.ingest_backoff_initial_s, s.ingest_backoff_max_s),
        )
        worker.start()
        helpers = []
        if face_stage is not None:
            keyframes = CameraWorker(
                f"{cam.id}/main-keyframes",
                cam.main_url,
                on_frame=face_stage.offer,
                source_options=SourceOptions(s.ingest_open_timeout_s, s.ingest_read_timeout_s, keyframes_only=True),
                backoff=Backoff(s.ingest_backoff_initial_s, s.ingest_backoff_max_s),
            )
            keyframes.start()
            helpers.append(keyframes)
        if plate_stage is not None:  # plates need every main-stream frame, not one a second
            main = CameraWorker(
                f"{cam.id}/main",
                cam.main_url,
                on_frame=plate_stage.offer,
                source_options=SourceOptions(s.ingest_open_timeout_s, s.ingest_read_timeout_s),
                backoff=Backoff(s.ingest_backoff_initial_s, s.ingest_backoff_max_s),
            )
            main.start()
            helpers.append(main)
        return _Running(cam, region, worker, pipeline, rules, rule_stage, helpers)

    def _face_stage(self, cam: Camera) -> FaceStage | None:
        """Faces for a ``faces`` camera whose site type's policy runs face recognition."""
        if cam.profile != "faces" or self._faces is None:
            return None
        site = self._registry.site(cam.site)
        policy = policy_for(site.type if site else None)
        if not policy.enabled:
            log.info("camera %s: site type %s runs no face recognition", cam.id, site.type if site else "?")
            return None
        f = self._faces
        return FaceStage(
            f.engine(),
            f.matcher,
            policy,
            self._media.save_snapshot,
            lookup=f.lookup,
            enrolled_photo=f.enrolled_photo,
            observe=f.observe,
        )

    def _object_detector(self) -> Detector:
        """Shared by every camera: a few copies of one model inferring side by side, and the budget
        that shares their looks among the cameras.

        A missing or wrong model file raises ``ModelError`` naming it; at start that stops the
        service, which is the point: analytics silently missing is worse than a refusal to start.
        """
        with self._lock:
            if self._detector is None:
                s = self._settings
                cores = os.cpu_count() or 1
                copies = s.detector_copies or min(cores, MAX_DEFAULT_COPIES)
                threads = s.detector_threads or max(1, cores // copies)
                pool = DetectorPool(
                    [
                        create_detector(
                            s.detector, s.detector_model, min_confidence=s.detector_confidence, threads=threads
                        )
                        for _ in range(copies)
                    ]
                )
                self._budget = LookBudget(pool.lanes)
                pool.on_inference = self._budget.record
                self._detector = pool
                log.info("detector %s: %d copies, %d thread(s) each", s.detector, copies, threads)
            return self._detector

    def detection_budget(self) -> dict[str, Any] | None:
        """How the detector's looks are shared now (copies, look time, cameras wanting, refusals)."""
        with self._lock:
            return None if self._budget is None else self._budget.stats()

    def _health_changed(self, cam: CameraInfo, old: State, h: CameraHealth) -> None:
        if h.state == State.OFFLINE:
            kind, severity = "camera_offline", Severity.MEDIUM
        elif h.state == State.ONLINE and old == State.OFFLINE:
            kind, severity = "camera_online", Severity.INFO
        else:
            return
        self._writer.submit(
            Event(
                kind=kind,
                region=cam.region,
                camera=cam.id,
                site=cam.site,
                ts=h.since or datetime.now(UTC),
                payload={"error": h.error, "reconnects": h.reconnects},
                severity=severity,
            )
        )

    # -- queries ------------------------------------------------------------
    def worker(self, camera_id: str) -> CameraWorker | None:
        with self._lock:
            run = self._running.get(camera_id)
            return run.worker if run else None

    def health(self, camera_id: str) -> dict[str, Any]:
        w = self.worker(camera_id)
        if w is None:
            return CameraHealth(state=State.DISABLED).to_json()
        return w.health.to_json()

    def analytics(self, camera_id: str) -> dict[str, Any] | None:
        """What the camera's pipeline has done: frames analysed, inference cost, frames shed, alerts."""
        with self._lock:
            run = self._running.get(camera_id)
        return None if run is None else _analytics(run)

    def stats(self) -> dict[str, Any]:
        with self._lock:
            runs = list(self._running.values())
        return {r.camera.id: {"health": r.worker.health.to_json(), **_analytics(r)} for r in runs}


def _masked_writer(save: SnapshotWriter, masks: list[list[tuple[float, float]]]) -> SnapshotWriter:
    """The media store's writer, masking each snapshot first when the camera has privacy masks.

    Masking at creation means no stored full-frame snapshot ever shows a masked area: event media
    is served to anyone who may read events, without a per-viewer check. Face and plate stages save
    crops (and enrolled photos), where frame-relative polygons do not apply; they keep the plain writer.
    """
    if not masks:
        return save

    def write(camera: str, event_id: str, ts: datetime, jpeg: bytes) -> str:
        return save(camera, event_id, ts, mask_jpeg(jpeg, masks))

    return write


MAX_DEFAULT_COPIES = 4  # each SSD copy holds ~190 MB; past 4, more threads per copy instead
REPORTING = (DetectStage, RuleStage, FaceStage, PlateStage)  # stages whose stats() the camera's JSON shows


def _analytics(run: _Running) -> dict[str, Any]:
    return {
        "analysed": run.pipeline.processed,
        "stage_failures": run.pipeline.failures,
        **{st.name: st.stats() for st in run.pipeline.stages if isinstance(st, REPORTING)},
    }
