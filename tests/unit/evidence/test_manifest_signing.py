"""Signed manifest statements: round trip, and every kind of tampering caught and named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.artifacts.manifest import hash_file
from charter.evidence import manifest_signing as signing


@pytest.fixture
def model_dir(tmp_path: Path) -> Path:
    root = tmp_path / "model"
    (root / "sub").mkdir(parents=True)
    (root / "model.skops").write_bytes(b"weights" * 1000)
    (root / "sub" / "meta.json").write_text('{"k": 1}')
    return root


def statement_for(root: Path, key: Ed25519PrivateKey) -> dict[str, object]:
    files = []
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        info = hash_file(path)
        files.append(
            {"path": path.relative_to(root).as_posix(), "size": info.size, "sha256": info.sha256}
        )
    return signing.sign("credit", 3, "d" * 64, files, key, "2026-11-24T00:00:00+00:00", "charter")


def test_round_trip_and_offline_file(model_dir: Path) -> None:
    key = Ed25519PrivateKey.generate()
    keys = {signing.key_id(key.public_key()): key.public_key()}
    statement = statement_for(model_dir, key)
    assert signing.verify_statement(statement, keys) == []
    signing.write_statement(model_dir, statement)  # lives beside the files, is ignored
    assert signing.verify_directory(model_dir, statement, keys) == []
    again = json.loads((model_dir / signing.STATEMENT_FILE).read_text())
    assert signing.verify_directory(model_dir, again, keys) == []


def test_a_changed_byte_is_caught_and_named(model_dir: Path) -> None:
    key = Ed25519PrivateKey.generate()
    keys = {signing.key_id(key.public_key()): key.public_key()}
    statement = statement_for(model_dir, key)
    data = bytearray((model_dir / "model.skops").read_bytes())
    data[100] ^= 1
    (model_dir / "model.skops").write_bytes(bytes(data))
    problems = signing.verify_directory(model_dir, statement, keys)
    assert len(problems) == 1 and problems[0].startswith("model.skops: changed")


def test_missing_extra_and_resized_files(model_dir: Path) -> None:
    key = Ed25519PrivateKey.generate()
    keys = {signing.key_id(key.public_key()): key.public_key()}
    statement = statement_for(model_dir, key)
    (model_dir / "sub" / "meta.json").unlink()
    (model_dir / "extra.bin").write_bytes(b"x")
    (model_dir / "model.skops").write_bytes(b"short")
    problems = signing.verify_directory(model_dir, statement, keys)
    assert "sub/meta.json: missing" in problems
    assert "extra.bin: not in the signed manifest" in problems
    assert any(p.startswith("model.skops: size 5") for p in problems)


def test_forged_edited_and_unknown_key(model_dir: Path) -> None:
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    keys = {signing.key_id(key.public_key()): key.public_key()}
    statement = statement_for(model_dir, key)
    edited = {**statement, "version": 4}
    assert "does not verify" in signing.verify_statement(edited, keys)[0]
    moved = {**statement, "manifest_digest": "e" * 64}
    assert signing.verify_statement(moved, keys)
    forged = statement_for(model_dir, other)
    assert "unknown key" in signing.verify_statement(forged, keys)[0]
    # A forger who reuses the trusted key id still fails the signature check.
    forged["key_id"] = statement["key_id"]
    assert "does not verify" in signing.verify_statement(forged, keys)[0]
    garbage = {**statement, "signature": "not base64!"}
    assert "does not verify" in signing.verify_statement(garbage, keys)[0]
    assert signing.verify_statement({"format": "x"}, keys)
