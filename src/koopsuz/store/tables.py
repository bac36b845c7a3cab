"""Tables. Region is stored on every scoped row so that scope is a plain indexed filter."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, Float, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[Any]: JSON, datetime: DateTime(timezone=True)}


class DistrictRow(Base):
    __tablename__ = "districts"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(8), index=True)


class CityRow(Base):
    __tablename__ = "cities"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    region: Mapped[str] = mapped_column(String(8), index=True)
    district: Mapped[str | None] = mapped_column(ForeignKey("districts.id"), nullable=True)
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)


class SiteRow(Base):
    __tablename__ = "sites"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(8), index=True)
    city: Mapped[str | None] = mapped_column(ForeignKey("cities.id"), nullable=True)
    district: Mapped[str | None] = mapped_column(ForeignKey("districts.id"), nullable=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    opening_hours: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    # the regional JetStream domain whose registry this row is a read-only copy of; None: this store's own
    owner_domain: Mapped[str | None] = mapped_column(String(64), nullable=True)  # migration 0021


class CameraRow(Base):
    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    site: Mapped[str] = mapped_column(ForeignKey("sites.id"))
    region: Mapped[str] = mapped_column(String(8), index=True)
    main_url: Mapped[str] = mapped_column(String(500))
    sub_url: Mapped[str] = mapped_column(String(500))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    heading: Mapped[float | None] = mapped_column(Float, nullable=True)
    fov: Mapped[float | None] = mapped_column(Float, nullable=True)
    ptz: Mapped[bool] = mapped_column(Boolean, default=False)
    zoom_max: Mapped[float | None] = mapped_column(Float, nullable=True)
    onvif_url: Mapped[str | None] = mapped_column(String(500), nullable=True)  # migration 0014
    profile: Mapped[str] = mapped_column(String(32), default="motion")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    motion: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    motion_masks: Mapped[list[Any]] = mapped_column(JSON, default=list)
    privacy_masks: Mapped[list[Any]] = mapped_column(JSON, default=list)  # migration 0012
    lanes: Mapped[list[Any]] = mapped_column(JSON, default=list)  # migration 0023: [{"name", "zone"}]
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    owner_domain: Mapped[str | None] = mapped_column(String(64), nullable=True)  # migration 0021, as on sites


class EventRow(Base):
    __tablename__ = "events"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40))
    region: Mapped[str] = mapped_column(String(8))
    camera: Mapped[str | None] = mapped_column(String(64), nullable=True)
    site: Mapped[str | None] = mapped_column(String(64), nullable=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    media: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    severity: Mapped[str] = mapped_column(String(10), default="info")
    __table_args__ = (
        Index("ix_events_region_id", "region", "id"),
        Index("ix_events_camera_id", "camera", "id"),
        Index("ix_events_kind_id", "kind", "id"),
    )


class OutboxRow(Base):
    """Events written but not yet published: survives a crash between store and bus."""

    __tablename__ = "outbox"
    event_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    subject: Mapped[str] = mapped_column(String(200))


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    full_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(32))
    region: Mapped[str | None] = mapped_column(String(8), nullable=True)
    language: Mapped[str] = mapped_column(String(2), default="ru")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """Append-only (triggers refuse UPDATE and DELETE); each row hashes the one before it."""

    __tablename__ = "audit_log"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    actor: Mapped[str] = mapped_column(String(64), index=True)
    actor_role: Mapped[str | None] = mapped_column(String(32), nullable=True)
    action: Mapped[str] = mapped_column(String(64), index=True)
    target_type: Mapped[str | None] = mapped_column(String(32), nullable=True)
    target_id: Mapped[str | None] = mapped_column(String(128), nullable=True, index=True)
    region: Mapped[str | None] = mapped_column(String(8), nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default="ok")
    ip: Mapped[str | None] = mapped_column(String(64), nullable=True)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(Text)


# -- recording (issue 3): sessions, segments and gaps, every row with its camera's region -----
class RecordingSessionRow(Base):
    """One run of a camera's recorder: its segments share this session's init segment."""

    __tablename__ = "recording_sessions"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), index=True)
    region: Mapped[str] = mapped_column(String(8), index=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    dir: Mapped[str] = mapped_column(String(300))
    init_path: Mapped[str] = mapped_column(String(300))
    init_sha256: Mapped[str] = mapped_column(String(64))
    codec: Mapped[str] = mapped_column(String(16))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    end_cause: Mapped[str | None] = mapped_column(String(32), nullable=True)
    end_detail: Mapped[str | None] = mapped_column(String(500), nullable=True)


class RecordingSegmentRow(Base):
    """A complete, checked fMP4 segment on disk; start/end are wall-clock UTC (see video/streamclock)."""

    __tablename__ = "recording_segments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(8))
    session: Mapped[str] = mapped_column(ForeignKey("recording_sessions.id"))
    seq: Mapped[int] = mapped_column(Integer)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    duration_s: Mapped[float] = mapped_column(Float)
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(300))
    flags: Mapped[str] = mapped_column(String(64), default="")
    __table_args__ = (
        Index("ix_recording_segments_camera_start", "camera", "start"),
        Index("ix_recording_segments_session_seq", "session", "seq", unique=True),
    )


class RecordingGapRow(Base):
    """A stretch a camera should have been recorded and was not, with why; ``end`` None while open."""

    __tablename__ = "recording_gaps"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(8))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cause: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    __table_args__ = (Index("ix_recording_gaps_camera_start", "camera", "start"),)


# -- rules and alerts (issue 4): per-camera rule sets, operator feedback on alerts -------------
class CameraRulesRow(Base):
    """A camera's drawn rules (a JSON list of ``domain.rules.Rule``); no row = the site's defaults."""

    __tablename__ = "camera_rules"
    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str] = mapped_column(String(8), index=True)
    rules: Mapped[list[Any]] = mapped_column(JSON, default=list)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    updated_by: Mapped[str] = mapped_column(String(64))


class AlertFeedbackRow(Base):
    """An operator's verdict on one alert; the last verdict stands (every one is in the audit log)."""

    __tablename__ = "alert_feedback"
    event_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    region: Mapped[str] = mapped_column(String(8), index=True)
    camera: Mapped[str | None] = mapped_column(String(64), nullable=True)
    rule: Mapped[str | None] = mapped_column(String(64), nullable=True)
    verdict: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(String(1000), default="")
    actor: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    __table_args__ = (Index("ix_alert_feedback_camera_rule", "camera", "rule"),)


