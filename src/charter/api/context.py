"""What the API's routes share: the database, the blob store and the settings."""

from __future__ import annotations

from dataclasses import dataclass

from charter.artifacts.blobstore import BlobStore
from charter.settings import Settings
from charter.store.engine import Database


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    blobs: BlobStore
