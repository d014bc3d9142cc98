"""`charter runs`: record training runs, list and show them, and finish them."""

from typing import Annotated, Any

import typer

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
    parse_tags,
    positive,
)
from charter.cli.connection import connect, gather
from charter.cli.output import details, fail, more_hint, print_json, table
from charter.domain.enums import RunStatus
from charter.domain.registry import Run

app = typer.Typer(help="Record, list, show and finish training runs.", no_args_is_help=True)

STATUSES = ", ".join(s.value for s in RunStatus)
RunArg = Annotated[int, typer.Argument(metavar="ID", help="run id")]
MetricOption = Annotated[
    list[str] | None, typer.Option("--metric", metavar="KEY=NUMBER", help="metric (repeatable)")
]


def show_run(run: Run) -> None:
    details(
        f"run {run.id}",
        [
            ("id", run.id),
            ("name", run.name),
            ("status", run.status.value),
            ("started at", run.started_at),
            ("ended at", run.ended_at),
            ("inputs", run.inputs),
            ("outputs", run.outputs),
            ("params", run.params),
            ("metrics", run.metrics),
            ("tags", run.tags),
            ("code", run.code.model_dump(exclude_none=True) if run.code else None),
            ("python", run.environment.python if run.environment else None),
            ("created by", run.created_by),
            ("revision", run.revision),
        ],
    )


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="a label for the run")] = "",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", metavar="KEY=VALUE", help="parameter (repeatable)"),
    ] = None,
    metric: MetricOption = None,
    input_: Annotated[
        list[str] | None,
        typer.Option("--input", metavar="NAME@V", help="input dataset version NAME@V (repeatable)"),
    ] = None,
    status: Annotated[str, typer.Option(help=f"one of {STATUSES}")] = RunStatus.RUNNING.value,
    tag: TagOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Record a training run and the dataset versions it reads."""
    with connect(url, token) as client:
        fields: dict[str, Any] = {
            "name": name or None,
            "params": parse_params(param) or None,
            "metrics": parse_metrics(metric) or None,
            "inputs": dataset_refs(input_, "input") or None,
            "status": parse_choice(status, RunStatus, "status"),
            "tags": parse_tags(tag) or None,
        }
        run = client.create_run(**fields)
    if json_output:
        print_json(run)
    else:
        show_run(run)


@app.command("list")
def list_(
    status: Annotated[str | None, typer.Option(help=f"one of {STATUSES}")] = None,
    owner: Annotated[str | None, typer.Option(help="who recorded it")] = None,
    name_prefix: Annotated[str | None, typer.Option(help="names starting with this")] = None,
    tag: TagFilterOption = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """List runs, filtered."""
    with connect(url, token) as client:
        page = gather(
            client.list_runs,
            limit=limit,
            cursor=cursor,
            follow=all_pages,
            status=parse_choice(status, RunStatus, "status") if status else None,
            owner=owner,
            name_prefix=name_prefix,
            tag=tag,
        )
    if json_output:
        print_json(page)
        return
    table(
        "runs",
        ["id", "name", "status", "started", "ended", "inputs", "outputs", "by"],
        [
            (
                r.id,
                r.name,
                r.status.value,
                r.started_at,
                r.ended_at,
                r.inputs,
                r.outputs,
                r.created_by,
            )
            for r in page.items
        ],
    )
    more_hint(page.next_cursor)


@app.command("show")
def show(
    run_id: RunArg,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one run."""
    with connect(url, token) as client:
        run = client.get_run(positive(run_id, "ID"))
    if json_output:
        print_json(run)
    else:
        show_run(run)


@app.command("finish")
def finish(
    run_id: RunArg,
    status: Annotated[
        str, typer.Option(help="finished, failed or killed")
    ] = RunStatus.FINISHED.value,
    metric: MetricOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """End a run with a final status, optionally adding metrics."""
    with connect(url, token) as client:
        final = parse_choice(status, RunStatus, "status")
        if final is RunStatus.RUNNING:
            fail("a run is finished with --status finished, failed or killed, not running")
        metrics = parse_metrics(metric)
        current = client.get_run(positive(run_id, "ID"))
        run = client.update_run(current, status=final, **({"metrics": metrics} if metrics else {}))
    if json_output:
        print_json(run)
    else:
        show_run(run)