# -- evidence and retention (issue 3): locks to a case, signed export packages, retention runs --
class EvidenceLockRow(Base):
    """A camera's footage from ``start`` to ``end`` held for a case: retention never deletes it.

    Unlocking keeps the row (who, when, why) so the lock's whole life stays on record.
    """

    __tablename__ = "evidence_locks"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    case_number: Mapped[str] = mapped_column(String(64), index=True)
    camera: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(8), index=True)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    locked_by: Mapped[str] = mapped_column(String(64))
    locked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    unlocked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    unlocked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    unlock_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    __table_args__ = (Index("ix_evidence_locks_camera_start", "camera", "start"),)


class EvidenceExportRow(Base):
    """One signed evidence package (a zip under the exports folder) made for a case."""

    __tablename__ = "evidence_exports"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(64), index=True)
    legal_basis: Mapped[str] = mapped_column(String(500))
    reason: Mapped[str] = mapped_column(String(1000), default="")
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))  # building | ready | failed
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    path: Mapped[str | None] = mapped_column(String(300), nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    manifest_sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)


class EvidenceExportItemRow(Base):
    """One camera of an export; a caller sees an export only if every item's region is in scope."""

    __tablename__ = "evidence_export_items"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    export_id: Mapped[str] = mapped_column(ForeignKey("evidence_exports.id"), index=True)
    camera: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(8), index=True)
    file: Mapped[str | None] = mapped_column(String(300), nullable=True)
    sha256: Mapped[str | None] = mapped_column(String(64), nullable=True)
    size: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gaps: Mapped[list[Any]] = mapped_column(JSON, default=list)


