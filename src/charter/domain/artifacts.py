"""Value types describing content-addressed artifacts: blobs and file manifests."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, computed_field, field_validator

SHA256_PATTERN = r"^[0-9a-f]{64}$"
_SHA256_RE = re.compile(SHA256_PATTERN)
MAX_PATH_LENGTH = 1024

Sha256Hex = Annotated[str, Field(pattern=SHA256_PATTERN, description="64 lowercase hex chars")]


def is_sha256_hex(value: object) -> bool:
    """Return True if value is a 64-character lowercase hex SHA-256 digest."""
    return isinstance(value, str) and _SHA256_RE.fullmatch(value) is not None


def canonical_json(obj: object) -> bytes:
    """Serialise obj deterministically so equal values always hash identically."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode(
        "utf-8"
    )


def validate_relative_path(path: str) -> str:
    """Return path unchanged if it is a safe relative POSIX path, else raise ValueError."""
    if not path:
        raise ValueError("path must not be empty")
    if len(path) > MAX_PATH_LENGTH:
        raise ValueError(f"path must be at most {MAX_PATH_LENGTH} characters")
    if "\x00" in path:
        raise ValueError("path must not contain NUL characters")
    if "\\" in path:
        raise ValueError("path must use '/' separators, not backslashes")
    if path.startswith("/"):
        raise ValueError("path must be relative, not start with '/'")
    parts = path.split("/")
    if ".." in parts:
        raise ValueError("path must not contain '..' components")
    # Empty or '.' components would let two spellings name the same file, breaking uniqueness.
    if any(part in ("", ".") for part in parts):
        raise ValueError("path must not contain empty or '.' components")
    return path


class BlobInfo(BaseModel):
    """Identity of a stored blob: its digest and byte length."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    sha256: Sha256Hex
    size: int = Field(ge=0)


class ManifestEntry(BaseModel):
    """One file in a manifest: relative path, size and content digest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    path: str
    size: int = Field(ge=0)
    sha256: Sha256Hex

    @field_validator("path")
    @classmethod
    def _check_path(cls, value: str) -> str:
        return validate_relative_path(value)


class Manifest(BaseModel):
    """A set of files identified by path; its digest is independent of entry order."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    entries: list[ManifestEntry]

    @field_validator("entries")
    @classmethod
    def _check_unique_paths(cls, value: list[ManifestEntry]) -> list[ManifestEntry]:
        seen: set[str] = set()
        dupes: set[str] = set()
        for entry in value:
            if entry.path in seen:
                dupes.add(entry.path)
            seen.add(entry.path)
        if dupes:
            raise ValueError(f"duplicate manifest paths: {', '.join(sorted(dupes))}")
        return value

    def sorted_entries(self) -> list[ManifestEntry]:
        """Return entries ordered by path."""
        return sorted(self.entries, key=lambda e: e.path)

    @computed_field  # type: ignore[prop-decorator]
    @property
    def digest(self) -> str:
        """SHA-256 hex of the canonical JSON of the path-sorted entries."""
        payload = [
            {"path": e.path, "sha256": e.sha256, "size": e.size} for e in self.sorted_entries()
        ]
        return hashlib.sha256(canonical_json(payload)).hexdigest()

    @computed_field  # type: ignore[prop-decorator]
    @property
    def total_size(self) -> int:
        """Sum of entry sizes in bytes."""
        return sum(e.size for e in self.entries)

    def get(self, path: str) -> ManifestEntry | None:
        """Return the entry for path, or None."""
        for entry in self.entries:
            if entry.path == path:
                return entry
        return None
