"""Exported audit bundles: the log as JSON lines plus checkpoints and keys, in one zip.

A bundle is verifiable on a machine with nothing but Charter (or any RFC 9162 tool):

    events.jsonl       one canonical JSON entry per line; line i is the leaf of seq i
                       (an entry an earlier archive holds is a stub carrying its leaf)
    checkpoints.jsonl  {"size": n, "note": "<C2SP signed note>"} per signed checkpoint
    consistency.json   (partial exports) a consistency proof to a newer signed checkpoint
    keys.json          the log's signing keys as signed-note verifier keys and PEM
    head.json          origin, size and root hash of the exported tree
"""

from __future__ import annotations

import hashlib
import json
import zipfile
import zlib
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, update

from charter.audit import ledger, log, merkle
from charter.audit.checkpoint import parse_checkpoint
from charter.audit.verify import Kind, Problem, Report, TrustedKeys, Verifier, trusted_keys
from charter.domain.errors import Conflict, InvalidInput
from charter.domain.identity import Actor
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow

FORMAT = "charter-audit-bundle/1"
README = """Charter audit log bundle ({format})

events.jsonl: line i (1-based) is the canonical JSON entry of audit event i. Its Merkle
leaf is SHA-256(0x00 || line bytes without the newline); interior nodes are
SHA-256(0x01 || left || right), as RFC 9162 section 2.1 defines the tree.
checkpoints.jsonl: signed tree heads as C2SP tlog-checkpoint notes (c2sp.org/signed-note,
Ed25519); keys.json lists the verifier keys that signed them. Pin the verifier key you
obtained independently: `charter audit verify --bundle FILE --key '<verifier key>'`.
"""


class BundleError(ValueError):
    """The file is not a readable Charter audit bundle."""


def _stub(seq: int, leaf: bytes) -> bytes:
    """The line of an entry that an earlier archive holds: its leaf stands in for it."""
    return b'{"archived":true,"leaf":"%s","seq":%d}' % (leaf.hex().encode(), seq)


