"""Models and their versions, stages and aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from charter.api.deps import Context, IfMatch, require
from charter.api.params import Cursor, Limit, NameQuery, ShortQuery, TagFilters, VersionPath
from charter.api.render import json_response, json_text_response, version_response
from charter.api.routing import CharterRoute
from charter.domain.common import Name, Page
from charter.domain.enums import Action, RiskTier, Stage
from charter.domain.identity import Actor
from charter.domain.registry import (
    AliasSet,
    Model,
    ModelCreate,
    ModelUpdate,
    ModelVersion,
    ModelVersionCreate,
    ModelVersionSummary,
    ModelVersionUpdate,
    StageTransition,
)
from charter.domain.version_batch import VersionBatch, VersionBatchResult
from charter.registry import models, registration, version_batch, versions

router = APIRouter(tags=["models"], route_class=CharterRoute)
Reader = Annotated[Actor, Depends(require(Action.REGISTRY_READ))]


def _etag(response: Response, revision: int) -> None:
    response.headers["ETag"] = f'"{revision}"'


@router.post("/models", status_code=201, summary="Register a model")
def create_model(
    context: Context,
    body: ModelCreate,
    actor: Annotated[Actor, Depends(require(Action.MODEL_WRITE))],
) -> Model:
    return models.create_model(context.db, actor, body)


@router.get("/models", summary="List and filter models", response_model=Page[Model])
def list_models(
    context: Context,
    actor: Reader,
    cursor: Cursor = None,
    limit: Limit = 100,
    name: NameQuery = None,
    name_prefix: NameQuery = None,
    tag: TagFilters = None,
    owner: NameQuery = None,
    business_unit: ShortQuery = None,
    risk_tier: RiskTier | None = None,
    stage: Stage | None = None,
) -> Response:
    return json_text_response(
        models.model_documents(
            context.db,
            cursor=cursor,
            limit=limit,
            name=name,
            name_prefix=name_prefix,
            tags=tag,
            owner=owner,
            business_unit=business_unit,
            risk_tier=risk_tier,
            stage=stage,
        ).json()
    )


@router.get("/models/{name}", summary="One model", response_model=Model)
def get_model(context: Context, name: Name, actor: Reader) -> Response:
    found = models.get_model(context.db, name)
    return json_response(found, headers={"ETag": f'"{found.revision}"'})


@router.patch("/models/{name}", summary="Change a model's attributes (needs If-Match)")
def update_model(
    context: Context,
    name: Name,
    body: ModelUpdate,
    actor: Annotated[Actor, Depends(require(Action.MODEL_WRITE))],
    revision: IfMatch,
    response: Response,
) -> Model:
    updated = models.update_model(context.db, actor, name, revision, body)
    _etag(response, updated.revision)
    return updated


@router.post(
    "/models/{name}/versions",
    status_code=201,
    summary="Register a model version",
    response_model=ModelVersion,
)
def create_version(
    context: Context,
    name: Name,
    body: ModelVersionCreate,
    actor: Annotated[Actor, Depends(require(Action.VERSION_WRITE))],
) -> Response:
    key = context.signer.key if context.signer is not None else None
    created = registration.create_version(context.db, context.blobs, actor, name, body, key)
    return json_response(created, status_code=201)


@router.post(
    "/versions/batch",
    status_code=201,
    summary="Register many versions at once, with their small files inline (all or none)",
    response_model=VersionBatchResult,
)
def register_versions(
    context: Context,
    body: VersionBatch,
    actor: Annotated[Actor, Depends(require(Action.VERSION_WRITE))],
) -> Response:
    key = context.signer.key if context.signer is not None else None
    created = version_batch.register_versions(context.db, context.blobs, actor, body, key)
    return json_response(created, status_code=201)


@router.get(
    "/models/{name}/versions",
    summary="List a model's versions",
    response_model=Page[ModelVersionSummary],
)
def list_model_versions(
    context: Context,
    name: Name,
    actor: Reader,
    cursor: Cursor = None,
    limit: Limit = 100,
    stage: Stage | None = None,
    tag: TagFilters = None,
    owner: NameQuery = None,
) -> Response:
    return json_text_response(
        versions.version_summaries(
            context.db, model=name, cursor=cursor, limit=limit, stage=stage, tags=tag, owner=owner
        ).json()
    )


@router.get(
    "/versions",
    summary="Search versions across all models",
    response_model=Page[ModelVersionSummary],
)
def search_versions(
    context: Context,
    actor: Reader,
    cursor: Cursor = None,
    limit: Limit = 100,
    model: NameQuery = None,
    model_prefix: NameQuery = None,
    stage: Stage | None = None,
    tag: TagFilters = None,
    owner: NameQuery = None,
    business_unit: ShortQuery = None,
    risk_tier: RiskTier | None = None,
) -> Response:
    return json_text_response(
        versions.version_summaries(
            context.db,
            model=model,
            model_prefix=model_prefix,
            cursor=cursor,
            limit=limit,
            stage=stage,
            tags=tag,
            owner=owner,
            business_unit=business_unit,
            risk_tier=risk_tier,
        ).json()
    )


@router.get(
    "/models/{name}/versions/{version}",
    summary="One model version, in full",
    response_model=ModelVersion,
)
async def get_version(
    context: Context, name: Name, version: VersionPath, actor: Reader
) -> Response:
    return version_response(await versions.version_json_on_loop(context.db, name, version))


@router.patch("/models/{name}/versions/{version}", summary="Change description or tags")
def update_version(
    context: Context,
    name: Name,
    version: VersionPath,
    body: ModelVersionUpdate,
    actor: Annotated[Actor, Depends(require(Action.VERSION_WRITE))],
    revision: IfMatch,
) -> ModelVersion:
    return versions.update_version(context.db, actor, name, version, revision, body)


@router.get("/models/{name}/versions/{version}/stages", summary="Stage history of a version")
def stage_history(
    context: Context, name: Name, version: VersionPath, actor: Reader
) -> list[StageTransition]:
    return versions.stage_history(context.db, name, version)


@router.get("/models/{name}/aliases/{alias}", summary="The version an alias points at")
def get_alias(context: Context, name: Name, alias: Name, actor: Reader) -> ModelVersion:
    return versions.get_by_alias(context.db, name, alias)


@router.put("/models/{name}/aliases/{alias}", summary="Point an alias at a version")
def set_alias(
    context: Context,
    name: Name,
    alias: Name,
    body: AliasSet,
    actor: Annotated[Actor, Depends(require(Action.VERSION_ALIAS))],
) -> ModelVersion:
    return versions.set_alias(context.db, actor, name, alias, body.version)


@router.delete("/models/{name}/aliases/{alias}", status_code=204, summary="Remove an alias")
def delete_alias(
    context: Context,
    name: Name,
    alias: Name,
    actor: Annotated[Actor, Depends(require(Action.VERSION_ALIAS))],
) -> Response:
    versions.delete_alias(context.db, actor, name, alias)
    return Response(status_code=204)
