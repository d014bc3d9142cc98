"""PII scans over HTTP: planted personal data found and masked, and the gate's pii fact
following the scan and the dataset's legal basis."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from charter.artifacts.tabular import summarize
from charter.client.client import Client


def register(client: Client, tmp_path: Path, name: str, legal_basis: str | None) -> int:
    frame = pd.DataFrame(
        {
            "email": [f"person{i}@example.com" for i in range(50)],
            "income": [float(i) for i in range(50)],
            "label": [i % 2 for i in range(50)],
        }
    )
    summary = summarize(frame.drop(columns=["label"]), frame["label"])
    client.create_dataset(name)
    created = client.create_dataset_version(
        name, uri="s3://d/x", digest=summary.digest, data_region="eu", legal_basis=legal_basis
    )
    path = tmp_path / f"{name}.parquet"
    frame.to_parquet(path)
    client.attach_content(name, created.version, path, ["label"])
    return created.version


def test_scan_finds_masks_and_feeds_the_gate(client: Client, tmp_path: Path) -> None:
    register(client, tmp_path, "no-basis", None)
    register(client, tmp_path, "with-basis", "contract")
    scanned = client.scan_dataset("no-basis", 1)
    assert scanned.details["pii_columns"] == ["email"]
    assert scanned.details["columns"]["email"]["kinds"] == {"email": 50}
    assert "person0@example.com" not in str(scanned.details)
    assert client.scan_dataset("no-basis", 1, sample_rows=5).details["rows_scanned"] == 5
    assert [e.kind for e in client.dataset_evidence("no-basis", 1)] == ["pii_scan", "pii_scan"]

    weights = tmp_path / "w.bin"
    weights.write_bytes(b"w")
    client.create_model("scorer", "high")
    files = client.upload_path(weights)
    for dataset in ("no-basis", "with-basis"):
        client.create_version(
            "scorer", files, "skops", training_datasets=[{"dataset": dataset, "version": 1}]
        )

    def cleared(version: int) -> bool:
        gate = client.dry_run_promotion("scorer", version, "staging")
        return bool(gate.facts["evidence"]["pii_cleared"])

    assert cleared(1) is False  # PII and no legal basis
    assert cleared(2) is False  # not scanned yet
    client.scan_dataset("with-basis", 1)
    assert cleared(2) is True  # PII, but a legal basis is recorded


def test_intake_masks_and_tokenises_into_a_derived_version(client: Client, tmp_path: Path) -> None:
    register(client, tmp_path, "raw", None)
    derived = client.intake("raw", 1, {"email": "tokenise", "income": "mask"})
    assert derived.version == 2 and derived.derived_from is not None
    assert "email tokenise" in derived.description
    assert client.get_content("raw", 2).target == ["label"]
    rescan = client.scan_dataset("raw", 2)
    assert rescan.details["pii_columns"] == []  # tokens are not e-mail addresses
    record = next(e for e in client.dataset_evidence("raw", 2) if e.kind == "data_intake")
    assert record.details["actions"] == {"email": "tokenise", "income": "mask"}
    assert record.details["key_id"].startswith("hmac-sha256:")
    lineage = client.lineage("dataset:raw@2", "upstream", 2)
    assert any(n.id.startswith("dataset:") and n.id != "dataset:raw@2" for n in lineage.nodes)
    again = client.intake("raw", 1, {"email": "tokenise", "income": "mask"})
    assert again.digest == derived.digest  # tokenisation is deterministic for the home's key
