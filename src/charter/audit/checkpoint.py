"""Signed checkpoints of the audit log: C2SP tlog-checkpoint bodies in C2SP signed notes.

A checkpoint is the note text

    <origin>
    <tree size: ASCII decimal, no leading zeros>
    <root hash: standard base64 of the 32-byte RFC 9162 root>
    time <UTC time, exactly YYYY-MM-DDTHH:MM:SS.ffffffZ>

(every line ending in a newline), then an empty line, then one signature line per signer:

    — <key name> <base64(4-byte key ID || 64-byte Ed25519 signature over the text)>

The first three lines are c2sp.org/tlog-checkpoint; the time is its one extension line,
covered by the Ed25519 signature like the rest of the text. The envelope is
c2sp.org/signed-note, so golang.org/x/mod/sumdb/note and transparency-dev tools verify
Charter's checkpoints with the verifier key from `charter.audit.keys.verifier_key`.

Written by hand: no maintained Python library implements signed notes. The rules follow
the specs and Go's note.go; the tests check them against its published example notes.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from charter.audit.keys import is_valid_key_name, key_id

__all__ = [
    "Checkpoint",
    "CheckpointError",
    "NoteSignature",
    "checkpoint_body",
    "parse_checkpoint",
    "sign_checkpoint",
    "sign_note",
    "verify_checkpoint",
    "verify_note",
]

SIGNATURE_PREFIX = "— "  # em dash (U+2014), space
TIME_PREFIX = "time "
HASH_SIZE = 32
SIGNATURE_SIZE = 64  # Ed25519
MAX_SIGNATURES = 100  # as note.go: bounds the work one note can cause

_SIZE = re.compile(r"0|[1-9][0-9]*")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")
_BODY_LINES = ("origin", "tree size", "root hash", "time")
# Signed notes are UTF-8 without control characters but newline; a str can only fail
# UTF-8 through a lone surrogate.
_UNSIGNABLE = re.compile("[\x00-\x09\x0b-\x1f\ud800-\udfff]")


class CheckpointError(ValueError):
    """A checkpoint or signed note is malformed or does not verify; the message says where."""


@dataclass(frozen=True)
class NoteSignature:
    """One signature line of a signed note, not yet verified."""

    name: str
    key_hash: bytes  # 4 bytes, the key ID
    signature: bytes

    @property
    def line(self) -> str:
        encoded = base64.b64encode(self.key_hash + self.signature).decode("ascii")
        return f"{SIGNATURE_PREFIX}{self.name} {encoded}\n"


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head of the audit log, with the one signature it was read or made with.

    A note cosigned by others (witnesses) keeps only this signature in `note`.
    """

    origin: str
    size: int
    root: bytes
    at: datetime
    key_name: str
    key_hash: str  # 8 lowercase hex digits
    signature: bytes  # the 64-byte Ed25519 signature, without the key ID

    def __post_init__(self) -> None:
        checkpoint_body(self.origin, self.size, self.root, self.at)
        if not is_valid_key_name(self.key_name):
            raise CheckpointError(f"invalid key name {self.key_name!r}")
        if not re.fullmatch(r"[0-9a-f]{8}", self.key_hash):
            raise CheckpointError(f"key hash {self.key_hash!r} is not 8 lowercase hex digits")
        if len(self.signature) != SIGNATURE_SIZE:
            raise CheckpointError(
                f"an Ed25519 signature is {SIGNATURE_SIZE} bytes, got {len(self.signature)}"
            )

    @property
    def body(self) -> str:
        """The signed note text: origin, size, root hash and time lines."""
        return checkpoint_body(self.origin, self.size, self.root, self.at)

    @property
    def note(self) -> str:
        """The full signed note, ready to hand to an outside party."""
        sig = NoteSignature(self.key_name, bytes.fromhex(self.key_hash), self.signature)
        return f"{self.body}\n{sig.line}"


def _check_note_text(text: str, what: str) -> None:
    bad = _UNSIGNABLE.search(text)
    if bad is None:
        return
    number = text.count("\n", 0, bad.start()) + 1
    char = bad.group()
    if char >= "\ud800":
        raise CheckpointError(f"line {number}: {what} is not valid UTF-8 (lone surrogate)")
    raise CheckpointError(
        f"line {number}: {what} contains control character U+{ord(char):04X}; signed notes "
        "allow no control characters but newline"
    )


