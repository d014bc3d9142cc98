"""API tokens: issued once, stored only as SHA-256 hashes, revocable, optionally expiring."""

from __future__ import annotations

import hashlib
import secrets
import threading
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from charter.access.roles import allowed
from charter.audit import log as audit
from charter.domain.common import Page
from charter.domain.enums import Action, Role
from charter.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from charter.domain.identity import Actor, IssuedToken, Token, TokenCreate
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.pagination import check_limit, decode_cursor, encode_cursor
from charter.store.tables import utcnow

# Module-level, so pydantic's weakly cached generic class is built once, not per call.
TokenPage = Page[Token]


TOKEN_PREFIX = "chr_"

# Bumped after every committed change to a token or principal, so token_cache drops what
# it remembers (a counter, not a callback: the cache reads it on every request).
_generation = 0
_generation_lock = threading.Lock()


def changed() -> None:
    """A token or principal changed: authenticated tokens remembered in this process
    must be read again."""
    global _generation
    with _generation_lock:
        _generation += 1


def generation() -> int:
    return _generation


def hash_secret(secret: str) -> str:
    # Tokens carry 256 random bits, so a fast hash is enough: nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def _to_schema(row: t.ApiToken, principal: str) -> Token:
    return Token(
        id=row.id,
        name=row.name,
        principal=principal,
        prefix=row.prefix,
        expires_at=row.expires_at,
        revoked_at=row.revoked_at,
        created_at=row.created_at,
        revision=row.revision,
    )


def issue_in(session: Session, actor: Actor, owner: t.Principal, body: TokenCreate) -> IssuedToken:
    if body.expires_at is not None:
        if body.expires_at.tzinfo is None:
            raise InvalidInput("expires_at needs a timezone, e.g. 2027-01-31T00:00:00Z")
        if body.expires_at <= utcnow():
            raise InvalidInput("expires_at is in the past; give a future time")
    if not owner.active:
        raise Conflict(f"'{owner.name}' is deactivated; reactivate it before issuing tokens")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = t.ApiToken(
        principal_id=owner.id,
        name=body.name,
        prefix=secret[: len(TOKEN_PREFIX) + 6],
        secret_hash=hash_secret(secret),
        expires_at=body.expires_at,
    )
    session.add(row)
    session.flush()
    token = _to_schema(row, owner.name)
    audit.append(
        session, actor, "token.issue", f"token:{row.id}", {"after": token.model_dump(mode="json")}
    )
    return IssuedToken(**token.model_dump(), secret=secret)


def _owner_for(session: Session, actor: Actor, name: str | None) -> t.Principal:
    from charter.access.principals import find

    target = name or actor.name
    if target != actor.name and not allowed(actor, Action.TOKEN_ADMIN):
        raise PermissionDenied("only an admin may manage another principal's tokens")
    return find(session, target)


def issue_token(db: Database, actor: Actor, body: TokenCreate) -> IssuedToken:
    with db.transaction() as session:
        return issue_in(session, actor, _owner_for(session, actor, body.principal), body)


def list_tokens(
    db: Database,
    actor: Actor,
    principal: str | None = None,
    *,
    cursor: str | None = None,
    limit: int = 100,
) -> Page[Token]:
    after, limit = decode_cursor(cursor), check_limit(limit)
    with db.reading() as session:
        owner = _owner_for(session, actor, principal)
        rows = list(
            session.execute(
                select(t.ApiToken)
                .where(t.ApiToken.principal_id == owner.id, t.ApiToken.id > after)
                .order_by(t.ApiToken.id)
                .limit(limit + 1)
            ).scalars()
        )
    nxt = encode_cursor(rows[limit - 1].id) if len(rows) > limit else None
    return TokenPage(items=[_to_schema(r, owner.name) for r in rows[:limit]], next_cursor=nxt)


def revoke_token(db: Database, actor: Actor, token_id: int) -> Token:
    try:
        return _revoke(db, actor, token_id)
    finally:
        changed()  # after the commit: this process refuses the token at once


def _revoke(db: Database, actor: Actor, token_id: int) -> Token:
    with db.transaction() as session:
        found = session.execute(
            select(t.ApiToken, t.Principal.name)
            .join(t.Principal, t.Principal.id == t.ApiToken.principal_id)
            .where(t.ApiToken.id == token_id)
        ).first()
        if found is None or (found[1] != actor.name and not allowed(actor, Action.TOKEN_ADMIN)):
            # The same answer for "absent" and "not yours", so ids of others don't leak.
            raise NotFound(f"no token {token_id} among the tokens you may manage")
        row, owner = found
        if row.revoked_at is None:
            row.revoked_at = utcnow()
            row.revision += 1
            session.flush()
            audit.append(
                session,
                actor,
                "token.revoke",
                f"token:{row.id}",
                {"principal": owner, "token_id": row.id},
            )
        return _to_schema(row, owner)


# Built once: reusing the statement object skips SQLAlchemy's per-call compile-cache
# lookup and result adaptation, which cost more than the query itself.
_BY_HASH = (
    select(
        t.ApiToken.id,
        t.ApiToken.revoked_at,
        t.ApiToken.expires_at,
        t.Principal.id,
        t.Principal.name,
        t.Principal.roles,
        t.Principal.active,
        t.Principal.business_unit,
        t.Principal.region,
        t.Principal.purposes,
    )
    .join(t.Principal, t.Principal.id == t.ApiToken.principal_id)
    .where(t.ApiToken.secret_hash == bindparam("secret_hash"))
)


def authenticate(db: Database, secret: str) -> Actor:
    """Map a bearer secret to the acting principal, or refuse with one vague message."""
    return lookup(db, secret)[0]


def lookup(db: Database, secret: str) -> tuple[Actor, datetime | None]:
    """`authenticate`, also returning when the token expires (for token_cache)."""
    refusal = Unauthenticated("the token is invalid, expired or revoked; ask for a new one")
    if not secret.startswith(TOKEN_PREFIX) or len(secret) > 200:
        raise refusal
    # Core rows, not ORM objects: this runs on every request.
    with db.rows() as connection:
        found = connection.execute(_BY_HASH, {"secret_hash": hash_secret(secret)}).first()
    if found is None:
        raise refusal
    token_id, revoked_at, expires_at, principal_id, name, roles, active, unit, region, purposes = (
        found
    )
    if revoked_at is not None or not active:
        raise refusal
    if expires_at is not None and expires_at <= utcnow():
        raise refusal
    actor = Actor(
        principal_id=principal_id,
        name=name,
        roles=frozenset(Role(r) for r in roles),
        auth_method="token",
        token_id=token_id,
        business_unit=unit,
        region=region,
        purposes=frozenset(purposes or ()),
    )
    return actor, expires_at
