"""Archiving moves old entries to a verified bundle; the tree, the rows and queries remain."""

from __future__ import annotations

import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from charter.audit import bundle, ledger, log
from charter.audit.keys import create_signing_key, verifier_key
from charter.audit.verify import Kind, trusted_keys
from charter.domain.errors import InvalidInput
from charter.domain.identity import SYSTEM_ACTOR
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow


def fill(db: Database, count: int, start: int = 0) -> None:
    with db.transaction() as session:
        for i in range(start, start + count):
            log.append(session, SYSTEM_ACTOR, "test.fill", f"item:{i}", {"i": i})


@pytest.fixture
def signer(db: Database, tmp_path: Path) -> ledger.Signer:
    found = ledger.Signer(create_signing_key(tmp_path / "key.pem"))
    ledger.register_key(db, SYSTEM_ACTOR, found)
    return found


def keys_of(db: Database, signer: ledger.Signer) -> dict[str, object]:
    return trusted_keys([verifier_key(ledger.head(db).origin, signer.key.public_key())])


def test_archive_round_trip(db: Database, signer: ledger.Signer, tmp_path: Path) -> None:
    fill(db, 300)
    keys = keys_of(db, signer)
    first = bundle.archive(db, SYSTEM_ACTOR, utcnow(), tmp_path / "a1.zip", 0, signer)
    through = first["size"]
    assert first["archived_from"] == 1 and through == 301  # the key registration, then 300
    report, _ = bundle.verify_bundle(tmp_path / "a1.zip", keys)  # type: ignore[arg-type]
    assert report.ok and report.size == through and report.checkpoints_verified >= 1
    with db.rows() as connection:
        entries = connection.execute(
            select(t.AuditEvent.seq, t.AuditEvent.entry).order_by(t.AuditEvent.seq)
        ).all()
    assert all(entry is None for seq, entry in entries if seq <= through)
    assert all(entry is not None for seq, entry in entries if seq > through)
    assert ledger.head(db).archived_through == through
    # the rows stay: queries by action still find the archived events
    assert len(ledger.list_events(db, action="test.fill", limit=1000).items) == 300
    [event] = ledger.list_events(db, action="audit.archive").items
    assert f'"through_seq":{through}' in str(event.entry)
    whole = ledger.verify_database(db, keys)  # type: ignore[arg-type]
    assert whole.ok and whole.archived == through

    fill(db, 50, start=300)
    second = bundle.archive(db, SYSTEM_ACTOR, utcnow(), tmp_path / "a2.zip", 0, signer)
    assert second["archived_from"] == through + 1
    report, _ = bundle.verify_bundle(tmp_path / "a2.zip", keys)  # type: ignore[arg-type]
    assert report.ok and report.archived == through
    with zipfile.ZipFile(tmp_path / "a2.zip") as archive:
        first_line = archive.read("events.jsonl").split(b"\n")[0]
    assert first_line.startswith(b'{"archived":true,"leaf":')
    bundle.export_bundle(db, tmp_path / "all.zip")
    report, _ = bundle.verify_bundle(tmp_path / "all.zip", keys)  # type: ignore[arg-type]
    assert report.ok and report.size == ledger.head(db).size


def test_recent_events_are_never_archived(
    db: Database, signer: ledger.Signer, tmp_path: Path
) -> None:
    fill(db, 10)
    with pytest.raises(InvalidInput, match="183 days"):
        bundle.archive(db, SYSTEM_ACTOR, utcnow() - timedelta(days=30), tmp_path / "a.zip", 183)
    with pytest.raises(InvalidInput, match="no event before"):
        bundle.archive(db, SYSTEM_ACTOR, utcnow() - timedelta(days=400), tmp_path / "b.zip", 183)
    assert not (tmp_path / "a.zip").exists() and not (tmp_path / "b.zip").exists()
    assert ledger.head(db).archived_through == 0


def test_an_entry_removed_beyond_the_archive_mark_is_named(
    db: Database, signer: ledger.Signer, tmp_path: Path
) -> None:
    fill(db, 20)
    bundle.archive(db, SYSTEM_ACTOR, utcnow(), tmp_path / "a.zip", 0, signer)
    fill(db, 20, start=20)
    victim = ledger.head(db).size - 3
    with db.transaction() as session:
        session.execute(update(t.AuditEvent).where(t.AuditEvent.seq == victim).values(entry=None))
    report = ledger.verify_database(db, keys_of(db, signer))  # type: ignore[arg-type]
    assert (report.first_bad_seq, report.problems[0].kind) == (victim, Kind.EDITED)
