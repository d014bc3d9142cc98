"""`charter audit`: read the audit log, take checkpoints, check proofs, verify and export."""

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.json import JSON

from charter.cli import audit_local
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
from charter.cli.output import (
    console,
    details,
    fail,
    more_hint,
    print_json,
    say,
    table,
)
from charter.domain.audit import AuditCheckpoint, AuditEvent

if TYPE_CHECKING:
    pass

app = typer.Typer(
    help="Read the tamper-evident audit log, sign checkpoints, check proofs, verify, export.",
    no_args_is_help=True,
)
proof_app = typer.Typer(
    help="Fetch Merkle proofs from the server and verify them on this machine.",
    no_args_is_help=True,
)
app.add_typer(proof_app, name="proof")


KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key",
        metavar="VERIFIER_KEY",
        help="the log's verifier key, obtained independently ('charter audit keys' prints "
        "it); the proof's checkpoint must be signed by it",
    ),
]


def event_table(title: str, events: list[AuditEvent]) -> None:
    table(
        title,
        ["seq", "at", "actor", "action", "subject"],
        [(e.seq, e.at, e.actor, e.action, e.subject) for e in events],
    )


def checkpoint_fields(checkpoint: AuditCheckpoint) -> list[tuple[str, Any]]:
    return [
        ("origin", checkpoint.origin),
        ("size", checkpoint.size),
        ("root", checkpoint.root_hash),
        ("at", checkpoint.at),
        ("key", f"{checkpoint.key_name}+{checkpoint.key_hash}"),
    ]


# ------------------------------------------------------------------------- reading


