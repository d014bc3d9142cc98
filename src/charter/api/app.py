"""create_app: builds the API from settings; nothing is created at import time."""

from __future__ import annotations

import asyncio
import functools
import gc
import logging
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.concurrency import run_in_threadpool
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from charter import __version__
from charter.access.token_cache import TokenCache
from charter.api import errors
from charter.api.context import AppContext
from charter.api.deps import ACTION_ATTR, get_context
from charter.api.fast_lookup import VersionLookupFastPath
from charter.api.routes import (
    audit,
    blobs,
    computed,
    datasets,
    evidence,
    identity,
    models,
    policy,
    promotions,
    runs,
    system,
)
from charter.api.routing import CharterRoute
from charter.artifacts.blobstore import blobstore_from_url
from charter.audit import ledger
from charter.audit.access import UnauthenticatedSampler
from charter.domain.identity import SYSTEM_ACTOR
from charter.gates.engine import gate_for
from charter.settings import Settings
from charter.store.engine import Database

logger = logging.getLogger("charter.api")
PREFIX = "/api/v1"
PUBLIC_ROUTES = {f"{PREFIX}/health"}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _declared_action(route: APIRoute) -> object | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        if dep.call is not None and hasattr(dep.call, ACTION_ATTR):
            action: object = getattr(dep.call, ACTION_ATTR)
            return action
        pending.extend(dep.dependencies)
    return None


def _authorizes_first(route: APIRoute) -> bool:
    # FastAPI runs dependencies in parameter order; one that can refuse (a missing If-Match,
    # say) before authorization would answer an anonymous caller with something other than 401.
    for dep in route.dependant.dependencies:
        if dep.call is get_context:
            continue
        return dep.call is not None and hasattr(dep.call, ACTION_ATTR)
    return False


def check_every_route_authorized(router: APIRouter) -> None:
    """Fail closed: a route that declares no action is a programming error, not open."""
    for route in router.routes:
        path = PREFIX + getattr(route, "path", "")
        if not isinstance(route, CharterRoute):
            raise RuntimeError(f"{path}: routes under {PREFIX} must be CharterRoutes")
        if path in PUBLIC_ROUTES:
            continue
        where = f"route {sorted(route.methods or ())} {path}"
        if _declared_action(route) is None:
            raise RuntimeError(f"{where} declares no action")
        if not _authorizes_first(route):
            raise RuntimeError(f"{where} must take its actor parameter before other dependencies")


class RequestIdMiddleware:
    """Tags every request and response with an id, and answers unexpected errors.

    Plain ASGI rather than @app.middleware("http"), whose per-request task and stream
    plumbing cost more than everything else a small request does. Unexpected errors are
    answered here rather than by Starlette's outermost handler, which re-raises after
    answering and so makes the server drop the kept-alive connection.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = ""
        for name, value in scope["headers"]:
            if name == b"x-request-id":
                given = value.decode("latin-1")
                break
        request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        header = (b"x-request-id", request_id.encode())
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message["headers"] = [*message.get("headers", []), header]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            if started:
                raise
            response = errors.unexpected(Request(scope), exc)
            await response(scope, receive, send_with_id)


@functools.cache
def _freeze_what_starting_made() -> None:
    """What starting made (modules, the app, the policy engine) lives as long as the
    process; frozen, the collector's full passes skip it, and a request no longer stalls
    for one (a full pass over it cost a batch registration 80-150 ms in about one call of
    ten). Collected first, so no garbage is frozen with it; once per process, because
    tests start many apps in one."""
    gc.collect()
    gc.freeze()


async def keep_audit_log(context: AppContext, tick: float = 1.0) -> None:
    """Sign checkpoints when due and write out windows of anonymous attempts, forever.

    Every worker runs this; checkpoints lock the log head and are unique per size, so
    workers and replicas never sign the same head twice.
    """
    settings = context.settings
    while True:
        await asyncio.sleep(tick)
        try:
            await run_in_threadpool(context.sampler.flush, context.db)
            if context.signer is not None and await run_in_threadpool(
                ledger.checkpoint_due,
                context.db,
                settings.audit_checkpoint_events,
                settings.audit_checkpoint_seconds,
            ):
                await run_in_threadpool(ledger.take_checkpoint, context.db, context.signer)
        except Exception:  # keep the keeper alive; the next tick retries
            logger.exception("audit log upkeep failed; retrying")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    context = AppContext(
        settings=settings,
        db=Database(settings.resolved_database_url, settings.db_pool_size),
        blobs=blobstore_from_url(settings.resolved_artifact_url),
        sampler=UnauthenticatedSampler(settings.audit_denied_window_seconds),
        signer=ledger.load_signer(settings.resolved_audit_key),
        gate=gate_for(settings),
        tokens=TokenCache(settings.auth_cache_seconds),
    )

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if context.signer is None:
            logger.warning(
                "no audit signing key at %s: checkpoints are not signed "
                "(run 'charter init' or set CHARTER_AUDIT_KEY)",
                settings.resolved_audit_key,
            )
        else:
            await run_in_threadpool(ledger.register_key, context.db, SYSTEM_ACTOR, context.signer)
        keeper = asyncio.create_task(keep_audit_log(context))
        _freeze_what_starting_made()
        try:
            yield
        finally:
            keeper.cancel()
            await run_in_threadpool(context.sampler.flush, context.db, True)
            if context.db.loop_reads is not None:
                await context.db.loop_reads.close()
            context.db.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="Charter",
        version=__version__,
        summary="Governance control plane for production machine learning",
        openapi_url=f"{PREFIX}/openapi.json",
        docs_url=f"{PREFIX}/docs",
        redoc_url=None,
    )
    app.state.charter = context
    errors.install(app)
    route_methods: list[tuple[re.Pattern[str], set[str]]] = []
    routers = (
        system,
        identity,
        models,
        datasets,
        runs,
        blobs,
        evidence,
        computed,
        promotions,
        audit,
        policy,
    )
    for module in routers:
        check_every_route_authorized(module.router)
        app.include_router(module.router, prefix=PREFIX)
        route_methods.extend(
            (compile_path(PREFIX + route.path)[0], set(route.methods or ()))
            for route in module.router.routes
            if isinstance(route, APIRoute)
        )
    # Starlette's 405 names only the first route that matched the path; keep every one.
    app.state.route_methods = route_methods

    # Inside the request-id middleware (added last, so outermost): its answers carry the
    # id, and its errors are answered like every other route's.
    app.add_middleware(VersionLookupFastPath, context=context)
    app.add_middleware(RequestIdMiddleware)

    return app
