"""`charter promote`, `approve`, `reject`, and `charter promotions` / `charter evidence`."""

from pathlib import Path
from typing import Annotated, Any

import typer

from charter.cli.arguments import (
    CursorOption,
    JsonOption,
    LimitOption,
    TokenOption,
    UrlOption,
    parse_choice,
    positive,
)
from charter.cli.connection import connect
from charter.cli.output import details, more_hint, print_json, say, table, when
from charter.cli.versions import ModelArg, VersionArg

app = typer.Typer(
    help="Promotion requests: list, show, re-evaluate, withdraw.", no_args_is_help=True
)
evidence_app = typer.Typer(help="Evidence attached to model versions.", no_args_is_help=True)

RequestArg = Annotated[int, typer.Argument(metavar="REQUEST", help="promotion request id")]
STAGES = "none, staging, production, archived"
EVIDENCE_KINDS = "model_card, transparency_notice, validation_report"


def show_gate(gate: Any) -> None:
    """Every rule with pass/fail and its reason, then the verdict."""
    rows = [
        (rule.rule, "pass" if rule.passed else "FAIL", rule.reason)
        for rule in sorted(gate.rules, key=lambda r: r.passed)
    ]
    table(f"gate ({gate.engine})", ["rule", "result", "reason"], rows)
    if gate.allowed:
        say("the gate passes")
    else:
        say(f"blocked by {len(gate.blocking)} rule(s): {', '.join(gate.blocking)}")


def show_request(found: Any) -> None:
    fields: list[tuple[str, Any]] = [
        ("request", found.id),
        ("version", f"{found.model}@{found.version}"),
        ("stage", f"{found.from_stage.value} -> {found.to_stage.value}"),
        ("region", found.region or "-"),
        ("status", found.status.value),
        ("requested by", found.requested_by),
        ("comment", found.comment or "-"),
        ("expires", when(found.expires_at)),
    ]
    if found.break_glass_reason:
        fields.append(("break-glass reason", found.break_glass_reason))
    if found.overridden:
        fields.append(("overridden rules", ", ".join(found.overridden)))
    if found.executed_by:
        fields.append(("executed by", found.executed_by))
    details(f"promotion request {found.id}", fields)
    if found.decisions:
        table(
            "decisions",
            ["who", "verdict", "roles", "comment", "at"],
            [
                (d.principal, d.verdict.value, ", ".join(d.roles), d.comment, when(d.at))
                for d in found.decisions
            ],
        )
    if found.gate is not None:
        show_gate(found.gate)


