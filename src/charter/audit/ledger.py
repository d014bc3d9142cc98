"""The audit log in the database: reading events, signed checkpoints, proofs, verification."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, bindparam, func, select

from charter.audit import checkpoint as notes
from charter.audit import log, merkle
from charter.audit.keys import (
    key_id,
    load_signing_key,
    parse_verifier_key,
    public_key_pem,
    verifier_key,
)
from charter.audit.verify import Report, TrustedKeys, Verifier
from charter.domain import audit as schemas
from charter.domain.common import Page
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.identity import Actor
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.pagination import check_limit, decode_cursor, encode_cursor
from charter.store.tables import utcnow
from charter.store.tags import LIKE_ESCAPE, like_prefix

BATCH = 20_000
EventPage = Page[schemas.AuditEvent]


@dataclass(frozen=True)
class Head:
    size: int
    frontier: bytes
    origin: str
    archived_through: int = 0

    @property
    def root(self) -> bytes:
        return merkle.frontier_root(merkle.unpack_frontier(self.frontier, self.size))


@dataclass(frozen=True)
class Signer:
    """The server's checkpoint key; its signed-note name is the log's origin."""

    key: Ed25519PrivateKey

    def key_hash(self, origin: str) -> str:
        return key_id(origin, self.key.public_key())


def load_signer(path: Path) -> Signer | None:
    """The signing key at `path`, or None if there is none; a bad key file is an error."""
    if not path.exists():
        return None
    return Signer(load_signing_key(path))


def read_head(connection: Connection) -> Head:
    row = connection.execute(
        select(
            t.AuditHead.size,
            t.AuditHead.frontier,
            t.AuditHead.origin,
            t.AuditHead.archived_through,
        ).where(t.AuditHead.id == 1)
    ).one()
    return Head(row.size, row.frontier, row.origin, row.archived_through)


def head(db: Database) -> Head:
    with db.rows() as connection:
        return read_head(connection)


# ---------------------------------------------------------------- checkpoints and keys


def _checkpoint_schema(row: Any) -> schemas.AuditCheckpoint:
    parsed = notes.parse_checkpoint(row.note)
    return schemas.AuditCheckpoint(
        origin=parsed.origin,
        size=parsed.size,
        root_hash=parsed.root.hex(),
        at=parsed.at,
        key_name=parsed.key_name,
        key_hash=parsed.key_hash,
        note=row.note,
    )


def register_key(db: Database, actor: Actor, signer: Signer) -> schemas.AuditKey:
    """Record the signing key's verifier key (once per key), audited."""
    with db.transaction() as session:
        # Locking the head makes workers that start together register the key once.
        origin = session.execute(
            select(t.AuditHead.origin).where(t.AuditHead.id == 1).with_for_update()
        ).scalar_one()
        public = signer.key.public_key()
        key_hash = key_id(origin, public)
        row = session.get(t.AuditKey, key_hash)
        if row is None:
            row = t.AuditKey(
                key_hash=key_hash, verifier_key=verifier_key(origin, public), created_at=utcnow()
            )
            session.add(row)
            session.flush()
            log.append(
                session,
                actor,
                "audit.key.register",
                f"audit-key:{key_hash}",
                {"verifier_key": row.verifier_key},
            )
        return schemas.AuditKey(
            key_hash=row.key_hash,
            verifier_key=row.verifier_key,
            public_key_pem=public_key_pem(public),
            created_at=row.created_at,
        )


def list_keys(db: Database) -> list[schemas.AuditKey]:
    with db.reading() as session:
        rows = session.execute(select(t.AuditKey).order_by(t.AuditKey.created_at)).scalars()
        return [
            schemas.AuditKey(
                key_hash=r.key_hash,
                verifier_key=r.verifier_key,
                public_key_pem=public_key_pem(parse_verifier_key(r.verifier_key)[1]),
                created_at=r.created_at,
            )
            for r in rows
        ]


