"""`charter promote`, `approve`, `reject`, `promotions` and `evidence` against a live
server: the gate table, the four-eyes refusal, the JSON forms and the usage errors."""

from __future__ import annotations

from pathlib import Path

from charter.client.client import Client
from tests.conftest import Admin
from tests.integration.cli.test_cli_registry import data, invoke, ok, refused


def test_promotion_round_trip(signed_server: str, admin: Admin, tmp_path: Path) -> None:
    server = signed_server
    a = admin.token
    with Client(server, a) as sdk:
        for name, role in (
            ("dana", "data_scientist"),
            ("vic", "validator"),
            ("rita", "risk_officer"),
        ):
            sdk.create_principal(name, [role], business_unit="retail")
        tokens = {n: sdk.create_token("t", principal=n).secret for n in ("dana", "vic", "rita")}
        sdk.create_model(
            "scoring", "limited", business_unit="retail", approved_regions=["eu-west-1"]
        )
    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    ok(server, tokens["dana"], "versions", "create", "scoring", str(weights), "--flavor", "skops")

    table = ok(server, a, "promote", "scoring", "1", "--to", "production", "--dry-run").stdout
    assert "model-card-required" in table and "FAIL" in table and "region-required" in table
    dry = data(
        server,
        a,
        "promote",
        "scoring",
        "1",
        "--to",
        "production",
        "--region",
        "eu-west-1",
        "--dry-run",
    )
    assert set(dry["blocking"]) == {
        "model-card-required",
        "metrics-required",
        "transparency-notice-required",
    }
    assert data(server, a, "promotions", "list")["items"] == []

    opened = data(
        server, tokens["dana"], "promote", "scoring", "1", "--to", "staging", "--comment", "try"
    )
    assert opened["status"] == "open"
    request = str(opened["id"])
    shown = ok(server, a, "promotions", "show", request).stdout
    assert "blocked by" in shown and "dana" in shown
    assert "sod-author-never-approves" in refused(server, tokens["dana"], "approve", request)
    card = tmp_path / "card.md"
    card.write_text("# card\n")
    added = data(
        server, tokens["dana"], "evidence", "add", "scoring", "1", str(card), "--kind", "model_card"
    )
    assert added["kind"] == "model_card" and added["submitted_by"] == "dana"
    assert "model_card" in ok(server, a, "evidence", "list", "scoring", "1").stdout
    approved = data(server, tokens["vic"], "approve", request, "--comment", "fine")
    assert approved["decisions"][0]["principal"] == "vic"

    # Usage errors exit 2; a refused decision is one red line and exit 1.
    assert invoke(server, tokens["rita"], "reject", request).exit_code == 2
    assert "not one of" in refused(server, a, "promotions", "list", "--status", "pending")
    assert "not one of" in refused(
        server, a, "evidence", "add", "scoring", "1", str(card), "--kind", "essay"
    )
    rejected = data(server, tokens["rita"], "reject", request, "--comment", "no notice yet")
    assert rejected["status"] == "rejected"
    listed = ok(server, a, "promotions", "list", "--status", "rejected").stdout
    assert "scoring@1" in listed
