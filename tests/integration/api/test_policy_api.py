"""Policy bundles through the API and CLI: push, refuse, diff, and decisions that follow."""

from __future__ import annotations

import json
import shutil
from importlib import resources
from pathlib import Path

import pytest
import typer
from click.testing import CliRunner
from sqlalchemy import select

from charter.cli.main import app
from charter.client.client import Client
from charter.domain.errors import Conflict, InvalidInput, NotFound, PermissionDenied
from charter.store import tables as t
from charter.store.engine import Database

runner = CliRunner()
command = typer.main.get_command(app)
FORBID_HIGH = """
@id("no-unacceptable-models")
@reason("models of the unacceptable tier may not even be registered here")
forbid (principal, action == Charter::Action::"model:write", resource is Charter::Model)
when { resource.risk_tier == "unacceptable" };
"""


def default_files() -> dict[str, str]:
    root = resources.files("charter.policy") / "default"
    files: dict[str, str] = {}

    def walk(node: object, prefix: str) -> None:
        for child in node.iterdir():  # type: ignore[attr-defined]
            if child.is_dir():
                walk(child, f"{prefix}{child.name}/")
            elif not child.name.startswith("."):
                files[prefix + child.name] = child.read_text(encoding="utf-8")

    walk(root, "")
    return files


def member(client: Client, server: str, name: str, role: str, unit: str = "") -> Client:
    client.create_principal(name, [role], business_unit=unit or None)
    return Client(server, client.create_token("t", principal=name).secret)


def denials(db: Database) -> list[dict[str, object]]:
    with db.rows() as connection:
        rows = connection.execute(
            select(t.AuditEvent.entry)
            .where(t.AuditEvent.action == "access.denied")
            .order_by(t.AuditEvent.seq)
        )
        return [json.loads(r[0]) for r in rows]


def test_push_changes_decisions_and_is_versioned(client: Client, server: str, db: Database) -> None:
    assert client.policy_bundle().version == 0
    client.create_model("before-freeze", "unacceptable")
    files = {**default_files(), "freeze.cedar": FORBID_HIGH}
    info = client.push_policy(files, comment="freeze")
    assert (info.version, info.pushed_by, "freeze.cedar" in info.files) == (1, "admin", True)
    with pytest.raises(PermissionDenied, match=r"no-unacceptable-models.*version 1"):
        client.create_model("after-freeze", "unacceptable")
    client.create_model("minimal-ok", "minimal")
    with db.rows() as connection:
        entry = connection.execute(
            select(t.AuditEvent.entry).where(t.AuditEvent.subject == "model:minimal-ok")
        ).scalar_one()
    # every change records the rules it was allowed under
    authorized = json.loads(entry)["actor"]["authorized_by"]
    assert authorized.startswith("bundle 1 (") and authorized.endswith("role-admin")
    [denied] = denials(db)
    assert denied["subject"] == "model:after-freeze"
    assert denied["change"]["bundle_version"] == 1  # type: ignore[index]
    assert denied["change"]["policies"] == ["no-unacceptable-models"]  # type: ignore[index]
    diff = client.policy_diff(0, 1)
    assert "+forbid" in diff.diff and "freeze.cedar" in diff.diff
    assert [b.version for b in client.policy_bundles()] == [1]
    with pytest.raises(Conflict, match="already active"):
        client.push_policy(files)
    # back to the default rules: a new version, not a rollback of history
    assert client.push_policy(default_files(), comment="lift the freeze").version == 2
    client.create_model("after-lift", "unacceptable")
    with db.rows() as connection:
        pushes = connection.execute(
            select(t.AuditEvent.subject).where(t.AuditEvent.action == "policy.push")
        ).all()
    assert [p[0] for p in pushes] == ["policy-bundle:1", "policy-bundle:2"]


