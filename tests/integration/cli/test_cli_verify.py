"""Versions are signed at registration; `charter versions verify` checks files and the
signature through the server, and offline from a downloaded copy with a pinned key."""

from __future__ import annotations

from pathlib import Path

from charter.client.client import Client
from charter.evidence.manifest_signing import STATEMENT_FILE
from tests.conftest import Admin
from tests.integration.cli.test_cli_registry import invoke, ok


def test_sign_download_tamper_verify(signed_server: str, admin: Admin, tmp_path: Path) -> None:
    server, token = signed_server, admin.token
    artifact = tmp_path / "artifact"
    artifact.mkdir()
    (artifact / "model.bin").write_bytes(b"weights" * 100)
    (artifact / "config.json").write_text("{}")
    with Client(server, token) as sdk:
        sdk.create_model("credit", "high")
    ok(server, token, "versions", "create", "credit", str(artifact), "--flavor", "skops")
    with Client(server, token) as sdk:
        report = sdk.signature("credit", 1)
        assert report.valid and report.public_key and report.statement["signer"] == "charter"
        kinds = [e.kind for e in sdk.list_evidence("credit", 1)]
        assert kinds == ["signature"]
        key = tmp_path / "server.pub"
        key.write_text(report.public_key)

    assert "match the manifest" in ok(server, token, "versions", "verify", "credit", "1").stdout
    copy = tmp_path / "copy"
    ok(server, token, "versions", "download", "credit", "1", "--dest", str(copy))
    assert (copy / STATEMENT_FILE).is_file()
    # Offline: no server URL at all, the statement beside the files, the key pinned.
    offline = invoke("http://127.0.0.1:9", None, "versions", "verify", "credit", "1",
                     "--dir", str(copy), "--key", str(key))  # fmt: skip
    assert offline.exit_code == 0 and "offline" in offline.stdout

    blob = bytearray((copy / "model.bin").read_bytes())
    blob[7] ^= 0xFF
    (copy / "model.bin").write_bytes(bytes(blob))
    bad = invoke("http://127.0.0.1:9", None, "versions", "verify", "credit", "1",
                 "--dir", str(copy), "--key", str(key), "--json")  # fmt: skip
    assert bad.exit_code == 1
    assert "model.bin: changed" in bad.stdout
    other = tmp_path / "other.pub"
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from charter.audit.keys import public_key_pem

    other.write_text(public_key_pem(Ed25519PrivateKey.generate().public_key()))
    wrong = invoke(server, token, "versions", "verify", "credit", "1", "--key", str(other))
    assert wrong.exit_code == 1 and "unknown key" in wrong.stderr
