"""Charter's settings: one pydantic-settings class read from CHARTER_* variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CHARTER_", extra="ignore")

    home: Path = Field(
        default_factory=lambda: Path.home() / ".charter",
        description="data directory: SQLite database, artifacts, keys",
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL; default: SQLite in WAL mode under home"
    )
    artifact_url: str | None = Field(
        None, description="local path or fsspec URL of the blob store; default: home/artifacts"
    )
    db_pool_size: int = 10
    auth_cache_seconds: float = Field(
        1.0,
        ge=0,
        le=60,
        description="how long a worker answers a token it authenticated from memory; a "
        "revocation or role change made through another worker or replica takes effect "
        "within this time (through the same worker at once); 0 reads every time",
    )
    max_upload_bytes: int = Field(64 * 1024**3, description="largest single blob accepted")
    audit_key: Path | None = Field(
        None,
        description="Ed25519 key (PKCS#8 PEM, mode 0600) that signs audit checkpoints; "
        "default: home/audit-key.pem",
    )
    audit_checkpoint_events: int = Field(
        1000, ge=1, description="sign a checkpoint once this many events are unsigned"
    )
    audit_checkpoint_seconds: float = Field(
        300.0, gt=0, description="sign a checkpoint when unsigned events are this old"
    )
    audit_denied_window_seconds: float = Field(
        60.0, gt=0, description="unauthenticated attempts are counted per window, one event each"
    )
    audit_retention_days: int = Field(
        183, ge=183, description="events younger than this are never archived (EU AI Act Art. 19)"
    )
    gate_engine: Literal["cedar", "opa"] = Field(
        "cedar", description="who decides promotion gates: the policy bundle, or an OPA server"
    )
    opa_url: str | None = Field(None, description="the OPA server, e.g. http://127.0.0.1:8181")
    opa_path: str = Field("charter/gate", description="the OPA data path of the gate decision")
    opa_timeout_seconds: float = Field(2.0, gt=0, le=60)

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'charter.db'}"

    @property
    def resolved_audit_key(self) -> Path:
        return self.audit_key or self.home / "audit-key.pem"

    @property
    def resolved_artifact_url(self) -> str:
        return self.artifact_url or str(self.home / "artifacts")
