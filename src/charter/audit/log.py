"""Appending events to the audit log inside the caller's transaction."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from charter.audit import merkle
from charter.domain.identity import Actor
from charter.store.tables import utcnow

# Every complete run of 2**8 leaves has its subtree hash stored, so a proof reads at most
# a few hundred leaves plus one hash per 256 events instead of the whole log.
TILE_LEVEL = 8
TILE_SIZE = 1 << TILE_LEVEL
_SQLITE_TIME = "%Y-%m-%d %H:%M:%S.%f"

Event = tuple[str, str, dict[str, Any]]  # action, subject, change: one event to append


@dataclass(frozen=True)
class _Statements:
    """The append's four statements in one driver's own SQL and parameter style.

    Written by hand rather than through SQLAlchemy: an append runs inside every write
    of every service, and SQLAlchemy's per-statement work (compilation cache lookups,
    events, result set-up) cost several times what these four indexed statements cost
    the database (about 220 µs against 60 µs per append in a transaction on SQLite).
    The tables are still defined and migrated by SQLAlchemy and Alembic.
    """

    head: str
    insert: str
    advance: str
    tile: str


_SQL = {
    "sqlite": _Statements(
        # BEGIN IMMEDIATE already holds SQLite's single write lock: no row lock needed.
        head="SELECT size, frontier FROM audit_head WHERE id = 1",
        insert="INSERT INTO audit_events (seq, at, actor, action, subject, entry, leaf)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        advance="UPDATE audit_head SET size = ?, frontier = ? WHERE id = 1",
        tile="INSERT INTO audit_tiles (idx, hash) VALUES (?, ?)",
    ),
    "postgresql": _Statements(
        head="SELECT size, frontier FROM audit_head WHERE id = 1 FOR UPDATE",
        insert="INSERT INTO audit_events (seq, at, actor, action, subject, entry, leaf)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s)",
        advance="UPDATE audit_head SET size = %s, frontier = %s WHERE id = 1",
        tile="INSERT INTO audit_tiles (idx, hash) VALUES (%s, %s)",
    ),
}


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
        "authorized_by": actor.authorized_by,
    }


def append(
    session: Session, actor: Actor, action: str, subject: str, change: dict[str, Any]
) -> int:
    """Append one event in the caller's transaction and return its sequence number."""
    return append_many(session, actor, [(action, subject, change)])[0]


def append_many(session: Session, actor: Actor, events: Sequence[Event]) -> list[int]:
    """Append `events` (action, subject, change) in order, in the caller's transaction,
    and return their sequence numbers.

    Locking the head row makes concurrent writers queue up, so sequence numbers are
    gapless and follow commit order; on SQLite the write transaction already holds the
    database's single write lock. The events and the new tree head commit together with
    the caller's change, or not at all. Several events cost one read and one write of the
    head: a batch of registrations appends all of its events at once.
    """
    if not events:
        return []
    connection = session.connection()
    sql = _SQL[connection.dialect.name]
    cursor = connection.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(sql.head)
        size, packed = cursor.fetchone()
        first = size + 1
        frontier = merkle.unpack_frontier(bytes(packed), size)
        at = utcnow()
        stamp, who = timestamp(at), actor_record(actor)
        # SQLite keeps times as SQLAlchemy writes them: UTC text without an offset.
        stored_at: object = at.strftime(_SQLITE_TIME) if sql is _SQL["sqlite"] else at
        rows: list[tuple[object, ...]] = []
        tiles: list[tuple[int, bytes]] = []
        for action, subject, change in events:
            seq = size + 1
            entry = canonical(
                {
                    "seq": seq,
                    "at": stamp,
                    "action": action,
                    "subject": subject,
                    "actor": who,
                    "change": change,
                }
            )
            leaf = merkle.leaf_hash(entry.encode())
            frontier, completed = merkle.frontier_append(frontier, size, leaf)
            size = seq
            rows.append((seq, stored_at, actor.name, action, subject, entry, leaf))
            tiles.extend((index, node) for level, index, node in completed if level == TILE_LEVEL)
        if len(rows) == 1:
            cursor.execute(sql.insert, rows[0])
        else:
            cursor.executemany(sql.insert, rows)
        cursor.execute(sql.advance, (size, merkle.pack_frontier(frontier)))
        for tile in tiles:
            cursor.execute(sql.tile, tile)
    finally:
        cursor.close()
    return list(range(first, size + 1))