def promote(
    model: ModelArg,
    version: VersionArg,
    to: Annotated[str, typer.Option("--to", help=f"the stage to enter: {STAGES}")],
    region: Annotated[str, typer.Option(help="target region of the deployment")] = "",
    comment: Annotated[str, typer.Option(help="why (kept with the request)")] = "",
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="only show what would block it; open nothing")
    ] = False,
    break_glass: Annotated[
        str | None,
        typer.Option(
            "--break-glass",
            metavar="REASON",
            help="admins: override the gate once a second admin approves (audited for good)",
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Open a promotion request; the gate shows every rule, and the version enters the
    stage as soon as the gate passes."""
    from charter.domain.enums import Stage

    with connect(url, token) as client:
        stage = parse_choice(to, Stage, "--to")
        number = positive(version, "VERSION")
        if dry_run:
            gate = client.dry_run_promotion(model, number, stage, region)
            if json_output:
                print_json(gate)
            else:
                show_gate(gate)
            return
        found = client.promote(model, number, stage, region, comment, break_glass)
    if json_output:
        print_json(found)
        return
    show_request(found)
    if found.status.value == "executed":
        say(f"{model}@{number} is now in {found.to_stage.value}")
    else:
        hint = f"approve it with `charter approve {found.id}`"
        say(f"request {found.id} is {found.status.value}; {hint}")


def approve(
    request: RequestArg,
    comment: Annotated[str, typer.Option(help="kept with your approval")] = "",
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Approve (or, as the model's business owner, sign off) a promotion request."""
    with connect(url, token) as client:
        found = client.approve(positive(request, "REQUEST"), comment)
    if json_output:
        print_json(found)
    else:
        show_request(found)


def reject(
    request: RequestArg,
    comment: Annotated[str, typer.Option(help="why (required)")],
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Reject a promotion request; it closes for good."""
    with connect(url, token) as client:
        found = client.reject(positive(request, "REQUEST"), comment)
    if json_output:
        print_json(found)
    else:
        say(f"request {found.id} rejected")


@app.command("list")
def list_cmd(
    status: Annotated[
        str | None, typer.Option(help="open, executed, rejected, expired, withdrawn")
    ] = None,
    model: Annotated[str | None, typer.Option(help="only this model")] = None,
    requested_by: Annotated[str | None, typer.Option(help="only requests by this name")] = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Promotion requests, oldest first."""
    from charter.domain.gates import PromotionStatus

    with connect(url, token) as client:
        chosen = parse_choice(status, PromotionStatus, "--status") if status else None
        page = client.list_promotions(
            status=chosen, model=model, requested_by=requested_by, limit=limit, cursor=cursor
        )
    if json_output:
        print_json(page)
        return
    table(
        "promotion requests",
        ["id", "version", "to", "status", "requested by", "blocking", "expires"],
        [
            (
                p.id,
                f"{p.model}@{p.version}",
                p.to_stage.value,
                p.status.value,
                p.requested_by,
                ", ".join(p.gate.blocking) if p.gate else "",
                when(p.expires_at),
            )
            for p in page.items
        ],
    )
    more_hint(page.next_cursor)


@app.command("show")
def show_cmd(
    request: RequestArg,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """One request: its decisions and its latest gate evaluation."""
    with connect(url, token) as client:
        found = client.get_promotion(positive(request, "REQUEST"))
    if json_output:
        print_json(found)
    else:
        show_request(found)


@app.command("evaluate")
def evaluate_cmd(
    request: RequestArg,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Re-evaluate an open request now (after a model change or a policy push)."""
    with connect(url, token) as client:
        found = client.evaluate_promotion(positive(request, "REQUEST"))
    if json_output:
        print_json(found)
    else:
        show_request(found)


@app.command("withdraw")
def withdraw_cmd(
    request: RequestArg,
    comment: Annotated[str, typer.Option(help="why")] = "",
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Withdraw an open request (its requester or an admin)."""
    with connect(url, token) as client:
        found = client.withdraw_promotion(positive(request, "REQUEST"), comment)
    if json_output:
        print_json(found)
    else:
        say(f"request {found.id} withdrawn")


@evidence_app.command("add")
def add_evidence(
    model: ModelArg,
    version: VersionArg,
    path: Annotated[Path, typer.Argument(metavar="FILE", help="the document")],
    kind: Annotated[str, typer.Option(help=EVIDENCE_KINDS)],
    title: Annotated[str, typer.Option(help="default: the file name")] = "",
    media_type: Annotated[str, typer.Option(help="e.g. text/markdown, application/pdf")] = (
        "text/markdown"
    ),
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Upload a document and attach it to a version as evidence (immutable, audited)."""
    from charter.cli.output import fail
    from charter.domain.evidence import EvidenceKind

    if not path.is_file():
        fail(f"{path} is not a file", 2)
    with connect(url, token) as client:
        chosen = parse_choice(kind, EvidenceKind, "--kind")
        found = client.attach_evidence(
            model, positive(version, "VERSION"), chosen, path, title, media_type
        )
    if json_output:
        print_json(found)
    else:
        say(f"{found.kind} attached to {model}@{version} as evidence {found.id} ({found.sha256})")


@evidence_app.command("list")
def list_evidence(
    model: ModelArg,
    version: VersionArg,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """A version's evidence, oldest first."""
    with connect(url, token) as client:
        found = client.list_evidence(model, positive(version, "VERSION"))
    if json_output:
        print_json(found)
        return
    table(
        f"evidence of {model}@{version}",
        ["id", "kind", "source", "title", "by", "sha256", "at"],
        [
            (e.id, e.kind, e.source.value, e.title, e.submitted_by, e.sha256, when(e.created_at))
            for e in found
        ],
    )


advisories_app = typer.Typer(
    help="The offline vulnerability advisory database (OSV).", no_args_is_help=True
)
COMPUTABLE = "ml_bom, vulnerability_scan"


@evidence_app.command("compute")
def compute_evidence(
    model: ModelArg,
    version: VersionArg,
    kind: Annotated[
        list[str] | None, typer.Option("--kind", help=f"repeatable; default all: {COMPUTABLE}")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Have Charter compute evidence for a version (stored, audited, read by the gate)."""
    from charter.domain.evidence import ComputedKind

    with connect(url, token) as client:
        kinds = [parse_choice(k, ComputedKind, "--kind") for k in kind or COMPUTABLE.split(", ")]
        found = client.compute_evidence(model, positive(version, "VERSION"), list(kinds))
    if json_output:
        print_json(found)
        return
    for item in found:
        say(f"{item.kind}: {item.title} (evidence {item.id})")


@evidence_app.command("bom")
def bom(
    model: ModelArg,
    version: VersionArg,
    out: Annotated[Path | None, typer.Option(help="write the BOM here instead of stdout")] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Print (or --out) the version's CycloneDX 1.6 ML bill of materials (JSON either way;
    with --out and --json, a JSON note of what was written)."""
    import json

    with connect(url, token) as client:
        document = client.bom(model, positive(version, "VERSION"))
    text = json.dumps(document, indent=2, sort_keys=True) + "\n"
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.write_text(text, encoding="utf-8")
        count = len(document.get("components", []))
        if json_output:
            print_json({"written": str(out), "components": count})
        else:
            say(f"wrote {out} ({count} components)")


@advisories_app.command("import")
def import_advisories(
    path: Annotated[Path, typer.Argument(metavar="FILE_OR_DIR", help="OSV JSON, zip or directory")],
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Import OSV advisories (admins) and re-scan every version in staging or production."""
    from charter.cli.output import fail

    if not path.exists():
        fail(f"{path} does not exist", 2)
    with connect(url, token) as client:
        found = client.import_advisories(path)
    if json_output:
        print_json(found)
        return
    say(f"{found.advisories} advisories ({found.added} new, {found.updated} updated)")
    for name in found.rescanned_vulnerable:
        say(f"  now vulnerable: {name}")


@evidence_app.command("evaluate")
def evaluate(
    model: ModelArg,
    version: VersionArg,
    dataset: Annotated[
        str | None, typer.Option(help="NAME@VERSION (default: the version's evaluation data)")
    ] = None,
    sensitive: Annotated[
        list[str] | None, typer.Option("--sensitive", help="a sensitive column (repeatable)")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Evaluate a version on verified data: performance, fairness, robustness, importance."""
    with connect(url, token) as client:
        if dataset is not None:
            from charter.cli.arguments import parse_ref

            parse_ref(dataset, "--dataset")
        found = client.evaluate_version(
            model, positive(version, "VERSION"), dataset, sensitive or []
        )
    if json_output:
        print_json(found)
        return
    for item in found:
        details = item.details
        if item.kind == "performance_evaluation":
            shown = ", ".join(f"{k} {v}" for k, v in details["metrics"].items())
        elif item.kind == "fairness_evaluation":
            shown = ", ".join(f"{k} {v}" for k, v in details.get("worst", {}).items())
        elif item.kind == "robustness_evaluation":
            shown = ", ".join(
                f"{p['perturbation']}: {p['change']:+}" for p in details["perturbations"]
            )
        else:
            shown = ", ".join(f"{f['feature']} {f['mean']}" for f in details["features"][:5])
        say(f"{item.kind}: {shown}")


@evidence_app.command("card")
def card(
    model: ModelArg,
    version: VersionArg,
    html: Annotated[bool, typer.Option("--html", help="HTML instead of Markdown")] = False,
    out: Annotated[Path | None, typer.Option(help="write the card here")] = None,
    write: Annotated[
        list[str] | None,
        typer.Option(
            "--write",
            metavar="SECTION=FILE",
            help="first set a human-written section from a file (repeatable), e.g. "
            "ethical_considerations=ethics.md",
        ),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Generate the version's model card from the registry and the evidence; print it (or
    --out) and say what its risk tier still needs."""
    from charter.cli.arguments import split_pair
    from charter.cli.output import fail, warn

    fields: dict[str, str] = {}
    for item in write or []:
        section, path = split_pair(item, "--write")
        if not Path(path).is_file():
            fail(f"--write {item}: {path} is not a file", 2)
        fields[section] = Path(path).read_text(encoding="utf-8")
    with connect(url, token) as client:
        number = positive(version, "VERSION")
        if fields:
            client.write_card(model, number, fields)
        made = client.generate_card(model, number)
        text = client.card(model, number, html)
    if json_output:
        print_json(made)
        return
    if out is None:
        typer.echo(text)
    else:
        out.write_text(text, encoding="utf-8")
        say(f"wrote {out}")
    missing = made.details.get("missing", [])
    if missing:
        warn(f"incomplete for its risk tier: {', '.join(missing)}")
