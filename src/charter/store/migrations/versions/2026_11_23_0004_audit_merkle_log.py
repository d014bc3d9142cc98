"""the audit log becomes a Merkle tree with signed checkpoints

Why: issue 4 makes the log tamper-evident. Each event keeps its canonical JSON `entry`,
the exact bytes its RFC 9162 leaf hashes, and that `leaf` hash; the head keeps the tree's
compact frontier (so an append hashes O(log n)) and the log's `origin` name. New tables:
level-8 subtree hashes for fast proofs, signed checkpoints, and the keys that signed them.
On SQLite the sequence number becomes the rowid (one B-tree fewer to write per append).
Existing events are rewritten into entries and hashed here, in sequence order, with the
entry shape and hashing of this revision (written out in full so later code changes
cannot alter what this migration does).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 21:25:00.000000
"""

import hashlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TILE_LEVEL = 8
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _timestamp(value: Any) -> str:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    stamp: datetime = value.replace(tzinfo=UTC) if value.tzinfo is None else value
    return stamp.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def _entry(seq: int, at: Any, action: str, subject: str, payload: dict[str, Any]) -> str:
    record = {
        "seq": seq,
        "at": _timestamp(at),
        "action": action,
        "subject": subject,
        "actor": payload["actor"],
        "change": payload["change"],
    }
    return json.dumps(
        record, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def _fill(bind: sa.Connection) -> None:
    events = bind.execute(
        sa.text("SELECT seq, at, action, subject, payload FROM audit_events ORDER BY seq")
    ).all()
    frontier: list[bytes] = []  # roots of perfect subtrees, largest first (RFC 9162)
    update = sa.text("UPDATE audit_events SET entry = :entry, leaf = :leaf WHERE seq = :seq")
    tile = sa.text("INSERT INTO audit_tiles (idx, hash) VALUES (:idx, :hash)")
    for size, row in enumerate(events):
        if row.seq != size + 1:
            raise RuntimeError(f"audit log has a gap before seq {row.seq}; refusing to hash it")
        payload = json.loads(row.payload) if isinstance(row.payload, str) else row.payload
        entry = _entry(row.seq, row.at, row.action, row.subject, payload)
        leaf = hashlib.sha256(b"\x00" + entry.encode()).digest()
        bind.execute(update, {"seq": row.seq, "entry": entry, "leaf": leaf})
        node, level = leaf, 0
        while size >> level & 1:
            node = hashlib.sha256(b"\x01" + frontier.pop() + node).digest()
            level += 1
            if level == TILE_LEVEL:
                bind.execute(tile, {"idx": (size + 1 >> TILE_LEVEL) - 1, "hash": node})
        frontier.append(node)
    bind.execute(
        sa.text("UPDATE audit_head SET size = :size, frontier = :frontier, origin = :origin"),
        {
            "size": len(events),
            "frontier": b"".join(frontier),
            "origin": f"charter/{uuid.uuid4().hex}",
        },
    )


def upgrade() -> None:
    op.create_table(
        "audit_tiles",
        sa.Column("idx", ID, autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_audit_tiles")),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("size", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("key_hash", sa.String(length=8), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("size", name=op.f("pk_audit_checkpoints")),
    )
    op.create_table(
        "audit_keys",
        sa.Column("key_hash", sa.String(length=8), nullable=False),
        sa.Column("verifier_key", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key_hash", name=op.f("pk_audit_keys")),
    )
    op.add_column("audit_head", sa.Column("frontier", sa.LargeBinary(), nullable=True))
    op.add_column("audit_head", sa.Column("origin", sa.String(length=128), nullable=True))
    op.add_column(
        "audit_head",
        sa.Column("archived_through", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.add_column("audit_events", sa.Column("entry", sa.Text(), nullable=True))
    op.add_column("audit_events", sa.Column("leaf", sa.LargeBinary(), nullable=True))
    _fill(op.get_bind())
    with op.batch_alter_table("audit_head") as batch:
        batch.alter_column("frontier", existing_type=sa.LargeBinary(), nullable=False)
        batch.alter_column("origin", existing_type=sa.String(length=128), nullable=False)
        batch.alter_column("archived_through", existing_type=sa.BigInteger(), server_default=None)
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("leaf", existing_type=sa.LargeBinary(), nullable=False)
        batch.drop_column("payload")
        # On SQLite an INTEGER primary key is the rowid: one B-tree fewer per append.
        batch.alter_column("seq", existing_type=sa.BigInteger(), type_=ID)


def downgrade() -> None:
    archived = op.get_bind().execute(sa.text("SELECT archived_through FROM audit_head")).scalar()
    if archived:
        raise RuntimeError(
            f"audit events 1..{archived} are archived; revision 0003 cannot hold them"
        )
    op.add_column("audit_events", sa.Column("payload", sa.JSON(), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT seq, entry FROM audit_events")).all()
    update = sa.text("UPDATE audit_events SET payload = :payload WHERE seq = :seq").bindparams(
        sa.bindparam("payload", type_=sa.JSON())
    )
    for seq, entry in rows:
        record = json.loads(entry)
        payload = {"actor": record["actor"], "change": record["change"]}
        bind.execute(update, {"seq": seq, "payload": payload})
    with op.batch_alter_table("audit_events") as batch:
        batch.alter_column("seq", existing_type=ID, type_=sa.BigInteger())
        batch.alter_column("payload", existing_type=sa.JSON(), nullable=False)
        batch.drop_column("leaf")
        batch.drop_column("entry")
    with op.batch_alter_table("audit_head") as batch:
        batch.drop_column("archived_through")
        batch.drop_column("origin")
        batch.drop_column("frontier")
    op.drop_table("audit_keys")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_tiles")
