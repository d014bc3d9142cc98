"""`charter tokens`: issue API tokens (the secret is shown once), list and revoke them."""

from datetime import UTC, datetime, timedelta
from typing import Annotated

import typer

from charter.cli.arguments import (
    AllOption,
    CursorOption,
    JsonOption,
    LimitOption,
    TokenOption,
    UrlOption,
    parse_time,
    positive,
)
from charter.cli.connection import connect, gather
from charter.cli.output import fail, more_hint, print_json, say, table, warn, when
from charter.domain.identity import Token

app = typer.Typer(help="Issue, list and revoke API tokens.", no_args_is_help=True)

ForOption = Annotated[
    str | None,
    typer.Option("--for", metavar="PRINCIPAL", help="whose token (admins only; default: yourself)"),
]


def token_rows(tokens: list[Token]) -> list[tuple[object, ...]]:
    now = datetime.now(UTC)
    rows: list[tuple[object, ...]] = []
    for t in tokens:
        if t.revoked_at is not None:
            state = "revoked"
        elif t.expires_at is not None and t.expires_at <= now:
            state = "expired"
        else:
            state = "active"
        rows.append((t.id, t.name, t.principal, t.prefix, state, t.expires_at, t.created_at))
    return rows


COLUMNS = ["id", "name", "principal", "prefix", "state", "expires", "created"]


@app.command("create")
def create(
    name: Annotated[
        str, typer.Argument(metavar="NAME", help="what the token is for, e.g. ci-pipeline")
    ],
    principal: ForOption = None,
    expires: Annotated[
        str | None,
        typer.Option(help="expiry time, ISO 8601, e.g. 2027-01-01T00:00:00Z (UTC if no zone)"),
    ] = None,
    expires_in_days: Annotated[
        int | None, typer.Option(help="expire this many days from now")
    ] = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Issue a token and print its secret, which is shown this once and never again."""
    with connect(url, token) as client:
        if expires is not None and expires_in_days is not None:
            fail("give --expires or --expires-in-days, not both")
        expires_at = None
        if expires is not None:
            expires_at = parse_time(expires, "--expires")
            if expires_at <= datetime.now(UTC):
                fail(f"--expires {expires} is in the past")
        elif expires_in_days is not None:
            days = positive(expires_in_days, "--expires-in-days")
            expires_at = datetime.now(UTC) + timedelta(days=days)
        issued = client.create_token(name, principal=principal, expires_at=expires_at)
    if json_output:
        print_json(issued)
    else:
        expiry = f"expires {when(issued.expires_at)}" if issued.expires_at else "never expires"
        say(f"token {issued.id} '{issued.name}' for {issued.principal}, {expiry}:")
        say(f"\n    {issued.secret}\n")
    warn(
        "this secret is shown only once and Charter keeps only its hash; "
        "store it now (e.g. export CHARTER_TOKEN=...)"
    )


@app.command("list")
def list_(
    principal: ForOption = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """List your tokens (admins: anyone's with --for); secrets are never shown."""
    with connect(url, token) as client:
        page = gather(
            client.list_tokens, limit=limit, cursor=cursor, follow=all_pages, principal=principal
        )
    if json_output:
        print_json(page)
        return
    table("tokens", COLUMNS, token_rows(page.items))
    more_hint(page.next_cursor)


@app.command("revoke")
def revoke(
    token_id: Annotated[int, typer.Argument(metavar="ID", help="token id (see tokens list)")],
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Revoke a token; requests with it fail from now on."""
    with connect(url, token) as client:
        revoked = client.revoke_token(positive(token_id, "ID"))
    if json_output:
        print_json(revoked)
    else:
        say(f"token {revoked.id} ({revoked.name}, {revoked.principal}) revoked")
