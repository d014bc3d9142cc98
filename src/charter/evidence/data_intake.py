"""Data intake: mask, tokenise or drop chosen columns of a table before it is used, with
a record of what was done (never the key).

Tokenisation is HMAC-SHA256 under a secret key: deterministic for a key, so joins on the
tokenised column still work, and not reversible without the key.
"""

from __future__ import annotations

import hashlib
import hmac
from enum import StrEnum
from typing import Any


class IntakeAction(StrEnum):
    MASK = "mask"
    TOKENISE = "tokenise"
    DROP = "drop"


MASK = "***"


def key_id(key: bytes) -> str:
    return "hmac-sha256:" + hashlib.sha256(b"charter intake key\x00" + key).hexdigest()[:16]


def token(key: bytes, value: str) -> str:
    return "tok_" + hmac.new(key, value.encode("utf-8"), hashlib.sha256).hexdigest()[:32]


def transform(
    frame: Any, actions: dict[str, IntakeAction], key: bytes
) -> tuple[Any, dict[str, Any]]:
    """The transformed copy of `frame` and the record of the transformation."""
    missing = [c for c in actions if c not in frame.columns]
    if missing:
        raise ValueError(f"columns {missing} are not in the table")
    out = frame.copy()
    for column, action in actions.items():
        if action == IntakeAction.DROP:
            out = out.drop(columns=[column])
            continue
        present = out[column].notna()
        if action == IntakeAction.MASK:
            out[column] = out[column].astype("object").where(~present, MASK)
        else:
            out[column] = (
                out[column]
                .astype("object")
                .where(~present, out[column][present].astype(str).map(lambda v: token(key, v)))
            )
    record = {
        "actions": {column: action.value for column, action in sorted(actions.items())},
        "key_id": key_id(key) if IntakeAction.TOKENISE in actions.values() else None,
        "rows": len(out),
    }
    return out, record
