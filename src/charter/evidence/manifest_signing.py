"""Signed statements over a model version's manifest, and their verification, also
offline against a directory of downloaded files.

Written here rather than with OpenSSF `model-signing` (1.1.1): that package signs and
verifies offline with local keys, but only elliptic-curve keys (an Ed25519 key fails with
"object has no attribute 'curve'"), and it needs pyOpenSSL, which it does not declare,
plus the Sigstore client. Charter signs with Ed25519 (the issue's choice, and the key type
of its audit log), so the statement format is Charter's own and small: canonical JSON of
the model, version, manifest digest and every file's path, size and SHA-256, signed with
Ed25519. A verifier needs only this file, the model files and the public key.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from charter.artifacts.manifest import hash_file

STATEMENT_FILE = ".charter-signature.json"
FORMAT = "charter.manifest-signature/1"
ALGORITHM = "ed25519"


def key_id(public_key: Ed25519PublicKey) -> str:
    """A short stable name for a public key: the first 16 bytes of SHA-256 of its raw bytes."""
    raw = public_key.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]


def _payload(statement: Mapping[str, Any]) -> bytes:
    body = {k: v for k, v in statement.items() if k != "signature"}
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(
    model: str,
    version: int,
    manifest_digest: str,
    files: list[dict[str, Any]],
    key: Ed25519PrivateKey,
    signed_at: str,
    signer: str,
) -> dict[str, Any]:
    """The signed statement: `files` are {path, size, sha256}; `signer` names who signed
    (a principal's name, or "charter" for the server's key)."""
    statement: dict[str, Any] = {
        "format": FORMAT,
        "model": model,
        "version": version,
        "manifest_digest": manifest_digest,
        "files": sorted(
            ({"path": f["path"], "size": f["size"], "sha256": f["sha256"]} for f in files),
            key=lambda f: f["path"],
        ),
        "signed_at": signed_at,
        "signer": signer,
        "key_id": key_id(key.public_key()),
        "algorithm": ALGORITHM,
    }
    statement["signature"] = base64.b64encode(key.sign(_payload(statement))).decode()
    return statement


def verify_statement(
    statement: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]
) -> list[str]:
    """What is wrong with the statement's signature; empty when it verifies."""
    if statement.get("format") != FORMAT or statement.get("algorithm") != ALGORITHM:
        return [f"not a {FORMAT} statement signed with {ALGORITHM}"]
    key = keys.get(str(statement.get("key_id")))
    if key is None:
        return [f"signed by unknown key {statement.get('key_id')!r}; no trusted key has that id"]
    try:
        signature = base64.b64decode(str(statement.get("signature", "")), validate=True)
        key.verify(signature, _payload(statement))
    except (InvalidSignature, ValueError):
        return ["the signature does not verify: the statement was changed or forged"]
    return []


def verify_directory(
    path: Path, statement: Mapping[str, Any], keys: Mapping[str, Ed25519PublicKey]
) -> list[str]:
    """Check the signature, then every file under `path` against the signed statement;
    each problem names the file (changed, size, missing, unexpected)."""
    problems = verify_statement(statement, keys)
    expected = {f["path"]: f for f in statement.get("files", [])}
    found = {
        p.relative_to(path).as_posix(): p
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != STATEMENT_FILE
    }
    for name, entry in expected.items():
        file = found.get(name)
        if file is None:
            problems.append(f"{name}: missing")
            continue
        info = hash_file(file)
        if info.size != entry["size"]:
            problems.append(f"{name}: size {info.size}, signed {entry['size']}")
        if info.sha256 != entry["sha256"]:
            problems.append(f"{name}: changed (sha256 {info.sha256}, signed {entry['sha256']})")
    problems.extend(f"{name}: not in the signed manifest" for name in found if name not in expected)
    return problems


def write_statement(directory: Path, statement: Mapping[str, Any]) -> Path:
    path = directory / STATEMENT_FILE
    path.write_text(json.dumps(statement, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
