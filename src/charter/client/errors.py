"""Turn a problem+json response back into the domain error the server raised."""

from __future__ import annotations

from typing import Any

from charter.client.transport import Response
from charter.domain import errors

BY_STATUS: dict[int, type[errors.CharterError]] = {
    401: errors.Unauthenticated,
    403: errors.PermissionDenied,
    404: errors.NotFound,
    409: errors.Conflict,
    412: errors.PreconditionFailed,
    422: errors.InvalidInput,
    428: errors.PreconditionRequired,
    503: errors.GateUnavailable,
}


class ApiError(errors.CharterError):
    """An error answer from the server that has no more specific domain class."""

    code = "api_error"


def raise_for_problem(response: Response) -> None:
    if response.is_success:
        return
    body: dict[str, Any] = {}
    try:
        parsed = response.json()
        if isinstance(parsed, dict):
            body = parsed
    except ValueError:
        pass
    detail = str(body.get("detail") or response.reason_phrase or "request failed")
    if body.get("code") == "integrity_error":
        cls: type[errors.CharterError] = errors.IntegrityError
    else:
        cls = BY_STATUS.get(response.status_code, ApiError)
    exc = cls(f"{detail} (HTTP {response.status_code})" if cls is ApiError else detail)
    exc.status = response.status_code  # type: ignore[attr-defined]
    exc.problem = body  # type: ignore[attr-defined]
    raise exc
