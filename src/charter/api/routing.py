"""The route class of every API router: JSON bodies are decoded strictly at the boundary."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

from charter.domain.common import unstorable


def strict_json(body: bytes) -> Any:
    """Decode a JSON body, refusing strings no database can store.

    PostgreSQL text cannot hold NUL, and a lone surrogate cannot be encoded as UTF-8 when
    the value is read back; both would otherwise surface as a 500 (or a stored record no
    one can read). Refusing them here covers every field of every body at once.
    """
    document = json.loads(body)
    pending: list[tuple[str, Any]] = [("", document)]
    while pending:
        where, item = pending.pop()
        strings: list[tuple[str, str]] = []
        if isinstance(item, str):
            strings = [(where, item)]
        elif isinstance(item, dict):
            for key, value in item.items():
                inner = f"{where}.{key}" if where else str(key)
                strings.append((f"{inner} (the key)", key))
                pending.append((inner, value))
        elif isinstance(item, list):
            pending.extend((f"{where}.{i}" if where else str(i), v) for i, v in enumerate(item))
        for location, value in strings:
            reason = unstorable(value)
            if reason is not None:
                # FastAPI turns a JSONDecodeError into a 422 naming the reason.
                text = body.decode("utf-8", errors="replace")
                shown = location.encode("ascii", "backslashreplace").decode()[:200]
                raise json.JSONDecodeError(
                    f"strings {reason}, at {shown or 'the top level'}", text, 0
                )
    return document


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


class CharterRoute(APIRoute):
    """An APIRoute whose request bodies go through `strict_json`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
