"""`charter versions`: upload, find, inspect, download, verify and alias model versions."""

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from charter.artifacts.manifest import build_manifest
from charter.cli.arguments import (
    AllOption,
    CursorOption,
    JsonOption,
    LimitOption,
    TagFilterOption,
    TagOption,
    TokenOption,
    UrlOption,
    dataset_refs,
    parse_choice,
    parse_metrics,
    parse_params,
    parse_ref,
    parse_tags,
    positive,
)
from charter.cli.connection import connect, gather
from charter.cli.output import (
    details,
    err_console,
    fail,
    more_hint,
    print_json,
    say,
    table,
)
from charter.cli.progress import transfer
from charter.domain.common import Page
from charter.domain.enums import RiskTier, Stage
from charter.domain.registry import ModelVersion, ModelVersionSummary

app = typer.Typer(
    help="Upload, list, search, show, download, stage and alias model versions.",
    no_args_is_help=True,
)

STAGES = ", ".join(s.value for s in Stage)
ModelArg = Annotated[str, typer.Argument(metavar="MODEL", help="model name")]
VersionArg = Annotated[int, typer.Argument(metavar="VERSION", help="version number")]
StageFilter = Annotated[
    str | None, typer.Option("--stage", metavar="STAGE", help=f"one of {STAGES}")
]


def show_version(found: ModelVersion) -> None:
    details(
        f"{found.model}@{found.version}",
        [
            ("model", found.model),
            ("version", found.version),
            ("stage", found.stage.value),
            ("aliases", found.aliases),
            ("flavor", found.flavor),
            ("framework", found.framework),
            ("description", found.description),
            ("manifest digest", found.manifest_digest),
            ("author", found.author),
            ("created at", found.created_at),
            ("run", found.run_id),
            ("parent", found.parent),
            ("training datasets", found.training_datasets),
            ("evaluation datasets", found.evaluation_datasets),
            ("params", found.params),
            ("metrics", found.metrics),
            ("tags", found.tags),
            ("code", found.code.model_dump(exclude_none=True) if found.code else None),
            ("python", found.environment.python if found.environment else None),
            ("packages", len(found.environment.packages) if found.environment else None),
            ("revision", found.revision),
        ],
    )
    table(
        "manifest",
        ["path", "size", "sha256"],
        [(e.path, e.size, e.sha256) for e in found.files],
    )


def summary_table(title: str, page: Page[ModelVersionSummary]) -> None:
    table(
        title,
        ["model", "version", "stage", "aliases", "flavor", "author", "created", "tags"],
        [
            (v.model, v.version, v.stage.value, v.aliases, v.flavor, v.author, v.created_at, v.tags)
            for v in page.items
        ],
    )
    more_hint(page.next_cursor)