class RetentionRunRow(Base):
    """What one retention pass deleted and spared, and why: the report an auditor asks for."""

    __tablename__ = "retention_runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    trigger: Mapped[str] = mapped_column(String(16))  # schedule | disk_budget | manual
    volume: Mapped[str] = mapped_column(String(300))
    deleted_segments: Mapped[int] = mapped_column(Integer, default=0)
    deleted_bytes: Mapped[int] = mapped_column(Integer, default=0)
    deleted_files: Mapped[int] = mapped_column(Integer, default=0)
    spared_locked: Mapped[int] = mapped_column(Integer, default=0)
    report: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class LineCountRow(Base):
    """Crossings of one line rule in one UTC hour, per class and direction: the statistics table.

    Written in the same transaction as the ``track_crossed`` events it counts, so the two never
    disagree, and kept when retention deletes those events.
    """

    __tablename__ = "line_counts"
    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    rule: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    cls: Mapped[str] = mapped_column(String(16), primary_key=True)
    direction: Mapped[str] = mapped_column(String(16), primary_key=True)
    region: Mapped[str] = mapped_column(String(8), index=True)
    count: Mapped[int] = mapped_column(Integer, default=0)


# -- legal bases and face watchlists (issues 5 and 8) ------------------------------------------
class LegalBasisRow(Base):
    """A case, authority and document that make sensitive acts lawful, for some purposes and regions."""

    __tablename__ = "legal_bases"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    case_number: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    authority: Mapped[str] = mapped_column(String(200))
    document_ref: Mapped[str] = mapped_column(String(200))
    purposes: Mapped[list[Any]] = mapped_column(JSON, default=list)
    regions: Mapped[list[Any]] = mapped_column(JSON, default=list)  # empty: the whole country
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str] = mapped_column(String(1000), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)


class WatchlistRow(Base):
    __tablename__ = "watchlists"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))
    priority: Mapped[int] = mapped_column(Integer)
    threshold: Mapped[float] = mapped_column(Float)
    region: Mapped[str | None] = mapped_column(String(8), nullable=True, index=True)  # None: national
    description: Mapped[str] = mapped_column(String(1000), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class WatchlistEntryRow(Base):
    """A person on a list; matches only while ``status`` is active and ``expires_at`` is ahead."""

    __tablename__ = "watchlist_entries"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    watchlist_id: Mapped[str] = mapped_column(ForeignKey("watchlists.id"), index=True)
    region: Mapped[str | None] = mapped_column(String(8), nullable=True, index=True)
    full_name: Mapped[str] = mapped_column(String(200))
    birth_year: Mapped[int | None] = mapped_column(Integer, nullable=True)
    notes: Mapped[str] = mapped_column(String(2000), default="")
    legal_basis_id: Mapped[str] = mapped_column(ForeignKey("legal_bases.id"), index=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(16))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(String(1000), nullable=True)


class WatchlistPhotoRow(Base):
    """An enrolled photo: the file (shown beside a match) and its face embedding."""

    __tablename__ = "watchlist_photos"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    entry_id: Mapped[str] = mapped_column(ForeignKey("watchlist_entries.id"), index=True)
    path: Mapped[str] = mapped_column(String(300))
    sha256: Mapped[str] = mapped_column(String(64))
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    model: Mapped[str] = mapped_column(String(32))
    quality: Mapped[float] = mapped_column(Float)
    box: Mapped[list[Any]] = mapped_column(JSON, default=list)
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class FaceObservationRow(Base):
    """A face seen on a camera (best view of a track): kept only as long as its site's policy allows."""

    __tablename__ = "face_observations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    camera: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(8), index=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    track: Mapped[str | None] = mapped_column(String(26), nullable=True)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    quality: Mapped[float] = mapped_column(Float)
    thumb: Mapped[str] = mapped_column(String(300))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    __table_args__ = (Index("ix_face_observations_ts", "ts"),)


class FaceSearchRow(Base):
    """An investigator's search by photo: its legal basis, progress and results (seen by its owner and auditors)."""

    __tablename__ = "face_searches"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    created_by: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    legal_basis_id: Mapped[str] = mapped_column(ForeignKey("legal_bases.id"))
    case_number: Mapped[str] = mapped_column(String(64))
    regions: Mapped[list[Any]] = mapped_column(JSON, default=list)
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    threshold: Mapped[float] = mapped_column(Float)
    probe_sha256: Mapped[str] = mapped_column(String(64))
    probe_path: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed | cancelled
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # counts: observations, segments...
    results: Mapped[list[Any]] = mapped_column(JSON, default=list)
    error: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


# -- road safety (issue 6): plate reads, hotlists, sections for average speed ------------------
class PlateReadRow(Base):
    """One vehicle's plate as read on one camera (the vote over its track), searchable."""

    __tablename__ = "plate_reads"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)  # the plate_read event's id
    camera: Mapped[str] = mapped_column(String(64))
    region: Mapped[str] = mapped_column(String(8), index=True)
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    text: Mapped[str] = mapped_column(String(24))
    compact: Mapped[str] = mapped_column(String(24), index=True)  # no spaces: what searches compare
    format: Mapped[str] = mapped_column(String(16))
    plate_region: Mapped[str | None] = mapped_column(String(8), nullable=True)
    confidence: Mapped[float] = mapped_column(Float)
    vehicle: Mapped[str | None] = mapped_column(String(16), nullable=True)
    colour: Mapped[str | None] = mapped_column(String(16), nullable=True)
    direction: Mapped[str | None] = mapped_column(String(16), nullable=True)
    track: Mapped[str | None] = mapped_column(String(26), nullable=True)
    lane: Mapped[str | None] = mapped_column(String(16), nullable=True)  # migration 0023
    __table_args__ = (Index("ix_plate_reads_camera_ts", "camera", "ts"), Index("ix_plate_reads_ts", "ts"))


