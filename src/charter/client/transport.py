"""The SDK's HTTP: one urllib3 keep-alive pool per Client, and the request shapes it uses.

urllib3 rather than httpx: a small request costs the caller ~0.15 ms with urllib3 and
~0.5 ms with httpx here (httpx parses and rebuilds the URL three times per request and
wraps everything in model objects), which was a third of a point lookup over loopback.
"""

from __future__ import annotations

import functools
import json
import ssl
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import urllib3
from urllib3.exceptions import HTTPError as Urllib3Error
from urllib3.exceptions import NewConnectionError
from urllib3.exceptions import TimeoutError as Urllib3Timeout

from charter.domain.errors import CharterError

# Connections kept per Client; more threads than this still work, on new connections.
POOL_SIZE = 10
JSON_TYPE = "application/json"


class Unreachable(CharterError):
    """The server could not be reached, or the connection failed before it answered."""

    code = "unreachable"

    def __init__(self, message: str, *, timed_out: bool = False) -> None:
        super().__init__(message)
        self.timed_out = timed_out


class Response:
    """A whole response: status, headers and body bytes."""

    __slots__ = ("content", "headers", "reason_phrase", "status_code")

    def __init__(
        self, status_code: int, reason: str | None, headers: Mapping[str, str], content: bytes
    ) -> None:
        self.status_code = status_code
        self.reason_phrase = reason or ""
        self.headers = headers
        self.content = content

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    def json(self) -> Any:
        return json.loads(self.content)

    @property
    def text(self) -> str:
        return self.content.decode("utf-8")


class Streamed:
    """A response whose body is read on demand (downloads)."""

    def __init__(self, raw: urllib3.BaseHTTPResponse) -> None:
        self._raw = raw
        self.status_code = raw.status
        self.is_success = 200 <= raw.status < 300

    def iter_bytes(self, chunk_size: int) -> Iterator[bytes]:
        try:
            yield from self._raw.stream(chunk_size)
        except Urllib3Error as exc:
            raise _unreachable(exc, "the download was cut off") from exc

    def read(self) -> Response:
        return Response(self._raw.status, self._raw.reason, self._raw.headers, self._raw.read())


@functools.cache
def tls_context() -> ssl.SSLContext:
    # The system's trust store (and SSL_CERT_FILE / SSL_CERT_DIR, which OpenSSL reads), so
    # a bank's own CA works; built once: loading the CA bundle costs ~0.1 s.
    return ssl.create_default_context()


def _text(value: Any) -> str:
    # As httpx encoded query values, so the server sees the same strings as before.
    if value is True:
        return "true"
    if value is False:
        return "false"
    return "" if value is None else str(value)


def query_string(params: Mapping[str, Any]) -> str:
    """`key=value` pairs, a list value repeating its key (`tag=a&tag=b`)."""
    pairs = [
        (key, _text(item))
        for key, value in params.items()
        for item in (value if isinstance(value, list | tuple) else [value])
    ]
    return urlencode(pairs, quote_via=quote)


def _unreachable(exc: Exception, what: str) -> Unreachable:
    # urllib3 files a refused connection under timeouts too; it is not one.
    timed_out = isinstance(exc, Urllib3Timeout) and not isinstance(exc, NewConnectionError)
    reason = "timed out" if timed_out else str(exc) or type(exc).__name__
    return Unreachable(f"{what}: {reason}", timed_out=timed_out)


class Transport:
    """Requests to one server under one path prefix, over kept-alive connections."""

    def __init__(
        self, base_url: str, prefix: str, headers: Mapping[str, str], timeout: float
    ) -> None:
        self.base_url = base_url
        # A server behind a path (https://host/charter) keeps it in front of the API's.
        self._prefix = urlsplit(base_url).path.rstrip("/") + prefix
        self._headers = dict(headers)
        options: dict[str, Any] = {}
        if base_url.startswith("https://"):
            options["ssl_context"] = tls_context()
        self._pool = urllib3.connection_from_url(
            base_url,
            maxsize=POOL_SIZE,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            # No retries: a request that fails is reported, never sent twice. A kept-alive
            # connection the server has closed is noticed and replaced before it is used.
            retries=False,
            **options,
        )

    def close(self) -> None:
        self._pool.close()

    def _url(self, path: str, params: Mapping[str, Any] | None) -> str:
        # Paths carry names a user typed: quoted here, as httpx did.
        url = self._prefix + quote(path, safe="/:@!$&'()*+,;=-._~")
        return f"{url}?{query_string(params)}" if params else url

    def request(
        self,
        method: str,
        path: str,
        *,
        json_body: Any = None,
        content: bytes | Iterable[bytes] | None = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Response:
        sent = {**self._headers, **(headers or {})}
        body: Any = content
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode()
            sent["Content-Type"] = JSON_TYPE
        try:
            raw = self._pool.urlopen(method, self._url(path, params), body=body, headers=sent)
        except Urllib3Error as exc:
            raise _unreachable(exc, f"{method} {path} to {self.base_url} failed") from exc
        return Response(raw.status, raw.reason, raw.headers, raw.data)

    @contextmanager
    def stream(self, method: str, path: str) -> Iterator[Streamed]:
        try:
            raw = self._pool.urlopen(
                method, self._url(path, None), headers=self._headers, preload_content=False
            )
        except Urllib3Error as exc:
            raise _unreachable(exc, f"{method} {path} to {self.base_url} failed") from exc
        try:
            yield Streamed(raw)
        finally:
            raw.release_conn()
