"""Every attack on the stored log is detected and pinpointed, on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import delete, select, text, update

from charter.audit import ledger, merkle
from charter.audit.checkpoint import sign_checkpoint
from charter.audit.keys import create_signing_key, verifier_key
from charter.audit.verify import Kind, Report, TrustedKeys, _columns_match, trusted_keys
from charter.domain.enums import RiskTier
from charter.domain.identity import SYSTEM_ACTOR
from charter.domain.registry import ModelCreate
from charter.registry import models
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow
from tests.conftest import Admin

EVENTS = 40  # models created; with the admin's and the key's events the log is a bit longer


@dataclass
class Log:
    db: Database
    signer: ledger.Signer
    keys: TrustedKeys
    sizes: list[int]  # checkpointed sizes


@pytest.fixture
def log(db: Database, admin: Admin, tmp_path: Path) -> Log:
    signer = ledger.Signer(create_signing_key(tmp_path / "audit-key.pem"))
    ledger.register_key(db, SYSTEM_ACTOR, signer)
    sizes = []
    for i in range(EVENTS):
        models.create_model(
            db, admin.actor, ModelCreate(name=f"m{i:02d}", risk_tier=RiskTier.MINIMAL)
        )
        if i in (9, 24, EVENTS - 1):
            sizes.append(ledger.take_checkpoint(db, signer).size)
    origin = ledger.head(db).origin
    keys = trusted_keys([verifier_key(origin, signer.key.public_key())])
    return Log(db, signer, keys, sizes)


def verify(log: Log) -> Report:
    return ledger.verify_database(log.db, log.keys)


def execute(db: Database, statement: object) -> None:
    with db.transaction() as session:
        session.execute(statement)  # type: ignore[call-overload]


def entry_of(db: Database, seq: int) -> str:
    with db.rows() as connection:
        entry = str(
            connection.execute(select(t.AuditEvent.entry).where(t.AuditEvent.seq == seq)).scalar()
        )
    assert '"name":"m' in entry, entry  # the edits below change a model's name
    return entry


def test_an_untouched_log_verifies(log: Log) -> None:
    report = verify(log)
    assert report.ok, report.problems
    assert report.size == ledger.head(log.db).size > EVENTS
    assert report.checkpoints_verified == 3 and report.latest_checkpoint == log.sizes[-1]
    assert report.root == ledger.head(log.db).root


def test_an_edited_payload_is_named(log: Log) -> None:
    edited = entry_of(log.db, 7).replace('"name":"m', '"name":"x', 1)
    execute(log.db, update(t.AuditEvent).where(t.AuditEvent.seq == 7).values(entry=edited))
    report = verify(log)
    assert report.first_bad_seq == 7
    assert (report.problems[0].kind, report.problems[0].seq) == (Kind.EDITED, 7)
    assert "no longer hashes to its leaf" in report.problems[0].message


def test_an_edit_with_a_recomputed_leaf_breaks_the_signed_root(log: Log) -> None:
    edited = entry_of(log.db, 30).replace('"name":"m', '"name":"x', 1)
    leaf = merkle.leaf_hash(edited.encode())
    execute(
        log.db,
        update(t.AuditEvent).where(t.AuditEvent.seq == 30).values(entry=edited, leaf=leaf),
    )
    report = verify(log)
    kinds = {p.kind for p in report.problems}
    assert Kind.INCONSISTENT_CHECKPOINT in kinds and Kind.HEAD in kinds
    # the first checkpoint after the edit fails; the ones before still hold
    bad = next(p for p in report.problems if p.kind == Kind.INCONSISTENT_CHECKPOINT)
    assert f"size {log.sizes[2]}" in bad.message and bad.seq == log.sizes[1] + 1
    assert report.latest_checkpoint == log.sizes[1]


def test_an_edited_index_column_is_named(log: Log) -> None:
    execute(log.db, update(t.AuditEvent).where(t.AuditEvent.seq == 12).values(actor="mallory"))
    report = verify(log)
    assert (report.first_bad_seq, report.problems[0].kind) == (12, Kind.EDITED)
    assert "actor" in report.problems[0].message


def test_a_deleted_row_is_named(log: Log) -> None:
    execute(log.db, delete(t.AuditEvent).where(t.AuditEvent.seq == 15))
    report = verify(log)
    assert (report.first_bad_seq, report.problems[0].kind) == (15, Kind.MISSING)


def test_swapped_rows_are_named(log: Log) -> None:
    with log.db.rows() as connection:
        rows = {
            r.seq: r
            for r in connection.execute(select(t.AuditEvent).where(t.AuditEvent.seq.in_([20, 21])))
        }
    for seq, other in ((20, 21), (21, 20)):
        execute(
            log.db,
            update(t.AuditEvent)
            .where(t.AuditEvent.seq == seq)
            .values(
                entry=rows[other].entry,
                leaf=rows[other].leaf,
                at=rows[other].at,
                actor=rows[other].actor,
                action=rows[other].action,
                subject=rows[other].subject,
            ),
        )
    report = verify(log)
    assert (report.first_bad_seq, report.problems[0].kind) == (20, Kind.REORDERED)


def test_a_truncated_tail_is_named_even_with_a_rewound_head(log: Log) -> None:
    keep = log.sizes[2] - 5
    with log.db.rows() as connection:
        leaves = [
            r[0]
            for r in connection.execute(
                select(t.AuditEvent.leaf).where(t.AuditEvent.seq <= keep).order_by(t.AuditEvent.seq)
            )
        ]
    frontier: list[bytes] = []
    for size, leaf in enumerate(leaves):
        frontier, _ = merkle.frontier_append(frontier, size, leaf)
    execute(log.db, delete(t.AuditEvent).where(t.AuditEvent.seq > keep))
    execute(
        log.db,
        update(t.AuditHead).values(size=keep, frontier=merkle.pack_frontier(frontier)),
    )
    report = verify(log)
    assert (report.first_bad_seq, report.problems[0].kind) == (keep + 1, Kind.TRUNCATED)


def test_a_forged_checkpoint_is_refused(log: Log) -> None:
    size = log.sizes[1]
    with log.db.rows() as connection:
        note = connection.execute(
            select(t.AuditCheckpoint.note).where(t.AuditCheckpoint.size == size)
        ).scalar_one()
    lines = note.split("\n")
    lines[2] = base64.b64encode(b"\x07" * 32).decode()  # claim a different root
    execute(
        log.db,
        update(t.AuditCheckpoint)
        .where(t.AuditCheckpoint.size == size)
        .values(note="\n".join(lines)),
    )
    report = verify(log)
    assert report.problems[0].kind == Kind.FORGED_CHECKPOINT
    assert report.first_bad_seq == size


def test_a_replaced_public_key_is_caught_by_the_pinned_key(log: Log) -> None:
    """The attacker edits an entry, re-signs every checkpoint and swaps the stored key."""
    edited = entry_of(log.db, 5).replace('"name":"m', '"name":"x', 1)
    execute(
        log.db,
        update(t.AuditEvent)
        .where(t.AuditEvent.seq == 5)
        .values(entry=edited, leaf=merkle.leaf_hash(edited.encode())),
    )
    with log.db.rows() as connection:
        leaves = [
            r[0] for r in connection.execute(select(t.AuditEvent.leaf).order_by(t.AuditEvent.seq))
        ]
    forger = Ed25519PrivateKey.generate()
    origin = ledger.head(log.db).origin
    execute(
        log.db,
        update(t.AuditKey).values(verifier_key=verifier_key(origin, forger.public_key())),
    )
    for size in log.sizes:
        forged = sign_checkpoint(
            origin, size, merkle.root_of(leaves[:size]), utcnow(), origin, forger
        )
        execute(
            log.db,
            update(t.AuditCheckpoint)
            .where(t.AuditCheckpoint.size == size)
            .values(note=forged.note, root=forged.root, key_hash=forged.key_hash),
        )
    frontier: list[bytes] = []
    for size, leaf in enumerate(leaves):
        frontier, _ = merkle.frontier_append(frontier, size, leaf)
    execute(log.db, update(t.AuditHead).values(frontier=merkle.pack_frontier(frontier)))
    # Trusting the forger's key, everything "verifies": that is why the key is pinned.
    assert ledger.verify_database(
        log.db, trusted_keys([verifier_key(origin, forger.public_key())])
    ).ok
    report = verify(log)
    assert report.problems and {p.kind for p in report.problems} == {Kind.UNTRUSTED_KEY}
    assert "not a trusted key" in report.problems[0].message


def test_a_row_inserted_behind_the_head_is_named(log: Log) -> None:
    size = ledger.head(log.db).size
    entry = json.dumps({"seq": size + 1})
    execute(
        log.db,
        text(
            "INSERT INTO audit_events (seq, at, actor, action, subject, entry, leaf)"
            " VALUES (:seq, :at, 'x', 'x', 'x', :entry, :leaf)"
        ).bindparams(seq=size + 1, at=utcnow(), entry=entry, leaf=b"0" * 32),
    )
    report = verify(log)
    assert (report.first_bad_seq, report.problems[0].kind) == (size + 1, Kind.EXTRA)


def test_a_rewrite_by_the_key_holder_is_caught_by_a_kept_checkpoint(log: Log) -> None:
    """An operator holding the key rewrites history and re-signs; an outsider kept a note."""
    with log.db.rows() as connection:
        kept = connection.execute(
            select(t.AuditCheckpoint.note).where(t.AuditCheckpoint.size == log.sizes[1])
        ).scalar_one()
    edited = entry_of(log.db, 5).replace('"name":"m', '"name":"x', 1)
    execute(
        log.db,
        update(t.AuditEvent)
        .where(t.AuditEvent.seq == 5)
        .values(entry=edited, leaf=merkle.leaf_hash(edited.encode())),
    )
    with log.db.rows() as connection:
        leaves = [
            r[0] for r in connection.execute(select(t.AuditEvent.leaf).order_by(t.AuditEvent.seq))
        ]
    frontier: list[bytes] = []
    for size, leaf in enumerate(leaves):
        frontier, _ = merkle.frontier_append(frontier, size, leaf)
    execute(log.db, update(t.AuditHead).values(frontier=merkle.pack_frontier(frontier)))
    execute(log.db, delete(t.AuditCheckpoint))
    ledger.take_checkpoint(log.db, log.signer)
    assert verify(log).ok  # the database alone cannot tell: the key holder re-signed it
    report = ledger.verify_database(log.db, log.keys, [kept])
    assert not report.ok
    assert report.problems[0].kind == Kind.INCONSISTENT_CHECKPOINT
    assert f"size {log.sizes[1]}" in report.problems[0].message


def test_sound_rows_take_the_fast_path(log: Log) -> None:
    """Every untouched row is recognised without parsing: a regression here would not
    change any verdict, only make verification several times slower."""
    rows = list(ledger.event_rows(log.db, ledger.head(log.db).size))
    assert rows
    for seq, at, actor, action, subject, entry, _ in rows:
        assert _columns_match(bytes(entry), seq, at, actor, action, subject), seq
    seq, at, actor, action, subject, entry, _ = rows[5]
    assert not _columns_match(bytes(entry), seq, at, "mallory", action, subject)
    assert not _columns_match(bytes(entry), seq + 1, at, actor, action, subject)
