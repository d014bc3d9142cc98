"""Rendering for the CLI: JSON for scripts, Rich tables for people, errors on stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, NoReturn, TypeVar

import typer
from pydantic import BaseModel
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from charter.domain.errors import CharterError

console = Console()
err_console = Console(stderr=True)
F = TypeVar("F", bound=Callable[..., Any])


def to_jsonable(value: Any) -> Any:
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    return value


def print_json(value: Any) -> None:
    sys.stdout.write(json.dumps(to_jsonable(value), indent=2, sort_keys=True) + "\n")


def when(moment: datetime) -> str:
    """A time to the second, 'Z' for UTC, with a space so a narrow column wraps cleanly."""
    text = moment.isoformat(sep=" ", timespec="seconds")
    return text.removesuffix("+00:00") + "Z" if text.endswith("+00:00") else text


def cell(value: Any) -> str:
    """One value as table text: empty for None, compact for dicts, lists and times."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return when(value)
    if isinstance(value, Mapping):
        return ", ".join(f"{k}={cell(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(cell(v) for v in value)
    return str(value)


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    grid = Table(title=title, title_justify="left")
    for column in columns:
        # Fold rather than truncate: a cut-off digest or URI is worse than a wrapped one.
        grid.add_column(column, overflow="fold")
    if not rows:
        grid.caption = "(none)"
    for row in rows:
        # Escaped so a '[' in a user's description is shown, not read as Rich markup.
        grid.add_row(*(escape(cell(v)) for v in row))
    console.print(grid)


def details(title: str, fields: Sequence[tuple[str, Any]]) -> None:
    """A two-column field/value table for one record."""
    grid = Table(title=title, title_justify="left", show_header=False)
    grid.add_column("field", style="bold")
    grid.add_column("value", overflow="fold")
    for name, value in fields:
        grid.add_row(name, escape(cell(value)))
    console.print(grid)


def more_hint(next_cursor: str | None) -> None:
    if next_cursor:
        err_console.print(f"more results: add --cursor {next_cursor} (or --all)", soft_wrap=True)


def warn(message: str) -> None:
    err_console.print(f"[bold yellow]warning:[/] {escape(message)}", soft_wrap=True)


def say(message: str) -> None:
    """A result for people, on stdout; markup is not interpreted."""
    console.print(message, markup=False, highlight=False, soft_wrap=True)


def fail(message: str, code: int = 1) -> NoReturn:
    err_console.print(f"[bold red]error:[/] {escape(message)}", soft_wrap=True)
    raise typer.Exit(code)


@contextmanager
def errors_reported() -> Iterator[None]:
    """Charter's errors become one readable line and exit code 1, never a traceback."""
    try:
        yield
    except CharterError as exc:
        fail(exc.message)
