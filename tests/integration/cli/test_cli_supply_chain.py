"""ML-BOM and vulnerability evidence through the CLI: compute, download the BOM, import
advisories, and see a deployed version become vulnerable and blocked by the gate."""

from __future__ import annotations

import json
from pathlib import Path

from charter.client.client import Client
from charter.evidence import mlbom
from charter.store.engine import Database
from tests.conftest import Admin
from tests.integration.cli.test_cli_registry import data, ok, refused
from tests.support.stages import put_in_stage

ADVISORY = {
    "id": "GHSA-test-0001",
    "aliases": ["CVE-2026-0001"],
    "summary": "template sandbox escape",
    "database_specific": {"severity": "HIGH"},
    "affected": [
        {
            "package": {"ecosystem": "PyPI", "name": "Jinja2"},
            "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.10.1"}]}],
        }
    ],
}


def test_bom_scan_and_advisories(
    signed_server: str, db: Database, admin: Admin, tmp_path: Path
) -> None:
    server, token = signed_server, admin.token
    weights = tmp_path / "model.bin"
    weights.write_bytes(b"w")
    with Client(server, token) as sdk:
        sdk.create_model("credit", "high", approved_regions=["eu-west-1"])
        files = sdk.upload_path(weights)
        environment = {"python": "3.11.7", "packages": {"jinja2": "2.10", "numpy": "2.1.0"}}
        sdk.create_version("credit", files, "skops", environment=environment)
        sdk.create_version("credit", files, "skops", environment={"packages": {"jinja2": "3.1.6"}})

    computed = data(server, token, "evidence", "compute", "credit", "1")
    assert [e["kind"] for e in computed] == ["ml_bom", "vulnerability_scan"]
    assert computed[1]["details"]["counts"]["HIGH"] == 0  # no advisories imported yet
    out = tmp_path / "bom.json"
    ok(server, token, "evidence", "bom", "credit", "1", "--out", str(out))
    assert mlbom.validate(out.read_text()) is None
    purls = {c.get("purl") for c in json.loads(out.read_text())["components"]}
    assert "pkg:pypi/jinja2@2.10" in purls

    put_in_stage(db, "credit", 1, "production")
    put_in_stage(db, "credit", 2, "staging")
    folder = tmp_path / "osv"
    folder.mkdir()
    (folder / "GHSA-test-0001.json").write_text(json.dumps(ADVISORY))
    imported = data(server, token, "advisories", "import", str(folder))
    assert imported["added"] == 1 and imported["rescanned_vulnerable"] == ["credit@1"]
    again = data(server, token, "advisories", "import", str(folder / "GHSA-test-0001.json"))
    assert again["added"] == 0 and again["rescanned_vulnerable"] == []

    with Client(server, token) as sdk:
        scans = [e for e in sdk.list_evidence("credit", 1) if e.kind == "vulnerability_scan"]
        latest = scans[-1].details
        assert latest["counts"]["HIGH"] == 1
        assert latest["findings"][0]["fixed"] == ["2.10.1"]
        events = sdk.audit_events(action="vulnerability.found").items
        assert [e.subject for e in events] == ["model:credit@1"]
        gate = sdk.dry_run_promotion("credit", 1, "archived")
        assert gate.facts["evidence"]["high_vulnerabilities"] == 1

    assert "no ML-BOM" in refused(server, token, "evidence", "bom", "credit", "2")
    assert "not one of" in refused(
        server, token, "evidence", "compute", "credit", "1", "--kind", "horoscope"
    )
    with Client(server, token) as sdk:
        sdk.create_principal("dora", ["data_scientist"])
        dora = sdk.create_token("t", principal="dora").secret
    assert "advisory:import" in refused(server, dora, "advisories", "import", str(folder))
