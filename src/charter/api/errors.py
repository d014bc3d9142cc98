"""The one place domain errors become HTTP responses: RFC 9457 problem+json bodies."""

from __future__ import annotations

import json
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DataError, OperationalError, StatementError
from sqlalchemy.exc import IntegrityError as DbIntegrityError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException

from charter.domain import errors

log = logging.getLogger("charter.api")

PROBLEM = "application/problem+json"
DOCS = "/api/v1/docs"

STATUS: dict[type[errors.CharterError], int] = {
    errors.InvalidInput: 422,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.PreconditionFailed: 412,
    errors.PreconditionRequired: 428,
    errors.IntegrityError: 422,
    errors.GateUnavailable: 503,
}


def status_for(exc: errors.CharterError) -> int:
    if exc.code == "too_large":
        return 413
    return STATUS.get(type(exc), 400)


TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Permission denied",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    412: "Precondition failed",
    413: "Content too large",
    422: "Invalid input",
    428: "Precondition required",
    500: "Internal server error",
    503: "Service unavailable",
}


class ProblemResponse(JSONResponse):
    media_type = PROBLEM

    def render(self, content: Any) -> bytes:
        # ASCII escapes, so no input echoed into a message can make the error itself fail.
        return json.dumps(content, ensure_ascii=True, separators=(",", ":")).encode()


def problem(request: Request, status: int, detail: str, code: str, **extra: Any) -> JSONResponse:
    body = {
        "type": f"https://charter.dev/problems/{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        "code": code,
        "request_id": getattr(request.state, "request_id", None),
        **extra,
    }
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return ProblemResponse(body, status_code=status, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def _allowed_methods(request: Request) -> str:
    table: list[tuple[re.Pattern[str], set[str]]] = getattr(request.app.state, "route_methods", [])
    path = request.url.path
    return ", ".join(sorted({m for regex, methods in table if regex.match(path) for m in methods}))


def _issue(error: Any) -> dict[str, str]:
    message = str(error.get("msg", ""))
    if error.get("type") == "json_invalid":
        reason = error.get("ctx", {}).get("error", "")
        return {"field": "body", "message": f"invalid JSON: {reason}".rstrip(": ")}
    return {"field": _location(tuple(error.get("loc", ()))), "message": message}


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.CharterError)
    async def _domain(request: Request, exc: errors.CharterError) -> JSONResponse:
        return problem(request, status_for(exc), exc.message, exc.code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [_issue(e) for e in exc.errors()]
        summary = "; ".join(f"{i['field']}: {i['message']}" for i in issues[:5])
        return problem(request, 422, f"fix these fields: {summary}", "invalid_input", errors=issues)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        where = f"{request.method} {request.url.path}"
        if exc.status_code == 404 and detail == "Not Found":
            detail = f"no such route: {where}; the API is described at {DOCS}"
        elif exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "the request body could not be parsed: send UTF-8 JSON, nested at most "
            detail += "a few hundred levels deep, with Content-Type: application/json"
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request) or headers.get("Allow", "")
            detail = f"{where} is not allowed; this path accepts {headers['Allow']}"
        response = problem(request, exc.status_code, detail, f"http_{exc.status_code}")
        response.headers.update(headers)
        return response

    @app.exception_handler(DbIntegrityError)
    async def _race(request: Request, exc: DbIntegrityError) -> JSONResponse:
        log.info("integrity conflict: %s", exc.orig)
        return problem(
            request,
            409,
            "a concurrent change conflicted with this one; fetch the current state and retry",
            "conflict",
        )

    @app.exception_handler(OperationalError)
    async def _busy(request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc.orig)
        response = problem(
            request, 503, "the database is busy or unreachable; retry shortly", "unavailable"
        )
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(PoolTimeout)
    async def _exhausted(request: Request, exc: PoolTimeout) -> JSONResponse:
        # Every connection of this worker stayed busy for the pool's whole wait.
        log.warning("no database connection came free: %s", exc)
        response = problem(
            request, 503, "the server has no free database connection; retry shortly", "unavailable"
        )
        response.headers["Retry-After"] = "1"
        return response

    @app.exception_handler(DataError)
    async def _unstorable(request: Request, exc: DataError) -> JSONResponse:
        log.warning("database refused a value: %s", exc.orig)
        return problem(
            request,
            422,
            "the database refused a value of this request (too long, out of range or with "
            "characters it cannot store); correct the value and retry",
            "invalid_input",
        )

    @app.exception_handler(StatementError)
    async def _statement(request: Request, exc: StatementError) -> JSONResponse:
        if isinstance(exc.orig, OverflowError):
            return problem(
                request,
                422,
                "a date or number of this request is outside the range that can be stored "
                "(dates must stay within years 1-9999 in UTC)",
                "invalid_input",
            )
        return unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        return unexpected(request, exc)


def unexpected(request: Request, exc: Exception) -> JSONResponse:
    """A 500 for a bug: logged with its traceback, answered without details."""
    log.error("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem(
        request,
        500,
        "an unexpected error occurred; it has been logged with this request id",
        "internal",
    )