@app.command("events")
def events(
    actor: Annotated[str | None, typer.Option(help="principal who acted")] = None,
    action: Annotated[
        str | None, typer.Option(help="action, exact or a prefix ending in '*' (model.*)")
    ] = None,
    subject: Annotated[
        str | None, typer.Option(help="subject, exact or a prefix ending in '*' (model:churn*)")
    ] = None,
    since: Annotated[str | None, typer.Option(help="at or after this ISO 8601 time")] = None,
    until: Annotated[str | None, typer.Option(help="before this ISO 8601 time")] = None,
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """List audit events in sequence order, filtered by actor, action, subject and time."""
    with connect(url, token) as client:
        page = gather(
            client.audit_events,
            limit=limit,
            cursor=cursor,
            follow=all_pages,
            actor=actor,
            action=action,
            subject=subject,
            since=parse_time(since, "--since") if since else None,
            until=parse_time(until, "--until") if until else None,
        )
    if json_output:
        print_json(page)
        return
    event_table("audit events", page.items)
    more_hint(page.next_cursor)


@app.command("show")
def show(
    seq: Annotated[int, typer.Argument(metavar="SEQ", help="the event's sequence number")],
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Show one event and its entry, the canonical JSON that its leaf hashes."""
    with connect(url, token) as client:
        event = client.audit_event(positive(seq, "SEQ"))
    if json_output:
        print_json(event)
        return
    details(
        f"audit event {event.seq}",
        [
            ("seq", event.seq),
            ("at", event.at),
            ("actor", event.actor),
            ("action", event.action),
            ("subject", event.subject),
            ("leaf hash", event.leaf_hash),
        ],
    )
    if event.entry is None:
        say("entry archived: an archive bundle holds it; the log keeps its leaf hash above")
    else:
        console.print(JSON(event.entry))


@app.command("checkpoint")
def checkpoint(
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Have the server sign a checkpoint of the log as it is now, and print its note."""
    with connect(url, token) as client:
        signed = client.take_checkpoint()
    if json_output:
        print_json(signed)
        return
    details(f"checkpoint at size {signed.size}", checkpoint_fields(signed))
    say("\nsigned note (keep a copy outside Charter):\n")
    sys.stdout.write(signed.note)


@app.command("checkpoints")
def checkpoints(
    limit: LimitOption = 100,
    cursor: CursorOption = None,
    all_pages: AllOption = False,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """List signed checkpoints, oldest first."""
    with connect(url, token) as client:
        page = gather(client.audit_checkpoints, limit=limit, cursor=cursor, follow=all_pages)
    if json_output:
        print_json(page)
        return
    table(
        "audit checkpoints",
        ["size", "at", "root", "key hash"],
        [(c.size, c.at, c.root_hash, c.key_hash) for c in page.items],
    )
    more_hint(page.next_cursor)


@app.command("latest")
def latest(
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Print the newest signed checkpoint as its plain note, ready to save to a file."""
    with connect(url, token) as client:
        found = client.latest_checkpoint()
    if json_output:
        print_json(found)
    else:
        sys.stdout.write(found.note)


@app.command("keys")
def keys(
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """List the keys that sign this log's checkpoints, as signed-note verifier keys."""
    with connect(url, token) as client:
        found = client.audit_keys()
    if json_output:
        print_json(found)
        return
    table(
        "audit signing keys", ["key hash", "created"], [(k.key_hash, k.created_at) for k in found]
    )
    if found:
        # Whole lines, not table cells: a folded key cannot be copied into --key.
        say("\nverifier keys (keep one outside Charter; pass it to --key):")
        for k in found:
            say(k.verifier_key)


# -------------------------------------------------------------------------- proofs


@proof_app.command("inclusion")
def inclusion(
    seq: Annotated[int, typer.Argument(metavar="SEQ", help="the event's sequence number")],
    size: Annotated[
        int | None,
        typer.Option(
            "--size",
            metavar="N",
            help="tree size to prove against (default: now; with --key, the latest checkpoint)",
        ),
    ] = None,
    key: KeyOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Prove that event SEQ is in the log, and check the proof here."""
    from charter.client.proofs import ProofError, check_inclusion

    with connect(url, token) as client:
        positive(seq, "SEQ")
        if size is None and key is not None:
            size = client.latest_checkpoint().size
        proof = client.inclusion_proof(seq, None if size is None else positive(size, "--size"))
        event = client.audit_event(seq)
    try:
        check_inclusion(proof, key, entry=event.entry)
    except ProofError as exc:
        fail(str(exc))
    signed = key is not None  # check_inclusion demanded a checkpoint signed by it
    if json_output:
        print_json({"proof": proof, "verified": True, "signed": signed})
        return
    details(
        f"inclusion of event {proof.seq} in the tree of {proof.tree_size}",
        [
            ("seq", proof.seq),
            ("tree size", proof.tree_size),
            ("leaf hash", proof.leaf_hash),
            ("root", proof.root_hash),
            ("path", "\n".join(proof.proof) or "(none: the tree is this one leaf)"),
            ("checkpoint", checkpoint_trust(proof.checkpoint, key)),
        ],
    )
    say(f"verified: event {proof.seq} is in the log of {proof.tree_size} events" + trust(signed))


@proof_app.command("consistency")
def consistency(
    old: Annotated[int, typer.Argument(metavar="OLD", help="the earlier tree size")],
    new: Annotated[
        int | None,
        typer.Argument(
            metavar="NEW",
            help="the later tree size (default: now; with --key, the latest checkpoint)",
        ),
    ] = None,
    key: KeyOption = None,
    url: UrlOption = None,
    token: TokenOption = None,
    json_output: JsonOption = False,
) -> None:
    """Prove that the log of NEW events extends the log of OLD, and check the proof here."""
    from charter.client.proofs import ProofError, check_consistency

    with connect(url, token) as client:
        positive(old, "OLD")
        if new is None and key is not None:
            new = client.latest_checkpoint().size
        proof = client.consistency_proof(old, None if new is None else positive(new, "NEW"))
    try:
        check_consistency(proof, key)
    except ProofError as exc:
        fail(str(exc))
    signed = key is not None
    if json_output:
        print_json({"proof": proof, "verified": True, "signed": signed})
        return
    details(
        f"consistency of the log from {proof.old_size} to {proof.new_size} events",
        [
            ("old size", proof.old_size),
            ("old root", proof.old_root),
            ("new size", proof.new_size),
            ("new root", proof.new_root),
            ("path", "\n".join(proof.proof) or "(none)"),
            ("old checkpoint", checkpoint_trust(proof.old_checkpoint, key)),
            ("new checkpoint", checkpoint_trust(proof.new_checkpoint, key)),
        ],
    )
    say(
        f"verified: the log of {proof.new_size} events extends the log of {proof.old_size}"
        + trust(signed)
    )


def checkpoint_trust(found: AuditCheckpoint | None, key: str | None) -> str:
    if found is None:
        return "none signed at this size"
    state = "signature verified" if key else "signature not checked (pass --key)"
    return f"{found.key_name}+{found.key_hash} at {found.at:%Y-%m-%d %H:%M:%S}Z, {state}"


def trust(signed: bool) -> str:
    if signed:
        return ", as checkpoints signed by the given key state"
    return " (roots as the server states them; pass --key to check its signatures)"


app.command("verify")(audit_local.verify)
app.command("export")(audit_local.export)
app.command("archive")(audit_local.archive)
