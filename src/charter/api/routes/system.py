"""Health and identity routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from sqlalchemy import text
from starlette.concurrency import run_in_threadpool

from charter import __version__
from charter.access import principals
from charter.api.deps import Context, require
from charter.api.routing import CharterRoute
from charter.domain.enums import Action
from charter.domain.identity import Actor, Principal

router = APIRouter(tags=["system"], route_class=CharterRoute)


def _ping(context: Context) -> None:
    with context.db.reading() as session:
        session.execute(text("SELECT 1"))


@router.get("/health", summary="Liveness and database reachability (no token needed)")
async def health(context: Context) -> dict[str, str]:
    await run_in_threadpool(_ping, context)
    return {"status": "ok", "version": __version__, "database": context.db.engine.dialect.name}


@router.get("/me", summary="The principal this token belongs to")
def me(context: Context, actor: Annotated[Actor, Depends(require(Action.TOKEN_SELF))]) -> Principal:
    return principals.get_principal(context.db, actor.name)
