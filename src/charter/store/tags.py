"""Reading, replacing and filtering by the tags of any entity kind."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, select
from sqlalchemy.orm import Session

from charter.domain.errors import InvalidInput
from charter.store.tables import Tag


def load(session: Session, kind: str, ids: Iterable[int]) -> dict[int, dict[str, str]]:
    id_list = list(ids)
    result: dict[int, dict[str, str]] = defaultdict(dict)
    if not id_list:
        return result
    rows = session.execute(
        select(Tag.entity_id, Tag.key, Tag.value).where(
            Tag.entity_kind == kind, Tag.entity_id.in_(id_list)
        )
    )
    for entity_id, key, value in rows:
        result[entity_id][key] = value
    return result


def replace(session: Session, kind: str, entity_id: int, tags: dict[str, str]) -> None:
    session.execute(delete(Tag).where(Tag.entity_kind == kind, Tag.entity_id == entity_id))
    session.add_all(
        Tag(entity_kind=kind, entity_id=entity_id, key=k, value=v) for k, v in tags.items()
    )


def parse_filters(raw: Sequence[str]) -> list[tuple[str, str | None]]:
    """'key:value' matches that value, 'key' alone matches any value."""
    parsed: list[tuple[str, str | None]] = []
    for item in raw:
        key, sep, value = item.partition(":")
        if not key or "\x00" in item:
            raise InvalidInput(f"tag filter {item!r} must be 'key' or 'key:value'")
        parsed.append((key, value if sep else None))
    return parsed


def filter_clauses(
    kind: str, id_column: Any, filters: Sequence[tuple[str, str | None]]
) -> list[ColumnElement[bool]]:
    clauses: list[ColumnElement[bool]] = []
    for key, value in filters:
        cond = and_(Tag.entity_kind == kind, Tag.entity_id == id_column, Tag.key == key)
        if value is not None:
            cond = and_(cond, Tag.value == value)
        clauses.append(exists().where(cond))
    return clauses
