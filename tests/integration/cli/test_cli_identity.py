"""Users, tokens and whoami through the CLI against a live server, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import typer
from click.testing import CliRunner, Result

from charter.cli.main import app
from tests.conftest import Admin

command = typer.main.get_command(app)
runner = CliRunner()


def invoke(server: str, token: str, *args: str) -> Result:
    result = runner.invoke(command, list(args), env={"CHARTER_URL": server, "CHARTER_TOKEN": token})
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"charter {' '.join(args)} raised {result.exception!r}")
    assert "Traceback" not in result.output
    return result


def data(server: str, token: str, *args: str) -> Any:
    result = invoke(server, token, *args, "--json")
    assert result.exit_code == 0, f"charter {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout)


def refused(server: str, token: str, *args: str) -> str:
    result = invoke(server, token, *args)
    assert result.exit_code == 1 and result.stdout == "", result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    return lines[0]


def test_users_and_tokens_lifecycle(server: str, admin: Admin) -> None:
    t = admin.token
    alice = data(
        server, t, "users", "create", "alice", "--role", "data_scientist",
        "--role", "validator", "--email", "alice@bank.example", "--business-unit", "retail",
        "--display-name", "Alice A.",
    )  # fmt: skip
    assert alice["roles"] == ["data_scientist", "validator"] and alice["kind"] == "user"
    bot = data(server, t, "users", "create", "ci-bot", "--role", "ml_engineer", "--service")
    assert bot["kind"] == "service"
    validators = data(server, t, "users", "list", "--role", "validator")["items"]
    assert [p["name"] for p in validators] == ["alice"]
    services = data(server, t, "users", "list", "--service")["items"]
    assert [p["name"] for p in services] == ["ci-bot"]
    assert data(server, t, "users", "show", "alice")["email"] == "alice@bank.example"
    text = invoke(server, t, "users", "list").stdout
    assert "alice" in text and "ci-bot" in text and "admin" in text

    expires = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    issued = data(server, t, "tokens", "create", "laptop", "--for", "alice", "--expires", expires)
    assert issued["principal"] == "alice" and issued["secret"].startswith("chr_")
    assert issued["expires_at"].startswith(expires[:10])
    secret = issued["secret"]

    me = data(server, secret, "whoami")
    assert me["name"] == "alice" and me["roles"] == ["data_scientist", "validator"]
    assert "alice" in invoke(server, secret, "whoami").stdout
    # Alice may register models but not administer users or move stages.
    # ...in her own business unit only (the default policy bundle).
    assert data(
        server, secret, "models", "create", "churn", "--risk-tier", "limited",
        "--business-unit", "retail",
    )  # fmt: skip
    assert "own business unit" in refused(
        server, secret, "models", "create", "churn-2", "--risk-tier", "limited"
    )
    denied = refused(server, secret, "users", "create", "mallory", "--role", "admin")
    assert "alice" in denied and "principal:admin" in denied
    assert "may not" in refused(server, secret, "users", "update", "alice", "--role", "admin")

    # Her own token list, from her own token; secrets are never listed.
    mine = data(server, secret, "tokens", "list")["items"]
    assert [tok["id"] for tok in mine] == [issued["id"]] and "secret" not in mine[0]
    plain = invoke(server, t, "tokens", "create", "nightly", "--for", "ci-bot",
                   "--expires-in-days", "7")  # fmt: skip
    assert plain.exit_code == 0 and "chr_" in plain.stdout and "only once" in plain.stderr
    bot_tokens = data(server, t, "tokens", "list", "--for", "ci-bot")["items"]
    assert [tok["name"] for tok in bot_tokens] == ["nightly"]

    revoked = data(server, t, "tokens", "revoke", str(issued["id"]))
    assert revoked["revoked_at"] is not None
    message = refused(server, secret, "whoami")
    assert "revoked" in message and "CHARTER_TOKEN" in message
    assert "revoked" in invoke(server, t, "tokens", "list", "--for", "alice").stdout

    fresh = data(server, t, "tokens", "create", "again", "--for", "alice")["secret"]
    off = data(server, t, "users", "update", "alice", "--deactivate")
    assert off["active"] is False and off["revision"] == alice["revision"] + 1
    assert refused(server, fresh, "whoami")
    assert "deactivated" in refused(server, t, "tokens", "create", "more", "--for", "alice")
    on = data(server, t, "users", "update", "alice", "--activate", "--role", "auditor")
    assert on["active"] is True and on["roles"] == ["auditor"]
    assert data(server, fresh, "whoami")["roles"] == ["auditor"]
    assert "nothing to change" in refused(server, t, "users", "update", "alice")
    assert "alice-typo" in refused(server, t, "users", "show", "alice-typo")
    assert "both" in refused(server, t, "tokens", "create", "x", "--expires", expires,
                             "--expires-in-days", "3")  # fmt: skip
    assert "at least 1" in refused(server, t, "tokens", "create", "x", "--expires-in-days", "0")
