"""Appending events to the audit log inside the caller's transaction."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from charter.audit import merkle
from charter.domain.identity import Actor
from charter.store.tables import AuditEvent, AuditHead, AuditTile, utcnow

# Every complete run of 2**8 leaves has its subtree hash stored, so a proof reads at most
# a few hundred leaves plus one hash per 256 events instead of the whole log.
TILE_LEVEL = 8
TILE_SIZE = 1 << TILE_LEVEL

# Built once: an append is the hottest write of all, and SQLAlchemy's statement
# construction would cost more than the hashing.
_HEAD = select(AuditHead.size, AuditHead.frontier).where(AuditHead.id == 1).with_for_update()
_INSERT = insert(AuditEvent)
_ADVANCE = (
    update(AuditHead)
    .where(AuditHead.id == 1)
    .values(size=bindparam("new_size"), frontier=bindparam("new_frontier"))
)
_TILE = insert(AuditTile)


def timestamp(at: datetime) -> str:
    """The entry's time: UTC, microseconds, 'Z' (one spelling, so entries are canonical)."""
    return at.isoformat(timespec="microseconds").replace("+00:00", "Z")


def canonical(record: dict[str, Any]) -> str:
    """Canonical JSON: sorted keys, no insignificant whitespace, UTF-8, no NaN."""
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def actor_record(actor: Actor) -> dict[str, Any]:
    """Who acted and how they got in; never the secret they used."""
    return {
        "principal": actor.name,
        "auth": actor.auth_method,
        "token_id": actor.token_id,
        "request_id": actor.request_id,
        "client": actor.client_address,
        "user_agent": actor.user_agent,
    }


def append(
    session: Session, actor: Actor, action: str, subject: str, change: dict[str, Any]
) -> int:
    """Append one event in the caller's transaction and return its sequence number.

    Locking the head row makes concurrent writers queue up, so sequence numbers are
    gapless and follow commit order; on SQLite the write transaction already holds the
    database's single write lock. The event and the new tree head commit together with
    the caller's change, or not at all.
    """
    size, packed = session.execute(_HEAD).one()
    seq, at = size + 1, utcnow()
    entry = canonical(
        {
            "seq": seq,
            "at": timestamp(at),
            "action": action,
            "subject": subject,
            "actor": actor_record(actor),
            "change": change,
        }
    )
    leaf = merkle.leaf_hash(entry.encode())
    frontier, completed = merkle.frontier_append(merkle.unpack_frontier(packed, size), size, leaf)
    session.execute(
        _INSERT,
        {
            "seq": seq,
            "at": at,
            "actor": actor.name,
            "action": action,
            "subject": subject,
            "entry": entry,
            "leaf": leaf,
        },
    )
    session.execute(_ADVANCE, {"new_size": seq, "new_frontier": merkle.pack_frontier(frontier)})
    for level, index, node in completed:
        if level == TILE_LEVEL:
            session.execute(_TILE, {"idx": index, "hash": node})
    return seq
