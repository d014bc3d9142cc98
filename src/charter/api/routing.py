"""The route class of every API router: JSON bodies are decoded strictly at the boundary."""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import HTTPException, Request, Response
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


# The largest JSON body any route takes: a version batch with 64 MiB of files in base64.
MAX_JSON_BODY = 96 << 20


class StrictJsonRequest(Request):
    async def body(self) -> bytes:
        """The whole body, refused with 413 as soon as it grows past MAX_JSON_BODY, so an
        oversized request never sits whole in memory. (Uploads stream instead.)"""
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_JSON_BODY:
                raise _too_large(int(declared))
            chunks, size = [], 0
            async for chunk in self.stream():
                size += len(chunk)
                if size > MAX_JSON_BODY:
                    raise _too_large(size)
                chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = strict_json(await self.body())
        return self._json


def _too_large(size: int) -> HTTPException:
    # FastAPI passes an HTTPException raised while parsing the body through unchanged.
    return HTTPException(
        413,
        f"a JSON body of at least {size} bytes; the limit is {MAX_JSON_BODY} "
        "(upload large files with PUT /api/v1/blobs/{sha256} and list them by digest)",
    )


class CharterRoute(APIRoute):
    """An APIRoute whose request bodies go through `strict_json`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict_handler(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