def take_checkpoint(db: Database, signer: Signer) -> schemas.AuditCheckpoint:
    """Sign the current tree head, unless a checkpoint of this size exists already.

    The head row is locked, so replicas checkpointing at once queue instead of racing;
    a checkpoint is a statement about the log, not a change to it, so it is not itself
    an event.
    """
    with db.transaction() as session:
        row = session.execute(
            select(t.AuditHead.size, t.AuditHead.frontier, t.AuditHead.origin)
            .where(t.AuditHead.id == 1)
            .with_for_update()
        ).one()
        current = Head(row.size, row.frontier, row.origin)
        existing = session.get(t.AuditCheckpoint, current.size)
        if existing is not None:
            return _checkpoint_schema(existing)
        key_hash = signer.key_hash(current.origin)
        if session.get(t.AuditKey, key_hash) is None:
            raise InvalidInput(
                f"signing key {key_hash} is not registered for this log; start the server "
                "with it (it registers its key) or run 'charter init' for a new home"
            )
        signed = notes.sign_checkpoint(
            current.origin, current.size, current.root, utcnow(), current.origin, signer.key
        )
        stored = t.AuditCheckpoint(
            size=signed.size,
            root=signed.root,
            at=signed.at,
            key_hash=signed.key_hash,
            note=signed.note,
        )
        session.add(stored)
        session.flush()
        return _checkpoint_schema(stored)


def checkpoint_due(db: Database, every_events: int, every_seconds: float) -> bool:
    """Whether enough events, or old enough ones, wait for a signature."""
    with db.rows() as connection:
        size = read_head(connection).size
        signed = connection.execute(select(func.max(t.AuditCheckpoint.size))).scalar() or 0
        if size <= signed:
            return False
        if size - signed >= every_events:
            return True
        oldest = connection.execute(
            select(t.AuditEvent.at).where(t.AuditEvent.seq == signed + 1)
        ).scalar()
    return oldest is None or (utcnow() - oldest).total_seconds() >= every_seconds


def latest_checkpoint(db: Database) -> schemas.AuditCheckpoint:
    with db.reading() as session:
        row = session.execute(
            select(t.AuditCheckpoint).order_by(t.AuditCheckpoint.size.desc()).limit(1)
        ).scalar_one_or_none()
        if row is None:
            raise NotFound(
                "no checkpoint has been signed yet; take one with 'charter audit checkpoint'"
            )
        return _checkpoint_schema(row)


def checkpoint_at(db: Database, size: int) -> schemas.AuditCheckpoint | None:
    with db.reading() as session:
        row = session.get(t.AuditCheckpoint, size)
        return None if row is None else _checkpoint_schema(row)


def list_checkpoints(
    db: Database, cursor: str | None = None, limit: int = 100
) -> Page[schemas.AuditCheckpoint]:
    after, limit = decode_cursor(cursor), check_limit(limit)
    with db.reading() as session:
        rows = list(
            session.execute(
                select(t.AuditCheckpoint)
                .where(t.AuditCheckpoint.size > after)
                .order_by(t.AuditCheckpoint.size)
                .limit(limit + 1)
            ).scalars()
        )
        items = [_checkpoint_schema(r) for r in rows[:limit]]
    nxt = encode_cursor(rows[limit - 1].size) if len(rows) > limit else None
    return Page[schemas.AuditCheckpoint](items=items, next_cursor=nxt)


# ---------------------------------------------------------------------------- proofs

_LEAVES = (
    select(t.AuditEvent.leaf)
    .where(t.AuditEvent.seq > bindparam("start"), t.AuditEvent.seq <= bindparam("end"))
    .order_by(t.AuditEvent.seq)
)
_TILES = (
    select(t.AuditTile.hash)
    .where(t.AuditTile.idx >= bindparam("start"), t.AuditTile.idx < bindparam("end"))
    .order_by(t.AuditTile.idx)
)