def test_bad_bundles_are_refused_and_change_nothing(client: Client, server: str) -> None:
    broken = {**default_files(), "bad.cedar": FORBID_HIGH.replace("risk_tier", "risk_level")}
    with pytest.raises(InvalidInput, match=r"bad\.cedar"):
        client.push_policy(broken)
    unannotated = {**default_files(), "plain.cedar": "forbid (principal, action, resource);"}
    with pytest.raises(InvalidInput, match="@id"):
        client.push_policy(unannotated)
    # a bundle whose own cases fail: forbid everything for admins breaks the role cases
    failing = {
        **default_files(),
        "lockout.cedar": '@id("lockout")\n@reason("x")\nforbid (principal, action, resource);\n',
    }
    with pytest.raises(InvalidInput, match="policy tests fail"):
        client.push_policy(failing)
    assert client.policy_bundle().version == 0 and client.policy_bundles() == []


def test_only_admins_push_and_scientists_stay_in_their_unit(
    client: Client, server: str, db: Database
) -> None:
    with member(client, server, "vic", "validator") as vic:
        assert vic.policy_bundle().version == 0  # reading the rules is open to reviewers
        with pytest.raises(PermissionDenied):
            vic.push_policy(default_files())
    client.create_model("retail-model", "limited", business_unit="retail")
    client.create_model("corporate-model", "limited", business_unit="corporate")
    with member(client, server, "dana", "data_scientist", "retail") as dana:
        dana.create_model("dana-model", "minimal", business_unit="retail")
        with pytest.raises(PermissionDenied, match="own business unit"):
            dana.create_model("elsewhere", "minimal", business_unit="corporate")
        with pytest.raises(PermissionDenied, match="own business unit"):
            dana.update_model(dana.get_model("corporate-model"), description="mine now")
    subjects = [d["subject"] for d in denials(db)]
    assert "model:elsewhere" in subjects and "model:corporate-model" in subjects


def test_cli_validates_tests_pushes_and_diffs(
    client: Client, server: str, admin_token: str, tmp_path: Path
) -> None:
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    for name, text in default_files().items():
        (bundle / name).parent.mkdir(parents=True, exist_ok=True)
        (bundle / name).write_text(text)
    env = {"CHARTER_URL": server, "CHARTER_TOKEN": admin_token}
    ok = runner.invoke(command, ["policy", "validate", str(bundle), "--json"], env=env)
    assert ok.exit_code == 0 and json.loads(ok.stdout)["valid"], ok.output
    tested = runner.invoke(command, ["policy", "test", str(bundle), "--json"], env=env)
    assert tested.exit_code == 0 and json.loads(tested.stdout)["failed"] == 0, tested.output
    (bundle / "freeze.cedar").write_text(FORBID_HIGH)
    pushed = runner.invoke(command, ["policy", "push", str(bundle), "--json"], env=env)
    assert pushed.exit_code == 0, pushed.output
    assert json.loads(pushed.stdout)["version"] == 1
    diff = runner.invoke(command, ["policy", "diff", "0", "1"], env=env)
    assert "no-unacceptable-models" in diff.stdout
    listed = runner.invoke(command, ["policy", "list", "--json"], env=env)
    assert [b["version"] for b in json.loads(listed.stdout)] == [1]
    (bundle / "freeze.cedar").write_text(FORBID_HIGH.replace("risk_tier", "nope"))
    bad = runner.invoke(command, ["policy", "validate", str(bundle)], env=env)
    assert bad.exit_code == 1 and "freeze.cedar" in bad.output
    shutil.rmtree(bundle)
    missing = runner.invoke(command, ["policy", "validate", str(bundle)], env=env)
    assert missing.exit_code == 2


@pytest.fixture
def admin_token(client: Client) -> str:
    return client.create_token("cli").secret


def test_api_errors_are_problems(client: Client, server: str) -> None:
    with pytest.raises(NotFound, match="no policy bundle version 99"):
        client.policy_bundle(99)
