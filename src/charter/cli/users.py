"""`charter users` and `charter whoami`: users and service accounts, their roles and state."""

from typing import Annotated, Any

import typer

from charter.cli.arguments import (
    AllOption,
    CursorOption,
    JsonOption,
    LimitOption,
    TokenOption,
    UrlOption,
    parse_choice,
    positive,
)
from charter.cli.connection import connect, gather
from charter.cli.output import details, fail, more_hint, print_json, table
from charter.domain.enums import PrincipalKind, Role
from charter.domain.identity import Principal

app = typer.Typer(help="Manage users and service accounts.", no_args_is_help=True)

ROLES = ", ".join(r.value for r in Role)
NameArg = Annotated[str, typer.Argument(metavar="NAME", help="user or service account name")]
Email = Annotated[str | None, typer.Option(help="e-mail address")]
BusinessUnit = Annotated[str | None, typer.Option(help="business unit")]
DisplayName = Annotated[str | None, typer.Option(help="name to show people")]
RegionOption = Annotated[
    str | None, typer.Option("--region", help="where it acts from, e.g. eu-west-1")
]
PurposeOption = Annotated[
    list[str] | None,
    typer.Option(
        "--purpose", metavar="PURPOSE", help="a purpose it may call models for (repeatable)"
    ),
]


def roles_of(values: list[str] | None) -> list[Role]:
    return list(dict.fromkeys(parse_choice(v, Role, "role") for v in values or []))


def show_principal(principal: Principal) -> None:
    details(
        f"{principal.kind.value} {principal.name}",
        [
            ("name", principal.name),
            ("kind", principal.kind.value),
            ("display name", principal.display_name),
            ("email", principal.email),
            ("roles", [r.value for r in principal.roles]),
            ("business unit", principal.business_unit),
            ("region", principal.region),
            ("purposes", principal.purposes),
            ("active", "yes" if principal.active else "no"),
            ("created at", principal.created_at),
            ("revision", principal.revision),
        ],
    )


@app.command("create")
def create(
    name: NameArg,
    role: Annotated[
        list[str], typer.Option("--role", metavar="ROLE", help=f"repeatable; one of {ROLES}")
    ],
    service: Annotated[
        bool, typer.Option("--service", help="a service account, not a person")
    ] = False,
    email: Email = None,
    business_unit: BusinessUnit = None,
    region: RegionOption = None,
    purpose: PurposeOption = None,
    display_name: DisplayName = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Create a user (or with --service a service account) with one or more roles."""
    with connect(url, token) as client:
        principal = client.create_principal(
            name,
            roles_of(role),
            kind=PrincipalKind.SERVICE if service else PrincipalKind.USER,
            display_name=display_name or "",
            email=email,
            business_unit=business_unit,
            region=region,
            purposes=purpose or [],
        )
    if json_output:
        print_json(principal)
    else:
        show_principal(principal)


@app.command("list")
def list_(
    role: Annotated[str | None, typer.Option(help=f"holding this role: {ROLES}")] = None,
    service: Annotated[
        bool | None, typer.Option("--service/--person", help="only service accounts / people")
    ] = None,
    business_unit: BusinessUnit = None,
    name_prefix: Annotated[str | None, typer.Option(help="names starting with this")] = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """List users and service accounts."""
    kind = None if service is None else (PrincipalKind.SERVICE if service else PrincipalKind.USER)
    with connect(url, token) as client:
        page = gather(
            client.list_principals,
            limit=limit,
            cursor=cursor,
            follow=all_pages,
            role=parse_choice(role, Role, "role") if role else None,
            kind=kind,
            business_unit=business_unit,
            name_prefix=name_prefix,
        )
    if json_output:
        print_json(page)
        return
    table(
        "users and service accounts",
        ["name", "kind", "roles", "business unit", "email", "active"],
        [
            (
                p.name,
                p.kind.value,
                [r.value for r in p.roles],
                p.business_unit,
                p.email,
                "yes" if p.active else "no",
            )
            for p in page.items
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
    """Show a user or service account."""
    with connect(url, token) as client:
        principal = client.get_principal(name)
    if json_output:
        print_json(principal)
    else:
        show_principal(principal)


@app.command("update")
def update(
    name: NameArg,
    role: Annotated[
        list[str] | None,
        typer.Option("--role", metavar="ROLE", help="replaces the roles (repeatable)"),
    ] = None,
    email: Email = None,
    business_unit: BusinessUnit = None,
    region: RegionOption = None,
    purpose: PurposeOption = None,
    display_name: DisplayName = None,
    active: Annotated[
        bool | None,
        typer.Option("--activate/--deactivate", help="let it sign in again / stop it"),
    ] = None,
    revision: Annotated[
        int | None, typer.Option(help="refuse unless it is still at this revision")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Change roles or attributes, or deactivate; only the options given change."""
    with connect(url, token) as client:
        changes: dict[str, Any] = {
            key: value
            for key, value in {
                "email": email,
                "business_unit": business_unit,
                "region": region,
                "purposes": purpose,
                "display_name": display_name,
                "active": active,
            }.items()
            if value is not None
        }
        if role:
            changes["roles"] = roles_of(role)
        if not changes:
            fail("nothing to change: give at least one option (see --help)")
        current = client.get_principal(name)
        if revision is not None:
            current = current.model_copy(update={"revision": positive(revision, "--revision")})
        principal = client.update_principal(current, **changes)
    if json_output:
        print_json(principal)
    else:
        show_principal(principal)


def whoami(
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show who the token belongs to, and its roles."""
    with connect(url, token) as client:
        principal = client.me()
    if json_output:
        print_json(principal)
    else:
        show_principal(principal)
