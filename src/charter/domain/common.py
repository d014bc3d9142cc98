"""Shared field types and small value objects used by every domain schema."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Generic, ParamSpec, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints

NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$"
_NAME_RE = re.compile(NAME_PATTERN)
MAX_JSON_DEPTH = 16


def unstorable(value: str) -> str | None:
    """Why no database can keep `value`, or None.

    PostgreSQL cannot store NUL in text, and a lone surrogate cannot be encoded as UTF-8
    at all; both are refused up front so both backends agree and every read can render.
    """
    if "\x00" in value:
        return "must not contain the NUL character (\\u0000)"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "must be valid Unicode text (a \\ud800-\\udfff escape must be a surrogate pair)"
    return None


def _no_nul(value: str) -> str:
    if (reason := unstorable(value)) is not None:
        raise ValueError(reason)
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("needs a timezone, e.g. 2026-11-23T10:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range once converted to UTC") from None


def _clean_json(value: Any, depth: int = 0) -> Any:
    if depth > MAX_JSON_DEPTH:
        raise ValueError(f"is nested deeper than {MAX_JSON_DEPTH} levels")
    if isinstance(value, str):
        return _no_nul(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("must be a finite number (NaN and infinity cannot be stored as JSON)")
    if isinstance(value, dict):
        return {_no_nul(str(k)): _clean_json(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_clean_json(v, depth + 1) for v in value]
    return value


def is_name(value: str) -> bool:
    return bool(_NAME_RE.match(value))


Name = Annotated[
    str,
    StringConstraints(pattern=NAME_PATTERN),
    Field(description="1-128 characters: letters, digits, '.', '_' or '-'; starts alphanumeric"),
]
Text = Annotated[str, StringConstraints(max_length=10_000), AfterValidator(_no_nul)]
ShortText = Annotated[str, StringConstraints(max_length=512), AfterValidator(_no_nul)]
TagKey = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[^\x00:]+$")]
TagValue = Annotated[str, StringConstraints(max_length=512), AfterValidator(_no_nul)]
Tags = dict[TagKey, TagValue]
SafeStr = Annotated[str, AfterValidator(_no_nul)]
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_clean_json)]
Metrics = dict[
    Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_no_nul)],
    Annotated[float, Field(allow_inf_nan=False)],
]
Region = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]{0,62}$"),
    Field(description="region code in lower case, e.g. 'eu-west-1' or 'de'"),
]
Revision = Annotated[int, Field(ge=1, le=2**31)]
PositiveId = Annotated[int, Field(ge=1, le=2**62)]


class Request(BaseModel):
    """Request bodies refuse unknown fields so a typo is an error, not a silent no-op."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class Response(BaseModel):
    """Responses ignore unknown fields so an older client keeps working."""

    model_config = ConfigDict(extra="ignore", from_attributes=True)


class CodeRef(Request):
    repository: ShortText | None = None
    commit: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{7,64}$")] | None = None
    dirty: bool = False
    path: ShortText | None = None


class Environment(Request):
    python: Annotated[str, StringConstraints(max_length=64), AfterValidator(_no_nul)] | None = None
    platform: ShortText | None = None
    packages: dict[
        Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_no_nul)],
        Annotated[str, StringConstraints(max_length=128), AfterValidator(_no_nul)],
    ] = Field(default_factory=dict, description="every installed distribution: name -> version")


class ColumnSchema(Request):
    name: Annotated[str, StringConstraints(min_length=1, max_length=256), AfterValidator(_no_nul)]
    type: Annotated[str, StringConstraints(min_length=1, max_length=64), AfterValidator(_no_nul)]
    nullable: bool = True


class DatasetVersionRef(Request):
    dataset: Name
    version: Annotated[int, Field(ge=1, le=2**31)]

    def __str__(self) -> str:
        return f"{self.dataset}@{self.version}"


class ModelVersionRef(Request):
    model: Name
    version: Annotated[int, Field(ge=1, le=2**31)]

    def __str__(self) -> str:
        return f"{self.model}@{self.version}"


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; pass `next_cursor` back as `cursor` to get the next one."""

    items: list[T]
    next_cursor: str | None = None


PageT = TypeVar("PageT", bound=Page[Any])
P = ParamSpec("P")


@dataclass(frozen=True)
class JsonPage:
    """A page whose items are stored JSON documents joined as text, not yet parsed.

    The documents were written by `model_dump_json` of the schema the API declares, so the
    API sends them as they are: parsing a page of 100 and dumping it again cost more than
    the query. In-process callers get a parsed Page through `parsed_pages`.
    """

    items: str  # a JSON array
    next_cursor: str | None = None

    def json(self) -> str:
        cursor = "null" if self.next_cursor is None else json.dumps(self.next_cursor)
        return f'{{"items":{self.items},"next_cursor":{cursor}}}'


def parsed_pages(page: type[PageT], read: Callable[P, JsonPage]) -> Callable[P, PageT]:
    """`read`, with the same parameters, returning its page parsed as `page`."""

    def parse(*args: P.args, **kwargs: P.kwargs) -> PageT:
        return page.model_validate_json(read(*args, **kwargs).json())

    parse.__doc__ = f"`{read.__name__}`, parsed as {page.__name__}."
    return parse


class Stamped(Response):
    created_at: datetime
    revision: int = Field(description="increments on every change; send it back as If-Match")
