"""Rendering a service result as a JSON response without validating it a second time."""

from __future__ import annotations

from fastapi import Response
from pydantic import BaseModel

from charter.registry.versions import VersionJson


def json_response(
    result: BaseModel, status_code: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """Serialise once with pydantic-core.

    Service results are already instances of the declared response model; returning a
    ready Response skips FastAPI's re-validation of every field, which on a page of 100
    versions costs more than the database query. The route still declares its
    response_model, so the OpenAPI document is unchanged.
    """
    return Response(
        content=result.model_dump_json(),
        status_code=status_code,
        media_type="application/json",
        headers=headers,
    )


def json_text_response(text: str, headers: dict[str, str] | None = None) -> Response:
    """Send JSON the service layer assembled from stored documents (see JsonPage)."""
    return Response(content=text, media_type="application/json", headers=headers)


def version_response(found: VersionJson) -> Response:
    """A version as the point lookup sends it, from the route or its fast path alike."""
    return json_text_response(found.text, headers={"ETag": f'"{found.revision}"'})
