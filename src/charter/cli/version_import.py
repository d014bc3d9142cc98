"""`charter versions import`: register many versions from a spec file, in batches."""

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from charter.cli.arguments import JsonOption, TokenOption, UrlOption
from charter.cli.connection import connect
from charter.cli.output import err_console, fail, print_json, say, table
from charter.client.version_batch import VersionToRegister
from charter.domain.version_batch import MAX_BATCH_VERSIONS

REQUIRED = ("model", "path", "flavor")
SPEC_HELP = (
    "a JSON file: a list of objects with 'model', 'path' (a file or directory, relative to "
    "the spec file), 'flavor', and optionally any field of a version: description, "
    "framework, tags, params, metrics, training_datasets and evaluation_datasets "
    "([{'dataset': NAME, 'version': V}]), parent ({'model': NAME, 'version': V}), run_id"
)


def read_spec(spec: Path) -> list[VersionToRegister]:
    """The versions a spec file lists; exits with a message naming the first bad entry."""
    try:
        entries = json.loads(spec.read_text())
    except OSError as exc:
        fail(f"cannot read {spec}: {exc.strerror}")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        fail(f"{spec} is not JSON: {exc}")
    if not isinstance(entries, list) or not entries:
        fail(f"{spec} must hold a non-empty JSON list of versions")
    versions = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict):
            fail(f"{spec}: entry {index} is not an object")
        missing = [key for key in REQUIRED if not isinstance(entry.get(key), str)]
        if missing:
            fail(f"{spec}: entry {index} needs {', '.join(repr(k) for k in missing)} (text)")
        fields: dict[str, Any] = {k: v for k, v in entry.items() if k not in REQUIRED}
        path = spec.parent / entry["path"]
        if not path.exists():
            fail(f"{spec}: entry {index}: {path} does not exist")
        versions.append(VersionToRegister(entry["model"], path, entry["flavor"], fields))
    return versions


def import_versions(
    spec: Annotated[Path, typer.Argument(metavar="SPEC", help=SPEC_HELP)],
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Register every version SPEC lists: files of up to 1 MiB travel inside the batch
    requests, larger ones are uploaded first. Each batch (up to 1,000 versions) is
    registered completely or not at all; an error names the entry and what to fix."""
    versions = read_spec(spec)
    with connect(url, token) as client:
        batches = -(-len(versions) // MAX_BATCH_VERSIONS)
        with err_console.status(f"registering {len(versions)} versions in {batches} batch(es)"):
            created = client.register_versions(versions)
    if json_output:
        print_json(created)
        return
    table(
        f"{len(created)} versions registered",
        ["model", "version", "flavor", "manifest digest", "tags"],
        [(v.model, v.version, v.flavor, v.manifest_digest, v.tags) for v in created],
    )
    say(f"next: charter versions show {created[-1].model} {created[-1].version}")