def _format_time(at: datetime) -> str:
    if at.tzinfo is None or at.utcoffset() is None:
        raise CheckpointError(f"checkpoint time {at} has no time zone; give an aware UTC time")
    if at.utcoffset() != timedelta(0):
        raise CheckpointError(f"checkpoint time {at.isoformat()} is not UTC; convert it first")
    # isoformat pads the year to four digits, which strftime("%Y") does not on every libc.
    return at.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def checkpoint_body(origin: str, size: int, root: bytes, at: datetime) -> str:
    """The note text of a checkpoint: origin, size, base64 root and time lines."""
    if not origin:
        raise CheckpointError("checkpoint origin is empty; use the log's name, e.g. its URL")
    if "\n" in origin:
        raise CheckpointError(f"checkpoint origin {origin!r} contains a newline")
    if origin.startswith(SIGNATURE_PREFIX):
        raise CheckpointError(
            f"checkpoint origin {origin!r} starts with '— ', which marks signature lines"
        )
    _check_note_text(origin, "checkpoint origin")
    if size < 0:
        raise CheckpointError(f"tree size {size} is negative")
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"root hash is {len(root)} bytes; a SHA-256 root is {HASH_SIZE}")
    root_b64 = base64.b64encode(root).decode("ascii")
    return f"{origin}\n{size}\n{root_b64}\n{TIME_PREFIX}{_format_time(at)}\n"


def sign_note(text: str, name: str, key: Ed25519PrivateKey) -> str:
    """Sign any note text (ending in a newline) as a signed note with one Ed25519 signature."""
    if not text.endswith("\n"):
        raise CheckpointError("note text must end with a newline")
    _check_note_text(text, "note text")
    if not is_valid_key_name(name):
        raise CheckpointError(
            f"invalid key name {name!r}: it must be non-empty, without spaces, control "
            "characters or '+'"
        )
    sig = NoteSignature(name, bytes.fromhex(key_id(name, key)), key.sign(text.encode("utf-8")))
    return f"{text}\n{sig.line}"


def sign_checkpoint(
    origin: str, size: int, root: bytes, at: datetime, name: str, key: Ed25519PrivateKey
) -> Checkpoint:
    """Sign the checkpoint of a tree of `size` leaves with root `root`, taken at `at`."""
    body = checkpoint_body(origin, size, root, at)
    return parse_checkpoint(sign_note(body, name, key))


