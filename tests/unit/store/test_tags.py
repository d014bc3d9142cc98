"""Tag filter parsing: 'key' or 'key:value', bounded, never anything else."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from charter.domain.errors import InvalidInput
from charter.store.tags import MAX_FILTERS, parse_filters

keys = st.text(st.characters(blacklist_characters=":\x00"), min_size=1, max_size=128)
values = st.text(st.characters(blacklist_characters="\x00"), max_size=512)


@given(keys, values)
def test_key_value_round_trip(key: str, value: str) -> None:
    assert parse_filters([f"{key}:{value}"]) == [(key, value)]


@given(keys)
def test_key_alone_matches_any_value(key: str) -> None:
    assert parse_filters([key]) == [(key, None)]


@given(st.lists(st.text(max_size=700), max_size=MAX_FILTERS + 2))
def test_arbitrary_filters_parse_or_are_invalid(raw: list[str]) -> None:
    try:
        parsed = parse_filters(raw)
    except InvalidInput:
        return
    assert len(parsed) == len(raw) <= MAX_FILTERS
    for item, (key, value) in zip(raw, parsed, strict=True):
        assert key and ":" not in key and "\x00" not in item
        assert item == (key if value is None else f"{key}:{value}")


@pytest.mark.parametrize("raw", [":v", "", "k\x00", "a" * 129, "k:" + "v" * 513])
def test_invalid_filters(raw: str) -> None:
    with pytest.raises(InvalidInput):
        parse_filters([raw])


def test_too_many_filters() -> None:
    with pytest.raises(InvalidInput, match="at most"):
        parse_filters([f"k{i}" for i in range(MAX_FILTERS + 1)])
    assert parse_filters(["a:b:c", "k:"]) == [("a", "b:c"), ("k", "")]
