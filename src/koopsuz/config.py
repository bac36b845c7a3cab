"""All settings in one place, read from the environment (``KOOPSUZ_*``) or a ``.env`` file.

Embedded versus scale-out is decided here and nowhere else: the URLs pick the adapters.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="KOOPSUZ_", env_file=".env", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="database, snapshots, keys")
    database_url: str | None = Field(default=None, description="default: SQLite under data_dir")
    bus_url: str = Field(default="memory://", description="memory:// (embedded) or nats://host:4222")
    deployment: Path | None = Field(default=None, description="deployment YAML loaded at start")
    host: str = "127.0.0.1"
    port: int = Field(default=8080, ge=1, le=65535)
    secret_key: str | None = Field(default=None, description="signs sessions; default: var/secret.key")
    session_hours: float = Field(default=12.0, gt=0, le=168)
    timezone: str = "Asia/Bishkek"
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
    detector_threads: int = Field(default=0, ge=0, le=64, description="inference threads; 0 = one per core")
    detector_confidence: float = Field(default=0.25, gt=0, lt=1)
    detector_max_lag_s: float = Field(default=1.0, gt=0, le=30, description="skip detection this far behind")
    login_max_failures: int = Field(default=5, ge=1, le=100)
    login_lockout_s: float = Field(default=300.0, ge=0)

    @property
    def db_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'koopsuz.db').resolve()}"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"

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
