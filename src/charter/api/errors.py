"""The one place domain errors become HTTP responses: RFC 9457 problem+json bodies."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError as DbIntegrityError
from sqlalchemy.exc import OperationalError
from starlette.exceptions import HTTPException

from charter.domain import errors

log = logging.getLogger("charter.api")

PROBLEM = "application/problem+json"

STATUS: dict[type[errors.CharterError], int] = {
    errors.InvalidInput: 422,
    errors.NotFound: 404,
    errors.Conflict: 409,
    errors.Unauthenticated: 401,
    errors.PermissionDenied: 403,
    errors.PreconditionFailed: 412,
    errors.PreconditionRequired: 428,
    errors.IntegrityError: 422,
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
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _location(loc: tuple[Any, ...]) -> str:
    parts = [str(p) for p in loc if p not in ("body",)]
    return ".".join(parts) or "body"


def install(app: FastAPI) -> None:
    @app.exception_handler(errors.CharterError)
    async def _domain(request: Request, exc: errors.CharterError) -> JSONResponse:
        return problem(request, status_for(exc), exc.message, exc.code)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        issues = [
            {"field": _location(tuple(e.get("loc", ()))), "message": e.get("msg", "")}
            for e in exc.errors()
        ]
        summary = "; ".join(f"{i['field']}: {i['message']}" for i in issues[:5])
        return problem(request, 422, f"fix these fields: {summary}", "invalid_input", errors=issues)

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        return problem(request, exc.status_code, detail, f"http_{exc.status_code}")

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

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(
            request,
            500,
            "an unexpected error occurred; it has been logged with this request id",
            "internal",
        )
