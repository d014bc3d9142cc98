"""Datasets and dataset versions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from charter.api.deps import Context, IfMatch, require
from charter.api.params import Cursor, Limit, NameQuery, ShortQuery, TagFilters, VersionPath
from charter.api.routing import CharterRoute
from charter.domain.common import Name, Page
from charter.domain.enums import Action
from charter.domain.identity import Actor
from charter.domain.registry import (
    Dataset,
    DatasetCreate,
    DatasetUpdate,
    DatasetVersion,
    DatasetVersionCreate,
)
from charter.registry import datasets

router = APIRouter(tags=["datasets"], route_class=CharterRoute)
Reader = Annotated[Actor, Depends(require(Action.REGISTRY_READ))]
Writer = Annotated[Actor, Depends(require(Action.DATASET_WRITE))]


@router.post("/datasets", status_code=201, summary="Register a dataset")
def create_dataset(context: Context, body: DatasetCreate, actor: Writer) -> Dataset:
    return datasets.create_dataset(context.db, actor, body)


@router.get("/datasets", summary="List and filter datasets")
def list_datasets(
    context: Context,
    actor: Reader,
    cursor: Cursor = None,
    limit: Limit = 100,
    name: NameQuery = None,
    name_prefix: NameQuery = None,
    tag: TagFilters = None,
    owner: NameQuery = None,
    business_unit: ShortQuery = None,
) -> Page[Dataset]:
    return datasets.list_datasets(
        context.db,
        cursor=cursor,
        limit=limit,
        name=name,
        name_prefix=name_prefix,
        tags=tag,
        owner=owner,
        business_unit=business_unit,
    )


@router.get("/datasets/{name}", summary="One dataset")
def get_dataset(context: Context, name: Name, actor: Reader, response: Response) -> Dataset:
    found = datasets.get_dataset(context.db, name)
    response.headers["ETag"] = f'"{found.revision}"'
    return found


@router.patch("/datasets/{name}", summary="Change a dataset's attributes (needs If-Match)")
def update_dataset(
    context: Context, name: Name, body: DatasetUpdate, actor: Writer, revision: IfMatch
) -> Dataset:
    return datasets.update_dataset(context.db, actor, name, revision, body)


@router.post("/datasets/{name}/versions", status_code=201, summary="Register a dataset version")
def create_dataset_version(
    context: Context, name: Name, body: DatasetVersionCreate, actor: Writer
) -> DatasetVersion:
    return datasets.create_dataset_version(context.db, actor, name, body)


@router.get("/datasets/{name}/versions", summary="List a dataset's versions")
def list_dataset_versions(
    context: Context, name: Name, actor: Reader, cursor: Cursor = None, limit: Limit = 100
) -> Page[DatasetVersion]:
    return datasets.list_dataset_versions(context.db, name, cursor=cursor, limit=limit)


@router.get("/datasets/{name}/versions/{version}", summary="One dataset version")
def get_dataset_version(
    context: Context, name: Name, version: VersionPath, actor: Reader
) -> DatasetVersion:
    return datasets.get_dataset_version(context.db, name, version)
