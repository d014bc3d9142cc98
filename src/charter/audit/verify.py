"""Recomputing an audit log from its entries and naming the first thing that is wrong.

The verifier trusts nothing but the keys it is given: it re-hashes every entry, rebuilds
the tree, checks every checkpoint's signature against the trusted keys and its root
against the rebuilt tree, and checks the head and the indexed columns against the
entries. The same code verifies a live database and an exported bundle.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from charter.audit import merkle
from charter.audit.checkpoint import Checkpoint, CheckpointError, parse_checkpoint
from charter.audit.checkpoint import verify_checkpoint as verify_note
from charter.audit.keys import KeyFileError, key_id, parse_verifier_key
from charter.audit.log import timestamp

MAX_PROBLEMS = 100
_ZERO = timedelta(0)
_sha256 = hashlib.sha256  # a shifted log would otherwise report every row after the damage


class Kind(StrEnum):
    EDITED = "edited"
    MISSING = "missing"
    REORDERED = "reordered"
    TRUNCATED = "truncated"
    EXTRA = "extra"
    MALFORMED = "malformed"
    FORGED_CHECKPOINT = "forged-checkpoint"
    INCONSISTENT_CHECKPOINT = "inconsistent-checkpoint"
    UNTRUSTED_KEY = "untrusted-key"
    HEAD = "head"


@dataclass(frozen=True)
class Problem:
    kind: Kind
    message: str
    seq: int | None = None  # the first sequence number affected, when one is known
    exact: bool = True  # False: the damage lies somewhere from `seq` on (a root mismatch)

    def as_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "seq": self.seq,
            "exact": self.exact,
            "message": self.message,
        }


@dataclass
class Report:
    size: int = 0
    root: bytes = merkle.EMPTY_ROOT
    checkpoints_verified: int = 0
    latest_checkpoint: int | None = None
    archived: int = 0  # entries held in archive bundles, checked through their leaves
    problems: list[Problem] = field(default_factory=list)
    more_problems: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first_bad_seq(self) -> int | None:
        """The first entry known to be bad; a root mismatch only bounds it from below."""
        exact = [p.seq for p in self.problems if p.seq is not None and p.exact]
        bounds = [p.seq for p in self.problems if p.seq is not None and not p.exact]
        return min(exact) if exact else min(bounds) if bounds else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "size": self.size,
            "root": self.root.hex(),
            "checkpoints_verified": self.checkpoints_verified,
            "latest_checkpoint": self.latest_checkpoint,
            "archived": self.archived,
            "first_bad_seq": self.first_bad_seq,
            "problems": [p.as_dict() for p in self.problems],
            "more_problems": self.more_problems,
        }


@dataclass(frozen=True)
class Columns:
    """The indexed columns stored beside an entry (absent in an exported bundle)."""

    at: datetime | str
    actor: str
    action: str
    subject: str
    leaf: bytes


TrustedKeys = dict[str, tuple[str, Ed25519PublicKey]]  # key hash -> (name, public key)


def trusted_keys(verifier_keys: Iterable[str]) -> TrustedKeys:
    """Parse signed-note verifier keys ('<name>+<hash>+<key>'); ValueError names a bad one."""
    keys: TrustedKeys = {}
    for text in verifier_keys:
        try:
            name, public = parse_verifier_key(text)
        except KeyFileError as exc:
            raise ValueError(f"verifier key {text[:60]!r}: {exc}") from exc
        keys[key_id(name, public)] = (name, public)
    return keys


def _columns_match(
    entry: bytes, seq: int, at: datetime | str, actor: str, action: str, subject: str
) -> bool:
    """Whether a canonical entry holds these column values, without parsing it.

    A canonical entry's keys come in sorted order (action, actor, at, change, seq,
    subject; inside actor: auth, client, principal, ...), and JSON escapes every quote
    inside a string, so these key patterns cannot occur inside a value: the first
    `},"at":` closes the actor object. Any entry this does not recognise (a different
    spelling, an edit) goes to the full check, so a False here is never a verdict.
    """
    head = b'{"action":' + orjson.dumps(action) + b',"actor":{"auth":'
    tail = b',"seq":%d,"subject":%s}' % (seq, orjson.dumps(subject))
    if not (entry.startswith(head) and entry.endswith(tail)):
        return False
    end_of_actor = entry.find(b'},"at":"', len(head))
    if end_of_actor < 0:
        return False
    # The time is always 27 bytes (YYYY-MM-DDTHH:MM:SS.ffffffZ), followed by the change.
    start = end_of_actor + 8
    if entry[start + 27 : start + 38] != b'","change":':
        return False
    stamp = entry[start : start + 27].decode()
    if isinstance(at, str):
        if at.replace(" ", "T", 1) + "Z" != stamp:
            return False  # SQLite: compare the text it stored
    elif datetime.fromisoformat(stamp) != at:
        return False  # PostgreSQL: compare instants; parsing beats formatting each row
    return entry.find(b',"principal":' + orjson.dumps(actor) + b",", len(head), end_of_actor) > 0


def _same_time(column: datetime | str, entry_at: str) -> bool:
    # Fast paths for the spellings the two drivers hand back, without parsing the entry's.
    if isinstance(column, str):
        if column.replace(" ", "T", 1) + "Z" == entry_at:
            return True  # SQLite: the stored UTC time without an offset
    elif column.utcoffset() == _ZERO and timestamp(column) == entry_at:
        return True  # PostgreSQL: an aware datetime
    stamp = datetime.fromisoformat(column) if isinstance(column, str) else column
    try:
        recorded = datetime.fromisoformat(entry_at)
    except ValueError:
        return False
    if stamp.tzinfo is None:  # SQLite hands back the stored UTC time without an offset
        recorded = recorded.replace(tzinfo=None)
    return stamp == recorded


class Verifier:
    """Feed entries in sequence order with `add`, then call `finish`."""

    def __init__(self, checkpoint_notes: Iterable[str], keys: TrustedKeys) -> None:
        self.report = Report()
        self._tree = merkle.TreeBuilder()
        self._expected = 1
        self._last_good_checkpoint = 0
        self._checkpoints: dict[int, Checkpoint] = {}
        for note in checkpoint_notes:
            checkpoint = self._check_signature(note, keys)
            if checkpoint is None:
                continue
            seen = self._checkpoints.get(checkpoint.size)
            if seen is not None and seen.root != checkpoint.root:
                self._problem(
                    Kind.INCONSISTENT_CHECKPOINT,
                    f"two validly signed checkpoints of size {checkpoint.size} name different "
                    f"roots ({seen.root.hex()} and {checkpoint.root.hex()}): the log was forked",
                    checkpoint.size or None,
                    exact=False,
                )
            self._checkpoints[checkpoint.size] = checkpoint
        self._pending = sorted(self._checkpoints)
        if self._pending and self._pending[0] == 0:
            self._compare_checkpoint()

    def _problem(
        self, kind: Kind, message: str, seq: int | None = None, exact: bool = True
    ) -> None:
        if len(self.report.problems) < MAX_PROBLEMS:
            self.report.problems.append(Problem(kind, message, seq, exact))
        else:
            self.report.more_problems += 1

    def _check_signature(self, note: str, keys: TrustedKeys) -> Checkpoint | None:
        try:
            claimed = parse_checkpoint(note)
        except CheckpointError as exc:
            self._problem(Kind.FORGED_CHECKPOINT, f"unreadable checkpoint: {exc}")
            return None
        trusted = keys.get(claimed.key_hash)
        if trusted is None:
            self._problem(
                Kind.UNTRUSTED_KEY,
                f"checkpoint at size {claimed.size} is signed by key "
                f"{claimed.key_name}+{claimed.key_hash}, which is not a trusted key "
                "(was the public key replaced?)",
                claimed.size or None,
            )
            return None
        try:
            checkpoint = verify_note(note, trusted[0], trusted[1])
        except CheckpointError as exc:
            self._problem(
                Kind.FORGED_CHECKPOINT,
                f"checkpoint at size {claimed.size} is forged: {exc}",
                claimed.size or None,
            )
            return None
        self.report.checkpoints_verified += 1
        return checkpoint

    def _advance(self, seq: int) -> None:
        if seq != self._expected:
            if seq > self._expected:
                self._problem(
                    Kind.MISSING,
                    f"events {self._expected}..{seq - 1} are missing (deleted rows)",
                    self._expected,
                )
            else:
                self._problem(Kind.REORDERED, f"seq {seq} appears after {self._expected - 1}", seq)
            self._expected = seq
        self._expected += 1

    def add(self, seq: int, entry: bytes, columns: Columns | None = None) -> None:
        self._advance(seq)
        leaf = merkle.leaf_hash(entry)
        self._tree.append(leaf)
        self._check_entry(seq, entry, leaf, columns)
        if self._pending and self._pending[0] == self._tree.size:
            self._compare_checkpoint()

    def add_row(
        self,
        seq: int,
        entry: bytes,
        stored_leaf: bytes,
        at: datetime | str,
        actor: str,
        action: str,
        subject: str,
    ) -> None:
        """A database row: the entry plus the leaf and indexed columns stored beside it.

        The common case, a sound row, is checked without parsing its entry (see
        `_columns_match`); anything that differs goes through the full diagnosis in
        `_check_entry`, so a mismatch is always named by the slow, exact path.
        """
        if seq == self._expected:
            self._expected += 1
        else:
            self._advance(seq)
        leaf = _sha256(b"\x00" + entry).digest()
        self._tree.append(leaf)
        if leaf != stored_leaf or not _columns_match(entry, seq, at, actor, action, subject):
            self._check_entry(seq, entry, leaf, Columns(at, actor, action, subject, stored_leaf))
        if self._pending and self._pending[0] == self._tree.size:
            self._compare_checkpoint()

    def add_archived(self, seq: int, leaf: bytes, archived_through: int | None = None) -> None:
        """An entry moved to an archive: only its leaf is here, and the signed roots vouch
        for it. `archived_through` is the head's archive mark, where there is one."""
        self._advance(seq)
        self.report.archived += 1
        if archived_through is not None and seq > archived_through:
            self._problem(
                Kind.EDITED,
                f"entry {seq} was removed: only entries up to {archived_through} are archived",
                seq,
            )
        self._tree.append(leaf)
        if self._pending and self._pending[0] == self._tree.size:
            self._compare_checkpoint()

    def _check_entry(self, seq: int, entry: bytes, leaf: bytes, columns: Columns | None) -> None:
        try:
            record = orjson.loads(entry)
            recorded_seq = record["seq"]
        except (orjson.JSONDecodeError, TypeError, KeyError):
            self._problem(Kind.MALFORMED, f"entry {seq} is not a JSON audit record", seq)
            return
        if recorded_seq != seq:
            if isinstance(recorded_seq, int) and recorded_seq > seq and columns is None:
                kind, what = Kind.MISSING, f"entry {seq} is missing"
            else:
                kind, what = Kind.REORDERED, "entries were swapped or moved"
            self._problem(
                kind, f"position {seq} holds the entry of seq {recorded_seq}: {what}", seq
            )
        if columns is None:
            return
        if columns.leaf != leaf:
            self._problem(
                Kind.EDITED, f"entry {seq} was edited: it no longer hashes to its leaf", seq
            )
        actor = record.get("actor")
        edited = [
            name
            for name, stored, expected in (
                (
                    "actor",
                    columns.actor,
                    actor.get("principal") if isinstance(actor, dict) else None,
                ),
                ("action", columns.action, record.get("action")),
                ("subject", columns.subject, record.get("subject")),
            )
            if stored != expected
        ]
        if not _same_time(columns.at, str(record.get("at"))):
            edited.append("at")
        if edited:
            self._problem(
                Kind.EDITED,
                f"entry {seq}: column(s) {', '.join(edited)} no longer match the entry",
                seq,
            )

    def _compare_checkpoint(self) -> None:
        size = self._pending.pop(0)
        checkpoint = self._checkpoints[size]
        root = self._tree.root()
        if root == checkpoint.root:
            self._last_good_checkpoint = size
            self.report.latest_checkpoint = size
            return
        self._problem(
            Kind.INCONSISTENT_CHECKPOINT,
            f"the first {size} entries hash to {root.hex()}, but the checkpoint signed at "
            f"size {size} says {checkpoint.root.hex()}: an entry in "
            f"{self._last_good_checkpoint + 1}..{size} was changed, added or removed",
            self._last_good_checkpoint + 1,
            exact=False,
        )

    def problem_from(self, problem: Problem) -> None:
        self._problem(problem.kind, problem.message, problem.seq, problem.exact)

    def head_mismatch(self, recorded_root: object) -> None:
        self._problem(
            Kind.HEAD,
            f"the entries hash to {self.report.root.hex()}, but the head records {recorded_root}",
        )

    def stray(self, seq: int, head_size: int) -> None:
        """Rows stored beyond the head: inserted without going through the append."""
        self._problem(
            Kind.EXTRA,
            f"the log head records {head_size} events, but event {seq} is also stored: "
            "it was inserted behind the log's back",
            seq,
        )

    def finish(self, head_size: int | None = None, head_frontier: bytes | None = None) -> Report:
        size = self._tree.size
        self.report.size, self.report.root = size, self._tree.root()
        for pending in self._pending:
            self._problem(
                Kind.TRUNCATED,
                f"a checkpoint was signed at size {pending}, but the log ends after {size} "
                f"entries: entries {size + 1}..{pending} were removed",
                size + 1,
            )
        if head_size is not None:
            if head_size > size:
                self._problem(
                    Kind.TRUNCATED,
                    f"the log head records {head_size} events, but only {size} remain: "
                    f"entries {size + 1}..{head_size} were removed",
                    size + 1,
                )
            elif head_size < size:
                self._problem(
                    Kind.EXTRA,
                    f"the log head records {head_size} events, but {size} are stored: "
                    f"entries from {head_size + 1} were inserted behind the log's back",
                    head_size + 1,
                )
            elif head_frontier is not None:
                try:
                    head_root = merkle.frontier_root(
                        merkle.unpack_frontier(head_frontier, head_size)
                    )
                except ValueError as exc:
                    self._problem(Kind.HEAD, f"the log head is damaged: {exc}")
                else:
                    if head_root != self.report.root:
                        self._problem(
                            Kind.HEAD,
                            "the log head's tree does not match the entries "
                            f"(head root {head_root.hex()}, entries {self.report.root.hex()})",
                        )
        return self.report
