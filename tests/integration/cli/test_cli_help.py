"""Every command answers --help, carries --json/--url/--token, and the CLI stays an SDK client."""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
from click.testing import CliRunner

import charter.cli
from charter.cli.arguments import parse_columns, parse_metrics, parse_params, parse_ref
from charter.cli.main import app
from charter.domain.errors import InvalidInput

command = typer.main.get_command(app)
runner = CliRunner()
# Commands that work on the database itself, with no server: no --url or --token.
LOCAL_COMMANDS = {
    ("init",),
    ("server",),
    ("db",),
    ("db", "upgrade"),
    ("audit", "verify"),
    ("audit", "archive"),
    ("policy", "validate"),
    ("policy", "test"),
}
CLI_DIR = Path(charter.cli.__file__).parent


# Typer vendors its own click, so groups are recognised by their `commands`, not by class.
def walk(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    yield path
    for name, sub in sorted(getattr(group, "commands", {}).items()):
        yield from walk(sub, (*path, name))


def leaves(group: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    subcommands = getattr(group, "commands", None)
    if subcommands is None:
        if path not in LOCAL_COMMANDS:
            yield path, group
        return
    for name, sub in subcommands.items():
        yield from leaves(sub, (*path, name))


PATHS = list(walk(command))


def test_the_tree_has_every_group() -> None:
    groups = {path[0] for path in PATHS if path}
    expected = {
        "models",
        "versions",
        "datasets",
        "runs",
        "lineage",
        "users",
        "tokens",
        "whoami",
        "audit",
        "policy",
        "promotions",
        "evidence",
        "advisories",
        "promote",
        "approve",
        "reject",
    }
    assert expected | {"init", "server", "db"} == groups
    assert len(PATHS) > 35


@pytest.mark.parametrize("path", PATHS, ids=lambda p: " ".join(p) or "charter")
def test_help_exits_zero(path: tuple[str, ...]) -> None:
    result = runner.invoke(command, [*path, "--help"], prog_name="charter", env={"COLUMNS": "100"})
    assert result.exit_code == 0, result.output
    assert "Usage: charter" in result.stdout


def test_every_remote_command_takes_json_url_and_token() -> None:
    found = list(leaves(command))
    assert len(found) >= 30
    for path, leaf in found:
        options = {opt for param in leaf.params for opt in getattr(param, "opts", [])}
        assert {"--json", "--url", "--token"} <= options, path
        by_name = {param.name: param for param in leaf.params}
        assert by_name["url"].envvar == "CHARTER_URL", path
        assert by_name["token"].envvar == "CHARTER_TOKEN", path


def test_cli_modules_never_import_the_server_side() -> None:
    forbidden = ("charter.store", "charter.registry", "charter.api", "charter.access")
    for source in CLI_DIR.glob("*.py"):
        if source.name in {"main.py", "audit_local.py"}:
            continue  # init, server, db and audit verify/export run locally, importing lazily
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith(forbidden), (source.name, node.module)
            if isinstance(node, ast.Import):
                for alias in node.names:
                    assert not alias.name.startswith(forbidden), (source.name, alias.name)


def test_python_dash_m_and_lazy_imports() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "charter.cli", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "models" in done.stdout and "versions" in done.stdout
    probe = (
        "import sys, charter.cli.main; "
        "heavy = [m for m in ('sqlalchemy', 'fastapi', 'uvicorn', 'charter.store', "
        "'charter.registry', 'alembic') if m in sys.modules]; print(heavy)"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_parsers_keep_types_and_refuse_bad_shapes() -> None:
    assert parse_params(["a=1", "b=0.5", "c=true", "d=lbfgs", "e=x=y", "f=[1, 2]"]) == {
        "a": 1,
        "b": 0.5,
        "c": True,
        "d": "lbfgs",
        "e": "x=y",
        "f": [1, 2],
    }
    assert parse_metrics(["auc=0.9", "n=3"]) == {"auc": 0.9, "n": 3.0}
    assert parse_ref("my.model@12", "x") == ("my.model", 12)
    assert parse_columns(["age:int", "id:str!"]) == [
        {"name": "age", "type": "int", "nullable": True},
        {"name": "id", "type": "str", "nullable": False},
    ]
    for bad in (
        lambda: parse_params(["=1"]),
        lambda: parse_metrics(["auc=nan"]),
        lambda: parse_metrics(["auc"]),
        lambda: parse_ref("m@", "x"),
        lambda: parse_ref("@3", "x"),
        lambda: parse_ref("m@v2", "x"),
        lambda: parse_columns(["age"]),
        lambda: parse_columns(["age:"]),
    ):
        with pytest.raises(InvalidInput):
            bad()
