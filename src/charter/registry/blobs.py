"""Storing uploaded blobs: the content goes to the blob store, the fact to the audit log."""

from __future__ import annotations

from pathlib import Path

from charter.artifacts.blobstore import BlobStore
from charter.audit import log as audit
from charter.domain.artifacts import BlobInfo
from charter.domain.identity import Actor
from charter.store.engine import Database


def store_blob(db: Database, blobs: BlobStore, actor: Actor, path: Path, sha256: str) -> BlobInfo:
    """Move a spooled upload into the store (digest checked) and audit who uploaded it.

    The blob is written before the event: content-addressed bytes that no record refers
    to are harmless, while an event for bytes that were never stored would be false.
    """
    info = blobs.put_file(path, sha256)
    with db.transaction() as session:
        audit.append(session, actor, "blob.upload", f"blob:{info.sha256}", {"size": info.size})
    return info
