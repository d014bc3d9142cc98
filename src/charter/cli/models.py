"""`charter models`: register, list, show and update registered models."""

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
    parse_choice,
    parse_tags,
    positive,
)
from charter.cli.connection import connect, gather
from charter.cli.output import details, fail, more_hint, print_json, table
from charter.domain.enums import RiskTier, Stage
from charter.domain.registry import Model

app = typer.Typer(help="Register, list, show and update models.", no_args_is_help=True)

TIERS = ", ".join(t.value for t in RiskTier)
Description = Annotated[str | None, typer.Option(help="what the model does")]
BusinessOwner = Annotated[str | None, typer.Option(help="username of the accountable owner")]
TechnicalOwner = Annotated[str | None, typer.Option(help="username of the technical owner")]
BusinessUnit = Annotated[str | None, typer.Option(help="business unit that owns it")]
IntendedUse = Annotated[str | None, typer.Option(help="the use it is approved for")]
Regions = Annotated[
    list[str] | None,
    typer.Option(
        "--region", metavar="REGION", help="approved deployment region, e.g. eu-west-1 (repeatable)"
    ),
]


def show_model(model: Model) -> None:
    details(
        f"model {model.name}",
        [
            ("name", model.name),
            ("risk tier", model.risk_tier.value),
            ("description", model.description),
            ("business owner", model.business_owner),
            ("technical owner", model.technical_owner),
            ("business unit", model.business_unit),
            ("intended use", model.intended_use),
            ("approved regions", model.approved_regions),
            ("tags", model.tags),
            ("latest version", model.latest_version),
            ("aliases", model.aliases),
            ("created by", model.created_by),
            ("created at", model.created_at),
            ("updated at", model.updated_at),
            ("revision", model.revision),
        ],
    )


@app.command("create")
def create(
    name: Annotated[str, typer.Argument(metavar="NAME", help="unique model name")],
    risk_tier: Annotated[
        str, typer.Option("--risk-tier", metavar="TIER", help=f"EU AI Act tier: {TIERS}")
    ],
    description: Description = None,
    business_owner: BusinessOwner = None,
    technical_owner: TechnicalOwner = None,
    business_unit: BusinessUnit = None,
    intended_use: IntendedUse = None,
    region: Regions = None,
    tag: TagOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Register a model; only NAME and --risk-tier are required."""
    with connect(url, token) as client:
        fields: dict[str, Any] = {
            "description": description,
            "business_owner": business_owner,
            "technical_owner": technical_owner,
            "business_unit": business_unit,
            "intended_use": intended_use,
            "approved_regions": region or None,
            "tags": parse_tags(tag) or None,
        }
        model = client.create_model(name, parse_choice(risk_tier, RiskTier, "risk tier"), **fields)
    if json_output:
        print_json(model)
    else:
        show_model(model)


@app.command("list")
def list_(
    name_prefix: Annotated[str | None, typer.Option(help="names starting with this")] = None,
    tag: TagFilterOption = None,
    owner: Annotated[str | None, typer.Option(help="business or technical owner")] = None,
    business_unit: BusinessUnit = None,
    risk_tier: Annotated[str | None, typer.Option(help=f"one of {TIERS}")] = None,
    stage: Annotated[str | None, typer.Option(help="has a version in this stage")] = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """List models, filtered; newest pages follow with --cursor, or all with --all."""
    with connect(url, token) as client:
        page = gather(
            client.list_models,
            limit=limit,
            cursor=cursor,
            follow=all_pages,
            name_prefix=name_prefix,
            tag=tag,
            owner=owner,
            business_unit=business_unit,
            risk_tier=parse_choice(risk_tier, RiskTier, "risk tier") if risk_tier else None,
            stage=parse_choice(stage, Stage, "stage") if stage else None,
        )
    if json_output:
        print_json(page)
        return
    table(
        "models",
        ["name", "risk tier", "business unit", "owner", "latest", "tags"],
        [
            (m.name, m.risk_tier.value, m.business_unit, m.business_owner, m.latest_version, m.tags)
            for m in page.items
        ],
    )
    more_hint(page.next_cursor)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(metavar="NAME", help="model name")],
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one model."""
    with connect(url, token) as client:
        model = client.get_model(name)
    if json_output:
        print_json(model)
    else:
        show_model(model)


@app.command("update")
def update(
    name: Annotated[str, typer.Argument(metavar="NAME", help="model name")],
    risk_tier: Annotated[str | None, typer.Option(help=f"new tier: {TIERS}")] = None,
    description: Description = None,
    business_owner: BusinessOwner = None,
    technical_owner: TechnicalOwner = None,
    business_unit: BusinessUnit = None,
    intended_use: IntendedUse = None,
    region: Annotated[
        list[str] | None,
        typer.Option("--region", metavar="REGION", help="replaces the approved regions"),
    ] = None,
    tag: Annotated[
        list[str] | None, typer.Option("--tag", metavar="KEY=VALUE", help="add or change a tag")
    ] = None,
    remove_tag: Annotated[
        list[str] | None,
        typer.Option("--remove-tag", metavar="KEY", help="drop a tag by key (repeatable)"),
    ] = None,
    revision: Annotated[
        int | None,
        typer.Option(help="refuse unless the model is still at this revision"),
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Change a model's fields; only the options given change.

    The update carries the revision read just before (or --revision), so a concurrent
    change is refused instead of silently overwritten.
    """
    with connect(url, token) as client:
        changes: dict[str, Any] = {
            key: value
            for key, value in {
                "description": description,
                "business_owner": business_owner,
                "technical_owner": technical_owner,
                "business_unit": business_unit,
                "intended_use": intended_use,
                "approved_regions": region,
            }.items()
            if value is not None
        }
        if risk_tier is not None:
            changes["risk_tier"] = parse_choice(risk_tier, RiskTier, "risk tier")
        added = parse_tags(tag)
        if not changes and not added and not remove_tag:
            fail("nothing to change: give at least one option (see --help)")
        current = client.get_model(name)
        if revision is not None:
            current = current.model_copy(update={"revision": positive(revision, "--revision")})
        if added or remove_tag:
            tags = {**current.tags, **added}
            for key in remove_tag or []:
                if key not in tags:
                    fail(f"model {name} has no tag {key!r} to remove")
                tags.pop(key)
            changes["tags"] = tags
        model = client.update_model(current, **changes)
    if json_output:
        print_json(model)
    else:
        show_model(model)
