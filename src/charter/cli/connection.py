"""Build the SDK Client from --url/--token (or CHARTER_URL/CHARTER_TOKEN) and report its errors."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from pydantic import ValidationError

from charter.cli.output import errors_reported, fail
from charter.client.client import Client
from charter.client.transport import Unreachable
from charter.domain.common import Page
from charter.domain.errors import Unauthenticated

T = TypeVar("T")
DEFAULT_URL = "http://127.0.0.1:8080"
MISSING_TOKEN = (
    "no API token: set CHARTER_TOKEN or pass --token "
    "(`charter init` prints the first admin's token; `charter tokens create` issues more)"
)


def resolve_url(url: str | None) -> str:
    chosen = (url or DEFAULT_URL).strip()
    if not chosen.startswith(("http://", "https://")):
        fail(f"server URL {chosen!r} must start with http:// or https:// (--url / CHARTER_URL)")
    return chosen.rstrip("/")


@contextmanager
def connect(url: str | None, token: str | None) -> Iterator[Client]:
    """A Client for one command; every failure becomes one red line and exit code 1."""
    base = resolve_url(url)
    if not token or not token.strip():
        fail(MISSING_TOKEN)
    secret = token.strip()
    if not secret.isprintable() or any(c.isspace() for c in secret):
        fail("the token has spaces or control characters in it; copy it again exactly")
    client = Client(base, secret)
    try:
        with errors_reported():
            try:
                yield client
            except Unauthenticated as exc:
                fail(f"{exc.message} (the token comes from --token or CHARTER_TOKEN)")
            except Unreachable as exc:
                fail(
                    f"cannot reach the Charter server at {base}: {exc.message}; "
                    "is `charter server` running, and is --url / CHARTER_URL right?"
                )
            except (json.JSONDecodeError, ValidationError):
                fail(f"the server at {base} did not answer like a Charter server (check --url)")
            except OSError as exc:
                where = f": {exc.filename}" if exc.filename else ""
                fail(f"{exc.strerror or exc}{where}")
    finally:
        client.close()


def gather(
    lister: Callable[..., Page[T]],
    *,
    limit: int,
    cursor: str | None,
    follow: bool,
    **filters: Any,
) -> Page[T]:
    """One page, or with `follow` every page from `cursor` on, as a single Page."""
    if limit < 1 or limit > 1000:
        fail(f"--limit must be between 1 and 1000, got {limit}")
    page = lister(limit=limit, cursor=cursor, **filters)
    if not follow:
        return page
    items = list(page.items)
    while page.next_cursor:
        page = lister(limit=limit, cursor=page.next_cursor, **filters)
        items.extend(page.items)
    return Page[Any](items=items, next_cursor=None)