def export_bundle(
    db: Database,
    path: Path,
    progress: Callable[[int, int], None] | None = None,
    through: int | None = None,
) -> dict[str, Any]:
    """Write the log's entries 1..`through` (default: all) to `path`, a new file.

    A partial export also carries a consistency proof from its size to the newest signed
    checkpoint, so it is tied to a signature even though no checkpoint has its size.
    Returns the bundle's head.json.
    """
    with db.rows() as connection:
        current = ledger.read_head(connection)
        size = current.size if through is None else through
        if not 0 <= size <= current.size:
            raise InvalidInput(f"the log has {current.size} events; cannot export {size}")
        checkpoints = connection.execute(
            select(t.AuditCheckpoint.size, t.AuditCheckpoint.note)
            .where(t.AuditCheckpoint.size <= size)
            .order_by(t.AuditCheckpoint.size)
        ).all()
        newest = connection.execute(
            select(t.AuditCheckpoint.size, t.AuditCheckpoint.note)
            .order_by(t.AuditCheckpoint.size.desc())
            .limit(1)
        ).first()
    keys = [key.model_dump(mode="json") for key in ledger.list_keys(db)]
    link = None
    if size and newest is not None and newest.size > size:
        proof = ledger.consistency_proof(db, size, newest.size).proof
        link = {"old_size": size, "new_size": newest.size, "proof": proof, "note": newest.note}
    root = current.root if size == current.size else ledger.root_at(db, size)
    head = {
        "format": FORMAT,
        "origin": current.origin,
        "size": size,
        "root": root.hex(),
        "exported_at": utcnow().isoformat(),
    }
    with zipfile.ZipFile(path, "x", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as bundle:
        bundle.writestr("README.txt", README.format(format=FORMAT))
        with bundle.open("events.jsonl", "w", force_zip64=True) as events:
            for written, row in enumerate(ledger.event_rows(db, size), start=1):
                entry = row[5]
                events.write(
                    (bytes(entry) if entry is not None else _stub(row[0], bytes(row[6]))) + b"\n"
                )
                if progress is not None and written % 10_000 == 0:
                    progress(written, size)
        if progress is not None:
            progress(size, size)
        bundle.writestr(
            "checkpoints.jsonl",
            "".join(json.dumps({"size": s, "note": n}) + "\n" for s, n in checkpoints),
        )
        if link is not None:
            bundle.writestr("consistency.json", json.dumps(link, indent=2))
        bundle.writestr("keys.json", json.dumps(keys, indent=2))
        bundle.writestr("head.json", json.dumps(head, indent=2))
    return head


def archive(
    db: Database,
    actor: Actor,
    before: datetime,
    path: Path,
    retention_days: int,
    signer: ledger.Signer | None = None,
) -> dict[str, Any]:
    """Move entries older than `before` into a verified bundle at `path`.

    Entries younger than the retention period are never archived. The bundle holds every
    entry up to the last archived one (earlier archives' entries as leaf stubs) and is
    verified before any entry leaves the database; rows, indexed columns and leaves stay,
    so queries still find the events and the tree still verifies.
    """
    limit = utcnow() - timedelta(days=retention_days)
    if before > limit:
        raise InvalidInput(
            f"events younger than {retention_days} days stay online (EU AI Act Art. 19): "
            f"choose a time on or before {limit.isoformat()}"
        )
    with db.rows() as connection:
        current = ledger.read_head(connection)
        through = (
            connection.execute(
                select(func.max(t.AuditEvent.seq)).where(t.AuditEvent.at < before)
            ).scalar()
            or 0
        )
    if through <= current.archived_through:
        raise InvalidInput(
            f"no event before {before.isoformat()} is left to archive "
            f"(events up to {current.archived_through} are archived already)"
        )
    if signer is not None:
        ledger.take_checkpoint(db, signer)
    head = export_bundle(db, path, through=through)
    report, _ = verify_bundle(path, trusted_keys(k.verifier_key for k in ledger.list_keys(db)))
    if not report.ok:
        path.unlink()
        raise InvalidInput(
            f"the archive did not verify, nothing was archived: {report.problems[0].message}"
        )
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        while chunk := stream.read(1 << 20):
            digest.update(chunk)
    with db.transaction() as session:
        locked = session.execute(
            select(t.AuditHead.archived_through).where(t.AuditHead.id == 1).with_for_update()
        ).scalar_one()
        if locked != current.archived_through:
            raise Conflict("another archive ran at the same time; run this one again")
        session.execute(
            update(t.AuditEvent)
            .where(t.AuditEvent.seq > locked, t.AuditEvent.seq <= through)
            .values(entry=None)
        )
        session.execute(
            update(t.AuditHead).where(t.AuditHead.id == 1).values(archived_through=through)
        )
        log.append(
            session,
            actor,
            "audit.archive",
            f"audit-archive:{locked + 1}-{through}",
            {
                "from_seq": locked + 1,
                "through_seq": through,
                "before": log.timestamp(before),
                "file": path.name,
                "sha256": digest.hexdigest(),
                "root_at_through": head["root"],
            },
        )
    return {**head, "archived_from": locked + 1, "sha256": digest.hexdigest()}


def _entries(bundle: zipfile.ZipFile) -> Iterator[tuple[int, bytes]]:
    with bundle.open("events.jsonl") as lines:
        for number, line in enumerate(lines, start=1):
            yield number, line.rstrip(b"\n")


def _read_json(bundle: zipfile.ZipFile, name: str) -> Any:
    try:
        return json.loads(bundle.read(name))
    except KeyError as exc:
        raise BundleError(f"the bundle has no {name}; is it a Charter audit bundle?") from exc
    except ValueError as exc:
        raise BundleError(f"{name} in the bundle is not valid JSON: {exc}") from exc


def verify_bundle(path: Path, keys: TrustedKeys | None = None) -> tuple[Report, str]:
    """Verify a bundle; without pinned `keys`, trust the bundle's own keys and say so."""
    try:
        bundle = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as exc:
        raise BundleError(f"{path}: not a readable zip file ({exc})") from exc
    try:
        with bundle:
            return _verify(bundle, path, keys)
    except (KeyError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
        raise BundleError(f"{path}: damaged or incomplete bundle ({exc})") from exc


def _verify(bundle: zipfile.ZipFile, path: Path, keys: TrustedKeys | None) -> tuple[Report, str]:
    head = _read_json(bundle, "head.json")
    if not isinstance(head, dict) or head.get("format") != FORMAT:
        found = head.get("format") if isinstance(head, dict) else None
        raise BundleError(f"{path}: format {found!r}, expected {FORMAT!r}")
    trust = "pinned keys"
    if keys is None:
        try:
            keys = trusted_keys(k["verifier_key"] for k in _read_json(bundle, "keys.json"))
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"keys.json in the bundle is damaged: {exc}") from exc
        trust = "the bundle's own keys (not pinned: pass --key to check them)"
    notes = []
    for line in bundle.read("checkpoints.jsonl").decode().splitlines():
        try:
            notes.append(json.loads(line)["note"])
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleError(f"checkpoints.jsonl has a bad line: {line[:80]!r}") from exc
    verifier = Verifier(notes, keys)
    for seq, entry in _entries(bundle):
        if entry.startswith(b'{"archived":true,'):
            try:
                stub = json.loads(entry)
                verifier.add_archived(stub["seq"], bytes.fromhex(stub["leaf"]))
            except (ValueError, KeyError, TypeError):
                verifier.add(seq, entry)  # not a stub after all: checked as an entry
        else:
            verifier.add(seq, entry)
    report = verifier.finish(head.get("size"), None)
    if report.size == head.get("size") and report.root.hex() != head.get("root"):
        verifier.head_mismatch(head.get("root"))
    if "consistency.json" in bundle.namelist():
        _check_link(verifier, _read_json(bundle, "consistency.json"), keys)
    return report, trust


def _check_link(verifier: Verifier, link: dict[str, Any], keys: TrustedKeys) -> None:
    """The bundle's tree must be a prefix of the tree a newer signed checkpoint names."""
    report = verifier.report
    try:
        checkpoint = Verifier([link["note"]], keys)
        if not checkpoint.report.ok:
            verifier.problem_from(checkpoint.report.problems[0])
            return
        signed = parse_checkpoint(link["note"])
        merkle.verify_consistency(
            report.size,
            signed.size,
            report.root,
            signed.root,
            [bytes.fromhex(h) for h in link["proof"]],
        )
    except (KeyError, TypeError, ValueError) as exc:
        verifier.problem_from(
            Problem(
                Kind.INCONSISTENT_CHECKPOINT,
                f"the bundle's {report.size} entries are not a prefix of the log signed at "
                f"size {link.get('new_size')}: {exc}",
                1,
                exact=False,
            )
        )
    else:
        report.checkpoints_verified += 1
