"""`charter versions import`: many versions from a spec file, against a live server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.conftest import Admin
from tests.integration.cli.test_cli_registry import data, ok, refused


def _spec(tmp_path: Path, entries: object) -> Path:
    spec = tmp_path / "versions.json"
    spec.write_text(json.dumps(entries))
    return spec


def test_import_registers_every_listed_version(server: str, admin: Admin, tmp_path: Path) -> None:
    ok(server, admin.token, "models", "create", "credit", "--risk-tier", "high")
    (tmp_path / "v1").mkdir()
    (tmp_path / "v1" / "model.skops").write_bytes(b"one")
    (tmp_path / "v2.onnx").write_bytes(b"two")
    spec = _spec(
        tmp_path,
        [
            {"model": "credit", "path": "v1", "flavor": "skops", "tags": {"team": "risk"}},
            {
                "model": "credit",
                "path": "v2.onnx",
                "flavor": "onnx",
                "parent": {"model": "credit", "version": 1},
                "metrics": {"auc": 0.91},
            },
        ],
    )
    created = data(server, admin.token, "versions", "import", str(spec))
    assert [(v["model"], v["version"], v["flavor"]) for v in created] == [
        ("credit", 1, "skops"),
        ("credit", 2, "onnx"),
    ]
    second = data(server, admin.token, "versions", "show", "credit", "2")
    assert second["parent"] == {"model": "credit", "version": 1}
    assert second["metrics"] == {"auc": 0.91}
    again = _spec(tmp_path, [{"model": "credit", "path": "v1", "flavor": "skops"}])
    shown = ok(server, admin.token, "versions", "import", str(again))
    assert "1 versions registered" in shown.stdout and "credit" in shown.stdout


def test_import_refuses_a_bad_spec_and_a_bad_entry_without_recording_anything(
    server: str, admin: Admin, tmp_path: Path
) -> None:
    ok(server, admin.token, "models", "create", "credit", "--risk-tier", "minimal")
    (tmp_path / "m.bin").write_bytes(b"w")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert "is not JSON" in refused(server, admin.token, "versions", "import", str(bad))
    no_flavor = _spec(tmp_path, [{"model": "credit", "path": "m.bin"}])
    assert "needs 'flavor'" in refused(server, admin.token, "versions", "import", str(no_flavor))
    missing = _spec(tmp_path, [{"model": "credit", "path": "nope.bin", "flavor": "skops"}])
    assert "does not exist" in refused(server, admin.token, "versions", "import", str(missing))
    entries = [
        {"model": "credit", "path": "m.bin", "flavor": "skops"},
        {"model": "credit", "path": "m.bin", "flavor": "skops", "run_id": 999},
    ]
    message = refused(server, admin.token, "versions", "import", str(_spec(tmp_path, entries)))
    assert "versions[1] (model 'credit'): run_id: no run 999" in message
    assert data(server, admin.token, "versions", "list", "credit")["items"] == []
