"""Charter's settings: one pydantic-settings class read from CHARTER_* variables."""

from __future__ import annotations

from pathlib import Path

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
    max_upload_bytes: int = Field(64 * 1024**3, description="largest single blob accepted")

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.home / 'charter.db'}"

    @property
    def resolved_artifact_url(self) -> str:
        return self.artifact_url or str(self.home / "artifacts")
