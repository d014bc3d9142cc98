"""Route dependencies: the app context, the authenticated actor, revisions from If-Match."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from charter.api.context import AppContext
from charter.domain.enums import Action
from charter.domain.errors import (
    InvalidInput,
    PreconditionRequired,
    Unauthenticated,
)
from charter.domain.identity import Actor
from charter.policy.access import allowed_in_memory, authorize

bearer = HTTPBearer(auto_error=False, description="an API token from `charter tokens create`")
ACTION_ATTR = "charter_action"


async def get_context(request: Request) -> AppContext:
    # async on purpose: FastAPI runs a plain `def` dependency in the thread pool, and a
    # thread hop per request costs more than this attribute read.
    context: AppContext = request.app.state.charter
    return context


Context = Annotated[AppContext, Depends(get_context)]


def require(action: Action) -> Callable[..., object]:
    """A dependency that authenticates the caller and checks it may perform `action`.

    Each route declares exactly one action this way; create_app refuses to start if a
    route declares none, so authorization cannot be forgotten.
    """

    async def dependency(
        request: Request,
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    ) -> Actor:
        context: AppContext = request.app.state.charter
        client = request.client.host if request.client else None
        if credentials is None:
            context.sampler.record(client, request.method, request.url.path, "no token")
            raise Unauthenticated(
                "this route needs an API token: send 'Authorization: Bearer <token>'"
            )
        agent = request.headers.get("user-agent", "")[:256] or None
        subject = f"route:{request.method} {request.url.path}"
        secret, request_id = credentials.credentials, request.state.request_id
        # A token and a bundle this process read a moment ago are answered on the event
        # loop: no database round trip and no thread hop (access/token_cache.py).
        remembered = admit_from_memory(context, secret, action, request_id, client, agent)
        if remembered is not None:
            return remembered
        try:
            # One worker-thread call for both steps: each thread hop costs a request
            # more than the cached policy decision itself.
            return await run_in_threadpool(
                admit, context, secret, action, subject, request_id, client, agent
            )
        except Unauthenticated:
            context.sampler.record(
                client, request.method, request.url.path, "invalid, expired or revoked token"
            )
            raise

    setattr(dependency, ACTION_ATTR, action)
    return dependency


def admit_from_memory(
    context: AppContext,
    secret: str,
    action: Action,
    request_id: str | None,
    client: str | None,
    user_agent: str | None,
) -> Actor | None:
    """`admit` without the database, or None when something must be read (or audited)."""
    found = context.tokens.get(secret)
    # The decision reads only the principal's facts, so the request's fields and the grant
    # go onto the actor in one copy.
    granted = None if found is None else allowed_in_memory(context.db, found, action)
    if found is None or granted is None:
        return None
    return replace(
        found,
        request_id=request_id,
        client_address=client,
        user_agent=user_agent,
        authorized_by=granted.note,
    )


def admit(
    context: AppContext,
    secret: str,
    action: Action,
    subject: str,
    request_id: str | None,
    client: str | None,
    user_agent: str | None,
) -> Actor:
    """Authenticate the token, then ask the policy bundle; the request's id, client and
    user agent go onto the actor that is returned (and audited if denied)."""
    found = context.tokens.authenticate(context.db, secret)
    actor = replace(found, request_id=request_id, client_address=client, user_agent=user_agent)
    granted = authorize(context.db, actor, action, subject=subject)
    return replace(actor, authorized_by=granted.note)


def revision_from(if_match: str | None) -> int:
    if if_match is None:
        raise PreconditionRequired(
            "send the revision you are updating as 'If-Match: \"<revision>\"' "
            "(the ETag of your last GET); this prevents overwriting someone else's change"
        )
    raw = if_match.strip().removeprefix("W/").strip('"')
    if not raw.isdigit() or len(raw) > 9:
        raise InvalidInput(f'If-Match must be a revision number such as "3", got {if_match!r}')
    return int(raw)


async def if_match_revision(if_match: Annotated[str | None, Header()] = None) -> int:
    return revision_from(if_match)


IfMatch = Annotated[int, Depends(if_match_revision)]


def actor_of(action: Action) -> object:
    return Depends(require(action))
