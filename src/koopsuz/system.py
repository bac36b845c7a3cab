"""Composition root: builds the adapters from settings and hands them to the services.

Everything that owns a thread or a connection is created here and closed here, so ``serve``, the
CLI and the tests assemble the same system the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from koopsuz.bus import Bus, make_bus
from koopsuz.config import Settings
from koopsuz.domain.deployment import parse_deployment
from koopsuz.domain.events import Event
from koopsuz.domain.plates import parse_read
from koopsuz.security.audit import AuditLog
from koopsuz.security.signing import InstallationKey
from koopsuz.services.access_review import AccessReviewService
from koopsuz.services.alert_queue import AlertQueueService
from koopsuz.services.audit_sealer import AuditSealer
from koopsuz.services.dashboard import DashboardService
from koopsuz.services.event_writer import EventWriter
from koopsuz.services.evidence import EvidenceService
from koopsuz.services.evidence_locks import EvidenceLockService
from koopsuz.services.export_redaction import ExportRedaction
from koopsuz.services.face_enrol import EngineEnroller
from koopsuz.services.face_matching import FaceMatcher
from koopsuz.services.face_observations import FaceObservations
from koopsuz.services.face_search import FaceSearchService
from koopsuz.services.hotlists import HotlistService
from koopsuz.services.incidents import IncidentService
from koopsuz.services.ingest import FaceServices, IngestService, PlateServices
from koopsuz.services.legal_basis import LegalBasisService
from koopsuz.services.national_hotlists import NationalHotlistFollower
from koopsuz.services.plate_reads import PlateSearchService, project_plate_reads
from koopsuz.services.playback import PlaybackService
from koopsuz.services.ptz import PtzService
from koopsuz.services.recording import RecordingService
from koopsuz.services.regional_registry import RegionalRegistryFollower, RegionalRegistryPublisher
from koopsuz.services.registry import RegistryService
from koopsuz.services.remote_health import RemoteHealth
from koopsuz.services.retention import RetentionService
from koopsuz.services.road_watch import RoadWatch, SectionService
from koopsuz.services.rules import RuleService
from koopsuz.services.transparency import TransparencyService
from koopsuz.services.units import UnitService
from koopsuz.services.unmask import UnmaskService
from koopsuz.services.users import UserService
from koopsuz.services.violations import ViolationService
from koopsuz.services.watchlists import WatchlistService
from koopsuz.services.webhooks import WebhookDispatcher, WebhookService
from koopsuz.store.db import Database
from koopsuz.store.rule_repo import RuleRepo
from koopsuz.video.media import MediaStore
from koopsuz.video.segment_store import BufferedSegmentStore, make_segment_store
from koopsuz.video.segment_uploader import SegmentUploader
from koopsuz.vision.plates import PlateReader

log = logging.getLogger(__name__)


class System:
    def __init__(self, settings: Settings, *, leased_cameras: bool = False) -> None:
        """``leased_cameras``: a ``koopsuz worker`` that runs only the cameras it leases (JetStream KV)."""
        self.settings = settings
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        self.db = Database(settings.db_url)
        self.db.migrate()
        self.bus: Bus = make_bus(settings.bus_url)
        self.audit = AuditLog(self.db)
        self.users = UserService(
            self.db, self.audit, max_failures=settings.login_max_failures, lockout_s=settings.login_lockout_s
        )
        self.access_review = AccessReviewService(self.db, self.audit)  # who can do what, last used (issue 8)
        self.registry = RegistryService(self.db, self.bus, self.audit)
        self.leases = None  # scale-out workers (issue 9): ingest and record only the cameras leased
        cameras: Any = self.registry
        if leased_cameras:
            from koopsuz.bus.leases import leased_view

            self.leases, cameras = leased_view(self.bus, self.registry, settings, self._cameras_changed)
        self.media = MediaStore(settings.media_dir)
        self.violations = ViolationService(self.db, self.audit, self.media)  # review of speed violations (issue 6)
        clip = (settings.clip_pre_s, settings.clip_post_s) if settings.record else None
        self.writer = EventWriter(
            self.db,
            self.bus,
            clip_s=clip,
            projections=[
                lambda s, events: RuleRepo(s).add_crossings(events),
                project_plate_reads,
                self.violations.project,
            ],
        )
        self.rules = RuleService(self.db, self.bus, self.audit, self.registry)
        self.evidence_locks = EvidenceLockService(self.db, self.audit)
        # recorded files: this disk, or this disk buffering an S3 bucket that every node reads (issue 9)
        self.segments = make_segment_store(settings)
        remote = self.segments.remote if isinstance(self.segments, BufferedSegmentStore) else None
        self.retention = RetentionService(settings, self.db, self.writer, self.evidence_locks, remote=remote)
        self.recording = RecordingService(
            settings,
            cameras,
            self.db,
            self.writer,
            self.bus,
            make_room=self.retention.make_room,
            uploader=SegmentUploader(self.segments.local, remote) if remote is not None else None,
        )
        self.playback = PlaybackService(settings, self.db, settings.resolved_secret, self.segments)
        self.signing_key = InstallationKey(settings.data_dir / "keys")
        self.audit_sealer = AuditSealer(self.audit, self.signing_key, interval_s=settings.audit_seal_s)
        self.retention.audit = self.audit_sealer  # the audit log's own retention, behind signed anchors
        self.evidence = EvidenceService(
            settings,
            self.db,
            self.audit,
            self.registry,
            self.playback,
            self.signing_key,
            locks=self.evidence_locks,
        )
        self.legal = LegalBasisService(self.db, self.audit)
        self.evidence.legal = self.legal
        self.unmask = UnmaskService(self.db, self.audit, self.legal, self.registry)  # privacy masks (issue 8)
        self.evidence.unmask = self.unmask  # viewing copies of masked cameras are masked without a grant
        enroller = EngineEnroller()
        # command centres (issue 7): the alert queue, patrol units, incidents and dispatch
        self.alert_queue = AlertQueueService(self.db, self.audit)
        self.units = UnitService(self.db, self.audit)
        self.incidents = IncidentService(self.db, self.audit, self.alert_queue, self.units, self.users)
        self.transparency = TransparencyService(self.db, self.incidents)
        self.ptz = PtzService(self.db, self.audit, self.registry)  # PTZ moves, presets, tours over ONVIF (issue 7)
        self.dashboard = DashboardService(self.db, self.audit)  # accountability figures per region (issue 7)
        self.watchlists = WatchlistService(self.db, self.audit, self.legal, settings.data_dir / "watchlists", enroller)
        self.evidence.redaction = ExportRedaction(  # faces and plates hidden in viewing copies (issue 8)
            self.db, self.audit, lambda: enroller.engine, self._plate_finder, self.watchlists, self.unmask
        )
        self.face_matcher = FaceMatcher(self.watchlists, self.db)
        self.face_observations = FaceObservations(self.db, settings.data_dir / "faces")
        self.face_search = FaceSearchService(
            self.db,
            self.audit,
            self.legal,
            self.face_observations,
            enroller,
            self.segments,
            settings.data_dir / "face_searches",
        )
        faces = FaceServices(
            engine=lambda: enroller.engine,
            matcher=self.face_matcher,
            lookup=self.watchlists.entry_summary,
            enrolled_photo=self._enrolled_photo,
            observe=self.face_observations.observe_face,
        )
        self.plate_search = PlateSearchService(self.db, self.audit, self.legal)
        self.hotlists = HotlistService(self.db, self.audit)
        self.national_hotlists = _national_hotlists(settings, self.db, self.bus, self.hotlists)
        # regions' sites and cameras to the capital: published by a regional node, followed nationally;
        # not by leased workers (one per API/serve process is plenty, N workers would each do it again)
        self.registry_out, self.registry_in = (
            (None, None) if leased_cameras else _regional_registry(settings, self.db, self.bus, self.registry)
        )
        # what the capital last heard of each region's copied camera (camera_offline/online events)
        self.remote_health = RemoteHealth(self.db, self.bus, _link_status(settings, self.bus))
        self.sections = SectionService(self.db, self.audit)
        self.road_watch = RoadWatch(
            self.bus,
            self.writer.submit,
            self.hotlists,
            self.sections,
            self.db,
            clip_s=(settings.clip_pre_s, settings.clip_post_s),
            # a leased worker acts on the reads it made (each read once across workers, whoever holds the
            # camera's lease by the time the read is handled); a read naming no node: its camera's holder
            owns=_reads_made_here(self.leases) if self.leases is not None else None,
        )
        self.road_watch.passage_sinks.append(self.violations.count_passage)
        # notifications to other systems (issue 7): signed webhooks per subscription, MQTT topics per kind
        self.webhooks = WebhookService(self.db, self.audit)
        self.webhook_dispatcher = WebhookDispatcher(
            self.bus,
            self.webhooks,
            self.db,
            attempts=settings.webhook_attempts,
            backoff_s=settings.webhook_backoff_s,
            timeout_s=settings.webhook_timeout_s,
        )
        self.mqtt: Any = None
        if settings.mqtt_url:
            from koopsuz.services.mqtt_publisher import MqttPublisher

            kinds = frozenset(k.strip() for k in settings.mqtt_kinds.split(",") if k.strip())
            self.mqtt = MqttPublisher(self.bus, settings.mqtt_url, kinds=kinds)
        self._plate_reader: PlateReader | None = None
        self.ingest = IngestService(
            settings,
            cameras,
            self.writer,
            self.bus,
            self.media,
            rules=self.rules,
            faces=faces,
            plates=PlateServices(reader=self._reader, node=self.leases.worker_id if self.leases else None),
        )
        self._started = False
        self._recording = False
        self._remote_health = False

    def load_deployment(self, path: Path, actor: str = "system") -> int:
        deployment = parse_deployment(path.read_text(encoding="utf-8"), str(path))
        return self.registry.apply_deployment(deployment, actor, str(path))

    def _reader(self) -> Callable[[np.ndarray, tuple[float, float, float, float]], list[Any]]:
        """The plate reader shared by every plate camera (its own lock), loaded at first need."""
        if self._plate_reader is None:
            self._plate_reader = PlateReader(parse_read, threads=1, det_side=640)
        reader = self._plate_reader
        return lambda image, box: reader.read(image, vehicle=box)

    def _plate_finder(self) -> PlateReader:
        """The shared plate reader itself (whole-frame reads: redaction of evidence viewing copies)."""
        self._reader()
        assert self._plate_reader is not None
        return self._plate_reader

    def _enrolled_photo(self, photo_id: int) -> bytes | None:
        path = self.watchlists.photo_path(photo_id)
        try:
            return path.read_bytes() if path else None
        except OSError:
            return None

    def _cameras_changed(self) -> None:
        """Leases moved: apply at once rather than at the next resync."""
        if self._started:
            self.ingest.reconcile()
            if self._recording:
                self.recording.reconcile()

    def start(self, *, ingest: bool = True, record: bool | None = None, watch_roads: bool = True) -> None:
        """``watch_roads`` False: this process raises no hotlist hits or violations (``koopsuz api``:
        the workers holding the plate cameras do, once each)."""
        if self.leases is not None:
            self.leases.start()  # first round before ingest, so it starts with this worker's share
        if watch_roads:
            self.road_watch.start()  # before the writer: reads replayed from the outbox are watched too
        if self.national_hotlists is not None:
            self.national_hotlists.start()  # after road watch: the lists it writes make it reload
        for carrier in (self.registry_out, self.registry_in):
            if carrier is not None:
                carrier.start()
        self.audit_sealer.start()
        self.webhook_dispatcher.start()  # before the writer, like road watch: replayed alerts go out too
        if self.mqtt is not None:
            self.mqtt.start()
        self.writer.start()
        if ingest:
            self.face_matcher.start()
            self.face_observations.start()
            self.ingest.start()
        recording = self.settings.record if record is None else record
        if recording:
            self.recording.start()
            self._recording = True
            if self.settings.retention:
                self.retention.start()
        if self.leases is None and (ingest or not recording):  # an API process (serve, api), not a worker/recorder
            self.ptz.start_tour_watch()  # resume patrol tours whose API process died (issue 7)
            self.remote_health.start()  # the health the API reports for a region's cameras
            self._remote_health = True
        self._started = True

    def stop(self) -> None:
        self.ptz.close()  # tours and ONVIF connections (started by requests, not by start())
        if self._started:
            self.retention.stop()
            if self._recording:
                self.recording.stop()
            self.ingest.stop()
            if self.leases is not None:
                self.leases.stop()  # after ingest and recording stopped: hand the cameras back
            self.face_observations.stop()  # after ingest: stopped cameras hand over their last faces
            if self.national_hotlists is not None:
                self.national_hotlists.stop()
            for carrier in (self.registry_out, self.registry_in):
                if carrier is not None:
                    carrier.stop()
            if self._remote_health:
                self.remote_health.stop()
            self.road_watch.stop()  # after ingest, before the writer: its last alerts are stored
            self.writer.stop()
            self.webhook_dispatcher.stop()  # after the writer: its last alerts were handed over
            if self.mqtt is not None:
                self.mqtt.stop()
        self.evidence.stop()
        self.face_search.stop()
        if self._started:
            self.audit_sealer.stop()
        self.bus.close()
        self.db.dispose()


def _reads_made_here(leases: Any) -> Callable[[Event], bool]:
    """The road watch's ``owns`` for a leased worker: the reads this worker's plate stages made, and the
    reads of its cameras whose maker is gone.

    Deciding by the camera's lease at handling time leaves a gap: a read made just before the lease
    moved is handled by the old holder after it let go and by the new one before it took over, and
    nobody acts. The read's maker is fixed, so exactly one process acts while it lives. A maker that
    died (a read stored, then published from the outbox after a restart, under a new id) is no longer
    among the live workers once its key expires: the camera's holder acts then. A restarted worker
    with a fixed id (``koopsuz worker --id``) takes its own reads back at once."""

    def owns(read: Event) -> bool:
        node = read.payload.get("node")
        if node == leases.worker_id:
            return True
        if node and node in leases.workers():
            return False  # a live worker made it and acts on it
        return read.camera in leases.held()

    return owns


def _national_hotlists(
    settings: Settings, db: Database, bus: Bus, hotlists: HotlistService
) -> NationalHotlistFollower | None:
    """A regional node follows the capital's national hotlists (``KOOPSUZ_NATIONAL_DOMAIN``), copied
    through its JetStream leaf node; a node on the embedded bus has no capital to follow."""
    if not settings.national_domain:
        return None
    from koopsuz.bus.federation import NationalState
    from koopsuz.bus.nats import NatsBus

    if not isinstance(bus, NatsBus):
        raise ValueError(
            "KOOPSUZ_NATIONAL_DOMAIN needs the NATS bus of a regional leaf node (KOOPSUZ_BUS_URL=nats://...)"
        )
    return NationalHotlistFollower(db, NationalState(bus), settings.national_domain, hotlists.announce_change)


def _link_status(settings: Settings, bus: Bus) -> Callable[[], dict[str, bool]] | None:
    """Which regions the capital hears now (the hub's sources), for ``RemoteHealth``'s staleness: only a
    national node (``KOOPSUZ_REGIONAL_DOMAINS``) on the NATS bus has a hub to ask."""
    if not settings.regional_domains:
        return None
    from koopsuz.bus.federation import Federation
    from koopsuz.bus.nats import NatsBus

    if not isinstance(bus, NatsBus):
        return None

    federation = Federation(bus)
    return lambda: {st.domain: st.linked for st in federation.status()}


def _regional_registry(
    settings: Settings, db: Database, bus: Bus, registry: RegistryService
) -> tuple[RegionalRegistryPublisher | None, RegionalRegistryFollower | None]:
    """A regional node (``KOOPSUZ_NATIONAL_DOMAIN``) publishes its sites and cameras to its leaf; a national
    node (``KOOPSUZ_REGIONAL_DOMAINS``) copies every region's into its store (services/regional_registry.py)."""
    if not settings.national_domain and not settings.regional_domains:
        return None, None
    from koopsuz.bus.federation import RegistryState, parse_pins
    from koopsuz.bus.nats import NatsBus

    if not isinstance(bus, NatsBus):
        raise ValueError(
            "KOOPSUZ_NATIONAL_DOMAIN and KOOPSUZ_REGIONAL_DOMAINS need the NATS bus of a leaf node or of the"
            " national hub (KOOPSUZ_BUS_URL=nats://...)"
        )
    out: RegionalRegistryPublisher | None = None
    follow: RegionalRegistryFollower | None = None
    if settings.national_domain:
        out = RegionalRegistryPublisher(db, RegistryState(bus))
        registry.listeners.append(out.wake)
    if settings.regional_domains:
        follow = RegionalRegistryFollower(db, RegistryState(bus), parse_pins(settings.regional_domains))
    return out, follow
