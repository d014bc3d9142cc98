"""`charter audit verify`, `export` and `archive`: commands that read the database itself.

They work with the server stopped, so unlike every other group they open the database
(lazily, inside each command) instead of going through the SDK.
"""

import json
import time
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NamedTuple, TypeVar

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from charter.cli.arguments import JsonOption, TokenOption, UrlOption
from charter.cli.connection import connect
from charter.cli.output import details, err_console, fail, print_json, say, table

if TYPE_CHECKING:
    from charter.audit.verify import Report, TrustedKeys
    from charter.settings import Settings
    from charter.store.engine import Database

T = TypeVar("T")
USAGE = 2  # exit code of `verify` when it cannot reach a verdict; 1 means the log is bad

HomeOption = Annotated[
    Path | None,
    typer.Option(
        "--home",
        metavar="DIR",
        envvar="CHARTER_HOME",
        show_envvar=True,
        help="Charter home whose database to read directly (no server needed)",
    ),
]


def local_settings(home: Path | None) -> "Settings":
    from charter.settings import Settings

    settings = Settings(home=home) if home else Settings()
    url = settings.resolved_database_url
    if url.startswith("sqlite"):
        # Opening a missing SQLite file would create an empty database and call it healthy.
        path = Path(url.split("///", 1)[-1])
        if not path.is_file():
            fail(
                f"no Charter database at {path}; pass --home DIR (or set CHARTER_HOME / "
                "CHARTER_DATABASE_URL) for the home to read",
                USAGE,
            )
    return settings


@contextmanager
def local_database(settings: "Settings", code: int) -> Iterator["Database"]:
    """The home's database, opened without a server; its errors exit with `code`."""
    from sqlalchemy.exc import SQLAlchemyError

    from charter.store.engine import Database

    db = Database(settings.resolved_database_url, pool_size=1)
    where = settings.resolved_database_url.split("@")[-1]
    try:
        yield db
    except SQLAlchemyError as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        fail(
            f"cannot read the audit log from {where}: {reason} "
            "(is it a Charter database at the newest schema? see 'charter db upgrade')",
            code,
        )
    finally:
        db.dispose()


def pinned_keys(values: list[str]) -> "TrustedKeys":
    from charter.audit.keys import KeyFileError
    from charter.audit.verify import trusted_keys

    try:
        return trusted_keys(values)
    except (KeyFileError, ValueError) as exc:
        fail(f"--key: {exc}", USAGE)


class Verdict(NamedTuple):
    report: "Report"
    trusted: str  # which keys the checkpoints were checked against
    seconds: float  # the verification itself, without start-up and imports


def timed(message: str, work: Callable[[], T]) -> tuple[T, float]:
    # The work runs in this thread undisturbed; Rich animates the spinner from its own.
    with err_console.status(message):
        started = time.perf_counter()
        result = work()
    return result, time.perf_counter() - started


def verify_home(home: Path | None, key_values: list[str], kept: list[Path]) -> Verdict:
    from charter.audit import ledger
    from charter.audit.keys import KeyFileError, verifier_key

    settings = local_settings(home)
    keys = pinned_keys(key_values)
    sources = ["--key"] if key_values else []
    kept_notes = [read_note(path) for path in kept]
    with local_database(settings, USAGE) as db:
        key_file = settings.resolved_audit_key
        try:
            signer = ledger.load_signer(key_file)
        except KeyFileError as exc:
            fail(str(exc), USAGE)
        if signer is not None:
            origin = ledger.head(db).origin
            keys |= pinned_keys([verifier_key(origin, signer.key.public_key())])
            sources.append(f"the public half of the signing key {key_file}")
        if not keys:
            fail(
                f"no trusted key: pass --key '<verifier key>' (as 'charter audit keys' printed "
                f"it when you saved it), or run where the signing key {key_file} exists",
                USAGE,
            )
        where = settings.resolved_database_url.split("@")[-1]
        report, seconds = timed(
            f"verifying the audit log at {where}",
            lambda: ledger.verify_database(db, keys, kept_notes),
        )
    return Verdict(report, "keys from " + " and ".join(sources), seconds)


