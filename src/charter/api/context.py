"""What the API's routes share: database, blob store, settings, audit signer and
sampler, gate and the tokens authenticated a moment ago."""

from __future__ import annotations

from dataclasses import dataclass

from charter.access.token_cache import TokenCache
from charter.artifacts.blobstore import BlobStore
from charter.audit.access import UnauthenticatedSampler
from charter.audit.ledger import Signer
from charter.gates.engine import Gate
from charter.settings import Settings
from charter.store.engine import Database


@dataclass(frozen=True)
class AppContext:
    settings: Settings
    db: Database
    blobs: BlobStore
    sampler: UnauthenticatedSampler
    signer: Signer | None  # None when no signing key is configured: no checkpoints then
    gate: Gate
    tokens: TokenCache
