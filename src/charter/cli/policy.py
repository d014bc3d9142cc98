"""`charter policy`: validate and test a bundle locally; push, show, diff and list via the API."""

from pathlib import Path
from typing import Annotated, Any

import typer

from charter.cli.arguments import JsonOption, TokenOption, UrlOption
from charter.cli.connection import connect
from charter.cli.output import fail, print_json, say, table, when

app = typer.Typer(help="Policy bundles: validate, test, push, show, diff.", no_args_is_help=True)

BundleDir = Annotated[
    Path,
    typer.Argument(
        metavar="DIR",
        help="a bundle directory: one schema, *.cedar policies, data.json, tests/*.json",
    ),
]


def read_dir(path: Path) -> dict[str, str]:
    """The bundle's files as relative path -> text; the same reading as `push` sends."""
    if not path.is_dir():
        fail(f"{path} is not a directory; pass the bundle directory", 2)
    files: dict[str, str] = {}
    for item in sorted(path.rglob("*")):
        hidden = any(part.startswith(".") for part in item.relative_to(path).parts)
        if item.is_file() and not hidden:
            try:
                files[item.relative_to(path).as_posix()] = item.read_text(encoding="utf-8")
            except UnicodeDecodeError:
                fail(f"{item} is not UTF-8 text; a bundle holds only text files", 2)
    if not files:
        fail(f"{path} is empty; a bundle needs a schema and policy files", 2)
    return files


def load_local(path: Path) -> Any:
    from charter.domain.errors import CharterError
    from charter.policy.bundle import bundle_from_files

    try:
        return bundle_from_files(read_dir(path))
    except CharterError as exc:
        fail(exc.message, 1)


@app.command("validate")
def validate_cmd(path: BundleDir, json_output: JsonOption = False) -> None:
    """Check a bundle against its own schema, without a server: exit 1 naming each problem."""
    from charter.policy.bundle import validate

    found = load_local(path)
    problems = validate(found)
    if json_output:
        print_json({"valid": not problems, "digest": found.digest, "problems": problems})
    elif not problems:
        say(f"valid: {len(found.files)} files, digest {found.digest}")
    for problem in problems if not json_output else []:
        typer.secho(f"  {problem}", err=True, fg="red")
    if problems:
        raise typer.Exit(1)


@app.command("test")
def run_tests(path: BundleDir, json_output: JsonOption = False) -> None:
    """Run the bundle's table-driven cases (tests/*.json) locally; exit 1 if any fails."""
    from charter.policy.bundle import validate
    from charter.policy.cases import run_cases

    found = load_local(path)
    problems = validate(found)
    if problems:
        fail("the bundle does not validate: " + "; ".join(problems[:10]))
    results = run_cases(found)
    failed = [r for r in results if not r.passed]
    if json_output:
        print_json(
            {
                "passed": len(results) - len(failed),
                "failed": len(failed),
                "cases": [
                    {"name": r.name, "passed": r.passed, "message": r.message} for r in results
                ],
            }
        )
    else:
        table(
            f"{len(results) - len(failed)} of {len(results)} policy cases pass",
            ["case", "result", "detail"],
            [(r.name, "pass" if r.passed else "FAIL", r.message) for r in results],
        )
    if failed:
        raise typer.Exit(1)


@app.command("push")
def push_cmd(
    path: BundleDir,
    comment: Annotated[str, typer.Option(help="why this change (kept with the version)")] = "",
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Validate, test and activate a bundle on the server (admins); prints the new version."""
    files = read_dir(path)
    with connect(url, token) as client:
        info = client.push_policy(files, comment=comment)
    if json_output:
        print_json(info)
        return
    say(f"policy bundle version {info.version} is active (digest {info.digest})")


@app.command("show")
def show_cmd(
    version: Annotated[
        int | None, typer.Option(help="a version (0: the shipped default); default: active")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Print the files of the bundle in force (or of --version)."""
    with connect(url, token) as client:
        found = client.policy_bundle(version)
    if json_output:
        print_json(found)
        return
    say(f"policy bundle version {found.version}, digest {found.digest}")
    for name, text in found.files.items():
        typer.echo(f"\n==> {name} <==\n{text}")


@app.command("diff")
def diff_cmd(
    from_version: Annotated[int, typer.Argument(metavar="FROM", help="older version (0: default)")],
    to_version: Annotated[
        int | None, typer.Argument(metavar="[TO]", help="newer version; default: active")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show what changed between two bundle versions (a unified diff per file)."""
    with connect(url, token) as client:
        found = client.policy_diff(from_version, to_version)
    if json_output:
        print_json(found)
        return
    typer.echo(found.diff or f"versions {found.from_version} and {found.to_version} are the same")


@app.command("list")
def list_cmd(
    url: UrlOption = None, token: TokenOption = None, json_output: JsonOption = False
) -> None:
    """Every pushed bundle version: who pushed it, when and why."""
    with connect(url, token) as client:
        found = client.policy_bundles()
    if json_output:
        print_json(found)
        return
    table(
        "policy bundles (version 0 is the shipped default)",
        ["version", "digest", "pushed by", "when", "comment"],
        [(b.version, b.digest[:12], b.pushed_by, when(b.created_at), b.comment) for b in found],
    )