def read_note(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        fail(f"--checkpoint {path}: cannot read it ({exc})", USAGE)


def verify_file(path: Path, key_values: list[str]) -> Verdict:
    from charter.audit import bundle
    from charter.audit.keys import KeyFileError

    if not path.is_file():
        fail(f"no bundle at {path}; 'charter audit export --out FILE' writes one", USAGE)
    keys = pinned_keys(key_values) if key_values else None
    try:
        (report, trusted), seconds = timed(
            f"verifying the audit bundle {path}", lambda: bundle.verify_bundle(path, keys)
        )
    except (bundle.BundleError, KeyFileError, KeyError, zipfile.BadZipFile, OSError) as exc:
        fail(f"{path} is not a readable Charter audit bundle: {exc}", USAGE)
    return Verdict(report, trusted, seconds)


def verify(
    ctx: typer.Context,
    home: HomeOption = None,
    bundle_path: Annotated[
        Path | None,
        typer.Option("--bundle", metavar="FILE", help="an exported bundle to verify instead"),
    ] = None,
    key: Annotated[
        list[str] | None,
        typer.Option(
            "--key",
            metavar="VERIFIER_KEY",
            help="a trusted verifier key of the log, kept outside Charter (repeatable)",
        ),
    ] = None,
    kept: Annotated[
        list[Path] | None,
        typer.Option(
            "--checkpoint",
            metavar="FILE",
            help="a signed checkpoint kept outside Charter ('charter audit latest > FILE'); "
            "catches a log rewritten together with its stored checkpoints (repeatable)",
        ),
    ] = None,
    json_output: JsonOption = False,
) -> None:
    """Recompute the whole log from a home's database or a bundle, without a server.

    Exit 0 when every entry, tree hash and checkpoint holds; 1 when the log fails
    verification; 2 when it cannot be verified (missing files, no trusted key).
    """
    key_values = key or []
    if bundle_path is not None and home is not None:
        given = ctx.get_parameter_source("home")
        if given is not None and given.name == "COMMANDLINE":  # CHARTER_HOME alone is fine
            fail("give --home or --bundle, not both", USAGE)
    if bundle_path is not None and kept:
        fail("--checkpoint works with --home; a bundle carries its own checkpoints", USAGE)
    if bundle_path is not None:
        report, trusted, elapsed = verify_file(bundle_path, key_values)
    else:
        report, trusted, elapsed = verify_home(home, key_values, kept or [])
    rate = report.size / elapsed if elapsed > 0 else 0.0
    if json_output:
        print_json(
            {
                **report.as_dict(),
                "trust": trusted,
                "elapsed_seconds": round(elapsed, 3),
                "events_per_second": round(rate),
            }
        )
    else:
        details(
            "audit log verification",
            [
                ("events", report.size),
                ("root", report.root.hex()),
                ("checkpoints verified", report.checkpoints_verified),
                ("latest good checkpoint", report.latest_checkpoint),
                ("archived (checked by leaf)", report.archived or None),
                ("trusted", trusted),
                ("elapsed", f"{elapsed:.2f} s ({rate:,.0f} events/s)"),
            ],
        )
        if not report.ok:
            table(
                "problems",
                ["kind", "seq", "message"],
                [
                    (p.kind.value, p.seq if p.exact or p.seq is None else f"{p.seq} on", p.message)
                    for p in report.problems
                ],
            )
            if report.more_problems:
                say(f"... and {report.more_problems} more")
    if report.ok:
        if not json_output:
            say(f"verified: {report.size} events, every entry, tree hash and checkpoint holds")
        return
    fail(first_problem(report))


def first_problem(report: "Report") -> str:
    first = report.first_bad_seq
    chosen = next((p for p in report.problems if p.seq == first), report.problems[0])
    where = f"first bad seq {first}" if first is not None else "the log head or checkpoints"
    count = len(report.problems) + report.more_problems
    more = f" ({count} problems in all)" if count > 1 else ""
    return f"the audit log fails verification at {where}: {chosen.message}{more}"


@contextmanager
def event_bar() -> Iterator[Any]:
    bar = Progress(
        TextColumn("[bold]exporting events"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=True,
    )
    with bar:
        task = bar.add_task("export", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def export_local(home: Path | None, out: Path) -> str:
    from charter.audit import bundle

    settings = local_settings(home)
    with local_database(settings, 1) as db:
        try:
            with event_bar() as advance:
                bundle.export_bundle(db, out, advance)
        except FileExistsError:
            fail(f"{out} already exists; choose another --out or move it away")
        except BaseException:
            out.unlink(missing_ok=True)  # ours: the check above proved it did not exist
            raise
    return f"the database {settings.resolved_database_url.split('@')[-1]}"


def export_remote(url: str | None, token: str | None, out: Path) -> str:
    with connect(url, token) as client:
        received = 0
        with err_console.status("the server is writing the bundle") as status:

            def advance(count: int) -> None:
                nonlocal received
                received += count
                status.update(f"downloading the bundle: {received / 1e6:,.1f} MB")

            try:
                client.export_audit(out, advance)
            except FileExistsError:
                fail(f"{out} already exists; choose another --out or move it away")
        return f"the server at {client.url}"


def export(
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="the bundle (zip) to write; must be new"),
    ],
    home: HomeOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Export the whole log as a bundle anyone can verify with 'charter audit verify --bundle'.

    Read straight from the database with --home (or CHARTER_HOME), or when no --url or
    token is given; otherwise through the server.
    """
    if out.exists():
        fail(f"{out} already exists; choose another --out or move it away")
    if not out.parent.is_dir():
        fail(f"directory {out.parent} does not exist; create it first")
    if home is not None or (url is None and token is None):
        source = export_local(home, out)
    else:
        source = export_remote(url, token, out)
    try:
        with zipfile.ZipFile(out) as written:
            head = json.loads(written.read("head.json"))
    except (OSError, KeyError, ValueError, zipfile.BadZipFile) as exc:
        fail(f"the bundle written to {out} cannot be read back: {exc}")
    summary = {"path": str(out), "bytes": out.stat().st_size, "source": source, **head}
    if json_output:
        print_json(summary)
        return
    say(
        f"exported {head.get('size')} events (root {head.get('root')}) from {source} to {out}, "
        f"{summary['bytes']:,} bytes; check it with: charter audit verify --bundle {out} "
        "--key '<verifier key>'"
    )


def archive(
    before: Annotated[
        str,
        typer.Option(
            "--before",
            metavar="TIME",
            help="archive events older than this (ISO 8601; at least the retention period "
            "ago, 183 days by default: EU AI Act Art. 19)",
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="FILE", help="the archive (zip) to write; must be new"),
    ],
    home: HomeOption = None,
    json_output: JsonOption = False,
) -> None:
    """Move events older than --before out of the database into a verified archive bundle.

    The bundle is written and verified first; only then are the archived entries removed
    from the database. Their rows, indexed columns and Merkle leaves stay, so queries still
    find the events and 'charter audit verify' still checks the whole tree. Keep the file:
    it is the only copy of the archived entries.
    """
    import getpass

    from charter.audit import bundle, ledger
    from charter.cli.arguments import parse_time
    from charter.domain.enums import Role
    from charter.domain.errors import CharterError
    from charter.domain.identity import Actor

    if out.exists():
        fail(f"{out} already exists; choose another --out or move it away")
    if not out.parent.is_dir():
        fail(f"directory {out.parent} does not exist; create it first")
    try:
        cutoff = parse_time(before, "--before")
    except CharterError as exc:
        fail(exc.message, USAGE)
    settings = local_settings(home)
    operator = Actor(
        principal_id=0,
        name="system",
        roles=frozenset({Role.ADMIN}),
        auth_method="local",
        user_agent=f"charter audit archive (operating-system user {getpass.getuser()})",
    )
    with local_database(settings, 1) as db:
        try:
            result = bundle.archive(
                db,
                operator,
                cutoff,
                out,
                settings.audit_retention_days,
                ledger.load_signer(settings.resolved_audit_key),
            )
        except CharterError as exc:
            fail(exc.message)
    if json_output:
        print_json(result)
        return
    say(
        f"archived events {result['archived_from']}..{result['size']} to {out} "
        f"(sha256 {result['sha256']}); the database keeps their leaves, so the log still "
        "verifies. Keep this file: it holds the only copy of those entries."
    )