@app.command("create")
def create(
    model: ModelArg,
    path: Annotated[
        Path, typer.Argument(metavar="PATH", help="the artifact: a file or a directory")
    ],
    flavor: Annotated[str, typer.Option(help="serialisation format, e.g. skops, onnx")],
    framework: Annotated[str | None, typer.Option(help="e.g. 'scikit-learn 1.5.2'")] = None,
    description: Annotated[str | None, typer.Option(help="what changed")] = None,
    tag: TagOption = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="KEY=VALUE", help="parameter (repeatable)"),
    ] = None,
    metric: Annotated[
        list[str] | None, typer.Option("--metric", metavar="KEY=NUMBER", help="metric (repeatable)")
    ] = None,
    training_dataset: Annotated[
        list[str] | None,
        typer.Option(
            "--training-dataset", metavar="NAME@V", help="dataset version NAME@V (repeatable)"
        ),
    ] = None,
    evaluation_dataset: Annotated[
        list[str] | None,
        typer.Option(
            "--evaluation-dataset", metavar="NAME@V", help="dataset version NAME@V (repeatable)"
        ),
    ] = None,
    run_id: Annotated[int | None, typer.Option(help="the run that produced it")] = None,
    parent: Annotated[str | None, typer.Option(help="the version it derives from, MODEL@V")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Upload PATH (with a progress bar) and register it as MODEL's next version."""
    with connect(url, token) as client:
        fields: dict[str, Any] = {
            "framework": framework,
            "description": description,
            "tags": parse_tags(tag) or None,
            "params": parse_params(param) or None,
            "metrics": parse_metrics(metric) or None,
            "training_datasets": dataset_refs(training_dataset, "training dataset") or None,
            "evaluation_datasets": dataset_refs(evaluation_dataset, "evaluation dataset") or None,
            "run_id": positive(run_id, "--run-id") if run_id is not None else None,
        }
        if parent:
            parent_model, parent_version = parse_ref(parent, "parent")
            fields["parent"] = {"model": parent_model, "version": parent_version}
        if not path.exists():
            fail(f"{path} does not exist; give the model file or directory to upload")
        # Fail on a missing model before spending time hashing and uploading gigabytes.
        client.get_model(model)
        with err_console.status(f"hashing {path}"):
            manifest, sources = build_manifest(path)
        entries = manifest.sorted_entries()
        if not entries:
            fail(f"{path} holds no files to upload")
        with transfer(f"uploading {model}", manifest.total_size) as advance:
            for entry in entries:
                client.upload_file(sources[entry.path], entry, advance)
        found = client.create_version(model, entries, flavor, **fields)
    if json_output:
        print_json(found)
    else:
        show_version(found)


@app.command("list")
def list_(
    model: ModelArg,
    stage: StageFilter = None,
    tag: TagFilterOption = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """List one model's versions."""
    with connect(url, token) as client:
        page = gather(
            lambda **kw: client.list_versions(model, **kw),
            limit=limit,
            cursor=cursor,
            follow=all_pages,
            stage=parse_choice(stage, Stage, "stage") if stage else None,
            tag=tag,
        )
    if json_output:
        print_json(page)
    else:
        summary_table(f"versions of {model}", page)


@app.command("search")
def search(
    tag: TagFilterOption = None,
    stage: StageFilter = None,
    model: Annotated[str | None, typer.Option(help="exact model name")] = None,
    model_prefix: Annotated[str | None, typer.Option(help="model names starting with")] = None,
    business_unit: Annotated[str | None, typer.Option(help="the model's business unit")] = None,
    risk_tier: Annotated[str | None, typer.Option(help="the model's risk tier")] = None,
    owner: Annotated[str | None, typer.Option(help="the model's owner")] = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Search versions across every model."""
    with connect(url, token) as client:
        page = gather(
            client.search_versions,
            limit=limit,
            cursor=cursor,
            follow=all_pages,
            tag=tag,
            stage=parse_choice(stage, Stage, "stage") if stage else None,
            model=model,
            model_prefix=model_prefix,
            business_unit=business_unit,
            risk_tier=parse_choice(risk_tier, RiskTier, "risk tier") if risk_tier else None,
            owner=owner,
        )
    if json_output:
        print_json(page)
    else:
        summary_table("versions", page)


@app.command("show")
def show(
    model: ModelArg,
    version: VersionArg,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a version in full, with its manifest."""
    with connect(url, token) as client:
        found = client.get_version(model, positive(version, "VERSION"))
    if json_output:
        print_json(found)
    else:
        show_version(found)


@app.command("download")
def download(
    model: ModelArg,
    version: VersionArg,
    dest: Annotated[Path, typer.Option("--dest", help="directory to write the files into")],
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Download every file of a version; each digest is re-checked against the manifest."""
    if dest.exists() and not dest.is_dir():
        fail(f"--dest {dest} exists and is not a directory")
    with connect(url, token) as client:
        found = client.get_version(model, positive(version, "VERSION"))
        total = sum(entry.size for entry in found.files)
        with transfer(f"downloading {model}@{version}", total) as advance:
            client.download_version(model, version, dest, advance)
    if json_output:
        print_json(
            {
                "model": found.model,
                "version": found.version,
                "dest": str(dest),
                "manifest_digest": found.manifest_digest,
                "files": found.files,
            }
        )
        return
    say(
        f"{len(found.files)} file(s), {total} bytes, written to {dest}; "
        f"every sha256 matched the manifest {found.manifest_digest}"
    )


@app.command("verify")
def verify(
    model: ModelArg,
    version: VersionArg,
    directory: Annotated[
        Path | None,
        typer.Option("--dir", help="check these downloaded files (default: download afresh)"),
    ] = None,
    key: Annotated[
        Path | None,
        typer.Option(help="trust only this public key (PEM); with --dir, needs no server"),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Check every file's digest and the manifest signature; exit 1 naming each problem."""
    import json
    import tempfile

    from charter.audit.keys import load_public_key
    from charter.evidence import manifest_signing as signing

    number = positive(version, "VERSION")
    pinned = None
    if key is not None:
        if not key.is_file():
            fail(f"{key} is not a file", 2)
        pinned = load_public_key(key.read_text(encoding="utf-8"))
    saved = directory / signing.STATEMENT_FILE if directory is not None else None
    with contextlib.ExitStack() as stack:
        if pinned is not None and saved is not None and saved.is_file():
            statement = json.loads(saved.read_text(encoding="utf-8"))
            trusted = pinned
            where = "offline"
        else:
            client = stack.enter_context(connect(url, token))
            found = client.signature(model, number)
            statement = found.statement
            if pinned is None and found.public_key is None:
                signer = statement.get("key_id")
                fail(f"{model}@{number} is signed by key {signer}, which the server does not trust")
            trusted = pinned or load_public_key(str(found.public_key))
            where = "against the server's statement"
            if directory is None:
                directory = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                client.download_version(model, number, directory)
        assert directory is not None  # given, or downloaded into above
        problems = signing.verify_directory(
            directory, statement, {signing.key_id(trusted): trusted}
        )
        if (statement.get("model"), statement.get("version")) != (model, number):
            problems.append(
                f"the statement is for {statement.get('model')}@{statement.get('version')}, "
                f"not {model}@{number}"
            )
    if json_output:
        print_json({"ok": not problems, "problems": problems, "key_id": statement.get("key_id")})
    elif not problems:
        say(
            f"{model}@{number}: {len(statement.get('files', []))} file(s) match the manifest "
            f"{statement.get('manifest_digest')} signed by {statement.get('key_id')} ({where})"
        )
    for problem in problems if not json_output else []:
        typer.secho(f"  {problem}", err=True, fg="red")
    if problems:
        raise typer.Exit(1)


@app.command("history")
def history(
    model: ModelArg,
    version: VersionArg,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a version's stage transitions, oldest first."""
    with connect(url, token) as client:
        transitions = client.stage_history(model, positive(version, "VERSION"))
    if json_output:
        print_json(transitions)
        return
    table(
        f"stage history of {model}@{version}",
        ["at", "from", "to", "by", "comment"],
        [(t.at, t.from_stage.value, t.to_stage.value, t.actor, t.comment) for t in transitions],
    )


@app.command("alias")
def alias(
    model: ModelArg,
    name: Annotated[str, typer.Argument(metavar="ALIAS", help="alias, e.g. champion")],
    version: VersionArg,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Point ALIAS of MODEL at VERSION (moving it if it pointed elsewhere)."""
    with connect(url, token) as client:
        found = client.set_alias(model, name, positive(version, "VERSION"))
    if json_output:
        print_json(found)
    else:
        say(f"{model} alias {name!r} -> version {found.version}")


@app.command("unalias")
def unalias(
    model: ModelArg,
    name: Annotated[str, typer.Argument(metavar="ALIAS", help="alias to remove")],
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Remove an alias from a model."""
    with connect(url, token) as client:
        client.delete_alias(model, name)
    if json_output:
        print_json({"model": model, "alias": name, "removed": True})
    else:
        say(f"{model} alias {name!r} removed")
