"""Opaque keyset cursors: a page continues after the last id the caller saw."""

from __future__ import annotations

import base64
import binascii
import json

from charter.domain.errors import InvalidInput

MAX_LIMIT = 1000


def encode_cursor(last_id: int) -> str:
    raw = json.dumps({"after": last_id}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = json.loads(base64.urlsafe_b64decode(padded.encode()))
        after = value["after"]
    except (ValueError, KeyError, TypeError, binascii.Error) as exc:
        raise InvalidInput(
            "cursor is not valid: pass back the next_cursor of a previous page unchanged"
        ) from exc
    if not isinstance(after, int) or after < 0 or after > 2**62:
        raise InvalidInput("cursor is not valid: pass back the next_cursor unchanged")
    return after


def check_limit(limit: int) -> int:
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidInput(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit
