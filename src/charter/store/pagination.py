"""Opaque keyset cursors: a page continues after the last id the caller saw."""

from __future__ import annotations

import base64
import binascii
import json

from charter.domain.errors import InvalidInput

MAX_LIMIT = 1000
MAX_CURSOR_LENGTH = 128
MAX_AFTER = 2**62


def encode_cursor(last_id: int) -> str:
    if isinstance(last_id, bool) or not 0 <= last_id <= MAX_AFTER:
        raise ValueError(f"a cursor holds an id between 0 and {MAX_AFTER}, got {last_id}")
    raw = json.dumps({"after": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    if len(cursor) > MAX_CURSOR_LENGTH:
        # Also keeps hostile input away from the JSON parser's recursion.
        raise InvalidInput("cursor is not valid: pass back the next_cursor unchanged")
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = value["after"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidInput(
            "cursor is not valid: pass back the next_cursor of a previous page unchanged"
        ) from exc
    if isinstance(after, bool) or not isinstance(after, int) or not 0 <= after <= MAX_AFTER:
        raise InvalidInput("cursor is not valid: pass back the next_cursor unchanged")
    return after


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit
