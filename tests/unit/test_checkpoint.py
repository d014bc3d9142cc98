"""Tests for checkpoint bodies, signed notes, and signing, parsing and verifying checkpoints."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given
from hypothesis import strategies as st

from charter.audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    checkpoint_body,
    parse_checkpoint,
    sign_checkpoint,
    sign_note,
    verify_checkpoint,
    verify_note,
)
from charter.audit.keys import key_id, parse_verifier_key

NAME = "charter.test/audit"
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
ROOT = bytes(range(32))
ROOT_B64 = base64.b64encode(ROOT).decode()
AT = datetime(2026, 11, 23, 21, 0, 0, 123456, tzinfo=UTC)
BODY = f"{NAME}\n5\n{ROOT_B64}\ntime 2026-11-23T21:00:00.123456Z\n"

# Published in golang.org/x/mod sumdb/note/note.go (package doc) and example_test.go
# (ExampleSign, ExampleOpen): a verifier key, the seed of its signer key, and a note it signed.
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
PETER_SEED_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # 0x01 || seed
PETER_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
PETER_NOTE = (
    PETER_TEXT + "\n"
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZ"
    "SNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# Published in C2SP/C2SP signed-note.md, section "Verifier keys", "Example".
C2SP_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
C2SP_NOTE = (
    "This is an example message.\n\n"
    "— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7Ztg1ERY"
    "NZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)


def signed() -> Checkpoint:
    return sign_checkpoint(NAME, 5, ROOT, AT, NAME, KEY)


# --- the body ----------------------------------------------------------------------------


def test_body_has_the_documented_exact_format() -> None:
    assert checkpoint_body(NAME, 5, ROOT, AT) == BODY


def test_first_three_lines_match_go_tlog_golden() -> None:
    # golang.org/x/mod sumdb/tlog/note_test.go TestFormatTree: RecordHash("hello world")
    # is SHA-256(0x00 || "hello world"), the RFC 9162 leaf hash.
    golden = "go.sum database tree\n123456789012\nTszzRgjTG6xce+z2AG31kAXYKBgQVtCSCE40HmuwBb0=\n"
    root = hashlib.sha256(b"\x00hello world").digest()
    assert checkpoint_body("go.sum database tree", 123456789012, root, AT).startswith(golden)


def test_time_always_has_six_fraction_digits_and_a_padded_year() -> None:
    assert checkpoint_body(NAME, 0, ROOT, datetime(2026, 1, 2, tzinfo=UTC)).endswith(
        "time 2026-01-02T00:00:00.000000Z\n"
    )
    early = datetime(999, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    assert checkpoint_body(NAME, 0, ROOT, early).endswith("time 0999-01-02T03:04:05.000006Z\n")
    assert sign_checkpoint(NAME, 0, ROOT, early, NAME, KEY).at == early


def test_zero_offset_zone_other_than_utc_is_accepted() -> None:
    zero = AT.replace(tzinfo=timezone(timedelta(0), "GMT"))
    assert checkpoint_body(NAME, 5, ROOT, zero) == BODY


@pytest.mark.parametrize(
    ("origin", "size", "root", "at", "message"),
    [
        ("", 5, ROOT, AT, "origin is empty"),
        ("a\nb", 5, ROOT, AT, "contains a newline"),
        ("— x", 5, ROOT, AT, "starts with '— '"),
        ("a\rb", 5, ROOT, AT, "control character U+000D"),
        ("a\ud800", 5, ROOT, AT, "not valid UTF-8"),
        (NAME, -1, ROOT, AT, "negative"),
        (NAME, 5, ROOT[:31], AT, "31 bytes"),
        (NAME, 5, ROOT + b"\x00", AT, "33 bytes"),
        (NAME, 5, ROOT, AT.replace(tzinfo=None), "no time zone"),
        (NAME, 5, ROOT, AT.replace(tzinfo=timezone(timedelta(hours=2))), "not UTC"),
    ],
)
def test_body_refuses_bad_input(
    origin: str, size: int, root: bytes, at: datetime, message: str
) -> None:
    with pytest.raises(CheckpointError, match=re.escape(message)):
        checkpoint_body(origin, size, root, at)
    with pytest.raises(CheckpointError, match=re.escape(message)):
        sign_checkpoint(origin, size, root, at, NAME, KEY)


# --- signing, parsing, verifying ---------------------------------------------------------


def test_signed_note_is_body_blank_line_and_one_signature_line() -> None:
    cp = signed()
    body, sep, line = cp.note.partition("\n\n")
    assert body + "\n" == BODY
    assert sep == "\n\n"
    assert line.startswith(f"— {NAME} ")
    assert line.endswith("\n")
    assert line.count("\n") == 1
    raw = base64.b64decode(line.removeprefix(f"— {NAME} ").rstrip("\n"), validate=True)
    assert raw[:4].hex() == key_id(NAME, KEY) == cp.key_hash
    assert raw[4:] == cp.signature
    assert len(cp.signature) == 64
    KEY.public_key().verify(cp.signature, BODY.encode())


def test_round_trip() -> None:
    cp = signed()
    assert (cp.origin, cp.size, cp.root, cp.at, cp.key_name) == (NAME, 5, ROOT, AT, NAME)
    assert parse_checkpoint(cp.note) == cp
    assert verify_checkpoint(cp.note, NAME, KEY.public_key()) == cp
    assert verify_checkpoint(cp, NAME, KEY.public_key()) == cp
    assert parse_checkpoint(cp.note).note == cp.note


@given(
    origin=st.text(
        st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
    ).filter(lambda s: not s.startswith("— ")),
    size=st.integers(min_value=0, max_value=2**64),
    root=st.binary(min_size=32, max_size=32),
    at=st.datetimes(timezones=st.just(UTC)),
)
def test_round_trip_any_valid_checkpoint(origin: str, size: int, root: bytes, at: datetime) -> None:
    cp = sign_checkpoint(origin, size, root, at, NAME, KEY)
    assert verify_checkpoint(cp.note, NAME, KEY.public_key()) == cp
    assert (cp.origin, cp.size, cp.root, cp.at) == (origin, size, root, at)


@pytest.mark.parametrize(
    ("old", "new"),
    [
        (f"{NAME}\n5\n", f"{NAME[:-1]}T\n5\n"),  # origin
        ("\n5\n", "\n6\n"),  # size
        (ROOT_B64, base64.b64encode(bytes(range(1, 33))).decode()),  # root
        ("00.123456Z", "00.123457Z"),  # time
    ],
    ids=["origin", "size", "root", "time"],
)
def test_changed_body_fails_verification(old: str, new: str) -> None:
    note = signed().note
    tampered = note.replace(old, new, 1)
    assert tampered != note
    parse_checkpoint(tampered)  # still well formed: only the signature can tell
    with pytest.raises(CheckpointError, match="signature does not verify with key"):
        verify_checkpoint(tampered, NAME, KEY.public_key())


def test_every_changed_body_character_is_refused() -> None:
    note = signed().note
    for i in range(len(BODY)):
        tampered = note[:i] + chr(ord(note[i]) ^ 1) + note[i + 1 :]
        with pytest.raises(CheckpointError):
            verify_checkpoint(tampered, NAME, KEY.public_key())


def test_changed_checkpoint_object_fails_verification() -> None:
    cp = signed()
    with pytest.raises(CheckpointError, match="signature does not verify"):
        verify_checkpoint(dataclasses.replace(cp, size=6), NAME, KEY.public_key())
    with pytest.raises(CheckpointError, match="signed by unknown key"):
        verify_checkpoint(dataclasses.replace(cp, key_hash="00000000"), NAME, KEY.public_key())


def test_signature_by_another_key_is_from_an_unknown_key() -> None:
    note = sign_checkpoint(NAME, 5, ROOT, AT, NAME, OTHER).note
    with pytest.raises(CheckpointError, match=f"signed by unknown key {NAME}\\+"):
        verify_checkpoint(note, NAME, KEY.public_key())


def test_signature_by_another_key_under_our_key_id_does_not_verify() -> None:
    forged = dataclasses.replace(
        sign_checkpoint(NAME, 5, ROOT, AT, NAME, OTHER), key_hash=key_id(NAME, KEY)
    )
    with pytest.raises(CheckpointError, match="signature does not verify with key"):
        verify_checkpoint(forged.note, NAME, KEY.public_key())


def test_wrong_key_name_fails() -> None:
    note = signed().note
    with pytest.raises(CheckpointError, match=f"not signed by other.test/audit.*{NAME}"):
        verify_checkpoint(note, "other.test/audit", KEY.public_key())
    renamed = sign_checkpoint(NAME, 5, ROOT, AT, "other.test/audit", KEY).note
    with pytest.raises(CheckpointError, match=f"not signed by {NAME}"):
        verify_checkpoint(renamed, NAME, KEY.public_key())


def test_cosignatures_by_other_keys_are_ignored_but_ours_must_hold() -> None:
    ours = signed()
    witness = sign_note(BODY, "witness.test", OTHER).partition("\n\n")[2]
    cosigned = ours.note + witness
    assert verify_checkpoint(cosigned, NAME, KEY.public_key()) == ours
    assert verify_checkpoint(cosigned, "witness.test", OTHER.public_key()).key_name == (
        "witness.test"
    )
    assert parse_checkpoint(cosigned) == ours  # the first signature is kept
    bad = dataclasses.replace(ours, signature=bytes(64)).note + witness
    with pytest.raises(CheckpointError, match="signature does not verify"):
        verify_checkpoint(bad, NAME, KEY.public_key())


def test_checkpoint_refuses_malformed_fields() -> None:
    cp = signed()
    with pytest.raises(CheckpointError, match="64 bytes"):
        dataclasses.replace(cp, signature=b"x")
    with pytest.raises(CheckpointError, match="8 lowercase hex"):
        dataclasses.replace(cp, key_hash="C0FFEE00")
    with pytest.raises(CheckpointError, match="invalid key name"):
        dataclasses.replace(cp, key_name="a b")
    with pytest.raises(CheckpointError, match="negative"):
        dataclasses.replace(cp, size=-1)


# --- malformed notes ---------------------------------------------------------------------


def root_line(data: bytes) -> Callable[[str], str]:
    return lambda note: note.replace(ROOT_B64, base64.b64encode(data).decode(), 1)


def size_line(text: str) -> Callable[[str], str]:
    return lambda note: note.replace("\n5\n", f"\n{text}\n", 1)


def time_line(text: str) -> Callable[[str], str]:
    old = "time 2026-11-23T21:00:00.123456Z\n"
    return lambda note: note.replace(old, f"{text}\n" if text else "", 1)


MALFORMED: list[tuple[str, Callable[[str], str], str]] = [
    ("no blank line", lambda n: n.replace("\n\n", "\n"), "no empty line before its signatures"),
    ("no signatures", lambda n: n.partition("\n\n")[0] + "\n\n", "no signature lines"),
    ("no final newline", lambda n: n[:-1], "does not end with a newline"),
    ("control char", lambda n: n.replace("audit", "au\rdit", 1), "line 1: note contains control"),
    ("empty origin", lambda n: n.replace(NAME + "\n5", "\n5", 1), "line 1 (origin)"),
    ("dash origin", lambda n: n.replace(NAME + "\n5", "— x\n5", 1), "line 1 (origin)"),
    ("size hex", size_line("0x5"), "line 2 (tree size): '0x5'"),
    ("size word", size_line("five"), "line 2 (tree size)"),
    (
        "size leading zero",
        size_line("05"),
        "line 2 (tree size): '05' is not a decimal number without leading zeros",
    ),
    ("size double zero", size_line("00"), "line 2 (tree size)"),
    ("size plus", size_line("+5"), "line 2 (tree size)"),
    ("size space", size_line(" 5"), "line 2 (tree size)"),
    ("size underscore", size_line("1_0"), "line 2 (tree size)"),
    ("size arabic digit", size_line("\u0665"), "line 2 (tree size)"),
    ("size negative", size_line("-5"), "line 2 (tree size)"),
    ("root not base64", lambda n: n.replace(ROOT_B64, "not*base64", 1), "line 3 (root hash):"),
    ("root 31 bytes", root_line(ROOT[:31]), "line 3 (root hash): decodes to 31 bytes"),
    ("root 33 bytes", root_line(ROOT + b"\x00"), "line 3 (root hash): decodes to 33 bytes"),
    ("root no padding", lambda n: n.replace(ROOT_B64, ROOT_B64[:-1], 1), "line 3 (root hash):"),
    (
        "root non-canonical",
        lambda n: n.replace(ROOT_B64, ROOT_B64[:-2] + "9=", 1),
        "is not canonical base64",
    ),
    (
        "time no fraction",
        time_line("time 2026-11-23T21:00:00Z"),
        "line 4 (time): expected 'time YYYY-MM-DDTHH:MM:SS.ffffffZ'",
    ),
    (
        "time offset",
        time_line("time 2026-11-23T21:00:00.123456+00:00"),
        "line 4 (time): expected 'time YYYY-MM-DDTHH:MM:SS.ffffffZ'",
    ),
    (
        "time keyword",
        time_line("Time 2026-11-23T21:00:00.123456Z"),
        "line 4 (time): expected 'time YYYY-MM-DDTHH:MM:SS.ffffffZ'",
    ),
    ("time month 13", time_line("time 2026-13-23T21:00:00.123456Z"), "not a real time"),
    ("time missing", time_line(""), "has 3 lines; expected 4"),
    (
        "extra extension",
        lambda n: n.replace("Z\n\n", "Z\nextra\n\n", 1),
        "line 5: unexpected extension line 'extra'",
    ),
    ("signature dash", lambda n: n.replace("— ", "- ", 1), "line 6: signature lines start"),
    ("signature name", lambda n: n.replace(f"— {NAME}", "— a+b", 1), "line 6: expected"),
    ("signature no space", lambda n: n.replace(f"— {NAME} ", f"— {NAME}", 1), "line 6"),
    ("signature base64", lambda n: n[:-3] + "*=\n", "line 6: signature is not valid base64"),
    (
        "signature short",
        lambda n: n.rpartition(" ")[0] + " AAAAAA==\n",
        "line 6: signature is 4 bytes",
    ),
    (
        "signature 63 bytes",
        lambda n: (
            n.rpartition(" ")[0]
            + " "
            + base64.b64encode(bytes.fromhex(key_id(NAME, KEY)) + bytes(63)).decode()
            + "\n"
        ),
        "is 63 bytes",
    ),
]


@pytest.mark.parametrize(
    ("change", "message"), [m[1:] for m in MALFORMED], ids=[m[0] for m in MALFORMED]
)
def test_malformed_notes_are_refused_saying_where(
    change: Callable[[str], str], message: str
) -> None:
    note = change(signed().note)
    with pytest.raises(CheckpointError) as parsing:
        parse_checkpoint(note)
    assert message in str(parsing.value)
    with pytest.raises(CheckpointError) as verifying:
        verify_checkpoint(note, NAME, KEY.public_key())
    assert message in str(verifying.value)


def test_size_zero_is_accepted() -> None:
    cp = sign_checkpoint(NAME, 0, ROOT, AT, NAME, KEY)
    assert "\n0\n" in cp.note
    assert verify_checkpoint(cp.note, NAME, KEY.public_key()).size == 0


def test_too_many_signatures_are_refused() -> None:
    line = signed().note.partition("\n\n")[2]
    with pytest.raises(CheckpointError, match="at most 100"):
        parse_checkpoint(BODY + "\n" + line * 101)


# --- published signed-note vectors -------------------------------------------------------


def test_go_published_note_verifies_with_its_published_verifier_key() -> None:
    name, public = parse_verifier_key(PETER_VKEY)
    text, sig = verify_note(PETER_NOTE, name, public)
    assert text == PETER_TEXT
    assert (sig.name, sig.key_hash.hex()) == ("PeterNeumann", "c74f20a3")


def test_signing_reproduces_the_go_published_note_exactly() -> None:
    seed = base64.b64decode(PETER_SEED_B64)[1:]
    assert sign_note(PETER_TEXT, "PeterNeumann", Ed25519PrivateKey.from_private_bytes(seed)) == (
        PETER_NOTE
    )


def test_go_published_note_changed_by_one_character_fails() -> None:
    name, public = parse_verifier_key(PETER_VKEY)
    with pytest.raises(CheckpointError, match="signature does not verify"):
        verify_note(PETER_NOTE.replace("problem,", "problem;"), name, public)


def test_c2sp_published_note_verifies_with_its_published_verifier_key() -> None:
    name, public = parse_verifier_key(C2SP_VKEY)
    text, _ = verify_note(C2SP_NOTE, name, public)
    assert text == "This is an example message.\n"


def test_note_text_may_hold_empty_lines_the_last_one_separates() -> None:
    text = "first\n\nsecond\n"
    text_back, _ = verify_note(sign_note(text, NAME, KEY), NAME, KEY.public_key())
    assert text_back == text


def test_sign_note_refuses_text_without_final_newline() -> None:
    with pytest.raises(CheckpointError, match="end with a newline"):
        sign_note("no newline", NAME, KEY)
