"""Policy bundles: the one in force, history, push, diff."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi import Path as PathParam

from charter.api.deps import Context, require
from charter.api.routing import CharterRoute
from charter.domain.enums import Action
from charter.domain.identity import Actor
from charter.domain.policy import PolicyBundleDetail, PolicyBundleInfo, PolicyDiff, PolicyPush
from charter.policy import bundle, store

router = APIRouter(tags=["policy"], route_class=CharterRoute)
Reader = Annotated[Actor, Depends(require(Action.POLICY_READ))]
Pusher = Annotated[Actor, Depends(require(Action.POLICY_ADMIN))]
Version = Annotated[int, PathParam(ge=0, le=2**31, description="0 is the shipped default")]


@router.get("/policy/bundles", summary="Every pushed bundle version, oldest first")
def list_bundles(context: Context, actor: Reader) -> list[PolicyBundleInfo]:
    return store.list_bundles(context.db)


@router.get("/policy/bundles/active", summary="The bundle in force, with its files")
def active_bundle(context: Context, actor: Reader) -> PolicyBundleDetail:
    return store.detail(context.db)


@router.get("/policy/bundles/{version}", summary="One bundle version, with its files")
def get_bundle(context: Context, actor: Reader, version: Version) -> PolicyBundleDetail:
    return store.detail(context.db, version)


@router.get("/policy/diff", summary="What changed between two bundle versions")
def diff_bundles(
    context: Context,
    actor: Reader,
    from_version: Annotated[int, Query(alias="from", ge=0, le=2**31)],
    to_version: Annotated[int | None, Query(alias="to", ge=0, le=2**31)] = None,
) -> PolicyDiff:
    old_number, old = store.bundle_at(context.db, from_version)
    new_number, new = store.bundle_at(context.db, to_version)
    return PolicyDiff(from_version=old_number, to_version=new_number, diff=bundle.diff(old, new))


@router.post("/policy/bundles", status_code=201, summary="Validate, test and activate a bundle")
def push_bundle(context: Context, body: PolicyPush, actor: Pusher) -> PolicyBundleInfo:
    return store.push(context.db, actor, body)
