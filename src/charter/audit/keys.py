"""The audit log's Ed25519 signing key: its file, its public forms and its verifier key.

Key hashes and verifier keys follow c2sp.org/signed-note (the rules of Go's
golang.org/x/mod/sumdb/note) and are written by hand: no maintained Python library
implements signed notes, and the rules are one hash and one string format.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import stat
from pathlib import Path

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "ED25519_SIGNATURE_TYPE",
    "KeyFileError",
    "create_signing_key",
    "is_valid_key_name",
    "key_id",
    "load_public_key",
    "load_signing_key",
    "parse_verifier_key",
    "public_key_bytes",
    "public_key_pem",
    "verifier_key",
]

# The signed-note signature type byte of Ed25519; it is hashed into the key ID so the
# same key material under another algorithm gets another ID.
ED25519_SIGNATURE_TYPE = 0x01

_O_BINARY = getattr(os, "O_BINARY", 0)  # Windows only; without it text mode mangles bytes
_MAX_KEY_FILE = 64 * 1024  # a PEM Ed25519 key is 119 bytes; anything huge is not a key
_KEY_HASH = re.compile(r"[0-9a-fA-F]{8}")


class KeyFileError(Exception):
    """A key file or encoded key cannot be used; the message says what to fix."""


def create_signing_key(path: Path) -> Ed25519PrivateKey:
    """Generate a key and write it to a new file as PKCS#8 PEM, mode 0600 from the start.

    The file is created with O_EXCL, so an existing key is never overwritten: losing it
    would leave every checkpoint it signed verifiable only by whoever kept its public key.
    """
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _O_BINARY, 0o600)
    except FileExistsError:
        raise KeyFileError(
            f"{path} already exists; refusing to overwrite a signing key. Load it instead, "
            "or move it away first if you really mean to replace it"
        ) from None
    except FileNotFoundError:
        raise KeyFileError(
            f"cannot create signing key {path}: directory {path.parent} does not exist; "
            "create it first"
        ) from None
    except OSError as exc:
        raise KeyFileError(f"cannot create signing key {path}: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "wb") as out:
            if os.name == "posix":
                # The umask may have cleared owner bits; the promise is exactly 0600.
                os.fchmod(out.fileno(), 0o600)
            out.write(pem)
            out.flush()
            os.fsync(out.fileno())
    except OSError as exc:
        # A half-written key would block the next attempt with "already exists".
        path.unlink(missing_ok=True)
        raise KeyFileError(f"cannot write signing key {path}: {exc.strerror}") from exc
    return key


def load_signing_key(path: Path) -> Ed25519PrivateKey:
    """Read an Ed25519 private key from a PEM file that only its owner can access."""
    try:
        fd = os.open(path, os.O_RDONLY | _O_BINARY)
    except FileNotFoundError:
        raise KeyFileError(
            f"no signing key at {path}; `charter init` creates one, or point Charter at "
            "the home that holds it"
        ) from None
    except OSError as exc:
        raise KeyFileError(
            f"cannot read signing key {path}: {exc.strerror}; make it readable by the "
            "user that runs Charter"
        ) from exc
    try:
        # fstat on the open file, so the mode checked is the mode of the bytes read.
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise KeyFileError(f"signing key {path} is not a regular file")
        if os.name == "posix" and info.st_mode & 0o077:
            raise KeyFileError(
                f"signing key {path} is accessible by group or others "
                f"(mode {stat.S_IMODE(info.st_mode):04o}); run `chmod 600 {path}`"
            )
        with os.fdopen(fd, "rb", closefd=False) as src:
            data = src.read(_MAX_KEY_FILE + 1)
    finally:
        os.close(fd)
    if len(data) > _MAX_KEY_FILE:
        raise KeyFileError(f"{path} is too large to be a PEM signing key")
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise KeyFileError(
            f"signing key {path} is encrypted; Charter needs an unencrypted PKCS#8 PEM key, "
            "protected by its file mode 0600"
        ) from None
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(
            f"{path} does not hold a PEM private key; restore the signing key from its "
            "backup (a new key cannot sign as the old one)"
        ) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(
            f"{path} holds a {type(key).__name__}, not an Ed25519 key; the audit log signs "
            "with Ed25519 only"
        )
    return key


def _public(key: Ed25519PrivateKey | Ed25519PublicKey) -> Ed25519PublicKey:
    return key.public_key() if isinstance(key, Ed25519PrivateKey) else key


def public_key_bytes(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    """The 32-byte RFC 8032 encoding of the public key."""
    return _public(key).public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_pem(public_key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The public key as SubjectPublicKeyInfo PEM (never the private part)."""
    pem = _public(public_key).public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


