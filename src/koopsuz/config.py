"""All settings in one place, read from the environment (``KOOPSUZ_*``) or a ``.env`` file.

Embedded versus scale-out is decided here and nowhere else: the URLs pick the adapters.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOOPSUZ_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="database, snapshots, keys")
    database_url: str | None = Field(default=None, description="default: SQLite under data_dir")
    bus_url: str = Field(default="memory://", description="memory:// (embedded) or nats://host:4222")
    metrics_token: str | None = Field(default=None, description="bearer token for /metrics; None: loopback only")
    ready_max_outbox: int = Field(default=10_000, ge=1, description="/api/system/ready fails past this outbox")
    worker_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$", description="default: host-pid")
    lease_s: float = Field(default=6.0, ge=1, le=60, description="camera lease life; a dead worker's move after it")
    regional_domains: str = Field(
        default="",
        description="national hub: JetStream domains of the regional leaf nodes its stream sources, each pinned to"
        " the one region it may send (issyk-kul=KG-Y,chuy=KG-C);"
        " a national api/serve process also copies their sites and cameras into its store",
    )
    national_domain: str | None = Field(
        default=None,
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="regional node: the national hub's JetStream domain whose national hotlists this node follows;"
        " it also publishes this node's sites and cameras (no stream URLs) for the capital",
    )
    deployment: Path | None = Field(default=None, description="deployment YAML loaded at start")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    secret_key: str | None = Field(default=None, description="signs sessions; default: var/secret.key")
    session_hours: float = Field(default=12.0, gt=0, le=168)
    audit_seal_s: float = Field(default=60.0, gt=0, le=86400, description="seal the audit chain this often")
    timezone: str = "Asia/Bishkek"
    log_format: str = Field(
        default="text", pattern="^(text|json)$", description="json: one JSON object per log line (collectors)"
    )
    # ingest
    ingest_open_timeout_s: float = Field(default=5.0, gt=0, le=60)
    ingest_read_timeout_s: float = Field(default=5.0, gt=0, le=60)
    ingest_backoff_initial_s: float = Field(default=1.0, gt=0, le=60)
    ingest_backoff_max_s: float = Field(default=15.0, gt=0, le=600)
    motion_width: int = Field(default=160, ge=32, le=640, description="width motion is computed at")
    motion_fps: float = Field(default=8.0, gt=0, le=30, description="frames per second looked at")
    live_fps: float = Field(default=8.0, gt=0, le=30)
    # object detection (cameras whose profile is not "motion")
    detector: str = Field(default="ssd_mobilenet", pattern="^(ssd_mobilenet|yolo_onnx)$")
    detector_model: Path | None = Field(default=None, description="model file; default: the packaged SSD")
    detector_threads: int = Field(
        default=0, ge=0, le=64, description="threads per inference; 0 = the cores shared among the copies"
    )
    detector_copies: int = Field(
        default=0, ge=0, le=16, description="detector copies inferring side by side; 0 = one per core, at most 4"
    )
    detector_confidence: float = Field(default=0.25, gt=0, lt=1)
    detector_max_lag_s: float = Field(default=0.5, gt=0, le=30, description="skip detection this far behind")
    detector_look_lag_s: float | None = Field(
        default=None, gt=0, le=30, description="look at no frame this far behind (catch up first); default max lag / 2"
    )
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_attempts_per_minute: int = Field(default=20, ge=1, le=10_000, description="failed, per client address")
    login_lockout_s: float = Field(default=300.0, ge=0)
    # recording and playback (main stream, ffmpeg -c copy to fMP4 segments)
    record: bool = Field(default=True, description="record every enabled camera's main stream")
    ffmpeg: str | None = Field(default=None, description="ffmpeg binary; default: the one imageio-ffmpeg ships")
    recording_segment_s: float = Field(default=4.0, ge=1, le=60, description="target segment length")
    recording_stall_s: float = Field(default=10.0, gt=0, le=120, description="no video this long: restart")
    recording_min_free_mb: int = Field(default=512, ge=0, description="below this free space: stop, gap 'disk full'")
    recording_backoff_initial_s: float = Field(default=1.0, gt=0, le=60)
    recording_backoff_max_s: float = Field(default=15.0, gt=0, le=600)
    clip_pre_s: float = Field(default=5.0, ge=0, le=600, description="an event's clip starts this much earlier")
    clip_post_s: float = Field(default=15.0, ge=0, le=3600, description="and ends this much later")
    playback_max_range_h: float = Field(default=24.0, gt=0, le=24 * 31, description="longest timeline/playlist")
    export_max_minutes: float = Field(default=60.0, gt=0, le=24 * 60, description="longest MP4 export")
    # retention and disk budget (see domain/retention.py)
    retention: bool = Field(default=True, description="run retention passes while recording")
    retention_file: Path | None = Field(default=None, description="YAML retention policy; default: built-in days")
    retention_interval_s: float = Field(default=60.0, ge=1, le=86400, description="time between retention passes")
    storage_budget_gb: float | None = Field(default=None, gt=0, description="media dir budget; None: none")
    storage_warn_fraction: float = Field(default=0.9, gt=0, le=1, description="warn past this share of the budget")
    storage_shed_margin: float = Field(default=0.02, ge=0, lt=1, description="shed this share below the budget")
    # notifications to other systems (issue 7): webhooks are configured through the API, MQTT here
    mqtt_url: str | None = Field(
        default=None, pattern=r"^mqtts?://[^/\s]+$", description="mqtt://[user:pass@]host:1883: publish alerts there"
    )
    mqtt_kinds: str = Field(default="alert", description="event kinds published to MQTT, comma-separated")
    webhook_attempts: int = Field(default=5, ge=1, le=20, description="tries per webhook delivery")
    webhook_backoff_s: float = Field(default=2.0, gt=0, le=600, description="first retry delay; doubles each try")
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60, description="one webhook POST's time limit")
    # recordings on an S3 API (issue 9): recorded locally, then moved to the bucket; any api node plays them
    recordings_url: str | None = Field(
        default=None, pattern=r"^s3://[^/]+(/.*)?$", description="s3://bucket/prefix; None: the recorder's disk"
    )
    s3_endpoint_url: str | None = Field(default=None, description="S3 API endpoint (MinIO, Ceph); None: AWS")
    s3_region: str | None = Field(default=None, description="bucket region; None: us-east-1")
    s3_access_key_id: str | None = Field(default=None, description="None: boto3's usual chain (AWS_* env, role)")
    s3_secret_access_key: SecretStr | None = Field(default=None, description="never logged nor shown")
    recordings_cache_mb: int = Field(default=2048, ge=16, description="local cache of footage read from the bucket")

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'koopsuz.db').resolve()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

    def ffmpeg_exe(self) -> str:
        if self.ffmpeg:
            return self.ffmpeg
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()

    def resolved_secret(self) -> str:
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret.key"
        if not path.exists():
            import secrets

            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(secrets.token_urlsafe(48))
            path.chmod(0o600)
        return path.read_text().strip()
