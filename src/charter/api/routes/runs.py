"""Training runs and the lineage graph."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

from charter.api.deps import Context, IfMatch, require
from charter.api.params import Cursor, IdPath, Limit, NameQuery, TagFilters
from charter.api.render import json_response
from charter.api.routing import CharterRoute
from charter.domain.common import Page
from charter.domain.enums import Action, RunStatus
from charter.domain.identity import Actor
from charter.domain.lineage import Direction, LineageGraph
from charter.domain.registry import Run, RunCreate, RunUpdate
from charter.registry import lineage, runs

router = APIRouter(tags=["runs"], route_class=CharterRoute)
Reader = Annotated[Actor, Depends(require(Action.REGISTRY_READ))]
Writer = Annotated[Actor, Depends(require(Action.RUN_WRITE))]


@router.post("/runs", status_code=201, summary="Record a training run")
def create_run(context: Context, body: RunCreate, actor: Writer) -> Run:
    return runs.create_run(context.db, actor, body)


@router.get("/runs", summary="List and filter runs")
def list_runs(
    context: Context,
    actor: Reader,
    cursor: Cursor = None,
    limit: Limit = 100,
    status: RunStatus | None = None,
    owner: NameQuery = None,
    tag: TagFilters = None,
    name_prefix: NameQuery = None,
) -> Page[Run]:
    return runs.list_runs(
        context.db,
        cursor=cursor,
        limit=limit,
        status=status,
        owner=owner,
        tags=tag,
        name_prefix=name_prefix,
    )


@router.get("/runs/{run_id}", summary="One run")
def get_run(context: Context, run_id: IdPath, actor: Reader, response: Response) -> Run:
    found = runs.get_run(context.db, run_id)
    response.headers["ETag"] = f'"{found.revision}"'
    return found


@router.patch("/runs/{run_id}", summary="Finish a run or add metrics (needs If-Match)")
def update_run(
    context: Context, run_id: IdPath, body: RunUpdate, actor: Writer, revision: IfMatch
) -> Run:
    return runs.update_run(context.db, actor, run_id, revision, body)


@router.get(
    "/lineage",
    summary="Upstream and downstream of a node, to a depth",
    response_model=LineageGraph,
)
def get_lineage(
    context: Context,
    actor: Reader,
    node: Annotated[str, Query(max_length=300, description="model:NAME@V, dataset:NAME@V, run:ID")],
    direction: Direction = "both",
    depth: Annotated[int, Query(ge=1, le=lineage.MAX_DEPTH)] = 5,
) -> Response:
    return json_response(lineage.lineage(context.db, node, direction, depth))
