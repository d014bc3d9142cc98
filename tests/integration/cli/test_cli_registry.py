"""The registry command groups driven in-process against a live server, on both backends."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import CliRunner, Result

from charter.cli.main import app
from charter.settings import Settings
from tests.conftest import Admin

# Built once (typer.testing rebuilds the tree, ~0.2 s, on every invoke); click's runner drives
# Typer's vendored click command through its `main`, exactly as the console script does.
command = typer.main.get_command(app)
runner = CliRunner()


def invoke(server: str, token: str | None, *args: str) -> Result:
    env = {"CHARTER_URL": server, "CHARTER_TOKEN": token}
    result = runner.invoke(command, list(args), env=env, prog_name="charter")
    # Anything but a clean exit means a traceback would have reached the user.
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"charter {' '.join(args)} raised {result.exception!r}")
    assert "Traceback" not in result.output
    return result


def ok(server: str, token: str, *args: str) -> Result:
    result = invoke(server, token, *args)
    assert result.exit_code == 0, f"charter {' '.join(args)}: {result.stderr}"
    return result


def data(server: str, token: str, *args: str) -> Any:
    return json.loads(ok(server, token, *args, "--json").stdout)


def refused(server: str, token: str | None, *args: str) -> str:
    """Run a command that must fail: exit 1, one 'error:' line ending stderr, nothing on
    stdout (a progress bar may precede the error)."""
    result = invoke(server, token, *args)
    assert result.exit_code == 1, f"charter {' '.join(args)} exited {result.exit_code}"
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    errors = [line for line in lines if line.startswith("error: ")]
    assert errors == lines[-1:], result.stderr
    return errors[0]


def test_model_needs_only_name_and_risk_tier(server: str, admin: Admin) -> None:
    created = data(server, admin.token, "models", "create", "credit", "--risk-tier", "high")
    assert created["name"] == "credit" and created["risk_tier"] == "high"
    assert created["tags"] == {} and created["approved_regions"] == []
    shown = ok(server, admin.token, "models", "show", "credit").stdout
    assert "credit" in shown and "high" in shown and "admin" in shown


def test_registry_round_trip(signed_server: str, admin: Admin, tmp_path: Path) -> None:
    server = signed_server
    t = admin.token
    model = data(
        server, t, "models", "create", "credit", "--risk-tier", "HIGH",
        "--description", "scores [loan] applications", "--business-owner", "admin",
        "--business-unit", "retail", "--intended-use", "pre-screening",
        "--region", "eu-west-1", "--region", "de", "--tag", "bu=retail", "--tag", "pii=no",
    )  # fmt: skip
    assert sorted(model["approved_regions"]) == ["de", "eu-west-1"]
    assert model["tags"] == {"bu": "retail", "pii": "no"} and model["revision"] == 1
    data(server, t, "models", "create", "fraud", "--risk-tier", "limited", "--tag", "bu=cards")

    listed = data(server, t, "models", "list", "--tag", "bu:retail", "--risk-tier", "high")
    assert [m["name"] for m in listed["items"]] == ["credit"]
    assert data(server, t, "models", "list", "--name-prefix", "fr")["items"][0]["name"] == "fraud"
    first = data(server, t, "models", "list", "--limit", "1")
    assert len(first["items"]) == 1 and first["next_cursor"]
    every = data(server, t, "models", "list", "--limit", "1", "--all")
    assert sorted(m["name"] for m in every["items"]) == ["credit", "fraud"]
    table = ok(server, t, "models", "list").stdout
    assert "credit" in table and "fraud" in table

    updated = data(
        server, t, "models", "update", "credit", "--description", "v2",
        "--tag", "stage=pilot", "--remove-tag", "pii",
    )  # fmt: skip
    assert updated["description"] == "v2" and updated["revision"] == 2
    assert updated["tags"] == {"bu": "retail", "stage": "pilot"}
    stale = refused(
        server, t, "models", "update", "credit", "--description", "x", "--revision", "1"
    )
    assert "revision" in stale.lower() or "changed" in stale.lower()
    assert "scores" not in ok(server, t, "models", "show", "credit").stdout

    # A dataset version whose digest is computed from a local file.
    data(server, t, "datasets", "create", "loans", "--owner", "admin", "--tag", "source=core")
    csv = tmp_path / "loans.csv"
    csv.write_bytes(b"age,income\n30,1000\n41,2000\n")
    dv = data(
        server, t, "datasets", "add-version", "loans", "--file", str(csv),
        "--column", "age:int", "--column", "income:float!", "--rows", "2",
        "--region", "eu", "--legal-basis", "contract", "--pii",
    )  # fmt: skip
    assert dv["digest"] == "sha256:" + hashlib.sha256(csv.read_bytes()).hexdigest()
    assert dv["uri"] == csv.resolve().as_uri() and dv["contains_pii"] is True
    assert dv["columns"][1] == {"name": "income", "type": "float", "nullable": False}
    digest = "sha256:" + "b" * 64
    assert data(
        server, t, "datasets", "add-version", "loans", "--uri", "s3://b/loans-2.csv",
        "--digest", digest, "--no-pii", "--derived-from", "loans@1",
    )["version"] == 2  # fmt: skip
    assert [v["version"] for v in data(server, t, "datasets", "versions", "loans")["items"]] == [
        1,
        2,
    ]
    assert data(server, t, "datasets", "show", "loans")["latest_version"] == 2
    assert "loans" in ok(server, t, "datasets", "list").stdout

    run = data(
        server, t, "runs", "create", "--name", "train", "--param", "C=0.5",
        "--param", "solver=lbfgs", "--metric", "loss=0.2", "--input", "loans@1",
    )  # fmt: skip
    assert run["params"] == {"C": 0.5, "solver": "lbfgs"} and run["status"] == "running"
    assert run["inputs"] == [{"dataset": "loans", "version": 1}]

    artifact = tmp_path / "artifact"
    (artifact / "sub").mkdir(parents=True)
    (artifact / "model.bin").write_bytes(os.urandom(200_000))
    (artifact / "sub" / "meta.json").write_text('{"k": 1}')
    v1 = data(
        server, t, "versions", "create", "credit", str(artifact), "--flavor", "skops",
        "--framework", "scikit-learn", "--param", "C=0.5", "--metric", "auc=0.91",
        "--training-dataset", "loans@1", "--evaluation-dataset", "loans@2",
        "--run-id", str(run["id"]), "--tag", "bu=retail",
    )  # fmt: skip
    assert v1["version"] == 1 and v1["metrics"] == {"auc": 0.91}
    assert sorted(f["path"] for f in v1["files"]) == ["model.bin", "sub/meta.json"]
    single = tmp_path / "model-2.bin"
    single.write_bytes(b"second")
    upload = ok(
        server, t, "versions", "create", "credit", str(single), "--flavor", "onnx",
        "--parent", "credit@1",
    )  # fmt: skip
    assert "model-2.bin" in upload.stdout and "100%" in upload.stderr

    assert [v["version"] for v in data(server, t, "versions", "list", "credit")["items"]] == [1, 2]
    found = data(server, t, "versions", "search", "--tag", "bu:retail", "--model-prefix", "cr")
    assert [(v["model"], v["version"]) for v in found["items"]] == [("credit", 1)]
    shown = data(server, t, "versions", "show", "credit", "2")
    assert shown["parent"] == {"model": "credit", "version": 1}
    text = ok(server, t, "versions", "show", "credit", "1").stdout
    assert "sub/meta.json" in text and v1["manifest_digest"][:16] in text.replace("\n", "")

    dest = tmp_path / "download"
    fetched = data(server, t, "versions", "download", "credit", "1", "--dest", str(dest))
    assert fetched["manifest_digest"] == v1["manifest_digest"]
    assert (dest / "model.bin").read_bytes() == (artifact / "model.bin").read_bytes()
    assert (dest / "sub" / "meta.json").read_text() == '{"k": 1}'

    card = tmp_path / "card.md"
    card.write_text("# credit model card\n")
    for kind in ("model_card", "transparency_notice"):
        data(server, t, "evidence", "add", "credit", "1", str(card), "--kind", kind)
    staged = data(server, t, "promote", "credit", "1", "--to", "staging", "--comment", "ok")
    assert staged["status"] == "executed" and staged["gate"]["allowed"] is True
    history = data(server, t, "versions", "history", "credit", "1")
    assert [(h["from_stage"], h["to_stage"]) for h in history] == [("none", "staging")]
    assert history[0]["comment"] == f"promotion #{staged['id']}"
    assert data(server, t, "models", "list", "--stage", "staging")["items"][0]["name"] == ("credit")
    assert data(server, t, "versions", "alias", "credit", "champion", "1")["aliases"] == [
        "champion"
    ]
    assert data(server, t, "models", "show", "credit")["aliases"] == {"champion": 1}
    ok(server, t, "versions", "unalias", "credit", "champion")
    assert "champion" in refused(server, t, "versions", "unalias", "credit", "champion")

    finished = data(server, t, "runs", "finish", str(run["id"]), "--metric", "auc=0.9")
    assert finished["status"] == "finished" and finished["ended_at"] is not None
    assert finished["metrics"] == {"loss": 0.2, "auc": 0.9}
    assert finished["outputs"] == [{"model": "credit", "version": 1}]
    assert data(server, t, "runs", "list", "--status", "finished")["items"][0]["id"] == run["id"]
    assert "train" in ok(server, t, "runs", "show", str(run["id"])).stdout

    graph = data(server, t, "lineage", "show", "model:credit@1", "--direction", "upstream")
    ids = {node["id"] for node in graph["nodes"]}
    assert {"model:credit@1", "dataset:loans@1", f"run:{run['id']}"} <= ids
    tree = ok(server, t, "lineage", "show", "credit@1").stdout
    assert "upstream" in tree and "loans@1" in tree and "downstream" in tree
    plain = ok(server, t, "lineage", "show", "dataset:loans@1", "--plain").stdout
    assert plain.splitlines()[0].startswith("dataset loans@1") and "credit@1" in plain


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_download_refuses_a_corrupted_blob(
    server: str, admin: Admin, settings: Settings, tmp_path: Path
) -> None:
    t = admin.token
    ok(server, t, "models", "create", "credit", "--risk-tier", "minimal")
    artifact = tmp_path / "model.bin"
    artifact.write_bytes(b"genuine bytes")
    version = data(server, t, "versions", "create", "credit", str(artifact), "--flavor", "skops")
    sha = version["files"][0]["sha256"]
    blob = Path(settings.resolved_artifact_url) / "sha256" / sha[:2] / sha[2:4] / sha
    blob.chmod(0o644)
    blob.write_bytes(b"tampered!!!!!")  # same length, so only the digest can tell
    dest = tmp_path / "dest"
    message = refused(server, t, "versions", "download", "credit", "1", "--dest", str(dest))
    assert "digest mismatch" in message and sha in message
    assert not (dest / "model.bin").exists()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_bad_input_is_one_clear_line(server: str, admin: Admin, tmp_path: Path) -> None:
    t = admin.token
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = {
        ("models", "create", "m", "--risk-tier", "extreme"): "not one of: unacceptable",
        ("models", "create", "m", "--risk-tier", "high", "--tag", "novalue"): "key=value",
        ("models", "create", "bad name!", "--risk-tier", "high"): "name",
        ("models", "show", "nonexistent"): "nonexistent",
        ("models", "update", "nonexistent", "--description", "d"): "nonexistent",
        ("models", "update", "m"): "nothing to change",
        ("models", "list", "--limit", "0"): "--limit",
        ("versions", "create", "nonexistent", str(tmp_path), "--flavor", "skops"): "nonexistent",
        ("versions", "create", "m", str(tmp_path / "missing"), "--flavor", "x"): "does not exist",
        ("versions", "create", "m", str(empty), "--flavor", "x"): "no files",
        ("versions", "show", "nonexistent", "1"): "nonexistent",
        ("promote", "m", "1", "--to", "retired"): "not one of: none",
        ("runs", "create", "--metric", "auc=high"): "not a number",
        ("runs", "create", "--input", "loans"): "NAME@VERSION",
        ("runs", "create", "--input", "loans@0"): "NAME@VERSION",
        ("runs", "finish", "999", "--status", "running"): "not running",
        ("runs", "show", "999"): "999",
        ("datasets", "add-version", "d", "--uri", "x"): "--digest",
        ("datasets", "add-version", "d", "--uri", "x", "--digest", "md5:1"): "digest",
        ("datasets", "add-version", "d", "--file", str(tmp_path)): "not a readable file",
        ("lineage", "show", "nowhere"): "model:NAME@V",
        ("lineage", "show", "model:m@1", "--direction", "sideways"): "--direction",
        ("users", "create", "u", "--role", "wizard"): "not one of: admin",
        ("tokens", "create", "t", "--expires", "soon"): "ISO 8601",
        ("tokens", "create", "t", "--expires", "2001-01-01T00:00:00Z"): "in the past",
    }
    ok(server, t, "models", "create", "m", "--risk-tier", "high")
    for args, expected in cases.items():
        message = refused(server, t, *args)
        assert expected.lower() in message.lower(), (args, message)
    assert "--url" in refused("http://127.0.0.1:1", t, "models", "list")
    assert "http://" in refused("localhost:8080", t, "models", "list")
    missing = refused(server, None, "models", "list")
    assert "CHARTER_TOKEN" in missing and "charter init" in missing
