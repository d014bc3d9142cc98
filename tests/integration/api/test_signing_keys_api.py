"""Principals' own signing keys: register, sign one's version, verify; forged, foreign and
revoked keys refused or invalid."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.audit.keys import public_key_pem
from charter.client.client import Client
from charter.domain.errors import InvalidInput, PermissionDenied


def test_author_signs_with_a_registered_key(server: str, client: Client, tmp_path: Path) -> None:
    client.create_principal("dana", ["data_scientist"])
    client.create_principal("dora", ["data_scientist"])
    dana = Client(server, client.create_token("t", principal="dana").secret)
    dora = Client(server, client.create_token("t", principal="dora").secret)
    key, other = Ed25519PrivateKey.generate(), Ed25519PrivateKey.generate()
    registered = dana.register_signing_key("dana", public_key_pem(key.public_key()))
    assert registered.key_id.startswith("ed25519:")
    with pytest.raises(PermissionDenied):  # someone else's keys need an admin
        dora.register_signing_key("dana", public_key_pem(other.public_key()))

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"weights")
    client.create_model("credit", "limited")
    dana.create_version("credit", dana.upload_path(weights), "skops")
    with pytest.raises(InvalidInput, match="unknown key"):
        dana.sign_version("credit", 1, other, "dana")  # not her registered key
    with pytest.raises(PermissionDenied, match="only 'dana'"):
        dora.sign_version("credit", 1, key, "dora")
    signed = dana.sign_version("credit", 1, key, "dana")
    assert signed.kind == "signature" and signed.submitted_by == "dana"
    report = client.signature("credit", 1)
    assert report.valid and report.statement["signer"] == "dana"
    assert report.public_key == public_key_pem(key.public_key())

    dana._call("DELETE", f"/principals/dana/keys/{registered.key_id}")
    revoked = client.signature("credit", 1)
    assert not revoked.valid and "unknown key" in revoked.problems[0]
    keys = client._call("GET", "/principals/dana/keys").json()
    assert [k["revoked_at"] is not None for k in keys] == [True]
    dana.close()
    dora.close()