class HotlistRow(Base):
    __tablename__ = "hotlists"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    kind: Mapped[str] = mapped_column(String(16))  # stolen | wanted | unpaid_fines | operation
    priority: Mapped[int] = mapped_column(Integer)
    region: Mapped[str | None] = mapped_column(String(8), nullable=True, index=True)  # None: national
    description: Mapped[str] = mapped_column(String(1000), default="")
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class HotlistEntryRow(Base):
    """A plate on a hotlist: why, under which legal basis, until when; removal keeps the row."""

    __tablename__ = "hotlist_entries"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    hotlist_id: Mapped[str] = mapped_column(ForeignKey("hotlists.id"), index=True)
    text: Mapped[str] = mapped_column(String(24))
    compact: Mapped[str] = mapped_column(String(24), index=True)
    reason: Mapped[str] = mapped_column(String(500))
    legal_basis: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    removed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    removed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class SpeedSectionRow(Base):
    """A road section between two plate cameras: its length and limit make average speed enforceable."""

    __tablename__ = "speed_sections"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    region: Mapped[str] = mapped_column(String(8), index=True)
    entry_camera: Mapped[str] = mapped_column(String(64))
    exit_camera: Mapped[str] = mapped_column(String(64))
    length_m: Mapped[float] = mapped_column(Float)
    limit_kmh: Mapped[float] = mapped_column(Float)
    tolerance_kmh: Mapped[float] = mapped_column(Float)
    class_limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # class -> km/h (migration 0018)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SpotCameraRow(Base):
    """A plate camera calibrated for spot speed (domain/spot_speed.py): road map, heights, limits."""

    __tablename__ = "spot_cameras"
    camera: Mapped[str] = mapped_column(String(64), primary_key=True)
    region: Mapped[str] = mapped_column(String(8), index=True)
    image_points: Mapped[list[Any]] = mapped_column(JSON)  # four [x, y], 0..1 of the picture
    road_points: Mapped[list[Any]] = mapped_column(JSON)  # the same four on the road, metres
    camera_height_m: Mapped[float] = mapped_column(Float)
    plate_height_m: Mapped[float] = mapped_column(Float)
    limit_kmh: Mapped[float] = mapped_column(Float)
    tolerance_kmh: Mapped[float] = mapped_column(Float)
    class_limits: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


