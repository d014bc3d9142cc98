"""`charter datasets`: register datasets and their versions (URI, digest, schema, PII, region)."""

from pathlib import Path
from typing import Annotated, Any

import typer

from charter.artifacts.manifest import hash_file
from charter.cli.arguments import (
    AllOption,
    CursorOption,
    JsonOption,
    LimitOption,
    TagFilterOption,
    TagOption,
    TokenOption,
    UrlOption,
    parse_columns,
    parse_ref,
    parse_tags,
    positive,
)
from charter.cli.connection import connect, gather
from charter.cli.output import details, fail, more_hint, print_json, table
from charter.domain.common import Page
from charter.domain.registry import Dataset, DatasetVersion

app = typer.Typer(help="Register datasets and their versions.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(metavar="NAME", help="dataset name")]
BusinessUnit = Annotated[str | None, typer.Option(help="business unit that owns it")]


def show_dataset(dataset: Dataset) -> None:
    details(
        f"dataset {dataset.name}",
        [
            ("name", dataset.name),
            ("description", dataset.description),
            ("owner", dataset.owner),
            ("business unit", dataset.business_unit),
            ("tags", dataset.tags),
            ("latest version", dataset.latest_version),
            ("created by", dataset.created_by),
            ("created at", dataset.created_at),
            ("revision", dataset.revision),
        ],
    )


def show_dataset_version(found: DatasetVersion) -> None:
    details(
        f"{found.dataset}@{found.version}",
        [
            ("dataset", found.dataset),
            ("version", found.version),
            ("uri", found.uri),
            ("digest", found.digest),
            ("rows", found.row_count),
            ("region", found.data_region),
            ("legal basis", found.legal_basis),
            ("contains PII", "yes" if found.contains_pii else "no"),
            ("derived from", found.derived_from),
            ("columns", [f"{c.name}:{c.type}" for c in found.columns]),
            ("description", found.description),
            ("created by", found.created_by),
            ("created at", found.created_at),
        ],
    )


def versions_table(title: str, page: Page[DatasetVersion]) -> None:
    table(
        title,
        ["version", "uri", "digest", "rows", "region", "PII", "legal basis", "created"],
        [
            (
                v.version,
                v.uri,
                v.digest,
                v.row_count,
                v.data_region,
                "yes" if v.contains_pii else "no",
                v.legal_basis,
                v.created_at,
            )
            for v in page.items
        ],
    )
    more_hint(page.next_cursor)


@app.command("create")
def create(
    name: NameArg,
    description: Annotated[str | None, typer.Option(help="what the data is")] = None,
    owner: Annotated[str | None, typer.Option(help="username of its owner")] = None,
    business_unit: BusinessUnit = None,
    tag: TagOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Register a dataset (its versions come with add-version)."""
    with connect(url, token) as client:
        fields: dict[str, Any] = {
            "description": description,
            "owner": owner,
            "business_unit": business_unit,
            "tags": parse_tags(tag) or None,
        }
        dataset = client.create_dataset(name, **fields)
    if json_output:
        print_json(dataset)
    else:
        show_dataset(dataset)


@app.command("list")
def list_(
    name_prefix: Annotated[str | None, typer.Option(help="names starting with this")] = None,
    tag: TagFilterOption = None,
    owner: Annotated[str | None, typer.Option(help="owner's username")] = None,
    business_unit: BusinessUnit = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """List datasets, filtered."""
    with connect(url, token) as client:
        page = gather(
            client.list_datasets,
            limit=limit,
            cursor=cursor,
            follow=all_pages,
            name_prefix=name_prefix,
            tag=tag,
            owner=owner,
            business_unit=business_unit,
        )
    if json_output:
        print_json(page)
        return
    table(
        "datasets",
        ["name", "owner", "business unit", "latest", "tags", "description"],
        [
            (d.name, d.owner, d.business_unit, d.latest_version, d.tags, d.description)
            for d in page.items
        ],
    )
    more_hint(page.next_cursor)


@app.command("show")
def show(
    name: NameArg,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show a dataset."""
    with connect(url, token) as client:
        dataset = client.get_dataset(name)
    if json_output:
        print_json(dataset)
    else:
        show_dataset(dataset)


def _digest_of(path: Path) -> str:
    if not path.is_file():
        fail(f"--file {path} is not a readable file")
    return "sha256:" + hash_file(path).sha256


@app.command("add-version")
def add_version(
    name: NameArg,
    uri: Annotated[
        str | None, typer.Option(help="where the data lives (default: the --file's file:// URI)")
    ] = None,
    digest: Annotated[str | None, typer.Option(help="content digest sha256:HEX")] = None,
    file: Annotated[
        Path | None, typer.Option("--file", help="compute the digest from this local file")
    ] = None,
    column: Annotated[
        list[str] | None,
        typer.Option(
            "--column",
            metavar="NAME:TYPE",
            help="schema column name:type, type! = not null (repeatable)",
        ),
    ] = None,
    rows: Annotated[int | None, typer.Option(help="row count")] = None,
    region: Annotated[str | None, typer.Option(help="where the data resides, e.g. eu")] = None,
    legal_basis: Annotated[
        str | None, typer.Option(help="GDPR legal basis or consent tag, e.g. contract")
    ] = None,
    pii: Annotated[bool, typer.Option("--pii/--no-pii", help="contains personal data")] = False,
    derived_from: Annotated[
        str | None, typer.Option(help="the dataset version it was derived from, NAME@V")
    ] = None,
    description: Annotated[str | None, typer.Option(help="what changed")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Register a new version of a dataset: where it is, its digest and its schema."""
    with connect(url, token) as client:
        if file is not None:
            computed = _digest_of(file)
            if digest is not None and digest != computed:
                fail(f"--digest {digest} does not match {file}, whose digest is {computed}")
            digest = computed
            uri = uri or file.resolve().as_uri()
        if digest is None:
            fail("give --digest sha256:HEX, or --file PATH to compute it")
        if uri is None:
            fail("give --uri (where the data lives), or --file PATH to use its file:// URI")
        if rows is not None and rows < 0:
            fail(f"--rows must not be negative, got {rows}")
        fields: dict[str, Any] = {
            "columns": parse_columns(column) or None,
            "row_count": rows,
            "data_region": region,
            "legal_basis": legal_basis,
            "contains_pii": pii,
            "description": description,
        }
        if derived_from:
            source, version = parse_ref(derived_from, "--derived-from")
            fields["derived_from"] = {"dataset": source, "version": version}
        found = client.create_dataset_version(name, uri=uri, digest=digest, **fields)
    if json_output:
        print_json(found)
    else:
        show_dataset_version(found)


@app.command("versions")
def versions(
    name: NameArg,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """List a dataset's versions."""
    with connect(url, token) as client:
        page = gather(
            lambda **kw: client.list_dataset_versions(name, **kw),
            limit=limit,
            cursor=cursor,
            follow=all_pages,
        )
    if json_output:
        print_json(page)
    else:
        versions_table(f"versions of {name}", page)


@app.command("scan")
def scan(
    name: Annotated[str, typer.Argument(metavar="NAME", help="dataset name")],
    version: Annotated[int, typer.Argument(metavar="VERSION", help="version number")],
    sample_rows: Annotated[
        int | None, typer.Option(help="scan at most this many rows (default: all)")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Scan a dataset version's content for personal data; examples are masked."""
    with connect(url, token) as client:
        found = client.scan_dataset(name, positive(version, "VERSION"), sample_rows)
    if json_output:
        print_json(found)
        return
    columns = found.details["columns"]
    table(
        f"PII in {name}@{version} ({found.details['rows_scanned']} rows scanned)",
        ["column", "found", "examples (masked)"],
        [
            (
                column,
                ", ".join(
                    [f"{kind}: {count}" for kind, count in report["kinds"].items()]
                    + ([f"{report['by_name']} (by name)"] if report["by_name"] else [])
                ),
                "; ".join(e for examples in report["examples"].values() for e in examples),
            )
            for column, report in columns.items()
            if report["kinds"] or report["by_name"]
        ],
    )


@app.command("attach-content")
def attach_content(
    name: Annotated[str, typer.Argument(metavar="NAME", help="dataset name")],
    version: Annotated[int, typer.Argument(metavar="VERSION", help="version number")],
    path: Annotated[Path, typer.Argument(metavar="FILE", help="the table as Parquet")],
    target: Annotated[
        list[str] | None, typer.Option("--target", help="label column(s) (repeatable)")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Upload a dataset version's content; the server checks it against the digest."""
    if not path.is_file():
        fail(f"{path} is not a file", 2)
    with connect(url, token) as client:
        found = client.attach_content(name, positive(version, "VERSION"), path, target or [])
    if json_output:
        print_json(found)
    else:
        typer.echo(f"{name}@{version}: {found.rows} rows verified against the digest")


@app.command("intake")
def intake(
    name: Annotated[str, typer.Argument(metavar="NAME", help="dataset name")],
    version: Annotated[int, typer.Argument(metavar="VERSION", help="version number")],
    mask: Annotated[list[str] | None, typer.Option("--mask", help="column to mask")] = None,
    tokenise: Annotated[
        list[str] | None, typer.Option("--tokenise", help="column to tokenise (HMAC)")
    ] = None,
    drop: Annotated[list[str] | None, typer.Option("--drop", help="column to drop")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Mask, tokenise or drop columns; the result is the next version, derived from this one."""
    actions = {c: "mask" for c in mask or []}
    actions.update({c: "tokenise" for c in tokenise or []})
    actions.update({c: "drop" for c in drop or []})
    if not actions:
        fail("nothing to do: give --mask, --tokenise or --drop", 2)
    with connect(url, token) as client:
        found = client.intake(name, positive(version, "VERSION"), actions)
    if json_output:
        print_json(found)
    else:
        typer.echo(f"{name}@{found.version}: derived from {name}@{version} ({found.description})")
