"""`charter audit`: reading, checkpoints and verified proofs through a live server, and
verify/export straight from a home's database, on both backends."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import CliRunner, Result
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import select, update

from charter.audit import ledger, log
from charter.audit.checkpoint import sign_checkpoint
from charter.audit.keys import create_signing_key, verifier_key
from charter.cli.main import app
from charter.client.client import Client
from charter.domain.enums import RiskTier
from charter.domain.identity import SYSTEM_ACTOR
from charter.domain.registry import ModelCreate
from charter.registry import models
from charter.settings import Settings
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow
from tests.conftest import Admin

command = typer.main.get_command(app)
runner = CliRunner()


def run(env: dict[str, str], *args: str) -> Result:
    result = runner.invoke(command, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"charter {' '.join(args)} raised {result.exception!r}")
    assert "Traceback" not in result.output
    return result


def remote(server: str, token: str) -> dict[str, str]:
    return {"CHARTER_URL": server, "CHARTER_TOKEN": token}


def local(settings: Settings) -> dict[str, str]:
    # --home names the home; the URL matters for PostgreSQL, whose database lives elsewhere.
    return {"CHARTER_DATABASE_URL": settings.resolved_database_url}


def data(env: dict[str, str], *args: str) -> Any:
    result = run(env, *args, "--json")
    assert result.exit_code == 0, f"charter {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout)


def refused(env: dict[str, str], *args: str, code: int = 1) -> str:
    """The first line on stderr of a command that must exit with `code`."""
    result = run(env, *args)
    assert result.exit_code == code, (result.exit_code, result.output)
    first = result.stderr.strip().splitlines()[0]
    assert first.startswith("error: "), result.stderr
    return first


def test_events_checkpoints_keys_and_proofs(
    signed_server: str, admin: Admin, settings: Settings, tmp_path: Path
) -> None:
    env = remote(signed_server, admin.token)
    with Client(signed_server, admin.token) as sdk:
        sdk.create_model("churn", RiskTier.LIMITED)
        sdk.create_model("fraud", RiskTier.HIGH)
        sdk.create_principal("alice", ["validator"])

    created = data(env, "audit", "events", "--action", "model.*")
    assert [e["subject"] for e in created["items"]] == ["model:churn", "model:fraud"]
    assert {e["actor"] for e in created["items"]} == {"admin"}
    churn = data(env, "audit", "events", "--subject", "model:churn")["items"]
    assert [e["action"] for e in churn] == ["model.create"]
    first = data(env, "audit", "events", "--limit", "1")
    assert len(first["items"]) == 1 and first["next_cursor"]
    everything = data(env, "audit", "events", "--limit", "2", "--all")["items"]
    seqs = [e["seq"] for e in everything]
    assert seqs == list(range(1, len(seqs) + 1)) and len(seqs) >= 4
    assert data(env, "audit", "events", "--since", "2999-01-01")["items"] == []
    assert data(env, "audit", "events", "--until", "2999-01-01T00:00:00Z")["items"] == everything
    assert data(env, "audit", "events", "--actor", "nobody")["items"] == []
    text = run(env, "audit", "events").stdout
    assert "model.create" in text and "model:fraud" in text and "principal:alice" in text
    assert "not an ISO 8601 time" in refused(env, "audit", "events", "--since", "yesterday")

    seq = churn[0]["seq"]
    event = data(env, "audit", "show", str(seq))
    assert event["subject"] == "model:churn" and json.loads(event["entry"])["seq"] == seq
    shown = run(env, "audit", "show", str(seq)).stdout
    assert "model:churn" in shown and '"principal": "admin"' in shown
    assert "no audit event 999" in refused(env, "audit", "show", "999")

    # A checkpoint, its note as plain text, and the key that signed it.
    signed = data(env, "audit", "checkpoint")
    size = signed["size"]
    assert size == len(data(env, "audit", "events", "--all")["items"])
    assert run(env, "audit", "latest").stdout == signed["note"]
    assert data(env, "audit", "latest")["size"] == size
    people = run(env, "audit", "checkpoint").stdout  # same size: the same checkpoint again
    assert signed["note"] in people and signed["root_hash"] in people
    [key] = data(env, "audit", "keys")
    assert key["key_hash"] == signed["key_hash"] and key["verifier_key"].startswith(
        f"{signed['origin']}+{signed['key_hash']}+"
    )
    assert key["verifier_key"] in run(env, "audit", "keys").stdout
    vkey = key["verifier_key"]

    # Proofs are fetched and checked here; with --key against the signed checkpoint.
    proved = data(env, "audit", "proof", "inclusion", str(seq), "--key", vkey)
    assert proved["verified"] and proved["signed"] and proved["proof"]["tree_size"] == size
    unsigned = data(env, "audit", "proof", "inclusion", "1", "--size", "2")
    assert unsigned["verified"] and not unsigned["signed"]
    assert "verified: event 1 is in the log" in run(env, "audit", "proof", "inclusion", "1").stdout
    assert "tree size must be between" in refused(
        env, "audit", "proof", "inclusion", "1", "--size", str(size + 50)
    )

    with Client(signed_server, admin.token) as sdk:
        sdk.create_model("credit", RiskTier.HIGH)
    newer = data(env, "audit", "checkpoint")["size"]
    assert newer > size
    listed = data(env, "audit", "checkpoints")["items"]
    assert [c["size"] for c in listed] == [size, newer]
    assert str(newer) in run(env, "audit", "checkpoints").stdout
    grown = data(env, "audit", "proof", "consistency", str(size), "--key", vkey)
    assert grown["verified"] and grown["proof"]["new_size"] == newer
    said = run(env, "audit", "proof", "consistency", str(size), str(newer), "--key", vkey)
    assert said.exit_code == 0 and "verified: the log of" in said.stdout
    assert data(env, "audit", "proof", "consistency", "1", "3")["verified"]
    # A key that is not the log's: the proofs hold, but nothing vouches for the roots.
    stranger = verifier_key(signed["origin"], Ed25519PrivateKey.generate().public_key())
    for args in (("inclusion", str(seq)), ("consistency", str(size))):
        assert "does not verify" in refused(env, "audit", "proof", *args, "--key", stranger)
    assert "no signed checkpoint of size 1" in refused(
        env, "audit", "proof", "consistency", "1", "--key", vkey
    )

    # Export through the server, then verify the bundle with the pinned key.
    bundle = tmp_path / "via-server.zip"
    exported = data(env, "audit", "export", "--out", str(bundle))
    assert exported["source"].startswith("the server") and exported["size"] >= newer
    assert "already exists" in refused(env, "audit", "export", "--out", str(bundle))
    checked = data({}, "audit", "verify", "--bundle", str(bundle), "--key", vkey)
    assert checked["ok"] and checked["checkpoints_verified"] == 2


def test_checkpoint_without_a_signing_key_says_how_to_get_one(server: str, admin: Admin) -> None:
    env = remote(server, admin.token)
    line = refused(env, "audit", "checkpoint")
    assert "no audit signing key" in line and "charter init" in line
    assert "no checkpoint has been signed yet" in refused(env, "audit", "latest")
    assert data(env, "audit", "keys") == []
    assert data(env, "audit", "checkpoints")["items"] == []


@pytest.fixture
def home_log(settings: Settings, db: Database, admin: Admin) -> str:
    """A home with a signing key, some events and two checkpoints; returns the verifier key."""
    signer = ledger.Signer(create_signing_key(settings.resolved_audit_key))
    ledger.register_key(db, SYSTEM_ACTOR, signer)
    for i in range(6):
        models.create_model(db, admin.actor, ModelCreate(name=f"m{i}", risk_tier=RiskTier.MINIMAL))
        if i in (2, 5):
            ledger.take_checkpoint(db, signer)
    return verifier_key(ledger.head(db).origin, signer.key.public_key())


def test_verify_home_finds_an_edited_entry(
    settings: Settings, db: Database, home_log: str, tmp_path: Path
) -> None:
    env, home = local(settings), str(settings.home)
    healthy = data(env, "audit", "verify", "--home", home)
    assert healthy["ok"] and healthy["first_bad_seq"] is None
    assert healthy["size"] == ledger.head(db).size and healthy["checkpoints_verified"] == 2
    assert healthy["events_per_second"] >= 0 and "signing key" in healthy["trust"]
    text = run(env, "audit", "verify", "--home", home, "--key", home_log)
    assert text.exit_code == 0 and "verified:" in text.stdout and "--key" in text.stdout

    # A note kept outside Charter is checked too; one signed by another key is refused.
    kept = tmp_path / "kept.note"
    kept.write_text(ledger.latest_checkpoint(db).note)
    assert data(env, "audit", "verify", "--home", home, "--checkpoint", str(kept))["ok"]
    stranger = Ed25519PrivateKey.generate()
    head = ledger.head(db)
    forged = tmp_path / "forged.note"
    forged.write_text(
        sign_checkpoint(head.origin, head.size, head.root, utcnow(), head.origin, stranger).note
    )
    line = refused(env, "audit", "verify", "--home", home, "--checkpoint", str(forged))
    assert "not a trusted key" in line
    missing = str(tmp_path / "nothing.note")
    assert "cannot read" in refused(
        env, "audit", "verify", "--home", home, "--checkpoint", missing, code=2
    )

    with db.rows() as connection:
        entry = connection.execute(
            select(t.AuditEvent.entry).where(t.AuditEvent.seq == 3)
        ).scalar_one()
    assert entry is not None
    record = json.loads(entry)
    record["change"] = {"forged": True}
    with db.transaction() as session:
        session.execute(
            update(t.AuditEvent).where(t.AuditEvent.seq == 3).values(entry=log.canonical(record))
        )
    line = refused(env, "audit", "verify", "--home", home)
    assert "first bad seq 3" in line and "edited" in line
    damaged = run(env, "audit", "verify", "--home", home, "--json")
    assert damaged.exit_code == 1
    report = json.loads(damaged.stdout)
    assert not report["ok"] and report["first_bad_seq"] == 3
    assert report["problems"][0]["kind"] == "edited" and report["problems"][0]["seq"] == 3
    assert "problems" in run(env, "audit", "verify", "--home", home).stdout

    # No trusted key at all is a usage problem, not a verdict.
    settings.resolved_audit_key.rename(tmp_path / "moved.pem")
    assert "no trusted key" in refused(env, "audit", "verify", "--home", home, code=2)
    assert "--key" in refused(env, "audit", "verify", "--home", home, "--key", "junk", code=2)


def test_verify_needs_a_home_that_exists(tmp_path: Path) -> None:
    line = refused({}, "audit", "verify", "--home", str(tmp_path / "nowhere"), code=2)
    assert "no Charter database" in line
    assert not (tmp_path / "nowhere").exists()  # looking must not create an empty database


def test_export_home_then_verify_the_bundle(
    settings: Settings, db: Database, home_log: str, tmp_path: Path
) -> None:
    env, home, out = local(settings), str(settings.home), tmp_path / "audit.zip"
    exported = data(env, "audit", "export", "--out", str(out), "--home", home)
    assert exported["size"] == ledger.head(db).size and exported["source"].startswith("the data")
    assert exported["root"] == ledger.head(db).root.hex()
    assert "already exists" in refused(env, "audit", "export", "--out", str(out), "--home", home)

    pinned = data({}, "audit", "verify", "--bundle", str(out), "--key", home_log)
    assert pinned["ok"] and pinned["checkpoints_verified"] == 2 and pinned["trust"] == "pinned keys"
    own = run({}, "audit", "verify", "--bundle", str(out))
    assert own.exit_code == 0 and "not pinned" in own.stdout

    origin = ledger.head(db).origin
    stranger = verifier_key(origin, Ed25519PrivateKey.generate().public_key())
    line = refused({}, "audit", "verify", "--bundle", str(out), "--key", stranger)
    key_hash = home_log.split("+")[1]
    assert "not a trusted key" in line and f"{origin}+{key_hash}" in line

    garbage = tmp_path / "garbage.zip"
    garbage.write_bytes(b"not a zip")
    assert "not a readable" in refused({}, "audit", "verify", "--bundle", str(garbage), code=2)
    missing = str(tmp_path / "missing.zip")
    assert "no bundle at" in refused({}, "audit", "verify", "--bundle", missing, code=2)
    both = ("audit", "verify", "--bundle", str(out), "--home", home)
    assert "not both" in refused({}, *both, code=2)
    kept = ("audit", "verify", "--bundle", str(out), "--checkpoint", str(out))
    assert "works with --home" in refused({}, *kept, code=2)


def test_archive_keeps_the_retention_period(
    settings: Settings, db: Database, home_log: str, tmp_path: Path
) -> None:
    env, home, out = local(settings), str(settings.home), tmp_path / "archive.zip"
    recent = refused(env, "audit", "archive", "--before", "2099-01-01", "--out", str(out))
    assert "183 days" in recent and "Art. 19" in recent
    old = refused(
        env, "audit", "archive", "--before", "2001-01-01", "--out", str(out), "--home", home
    )
    assert "no event before" in old
    assert "not an ISO 8601" in refused(
        env, "audit", "archive", "--before", "soon", "--out", str(out), code=2
    )
    assert not out.exists()
    assert data(env, "audit", "verify", "--home", home)["archived"] == 0