# -- command centres: alert queue, incidents, patrol units (issue 7) -----------------------------
class AlertStateRow(Base):
    """An alert's life in the queue: who holds it (one operator at a time), escalation, its incident."""

    __tablename__ = "alert_states"
    event_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    region: Mapped[str] = mapped_column(String(8), index=True)
    alert_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    touched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    first_claimed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    first_claimed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    escalated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    incident_id: Mapped[str | None] = mapped_column(String(26), nullable=True, index=True)


class IncidentRow(Base):
    """An incident: where, what, who is responsible, and the time of each state change."""

    __tablename__ = "incidents"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    region: Mapped[str] = mapped_column(String(8), index=True)
    category: Mapped[str] = mapped_column(String(32))
    state: Mapped[str] = mapped_column(String(16), index=True)
    source: Mapped[str] = mapped_column(String(16))
    description: Mapped[str] = mapped_column(String(2000), default="")
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    caller_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    caller_phone: Mapped[str | None] = mapped_column(String(32), nullable=True)
    officer: Mapped[str | None] = mapped_column(String(64), nullable=True)
    sop_steps: Mapped[list[Any]] = mapped_column(JSON, default=list)
    sop_done: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"step", "at", "by"}] in order
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    dispatched_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    on_scene_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    escalated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    escalated_by: Mapped[str | None] = mapped_column(String(64), nullable=True)


class IncidentEvidenceRow(Base):
    """Something linked to an incident: an alert, another event, a clip of a camera's footage."""

    __tablename__ = "incident_evidence"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # alert | event | clip
    ref: Mapped[str] = mapped_column(String(300))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    added_by: Mapped[str] = mapped_column(String(64))
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class IncidentNoteRow(Base):
    __tablename__ = "incident_notes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    text: Mapped[str] = mapped_column(String(4000))
    author: Mapped[str] = mapped_column(String(64))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class CommandLogRow(Base):
    """The history of an alert or incident as the operators see it (the audit log holds the same acts)."""

    __tablename__ = "command_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    target_type: Mapped[str] = mapped_column(String(16))  # alert | incident | unit
    target_id: Mapped[str] = mapped_column(String(32), index=True)
    region: Mapped[str] = mapped_column(String(8))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(32))
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class UnitRow(Base):
    """A patrol unit: call sign, region, status, last reported position, current incident."""

    __tablename__ = "units"
    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    call_sign: Mapped[str] = mapped_column(String(32))
    region: Mapped[str] = mapped_column(String(8), index=True)
    status: Mapped[str] = mapped_column(String(16))
    lat: Mapped[float | None] = mapped_column(Float, nullable=True)
    lon: Mapped[float | None] = mapped_column(Float, nullable=True)
    position_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    incident_id: Mapped[str | None] = mapped_column(String(26), nullable=True, index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class DispatchRow(Base):
    """Who sent which unit to which incident, when, from how far; when it arrived and was cleared."""

    __tablename__ = "dispatches"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    incident_id: Mapped[str] = mapped_column(ForeignKey("incidents.id"), index=True)
    unit_id: Mapped[str] = mapped_column(ForeignKey("units.id"), index=True)
    region: Mapped[str] = mapped_column(String(8))
    sent_by: Mapped[str] = mapped_column(String(64))
    sent_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    distance_m: Mapped[float | None] = mapped_column(Float, nullable=True)
    eta_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    arrived_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    cleared_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditSealRow(Base):
    """The audit chain's head at ``seq``, signed with the installation key.

    The hash chain alone shows an edited or removed entry, but not entries cut off the end; a seal
    does: an entry the seal covers that is gone or different contradicts a signature only the
    installation's key could have made.
    """

    __tablename__ = "audit_seals"
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    hash: Mapped[str] = mapped_column(String(64))
    entries: Mapped[int] = mapped_column(Integer)
    sealed_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))


