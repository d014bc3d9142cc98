"""Tests for the audit signing key file and its signed-note key ID and verifier key."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.audit.keys import (
    KeyFileError,
    create_signing_key,
    is_valid_key_name,
    key_id,
    load_public_key,
    load_signing_key,
    parse_verifier_key,
    public_key_bytes,
    public_key_pem,
    verifier_key,
)

# Published in golang.org/x/mod sumdb/note/note.go (package doc), note_test.go
# (TestNewVerifier, TestNewSigner) and example_test.go: a signer key, whose base64 part
# is 0x01 followed by the Ed25519 seed, and its verifier key.
PETER_SKEY = "PRIVATE+KEY+PeterNeumann+c74f20a3+AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
# Published in C2SP/C2SP signed-note.md, section "Verifier keys", "Example".
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"


def peter_key() -> Ed25519PrivateKey:
    seed = base64.b64decode(PETER_SKEY.split("+", 4)[4])  # base64 may hold "+" too
    assert seed[0] == 0x01
    return Ed25519PrivateKey.from_private_bytes(seed[1:])


def write_pem(path: Path, pem: bytes, mode: int = 0o600) -> Path:
    path.write_bytes(pem)
    path.chmod(mode)
    return path


# --- the key file ------------------------------------------------------------------------


def test_created_key_loads_back_as_the_same_key(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    key = create_signing_key(path)
    loaded = load_signing_key(path)
    assert public_key_bytes(loaded) == public_key_bytes(key)
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----\n")  # PKCS#8


@pytest.mark.parametrize("umask", [0o000, 0o022, 0o277])
def test_created_key_file_has_mode_0600_whatever_the_umask(tmp_path: Path, umask: int) -> None:
    old = os.umask(umask)
    try:
        path = tmp_path / "audit.key"
        create_signing_key(path)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_existing_key_file_is_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    create_signing_key(path)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match="already exists; refusing to overwrite"):
        create_signing_key(path)
    assert path.read_bytes() == before


def test_create_in_a_missing_directory_says_which(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist; create it first"):
        create_signing_key(tmp_path / "nowhere" / "audit.key")


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620, 0o602, 0o610])
def test_key_accessible_by_others_is_refused_with_the_fix(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "audit.key"
    create_signing_key(path)
    path.chmod(mode)
    with pytest.raises(KeyFileError) as caught:
        load_signing_key(path)
    message = str(caught.value)
    assert str(path) in message
    assert f"chmod 600 {path}" in message
    assert f"{mode:04o}" in message


def test_owner_read_only_key_loads(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    create_signing_key(path)
    path.chmod(0o400)
    load_signing_key(path)


def test_missing_key_file_names_the_path(tmp_path: Path) -> None:
    path = tmp_path / "audit.key"
    with pytest.raises(KeyFileError, match="no signing key at") as caught:
        load_signing_key(path)
    assert str(path) in str(caught.value)


def test_directory_is_not_a_key(tmp_path: Path) -> None:
    if os.name == "posix":
        tmp_path.chmod(0o700)
    with pytest.raises(KeyFileError, match=r"not a regular file|cannot read"):
        load_signing_key(tmp_path)


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not a key at all\n",
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        os.urandom(119),
    ],
)
def test_garbage_key_file_is_refused(tmp_path: Path, data: bytes) -> None:
    path = write_pem(tmp_path / "audit.key", data)
    with pytest.raises(KeyFileError, match="does not hold a PEM private key"):
        load_signing_key(path)


def test_non_ed25519_key_is_refused(tmp_path: Path) -> None:
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = write_pem(tmp_path / "audit.key", pem)
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        load_signing_key(path)


def test_encrypted_key_is_refused(tmp_path: Path) -> None:
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"secret"),
    )
    path = write_pem(tmp_path / "audit.key", pem)
    with pytest.raises(KeyFileError, match="is encrypted"):
        load_signing_key(path)


# --- public forms ------------------------------------------------------------------------


def test_public_forms_round_trip() -> None:
    key = Ed25519PrivateKey.generate()
    raw = public_key_bytes(key)
    assert len(raw) == 32
    assert public_key_bytes(key.public_key()) == raw
    pem = public_key_pem(key.public_key())
    assert pem.startswith("-----BEGIN PUBLIC KEY-----\n")
    assert "PRIVATE" not in public_key_pem(key)
    assert public_key_bytes(load_public_key(pem)) == raw
    assert public_key_bytes(load_public_key(pem.encode())) == raw
    assert public_key_bytes(load_public_key(raw)) == raw


@pytest.mark.parametrize(
    "value",
    [b"", b"\x00" * 31, b"\x00" * 33, "", "garbage", "\ud800", b"-----BEGIN PUBLIC KEY-----\n"],
)
def test_garbage_public_key_is_refused(value: str | bytes) -> None:
    with pytest.raises(KeyFileError, match="not a public key"):
        load_public_key(value)


def test_non_ed25519_public_key_is_refused() -> None:
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyFileError, match="expected an Ed25519 public key"):
        load_public_key(pem)


# --- key ID and verifier key -------------------------------------------------------------


def test_key_id_and_verifier_key_match_the_go_published_vector() -> None:
    key = peter_key()
    assert key_id("PeterNeumann", key) == "c74f20a3"
    assert verifier_key("PeterNeumann", key.public_key()) == PETER_VKEY


def test_verifier_key_parses_to_name_and_key() -> None:
    name, public = parse_verifier_key(PETER_VKEY)
    assert name == "PeterNeumann"
    assert public_key_bytes(public) == public_key_bytes(peter_key())
    # Trailing newline, as read from a file, is tolerated.
    assert parse_verifier_key(PETER_VKEY + "\n")[0] == "PeterNeumann"


def test_c2sp_published_verifier_key_parses_and_its_id_recomputes() -> None:
    name, public = parse_verifier_key(C2SP_VKEY)
    assert name == "example.com/foo"
    assert verifier_key(name, public) == C2SP_VKEY


def test_verifier_key_round_trips_for_a_fresh_key() -> None:
    key = Ed25519PrivateKey.generate().public_key()
    vkey = verifier_key("charter.example.com/audit", key)
    name, parsed = parse_verifier_key(vkey)
    assert name == "charter.example.com/audit"
    assert public_key_bytes(parsed) == public_key_bytes(key)


def test_key_id_depends_on_name_and_key() -> None:
    key = peter_key()
    assert key_id("PeterNeumann2", key) != key_id("PeterNeumann", key)
    assert key_id("PeterNeumann", Ed25519PrivateKey.generate()) != "c74f20a3"


def test_every_mangled_verifier_key_is_refused() -> None:
    # As TestNewVerifier in golang.org/x/mod sumdb/note/note_test.go: every proper
    # substring and every single-character increment must fail.
    for i in range(len(PETER_VKEY) + 1):
        for j in range(i + 1, len(PETER_VKEY) + 1):
            if (i, j) != (0, len(PETER_VKEY)):
                with pytest.raises(KeyFileError):
                    parse_verifier_key(PETER_VKEY[i:j])
    for i, ch in enumerate(PETER_VKEY):
        with pytest.raises(KeyFileError):
            parse_verifier_key(PETER_VKEY[:i] + chr(ord(ch) + 1) + PETER_VKEY[i + 1 :])


@pytest.mark.parametrize(
    ("vkey", "message"),
    [
        # Both from TestNewVerifier: a 36-byte key, and algorithm 0x65; key IDs adjusted.
        (
            "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
            "32 bytes",
        ),
        ("PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "not an Ed25519"),
        ("PeterNeumann+c74f20a4+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "does not match"),
        ("PeterNeumann+c74f20a3", "malformed"),
        ("PeterNeumann+c74f20+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW", "8 hex digits"),
        ("PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10T", "not base64"),
    ],
)
def test_bad_verifier_keys_say_what_is_wrong(vkey: str, message: str) -> None:
    with pytest.raises(KeyFileError, match=message):
        parse_verifier_key(vkey)


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\nb", "a\tb", "a\u00a0b", "a\u2003b"])
def test_invalid_key_names_are_refused(name: str) -> None:
    assert not is_valid_key_name(name)
    with pytest.raises(ValueError, match="invalid key name"):
        key_id(name, peter_key())


@pytest.mark.parametrize("name", ["PeterNeumann", "charter.example.com/audit", "ünïcode/名前"])
def test_valid_key_names_are_accepted(name: str) -> None:
    assert is_valid_key_name(name)
    assert len(key_id(name, peter_key())) == 8
