"""The version point lookup, answered ahead of FastAPI's routing when nothing can differ.

`GET /api/v1/models/{name}/versions/{version}` is the registry's hottest call (a serving
gateway resolving a model, a pipeline checking what it runs). FastAPI's routing,
dependency resolution and parameter validation cost about a third of such a request
here, more than the read itself. When the caller's token was accepted by this process a
moment ago (the token cache, as on the route) and the path is in the form the route
validates, this answers with exactly what the route would: the same service call, the
same body and headers. Everything else goes through the route: no or unknown tokens
(which are audited there), denials, misses and errors (whose problem documents the
route writes), query strings, other paths. The route stays the documented operation in
the OpenAPI document and the one the access tests walk.
"""

from __future__ import annotations

import re

from fastapi.security.utils import get_authorization_scheme_param
from starlette.types import ASGIApp, Receive, Scope, Send

from charter.api.context import AppContext
from charter.api.deps import admit_from_memory
from charter.api.render import version_response
from charter.domain.common import NAME_PATTERN
from charter.domain.enums import Action
from charter.registry import versions

# The route's own constraints: Name, and VersionPath's 1 <= n <= 2**31 - 1. A version
# written otherwise ("01", "+1") is left to the route, which parses it its own way.
_PATH = re.compile(r"^/api/v1/models/(" + NAME_PATTERN[1:-1] + r")/versions/([1-9][0-9]{0,9})$")
_MAX_VERSION = 2**31 - 1
ACTION = Action.REGISTRY_READ  # the route's: `Reader` in api/routes/models.py


class VersionLookupFastPath:
    """ASGI middleware, inside the request-id middleware, in front of the FastAPI app."""

    def __init__(self, app: ASGIApp, context: AppContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if not (
            scope["type"] == "http"
            and scope["method"] == "GET"
            and not scope.get("query_string")
            and not scope.get("root_path")
            and await self._answer(scope, receive, send)
        ):
            await self.app(scope, receive, send)

    async def _answer(self, scope: Scope, receive: Receive, send: Send) -> bool:
        """True once answered; False leaves the request, untouched, to the route."""
        found = _PATH.match(scope["path"])
        if found is None or int(found[2]) > _MAX_VERSION:
            return False
        authorization, agent = None, ""
        for name, value in scope["headers"]:
            if name == b"authorization" and authorization is None:
                authorization = value.decode("latin-1")
            elif name == b"user-agent" and not agent:
                agent = value.decode("latin-1")
        secret = _bearer(authorization)
        if secret is None:
            return False
        client = scope.get("client")
        actor = admit_from_memory(
            self.context,
            secret,
            ACTION,
            scope["state"]["request_id"],
            client[0] if client else None,
            agent[:256] or None,
        )
        if actor is None:
            return False
        try:
            version = await versions.version_json_on_loop(self.context.db, found[1], int(found[2]))
        except Exception:  # a miss or a failure: the route answers it, with its problem
            return False
        await version_response(version)(scope, receive, send)
        return True


def _bearer(authorization: str | None) -> str | None:
    """The token as FastAPI's HTTPBearer reads it from the header (its own parser), or
    None where HTTPBearer would find none."""
    scheme, credentials = get_authorization_scheme_param(authorization)
    if not (authorization and scheme and credentials) or scheme.lower() != "bearer":
        return None
    return credentials
