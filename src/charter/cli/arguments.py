"""Shared CLI options and the parsers that turn `k=v`, `NAME@V` and enum words into values."""

import json
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, TypeVar

import typer

from charter.domain.errors import InvalidInput

E = TypeVar("E", bound=StrEnum)

UrlOption = Annotated[
    str | None,
    typer.Option(
        "--url",
        metavar="URL",
        envvar="CHARTER_URL",
        show_envvar=True,
        show_default=False,
        help="Charter server URL (default http://127.0.0.1:8080)",
    ),
]
TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        metavar="TOKEN",
        envvar="CHARTER_TOKEN",
        show_envvar=True,
        show_default=False,
        help="API token (charter init prints the first admin's)",
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print JSON instead of a table")]
LimitOption = Annotated[int, typer.Option("--limit", help="page size (1-1000)")]
CursorOption = Annotated[
    str | None, typer.Option("--cursor", help="next_cursor printed by the previous page")
]
AllOption = Annotated[bool, typer.Option("--all", help="follow cursors and print every page")]
TagFilterOption = Annotated[
    list[str] | None,
    typer.Option(
        "--tag",
        metavar="KEY:VALUE",
        help="filter 'key:value' or 'key' (repeatable; all must match)",
    ),
]
TagOption = Annotated[
    list[str] | None, typer.Option("--tag", metavar="KEY=VALUE", help="tag (repeatable)")
]


def split_pair(value: str, what: str, sep: str = "=") -> tuple[str, str]:
    key, found, rest = value.partition(sep)
    if not found or not key.strip():
        raise InvalidInput(f"{what} {value!r} is not of the form key{sep}value")
    return key.strip(), rest


def parse_tags(values: list[str] | None) -> dict[str, str]:
    return dict(split_pair(v, "tag") for v in values or [])


def parse_params(values: list[str] | None) -> dict[str, object]:
    """`k=v` pairs; a value that reads as JSON (1, 0.5, true, [1,2]) keeps its type."""
    params: dict[str, object] = {}
    for value in values or []:
        key, raw = split_pair(value, "parameter")
        try:
            params[key] = json.loads(raw)
        except ValueError:
            params[key] = raw
    return params


def parse_metrics(values: list[str] | None) -> dict[str, float]:
    metrics: dict[str, float] = {}
    for value in values or []:
        key, raw = split_pair(value, "metric")
        try:
            number = float(raw)
        except ValueError:
            raise InvalidInput(f"metric {value!r}: {raw!r} is not a number") from None
        if number != number or number in (float("inf"), float("-inf")):
            raise InvalidInput(f"metric {value!r}: must be a finite number")
        metrics[key] = number
    return metrics


def parse_ref(value: str, what: str) -> tuple[str, int]:
    """`NAME@VERSION` -> (name, version)."""
    name, found, version = value.rpartition("@")
    if not found or not name or not version.isdigit() or int(version) < 1:
        raise InvalidInput(f"{what} {value!r} is not of the form NAME@VERSION (e.g. loans@3)")
    return name, int(version)


def dataset_refs(values: list[str] | None, what: str) -> list[dict[str, object]]:
    return [
        {"dataset": name, "version": version}
        for name, version in (parse_ref(v, what) for v in values or [])
    ]


def parse_choice(value: str, kind: type[E], what: str) -> E:
    try:
        return kind(value.strip().lower())
    except ValueError:
        choices = ", ".join(member.value for member in kind)
        raise InvalidInput(f"{what} {value!r} is not one of: {choices}") from None


def parse_columns(values: list[str] | None) -> list[dict[str, object]]:
    """`name:type` pairs; a trailing `!` on the type marks the column not nullable."""
    columns: list[dict[str, object]] = []
    for value in values or []:
        name, kind = split_pair(value, "column", sep=":")
        if not kind:
            raise InvalidInput(f"column {value!r} has no type; write name:type, e.g. age:int")
        columns.append(
            {"name": name, "type": kind.removesuffix("!"), "nullable": not kind.endswith("!")}
        )
    return columns


def parse_time(value: str, what: str) -> datetime:
    """ISO 8601; a time without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InvalidInput(
            f"{what} {value!r} is not an ISO 8601 time, e.g. 2027-01-01T00:00:00Z"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def positive(value: int, what: str) -> int:
    if value < 1:
        raise InvalidInput(f"{what} must be at least 1, got {value}")
    return value