def load_public_key(pem_or_raw: str | bytes) -> Ed25519PublicKey:
    """An Ed25519 public key from SubjectPublicKeyInfo PEM text or its raw 32 bytes."""
    if isinstance(pem_or_raw, bytes) and len(pem_or_raw) == 32:
        return Ed25519PublicKey.from_public_bytes(pem_or_raw)
    try:
        data = pem_or_raw.encode("utf-8") if isinstance(pem_or_raw, str) else pem_or_raw
        key = serialization.load_pem_public_key(data)
    except (ValueError, UnsupportedAlgorithm):
        raise KeyFileError(
            "not a public key: expected PEM text starting with '-----BEGIN PUBLIC KEY-----' "
            "or the 32 raw bytes of an Ed25519 public key"
        ) from None
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(
            f"expected an Ed25519 public key, got a {type(key).__name__}; the audit log "
            "signs with Ed25519 only"
        )
    return key


def is_valid_key_name(name: str) -> bool:
    """Whether name may name a signed-note key: non-empty, no spaces, no '+'.

    Control characters are refused too, because a signed note may not contain them.
    """
    if not name or "+" in name:
        return False
    if any(ch.isspace() or ch < " " for ch in name):
        return False
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate is not UTF-8
        return False
    return True


def _key_hash(name: str, public_key: Ed25519PublicKey | Ed25519PrivateKey) -> bytes:
    if not is_valid_key_name(name):
        raise ValueError(
            f"invalid key name {name!r}: it must be non-empty, without spaces, control "
            "characters or '+', e.g. the log's origin 'charter.example.com/audit'"
        )
    material = bytes([ED25519_SIGNATURE_TYPE]) + public_key_bytes(public_key)
    return hashlib.sha256(name.encode("utf-8") + b"\n" + material).digest()[:4]


def key_id(name: str, public_key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The signed-note key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4], as 8 hex."""
    return _key_hash(name, public_key).hex()


def verifier_key(name: str, public_key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The signed-note verifier key: '<name>+<hex key ID>+<base64(0x01 || public key)>'."""
    material = bytes([ED25519_SIGNATURE_TYPE]) + public_key_bytes(public_key)
    encoded = base64.b64encode(material).decode("ascii")
    return f"{name}+{key_id(name, public_key)}+{encoded}"


def parse_verifier_key(text: str) -> tuple[str, Ed25519PublicKey]:
    """The key name and Ed25519 public key of a verifier key, after checking its key ID."""
    usage = "a verifier key is '<name>+<8 hex digits>+<base64 of 0x01 and 32 key bytes>'"
    # Base64 may itself contain '+', so only the first two separate fields.
    parts = text.strip().split("+", 2)
    if len(parts) != 3:
        raise KeyFileError(f"malformed verifier key {text!r}: {usage}")
    name, hash_hex, encoded = parts
    if not is_valid_key_name(name):
        raise KeyFileError(f"malformed verifier key {text!r}: invalid key name; {usage}")
    if not _KEY_HASH.fullmatch(hash_hex):
        raise KeyFileError(f"malformed verifier key {text!r}: key ID is not 8 hex digits")
    try:
        material = base64.b64decode(encoded, validate=True)
    except binascii.Error:
        raise KeyFileError(f"malformed verifier key {text!r}: key is not base64") from None
    if not material or material[0] != ED25519_SIGNATURE_TYPE:
        raise KeyFileError(
            f"verifier key {text!r} is not an Ed25519 key (signature type 0x01); the audit "
            "log signs with Ed25519 only"
        )
    if len(material) != 33:
        raise KeyFileError(
            f"malformed verifier key {text!r}: an Ed25519 key is 32 bytes, got {len(material) - 1}"
        )
    public_key = Ed25519PublicKey.from_public_bytes(material[1:])
    if key_id(name, public_key) != hash_hex.lower():
        raise KeyFileError(
            f"verifier key {text!r} is corrupt: its key ID does not match its name and key; "
            "copy it again from its source"
        )
    return name, public_key