class AuditTruncationRow(Base):
    """Retention removed the audit entries ``first_seq..upto_seq``; the chain goes on from ``hash``.

    Signed with the installation key, so an anchor inserted by hand (the database lets entries at or
    before the newest anchor be deleted, nothing else) fails ``audit verify``. Append-only.
    """

    __tablename__ = "audit_truncations"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    upto_seq: Mapped[int] = mapped_column(Integer, unique=True)
    hash: Mapped[str] = mapped_column(String(64))  # entry upto_seq's: the next entry's prev_hash
    entries: Mapped[int] = mapped_column(Integer)  # removed by this truncation
    first_seq: Mapped[int] = mapped_column(Integer)
    oldest_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    newest_ts: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    before: Mapped[datetime] = mapped_column(DateTime(timezone=True))  # the policy's cutoff
    truncated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))


class UnmaskGrantRow(Base):
    """A request to see one camera without its privacy masks; a second officer makes it a grant.

    Active while ``status`` is approved and ``expires_at`` has not passed (and its legal basis is
    still valid); the row stays after expiry, refusal or revocation, for the record.
    """

    __tablename__ = "unmask_grants"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), index=True)
    region: Mapped[str] = mapped_column(String(8), index=True)
    legal_basis_id: Mapped[str] = mapped_column(ForeignKey("legal_bases.id"))
    reason: Mapped[str] = mapped_column(String(1000))
    minutes: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))  # pending, approved, rejected, revoked
    requested_by: Mapped[str] = mapped_column(String(64), index=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    decided_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    decision_note: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoke_reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)


# -- violations (issue 6, item 5): the review workflow of average-speed violations ---------------
class ViolationRow(Base):
    """One ``speed_violation`` event under review: pending, then confirmed or rejected by an officer.

    Written by the event writer's projection in the event's transaction, with the hashes of its
    evidence taken then (payload and every picture), so a later change to either shows.
    """

    __tablename__ = "violations"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)  # the speed_violation event's id
    region: Mapped[str] = mapped_column(String(8), index=True)
    section: Mapped[str] = mapped_column(String(64), index=True)
    plate: Mapped[str] = mapped_column(String(24))
    ts: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)  # the exit read's time
    entry_ts: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    entry_camera: Mapped[str] = mapped_column(String(64))
    exit_camera: Mapped[str] = mapped_column(String(64))
    speed_kmh: Mapped[float] = mapped_column(Float)
    limit_kmh: Mapped[float] = mapped_column(Float)
    tolerance_kmh: Mapped[float] = mapped_column(Float)
    over_kmh: Mapped[float] = mapped_column(Float)
    length_m: Mapped[float] = mapped_column(Float)
    clock_trusted: Mapped[bool | None] = mapped_column(Boolean, nullable=True)  # None: no clock data yet
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | confirmed | rejected
    reviewed_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    reason: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    media_sha256: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # name -> sha256 (None: missing)
    evidence_sha256: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SectionPassageRow(Base):
    """Passages through one road section in one UTC hour: the denominator of the speeding share.

    Counts only, no plates: a lawful driver's passage leaves no personal record here.
    """

    __tablename__ = "section_passages"
    section: Mapped[str] = mapped_column(String(64), primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    region: Mapped[str] = mapped_column(String(8), index=True)
    passages: Mapped[int] = mapped_column(Integer, default=0)


class PtzTourRow(Base):
    """A patrol tour of a PTZ camera: presets visited in turn, each held for its dwell (migration 0014)."""

    __tablename__ = "ptz_tours"
    id: Mapped[str] = mapped_column(String(26), primary_key=True)
    camera: Mapped[str] = mapped_column(String(64), index=True)
    region: Mapped[str] = mapped_column(String(8))
    name: Mapped[str] = mapped_column(String(100))
    steps: Mapped[list[Any]] = mapped_column(JSON, default=list)  # [{"preset": token, "dwell_s": seconds}]
    created_by: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