def _open(note: str) -> tuple[str, list[NoteSignature]]:
    """Split a signed note into its text and its signature lines, refusing malformed ones."""
    _check_note_text(note, "note")
    # The text ends at the last empty line (the text itself may hold empty lines).
    split = note.rfind("\n\n")
    if split < 0:
        raise CheckpointError(
            "note has no empty line before its signatures; a signed note is its text, an "
            "empty line, then lines '— <key name> <base64 signature>'"
        )
    text, block = note[: split + 1], note[split + 2 :]
    if not block:
        raise CheckpointError("note has no signature lines after its empty line")
    if not block.endswith("\n"):
        raise CheckpointError("the note's last signature line does not end with a newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise CheckpointError(f"note has {len(lines)} signatures; at most {MAX_SIGNATURES}")
    first = text.count("\n") + 2
    signatures = []
    for number, line in enumerate(lines, start=first):
        if not line.startswith(SIGNATURE_PREFIX):
            raise CheckpointError(
                f"line {number}: signature lines start with '— ' (em dash, space), "
                f"got {line[:40]!r}"
            )
        name, _, encoded = line[len(SIGNATURE_PREFIX) :].partition(" ")
        if not is_valid_key_name(name):
            raise CheckpointError(
                f"line {number}: expected '— <key name> <base64 signature>' with a key name "
                f"without spaces or '+', got {line[:60]!r}"
            )
        try:
            raw = base64.b64decode(encoded, validate=True)
        except binascii.Error:
            raise CheckpointError(f"line {number}: signature is not valid base64") from None
        if len(raw) < 5:
            raise CheckpointError(
                f"line {number}: signature is {len(raw)} bytes; it must be a 4-byte key ID "
                "and a signature"
            )
        signatures.append(NoteSignature(name, raw[:4], raw[4:]))
    return text, signatures


def _parse_body(text: str) -> tuple[str, int, bytes, datetime]:
    lines = text.split("\n")[:-1]  # text ends with a newline
    if len(lines) < len(_BODY_LINES):
        raise CheckpointError(
            f"checkpoint text has {len(lines)} lines; expected 4: origin, tree size, root "
            "hash, time"
        )
    if len(lines) > len(_BODY_LINES):
        raise CheckpointError(
            f"line 5: unexpected extension line {lines[4][:40]!r}; Charter checkpoints carry "
            "one, the time"
        )
    origin, size_text, root_text, time_line = lines
    if not origin or origin.startswith(SIGNATURE_PREFIX):
        raise CheckpointError(f"line 1 (origin): {origin!r} is not a log origin")
    if not _SIZE.fullmatch(size_text):
        raise CheckpointError(
            f"line 2 (tree size): {size_text[:40]!r} is not a decimal number without leading zeros"
        )
    try:
        root = base64.b64decode(root_text, validate=True)
    except binascii.Error:
        raise CheckpointError(f"line 3 (root hash): {root_text[:60]!r} is not base64") from None
    if len(root) != HASH_SIZE:
        raise CheckpointError(
            f"line 3 (root hash): decodes to {len(root)} bytes; a SHA-256 root is {HASH_SIZE}"
        )
    if base64.b64encode(root).decode("ascii") != root_text:
        raise CheckpointError(f"line 3 (root hash): {root_text!r} is not canonical base64")
    stamp = time_line.removeprefix(TIME_PREFIX)
    if not time_line.startswith(TIME_PREFIX) or not _TIME.fullmatch(stamp):
        raise CheckpointError(
            f"line 4 (time): expected 'time YYYY-MM-DDTHH:MM:SS.ffffffZ', got {time_line[:60]!r}"
        )
    try:
        at = datetime.fromisoformat(stamp[:-1]).replace(tzinfo=UTC)
    except ValueError as exc:
        raise CheckpointError(f"line 4 (time): {stamp!r} is not a real time: {exc}") from None
    return origin, int(size_text), root, at


def _checkpoint(text: str, sig: NoteSignature) -> Checkpoint:
    origin, size, root, at = _parse_body(text)
    if len(sig.signature) != SIGNATURE_SIZE:
        raise CheckpointError(
            f"signature by {sig.name} is {len(sig.signature)} bytes; an Ed25519 signature is "
            f"{SIGNATURE_SIZE}"
        )
    return Checkpoint(origin, size, root, at, sig.name, sig.key_hash.hex(), sig.signature)


def parse_checkpoint(note: str) -> Checkpoint:
    """Read a signed checkpoint without verifying it; the first signature is kept."""
    text, signatures = _open(note)
    return _checkpoint(text, signatures[0])


def _verified(
    text: str, signatures: list[NoteSignature], name: str, public_key: Ed25519PublicKey
) -> NoteSignature:
    if not is_valid_key_name(name):
        raise CheckpointError(f"invalid key name {name!r}: no spaces, control characters or '+'")
    want = bytes.fromhex(key_id(name, public_key))
    mine = [s for s in signatures if s.name == name and s.key_hash == want]
    if not mine:
        named = [s for s in signatures if s.name == name]
        if named:
            raise CheckpointError(
                f"signed by unknown key {name}+{named[0].key_hash.hex()}, expected "
                f"{name}+{want.hex()}: the note was signed with another key, or the public "
                "key you hold is not the log's"
            )
        signers = ", ".join(sorted({f"{s.name}+{s.key_hash.hex()}" for s in signatures}))
        raise CheckpointError(f"note is not signed by {name}; it is signed by {signers}")
    message = text.encode("utf-8")
    for sig in mine:
        if len(sig.signature) != SIGNATURE_SIZE:
            raise CheckpointError(
                f"signature by {name}+{want.hex()} is {len(sig.signature)} bytes; an Ed25519 "
                f"signature is {SIGNATURE_SIZE}"
            )
        try:
            public_key.verify(sig.signature, message)
        except InvalidSignature:
            raise CheckpointError(
                f"signature does not verify with key {name}+{want.hex()}: the note was "
                "changed after it was signed, or the signature is forged"
            ) from None
    return mine[0]


def verify_note(note: str, name: str, public_key: Ed25519PublicKey) -> tuple[str, NoteSignature]:
    """Check the note's signature by key (name, public_key); return the text and signature.

    As the signed-note spec asks, signatures by other keys are ignored, and a note with
    a failing signature by this key is refused even if another of its signatures holds.
    """
    text, signatures = _open(note)
    return text, _verified(text, signatures, name, public_key)


def verify_checkpoint(
    note_or_checkpoint: str | Checkpoint, name: str, public_key: Ed25519PublicKey
) -> Checkpoint:
    """Check a checkpoint's signature by the log key (name, public_key) and return it."""
    note = (
        note_or_checkpoint.note
        if isinstance(note_or_checkpoint, Checkpoint)
        else note_or_checkpoint
    )
    text, signatures = _open(note)
    _parse_body(text)  # a malformed body is reported as such, not as a bad signature
    return _checkpoint(text, _verified(text, signatures, name, public_key))