def _subtree(connection: Connection) -> Callable[[int, int], bytes]:
    """Hash of leaves [start, end), from stored level-8 tiles where they cover it."""

    @functools.cache
    def subtree(start: int, end: int) -> bytes:
        count = end - start
        if count >= log.TILE_SIZE and start % log.TILE_SIZE == 0 and count & (count - 1) == 0:
            tiles = [
                r[0]
                for r in connection.execute(
                    _TILES, {"start": start // log.TILE_SIZE, "end": end // log.TILE_SIZE}
                )
            ]
            if len(tiles) == count // log.TILE_SIZE:
                return merkle.root_of(tiles)
        if count <= log.TILE_SIZE:
            leaves = [r[0] for r in connection.execute(_LEAVES, {"start": start, "end": end})]
            if len(leaves) != count:
                raise NotFound(f"audit events {start + 1}..{end} are not all stored")
            return merkle.root_of(leaves)
        split = 1 << ((count - 1).bit_length() - 1)  # largest power of two below count
        return merkle.node_hash(subtree(start, start + split), subtree(start + split, end))

    return subtree


def root_at(db: Database, size: int) -> bytes:
    """The root of the tree of the first `size` events, from tiles and leaves."""
    if size == 0:
        return merkle.EMPTY_ROOT
    with db.rows() as connection:
        return _subtree(connection)(0, _tree_size(connection, size))


def _tree_size(connection: Connection, size: int | None) -> int:
    current = read_head(connection).size
    if size is None:
        return current
    if not 1 <= size <= current:
        raise InvalidInput(
            f"tree size must be between 1 and {current} (the log's size), not {size}"
        )
    return size


def inclusion_proof(db: Database, seq: int, size: int | None = None) -> schemas.InclusionProof:
    with db.rows() as connection:
        size = _tree_size(connection, size)
        if not 1 <= seq <= size:
            raise InvalidInput(f"seq must be between 1 and the tree size {size}, not {seq}")
        subtree = _subtree(connection)
        proof = merkle.inclusion_proof(seq - 1, size, subtree)
        leaf, root = subtree(seq - 1, seq), subtree(0, size)
    return schemas.InclusionProof(
        seq=seq,
        tree_size=size,
        leaf_hash=leaf.hex(),
        root_hash=root.hex(),
        proof=[p.hex() for p in proof],
        checkpoint=checkpoint_at(db, size),
    )


def consistency_proof(
    db: Database, old_size: int, new_size: int | None = None
) -> schemas.ConsistencyProof:
    with db.rows() as connection:
        new_size = _tree_size(connection, new_size)
        if not 1 <= old_size <= new_size:
            raise InvalidInput(
                f"old size must be between 1 and the new size {new_size}, not {old_size}"
            )
        subtree = _subtree(connection)
        proof = merkle.consistency_proof(old_size, new_size, subtree)
        old_root, new_root = subtree(0, old_size), subtree(0, new_size)
    return schemas.ConsistencyProof(
        old_size=old_size,
        new_size=new_size,
        old_root=old_root.hex(),
        new_root=new_root.hex(),
        proof=[p.hex() for p in proof],
        old_checkpoint=checkpoint_at(db, old_size),
        new_checkpoint=checkpoint_at(db, new_size),
    )


# ---------------------------------------------------------------------------- queries


def _event(row: Any) -> schemas.AuditEvent:
    return schemas.AuditEvent(
        seq=row.seq,
        at=row.at,
        actor=row.actor,
        action=row.action,
        subject=row.subject,
        entry=row.entry,
        leaf_hash=row.leaf.hex(),
    )


def list_events(
    db: Database,
    *,
    actor: str | None = None,
    action: str | None = None,
    subject: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    cursor: str | None = None,
    limit: int = 100,
) -> EventPage:
    """Events in sequence order. `action` and `subject` ending in '*' match a prefix."""
    after, limit = decode_cursor(cursor), check_limit(limit)
    query = select(t.AuditEvent).where(t.AuditEvent.seq > after)
    if actor is not None:
        query = query.where(t.AuditEvent.actor == actor)
    for column, value in ((t.AuditEvent.action, action), (t.AuditEvent.subject, subject)):
        if value is None:
            continue
        if value.endswith("*"):
            query = query.where(column.like(like_prefix(value[:-1]), escape=LIKE_ESCAPE))
        else:
            query = query.where(column == value)
    if since is not None:
        query = query.where(t.AuditEvent.at >= since)
    if until is not None:
        query = query.where(t.AuditEvent.at < until)
    with db.reading() as session:
        rows = list(session.execute(query.order_by(t.AuditEvent.seq).limit(limit + 1)).scalars())
        items = [_event(r) for r in rows[:limit]]
    nxt = encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None
    return EventPage(items=items, next_cursor=nxt)


def get_event(db: Database, seq: int) -> schemas.AuditEvent:
    with db.reading() as session:
        row = session.get(t.AuditEvent, seq)
        if row is None:
            raise NotFound(f"no audit event {seq}")
        return _event(row)


# ---------------------------------------------------------------------- verification


# Entries come back as bytes, the form that is hashed, so a million of them are not decoded
# to str and encoded again: SQLite casts text to a blob, PostgreSQL converts it to bytea
# and sends it over a binary cursor.
_ROWS_SQLITE = (
    "SELECT seq, at, actor, action, subject, CAST(entry AS BLOB), leaf"
    " FROM audit_events WHERE seq <= ? ORDER BY seq"
)
_ROWS_PSYCOPG = (
    "SELECT seq, at, actor, action, subject, convert_to(entry, 'UTF8'), leaf"
    " FROM audit_events WHERE seq <= %s ORDER BY seq"
)


def event_rows(db: Database, size: int) -> Iterator[tuple[Any, ...]]:
    """Event rows 1..size in sequence order, streamed through the driver directly:
    (seq, at, actor, action, subject, entry as UTF-8 bytes or None, leaf).

    A million rows through SQLAlchemy's result objects would cost more than hashing them;
    PostgreSQL gets a server-side cursor so memory stays flat.
    """
    # Written out per driver: each has its own parameter style.
    sql = _ROWS_SQLITE if db.is_sqlite else _ROWS_PSYCOPG
    raw = db.engine.raw_connection()
    try:
        if db.is_sqlite:
            cursor = raw.cursor()
        else:
            cursor = raw.driver_connection.cursor(  # type: ignore[union-attr]
                name="charter_audit_rows", binary=True
            )
        cursor.execute(sql, (size,))
        while batch := cursor.fetchmany(BATCH):
            yield from batch
        cursor.close()
    finally:
        raw.rollback()
        raw.close()


def verify_database(
    db: Database, keys: TrustedKeys, kept_checkpoints: Iterable[str] = ()
) -> Report:
    """Recompute the whole log from the database, also while the server keeps writing.

    Checkpoints are read before the head: the head never shrinks, so every checkpoint
    must lie within it, and one beyond it means entries were cut off (even if whoever cut
    them also rewound the head). Only events up to that head are checked, so appends that
    commit meanwhile are not mistaken for damage; rows beyond the head found afterwards
    were not written by Charter's append. `kept_checkpoints` are signed notes an outside
    party kept: they catch a log rewritten together with its stored checkpoints.
    """
    with db.rows() as connection:
        notes_text = [r[0] for r in connection.execute(select(t.AuditCheckpoint.note))]
    with db.rows() as connection:
        current = read_head(connection)
    verifier = Verifier([*notes_text, *kept_checkpoints], keys)
    add, archived = verifier.add_row, current.archived_through
    for seq, at, actor, action, subject, entry, leaf in event_rows(db, current.size):
        if entry is None:
            verifier.add_archived(seq, bytes(leaf), archived)
        else:
            add(seq, bytes(entry), leaf, at, actor, action, subject)
    report = verifier.finish(current.size, current.frontier)
    with db.rows() as connection:
        now = read_head(connection)
        stray = connection.execute(
            select(func.min(t.AuditEvent.seq)).where(t.AuditEvent.seq > now.size)
        ).scalar()
    if stray is not None:
        verifier.stray(stray, now.size)
    return report
