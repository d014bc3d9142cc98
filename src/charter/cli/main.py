"""The `charter` entry point: init, server, db upgrade, and the resource command groups."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from charter.cli import (
    audit,
    datasets,
    lineage,
    models,
    policy,
    promotions,
    runs,
    tokens,
    users,
    version_import,
    versions,
)
from charter.cli.output import errors_reported, print_json

if TYPE_CHECKING:
    from charter.settings import Settings

# The resource groups import only the SDK (httpx, pydantic); the server's modules (uvicorn,
# FastAPI, SQLAlchemy) are imported inside init, server and db so `charter models ...` stays
# quick to start. For the same reason the CLI modules do not use `from __future__ import
# annotations`: Typer would eval every string annotation of every command on each start.
app = typer.Typer(
    name="charter",
    help="Charter: the governance control plane for production machine learning.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database schema commands.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(models.app, name="models")
versions.app.command("import")(version_import.import_versions)
app.add_typer(versions.app, name="versions")
app.add_typer(datasets.app, name="datasets")
app.add_typer(runs.app, name="runs")
app.add_typer(lineage.app, name="lineage")
app.add_typer(users.app, name="users")
app.add_typer(tokens.app, name="tokens")
app.add_typer(audit.app, name="audit")
app.add_typer(policy.app, name="policy")
app.add_typer(promotions.app, name="promotions")
app.add_typer(promotions.evidence_app, name="evidence")
app.add_typer(promotions.advisories_app, name="advisories")
app.command("promote")(promotions.promote)
app.command("approve")(promotions.approve)
app.command("reject")(promotions.reject)

HomeOption = Annotated[
    Path | None,
    typer.Option("--home", envvar="CHARTER_HOME", help="Charter home (default ~/.charter)"),
]


def audit_verifier_key(settings: "Settings") -> str:
    """The signed-note verifier key of the home's audit signing key."""
    from charter.audit import ledger
    from charter.audit.keys import load_signing_key, verifier_key
    from charter.store.engine import Database

    db = Database(settings.resolved_database_url, pool_size=1)
    try:
        origin = ledger.head(db).origin
    finally:
        db.dispose()
    return verifier_key(origin, load_signing_key(settings.resolved_audit_key).public_key())


@app.command()
def init(
    home: HomeOption = None,
    admin: Annotated[str, typer.Option(help="name of the first admin")] = "admin",
    json_output: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """Create the home, the database and the first admin; print the admin token once."""
    from charter.settings import Settings
    from charter.setup import init_home

    settings = Settings(home=home) if home else Settings()
    with errors_reported():
        principal, token = init_home(settings, admin)
        audit_key = audit_verifier_key(settings)
    if json_output:
        print_json(
            {
                "home": str(settings.home),
                "database": settings.resolved_database_url.split("@")[-1],
                "admin": principal.name,
                "token": token.secret,
                "audit_key": str(settings.resolved_audit_key),
                "audit_verifier_key": audit_key,
            }
        )
        return
    typer.echo(f"Charter home ready at {settings.home}")
    typer.echo(f"Audit checkpoints are signed with {settings.resolved_audit_key} (mode 0600).")
    typer.echo(f"Keep its verifier key outside Charter to check them later:\n\n    {audit_key}\n")
    typer.echo(f"Admin '{principal.name}' created. Its token, shown only this once:\n")
    typer.echo(f"    {token.secret}\n")
    typer.echo("Next:  charter server   and   export CHARTER_TOKEN=<token above>")


@app.command()
def server(
    home: HomeOption = None,
    host: Annotated[str, typer.Option(help="interface to bind")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port")] = 8080,
    workers: Annotated[int, typer.Option(min=1, help="worker processes")] = 1,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
) -> None:
    """Run the API server (uvicorn) on the given home's database and artifacts."""
    import os

    import uvicorn

    if home:
        os.environ["CHARTER_HOME"] = str(home)
    # A factory, so each worker process builds its own app (engine, pool) after forking.
    uvicorn.run(
        "charter.api.server:app_factory",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level=log_level,
    )


@db_app.command("upgrade")
def db_upgrade(home: HomeOption = None) -> None:
    """Apply every pending migration to the database."""
    from charter.settings import Settings
    from charter.setup import upgrade_database

    settings = Settings(home=home) if home else Settings()
    with errors_reported():
        upgrade_database(settings)
    typer.echo("database is at the newest schema")


app.command("whoami")(users.whoami)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
