"""Users, service accounts and API tokens."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Response

from charter.access import principals, tokens
from charter.api.deps import Context, IfMatch, require
from charter.api.params import Cursor, IdPath, Limit, NameQuery, ShortQuery
from charter.api.routing import CharterRoute
from charter.domain.common import Name, Page
from charter.domain.enums import Action, PrincipalKind, Role
from charter.domain.identity import (
    Actor,
    IssuedToken,
    Principal,
    PrincipalCreate,
    PrincipalUpdate,
    Token,
    TokenCreate,
)

router = APIRouter(tags=["identity"], route_class=CharterRoute)


@router.post("/principals", status_code=201, summary="Create a user or service account")
def create_principal(
    context: Context,
    body: PrincipalCreate,
    actor: Annotated[Actor, Depends(require(Action.PRINCIPAL_ADMIN))],
) -> Principal:
    return principals.create_principal(context.db, actor, body)


@router.get("/principals", summary="List users and service accounts")
def list_principals(
    context: Context,
    actor: Annotated[Actor, Depends(require(Action.PRINCIPAL_READ))],
    cursor: Cursor = None,
    limit: Limit = 100,
    role: Role | None = None,
    kind: PrincipalKind | None = None,
    business_unit: ShortQuery = None,
    name_prefix: NameQuery = None,
) -> Page[Principal]:
    return principals.list_principals(
        context.db,
        cursor=cursor,
        limit=limit,
        role=role,
        kind=kind,
        business_unit=business_unit,
        name_prefix=name_prefix,
    )


@router.get("/principals/{name}", summary="One user or service account")
def get_principal(
    context: Context,
    name: Name,
    response: Response,
    actor: Annotated[Actor, Depends(require(Action.PRINCIPAL_READ))],
) -> Principal:
    found = principals.get_principal(context.db, name)
    response.headers["ETag"] = f'"{found.revision}"'
    return found


@router.patch("/principals/{name}", summary="Change roles, attributes or deactivate")
def update_principal(
    context: Context,
    name: Name,
    body: PrincipalUpdate,
    actor: Annotated[Actor, Depends(require(Action.PRINCIPAL_ADMIN))],
    revision: IfMatch,
) -> Principal:
    return principals.update_principal(context.db, actor, name, revision, body)


@router.post("/tokens", status_code=201, summary="Issue an API token (the secret is shown once)")
def issue_token(
    context: Context,
    body: TokenCreate,
    actor: Annotated[Actor, Depends(require(Action.TOKEN_SELF))],
) -> IssuedToken:
    return tokens.issue_token(context.db, actor, body)


@router.get("/tokens", summary="List your tokens (admins: anyone's)")
def list_tokens(
    context: Context,
    actor: Annotated[Actor, Depends(require(Action.TOKEN_SELF))],
    principal: Name | None = None,
    cursor: Cursor = None,
    limit: Limit = 100,
) -> Page[Token]:
    return tokens.list_tokens(context.db, actor, principal, cursor=cursor, limit=limit)


@router.delete("/tokens/{token_id}", summary="Revoke a token")
def revoke_token(
    context: Context,
    token_id: IdPath,
    actor: Annotated[Actor, Depends(require(Action.TOKEN_SELF))],
) -> Token:
    return tokens.revoke_token(context.db, actor, token_id)
