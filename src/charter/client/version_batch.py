"""The SDK's batch registration: many versions in one request (mixed into Client)."""

from __future__ import annotations

import base64
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charter.artifacts.manifest import build_manifest
from charter.client.plumbing import ClientPlumbing
from charter.domain.registry import ModelVersionSummary
from charter.domain.version_batch import (
    INLINE_FILE_MAX,
    INLINE_TOTAL_MAX,
    MAX_BATCH_VERSIONS,
    MAX_INLINE_BLOBS,
    VersionBatchResult,
)


@dataclass(frozen=True)
class VersionToRegister:
    """One version of a batch: a model, a file or directory, and create_version's fields."""

    model: str
    path: Path | str
    flavor: str
    fields: dict[str, Any] = field(default_factory=dict)


class VersionBatchApi(ClientPlumbing):
    """Registering many versions at once, all or none."""

    def create_versions(
        self, versions: Sequence[Mapping[str, Any]], blobs: Mapping[str, bytes] | None = None
    ) -> list[ModelVersionSummary]:
        """Register up to 1,000 versions in one request and one transaction, or none.

        Each item is `model`, `files` (manifest entries), `flavor` and any other field of
        `create_version`; a version may name an earlier one of the batch as its parent.
        `blobs` carries the bytes of small files by SHA-256 (at most 1 MiB each, 64 MiB in
        all); every other file must have been uploaded before.
        """
        body = {
            "versions": [{k: v for k, v in item.items() if v is not None} for item in versions],
            "blobs": {
                digest: base64.b64encode(data).decode() for digest, data in (blobs or {}).items()
            },
        }
        return self._one(VersionBatchResult, "POST", "/versions/batch", json=body).items

    def register_versions(self, versions: Sequence[VersionToRegister]) -> list[ModelVersionSummary]:
        """Hash each version's files and register them all: small files travel inside the
        batch requests, larger ones are streamed up first. Batches are cut at 1,000
        versions, 10,000 inline files or 64 MiB of inline bytes; each batch is all or
        nothing, and the batches already sent stay registered if a later one fails."""
        registered: list[ModelVersionSummary] = []
        items: list[dict[str, Any]] = []
        inline: dict[str, bytes] = {}
        inline_bytes = 0
        for version in versions:
            manifest, sources = build_manifest(Path(version.path))
            entries = manifest.sorted_entries()
            small = {e.sha256: e for e in entries if e.size <= INLINE_FILE_MAX}
            if sum(e.size for e in small.values()) > INLINE_TOTAL_MAX or len(small) > (
                MAX_INLINE_BLOBS
            ):
                small = {}  # more than any batch carries: stream them all up
            new = [e for digest, e in small.items() if digest not in inline]
            if items and (
                len(items) == MAX_BATCH_VERSIONS
                or inline_bytes + sum(e.size for e in new) > INLINE_TOTAL_MAX
                or len(inline) + len(new) > MAX_INLINE_BLOBS
            ):
                registered += self.create_versions(items, inline)
                items, inline, inline_bytes = [], {}, 0
            for entry in entries:
                if entry.sha256 not in small:
                    self.upload_file(sources[entry.path], entry)
                elif entry.sha256 not in inline:
                    inline[entry.sha256] = sources[entry.path].read_bytes()
                    inline_bytes += entry.size
            items.append(
                {
                    **version.fields,
                    "model": version.model,
                    "files": entries,
                    "flavor": version.flavor,
                }
            )
        if items:
            registered += self.create_versions(items, inline)
        return registered
