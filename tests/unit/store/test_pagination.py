"""Cursor encoding: round trips, and arbitrary input is a valid id or InvalidInput."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.domain.errors import InvalidInput
from charter.store.pagination import MAX_AFTER, check_limit, decode_cursor, encode_cursor


@given(st.integers(min_value=0, max_value=MAX_AFTER))
def test_round_trip(last_id: int) -> None:
    cursor = encode_cursor(last_id)
    assert cursor.isascii() and "=" not in cursor
    assert decode_cursor(cursor) == last_id


@given(st.text(max_size=300))
def test_arbitrary_text_is_an_id_or_invalid(cursor: str) -> None:
    try:
        after = decode_cursor(cursor)
    except InvalidInput:
        return
    assert isinstance(after, int) and not isinstance(after, bool)
    assert 0 <= after <= MAX_AFTER


def _wrap(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@given(
    st.recursive(
        st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
        lambda c: st.lists(c) | st.dictionaries(st.text(), c),
        max_leaves=10,
    )
)
def test_arbitrary_json_is_an_id_or_invalid(value: object) -> None:
    payload = {"after": value}
    try:
        after = decode_cursor(_wrap(payload))
    except InvalidInput:
        return
    assert after == value and type(value) is int


@pytest.mark.parametrize(
    "value",
    [
        {"after": True},
        {"after": -1},
        {"after": 2**62 + 1},
        {"after": 1.0},
        {"after": "1"},
        [1],
        5,
        {},
    ],
)
def test_wrong_payloads(value: object) -> None:
    with pytest.raises(InvalidInput):
        decode_cursor(_wrap(value))


def test_empty_means_start_and_deep_nesting_is_refused() -> None:
    assert decode_cursor(None) == 0
    assert decode_cursor("") == 0
    with pytest.raises(InvalidInput):
        decode_cursor(_wrap({"after": 1, "pad": "x" * 200}))  # longer than any real cursor
    with pytest.raises(InvalidInput):
        decode_cursor(base64.urlsafe_b64encode(b"[" * 100_000).decode())


def test_limits() -> None:
    assert check_limit(1) == 1 and check_limit(1000) == 1000
    for bad in (0, -1, 1001):
        with pytest.raises(InvalidInput):
            check_limit(bad)
