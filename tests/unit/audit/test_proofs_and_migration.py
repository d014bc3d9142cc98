"""Proofs from the stored tree match the RFC algorithms; migration 0004 hashes as append does."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from charter.audit import ledger, log, merkle
from charter.audit.verify import trusted_keys
from charter.domain.errors import InvalidInput
from charter.domain.identity import SYSTEM_ACTOR
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.migrate import downgrade, upgrade

EVENTS = 700  # more than two tiles of 256 leaves
ROWS = select(t.AuditEvent.seq, t.AuditEvent.entry, t.AuditEvent.leaf).order_by(t.AuditEvent.seq)


def fill(db: Database, count: int) -> list[bytes]:
    with db.transaction() as session:
        for i in range(count):
            log.append(session, SYSTEM_ACTOR, "test.fill", f"item:{i}", {"i": i, "text": "é✓"})
    with db.rows() as connection:
        return [
            r[0] for r in connection.execute(select(t.AuditEvent.leaf).order_by(t.AuditEvent.seq))
        ]


@pytest.fixture
def leaves(db: Database) -> list[bytes]:
    return fill(db, EVENTS)


def test_tiles_and_head_follow_the_appends(db: Database, leaves: list[bytes]) -> None:
    head = ledger.head(db)
    assert head.size == len(leaves) and head.root == merkle.root_of(leaves)
    with db.rows() as connection:
        tiles = connection.execute(
            select(t.AuditTile.idx, t.AuditTile.hash).order_by(t.AuditTile.idx)
        ).all()
    assert [i for i, _ in tiles] == list(range(len(leaves) // 256))
    assert all(h == merkle.root_of(leaves[i * 256 : (i + 1) * 256]) for i, h in tiles)


@pytest.mark.parametrize(
    ("seq", "size"), [(1, 1), (1, 700), (256, 256), (257, 600), (300, 513), (700, 700), (5, None)]
)
def test_inclusion_proofs_verify(
    db: Database, leaves: list[bytes], seq: int, size: int | None
) -> None:
    proof = ledger.inclusion_proof(db, seq, size)
    tree = size or len(leaves)
    assert proof.tree_size == tree
    assert bytes.fromhex(proof.root_hash) == merkle.root_of(leaves[:tree])
    assert bytes.fromhex(proof.leaf_hash) == leaves[seq - 1]
    merkle.verify_inclusion(
        seq - 1,
        tree,
        leaves[seq - 1],
        [bytes.fromhex(p) for p in proof.proof],
        bytes.fromhex(proof.root_hash),
    )


@pytest.mark.parametrize(
    ("old", "new"), [(1, 2), (255, 700), (256, 512), (300, 301), (700, 700), (3, None)]
)
def test_consistency_proofs_verify(
    db: Database, leaves: list[bytes], old: int, new: int | None
) -> None:
    proof = ledger.consistency_proof(db, old, new)
    size = new or len(leaves)
    merkle.verify_consistency(
        old,
        size,
        merkle.root_of(leaves[:old]),
        merkle.root_of(leaves[:size]),
        [bytes.fromhex(p) for p in proof.proof],
    )


def test_proof_arguments_are_checked(db: Database, leaves: list[bytes]) -> None:
    for call in (
        lambda: ledger.inclusion_proof(db, 0),
        lambda: ledger.inclusion_proof(db, 701),
        lambda: ledger.inclusion_proof(db, 5, 4),
        lambda: ledger.consistency_proof(db, 10, 9),
        lambda: ledger.consistency_proof(db, 1, 701),
    ):
        with pytest.raises(InvalidInput):
            call()


def test_migration_0004_rebuilds_the_same_entries_and_tree(db: Database) -> None:
    fill(db, 300)
    with db.rows() as connection:
        before = connection.execute(
            select(t.AuditEvent.seq, t.AuditEvent.entry, t.AuditEvent.leaf).order_by(
                t.AuditEvent.seq
            )
        ).all()
    root = ledger.head(db).root
    downgrade(db.engine, "0003")
    upgrade(db.engine)
    with db.rows() as connection:
        after = connection.execute(
            select(t.AuditEvent.seq, t.AuditEvent.entry, t.AuditEvent.leaf).order_by(
                t.AuditEvent.seq
            )
        ).all()
        tiles = connection.execute(select(func.count()).select_from(t.AuditTile)).scalar()
    assert after == before
    assert ledger.head(db).root == root and tiles == 1
    assert ledger.verify_database(db, trusted_keys([])).ok
