"""Reading, replacing and filtering by the tags of any entity kind."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import (
    ColumnElement,
    Connection,
    Select,
    Table,
    and_,
    bindparam,
    delete,
    exists,
    insert,
    select,
)
from sqlalchemy.orm import Session, aliased

from charter.domain.errors import InvalidInput
from charter.store.tables import Tag

MAX_FILTERS = 16
MAX_KEY_LENGTH = 128
MAX_VALUE_LENGTH = 512

S = TypeVar("S", bound=Select[Any])
_TAGS = cast(Table, Tag.__table__)


# Built once and reused: see registry/versions.py on why prebuilt statements matter.
_LOAD = select(Tag.entity_id, Tag.key, Tag.value).where(
    Tag.entity_kind == bindparam("kind"), Tag.entity_id.in_(bindparam("ids", expanding=True))
)


def load(session: Session | Connection, kind: str, ids: Iterable[int]) -> dict[int, dict[str, str]]:
    id_list = list(ids)
    result: dict[int, dict[str, str]] = defaultdict(dict)
    if not id_list:
        return result
    rows = session.execute(_LOAD, {"kind": kind, "ids": id_list})
    for entity_id, key, value in rows:
        result[entity_id][key] = value
    return result


def add(session: Session, kind: str, entity_id: int, tags: dict[str, str]) -> None:
    """Tags of an entity created in this transaction: nothing to delete first."""
    add_many(session, kind, [(entity_id, tags)])


def add_many(session: Session, kind: str, tagged: Iterable[tuple[int, dict[str, str]]]) -> None:
    """Tags of several new entities in one executemany.

    Through Core on the session's connection rather than as ORM objects: nothing reads
    them back as objects, and the unit of work cost more than the insert on every
    registration.
    """
    rows = [
        {"entity_kind": kind, "entity_id": entity_id, "key": k, "value": v}
        for entity_id, tags in tagged
        for k, v in tags.items()
    ]
    if rows:
        session.connection().execute(insert(_TAGS), rows)


def replace(session: Session, kind: str, entity_id: int, tags: dict[str, str]) -> None:
    session.execute(delete(Tag).where(Tag.entity_kind == kind, Tag.entity_id == entity_id))
    add(session, kind, entity_id, tags)


LIKE_ESCAPE = "\\"


def like_prefix(prefix: str) -> str:
    """A LIKE pattern matching names that start with `prefix` literally."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


def bound_filters(shape: tuple[bool, ...]) -> list[tuple[Any, Any]]:
    """Tag filters whose keys and values are bound parameters tag_key_N / tag_value_N."""
    return [
        (bindparam(f"tag_key_{i}"), bindparam(f"tag_value_{i}") if has_value else None)
        for i, has_value in enumerate(shape)
    ]


def filter_params(filters: Sequence[tuple[str, str | None]]) -> dict[str, str]:
    """The values for the parameters of bound_filters, in the same order."""
    params: dict[str, str] = {}
    for i, (key, value) in enumerate(filters):
        params[f"tag_key_{i}"] = key
        if value is not None:
            params[f"tag_value_{i}"] = value
    return params


def parse_filters(raw: Sequence[str]) -> list[tuple[str, str | None]]:
    """'key:value' matches that value, 'key' alone matches any value."""
    if len(raw) > MAX_FILTERS:
        raise InvalidInput(f"at most {MAX_FILTERS} tag filters, got {len(raw)}")
    parsed: list[tuple[str, str | None]] = []
    for item in raw:
        key, sep, value = item.partition(":")
        if not key or "\x00" in item:
            raise InvalidInput(f"tag filter {item!r} must be 'key' or 'key:value'")
        if len(key) > MAX_KEY_LENGTH or len(value) > MAX_VALUE_LENGTH:
            raise InvalidInput(
                f"tag filter {item[:40]!r}...: keys have at most {MAX_KEY_LENGTH} characters "
                f"and values at most {MAX_VALUE_LENGTH}"
            )
        parsed.append((key, value if sep else None))
    return parsed


def filter_clauses(
    kind: str, id_column: Any, filters: Sequence[tuple[str, str | None]]
) -> list[ColumnElement[bool]]:
    """One EXISTS per filter; fine for small tables, use `restrict` for paged lists."""
    clauses: list[ColumnElement[bool]] = []
    for key, value in filters:
        cond = and_(Tag.entity_kind == kind, Tag.entity_id == id_column, Tag.key == key)
        if value is not None:
            cond = and_(cond, Tag.value == value)
        clauses.append(exists().where(cond))
    return clauses


def restrict(
    query: S,
    kind: str,
    id_column: Any,
    filters: Sequence[tuple[Any, Any]],
    after: Any,
) -> tuple[S, Any]:
    """Keep rows carrying every tag and continue after `after`; return the key to order by.

    Keys, values and `after` are plain values or bound parameters (see bound_filters).

    With a 'key:value' filter the walk is driven by ix_tags_lookup, whose entries for one
    (kind, key, value) are already sorted by entity id: the page is read in order from the
    index and every other filter is one primary-key probe per candidate. Probing every
    entity from the lowest id instead costs a probe per entity, matching or not.
    """
    by_value = [f for f in filters if f[1] is not None]
    if not by_value:
        for clause in filter_clauses(kind, id_column, filters):
            query = query.where(clause)
        return query.where(id_column > after), id_column
    key, value = by_value[0]
    driver = aliased(Tag, name="tag_1")
    query = query.join(
        driver,
        and_(
            driver.entity_kind == kind,
            driver.key == key,
            driver.value == value,
            driver.entity_id == id_column,
        ),
    ).where(driver.entity_id > after)
    rest = list(filters)
    rest.remove(by_value[0])
    for n, (other_key, other_value) in enumerate(rest, start=2):
        probe = aliased(Tag, name=f"tag_{n}")
        cond = and_(
            probe.entity_kind == kind,
            probe.entity_id == driver.entity_id,
            probe.key == other_key,
        )
        if other_value is not None:
            cond = and_(cond, probe.value == other_value)
        query = query.join(probe, cond)
    return query, driver.entity_id
