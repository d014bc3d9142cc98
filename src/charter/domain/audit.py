"""Audit log schemas: events, signed checkpoints and Merkle proofs as the API shows them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from charter.domain.common import Response


class AuditEvent(Response):
    seq: int
    at: datetime
    actor: str
    action: str
    subject: str
    # The canonical JSON the leaf hashes (parse it for who, how and what changed); None
    # once the event was moved to an archive bundle by `charter audit archive`.
    entry: str | None
    leaf_hash: str  # hex


class AuditCheckpoint(Response):
    """A signed tree head; `note` is the C2SP signed note an outside party should keep."""

    origin: str
    size: int
    root_hash: str  # hex
    at: datetime
    key_name: str
    key_hash: str
    note: str


class AuditKey(Response):
    key_hash: str
    verifier_key: str  # signed-note verifier key: '<name>+<hash>+<base64 key>'
    public_key_pem: str
    created_at: datetime


class InclusionProof(Response):
    """RFC 9162 inclusion proof of leaf `seq - 1` in the tree of `tree_size` leaves."""

    seq: int
    tree_size: int
    leaf_hash: str
    root_hash: str
    proof: list[str]  # hex, bottom up
    checkpoint: AuditCheckpoint | None  # the signed checkpoint of this size, if one exists


class ConsistencyProof(Response):
    """RFC 9162 consistency proof between two tree sizes."""

    old_size: int
    new_size: int
    old_root: str
    new_root: str
    proof: list[str]
    old_checkpoint: AuditCheckpoint | None
    new_checkpoint: AuditCheckpoint | None


class VerificationReport(Response):
    ok: bool
    size: int
    root: str
    checkpoints_verified: int
    latest_checkpoint: int | None
    first_bad_seq: int | None
    problems: list[dict[str, Any]]
    more_problems: int
