"""Tokens: hash-only storage, expiry, revocation, deactivation and malformed secrets."""

from __future__ import annotations

from datetime import timedelta

import pytest
from pydantic import ValidationError
from sqlalchemy import select

from charter.access import principals, tokens
from charter.domain.enums import Role
from charter.domain.errors import (
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    Unauthenticated,
)
from charter.domain.identity import PrincipalCreate, PrincipalUpdate, TokenCreate
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow
from tests.conftest import Admin


@pytest.fixture
def eve(db: Database, admin: Admin) -> str:
    principals.create_principal(db, admin.actor, PrincipalCreate(name="eve", roles=[Role.CONSUMER]))
    return "eve"


def test_only_hashes_are_stored(db: Database, admin: Admin, eve: str) -> None:
    issued = tokens.issue_token(db, admin.actor, TokenCreate(name="ci", principal=eve))
    assert issued.secret.startswith("chr_") and issued.secret.startswith(issued.prefix)
    with db.reading() as session:
        rows = list(session.execute(select(t.ApiToken)).scalars())
    stored = " ".join(f"{r.name} {r.prefix} {r.secret_hash}" for r in rows)
    assert issued.secret not in stored
    assert tokens.hash_secret(issued.secret) in stored
    actor = tokens.authenticate(db, issued.secret)
    assert (actor.name, actor.roles, actor.token_id) == (eve, frozenset({Role.CONSUMER}), issued.id)
    listed = tokens.list_tokens(db, admin.actor, eve).items
    assert [tok.id for tok in listed] == [issued.id]
    assert "secret" not in listed[0].model_dump()


def test_revoked_expired_and_deactivated_are_refused(db: Database, admin: Admin, eve: str) -> None:
    revoked = tokens.issue_token(db, admin.actor, TokenCreate(name="a", principal=eve))
    tokens.revoke_token(db, admin.actor, revoked.id)
    with pytest.raises(Unauthenticated):
        tokens.authenticate(db, revoked.secret)
    short = tokens.issue_token(
        db,
        admin.actor,
        TokenCreate(name="b", principal=eve, expires_at=utcnow() + timedelta(hours=1)),
    )
    tokens.authenticate(db, short.secret)
    with db.transaction() as session:
        row = session.get(t.ApiToken, short.id)
        assert row is not None
        row.expires_at = utcnow() - timedelta(seconds=1)
    with pytest.raises(Unauthenticated):
        tokens.authenticate(db, short.secret)
    live = tokens.issue_token(db, admin.actor, TokenCreate(name="c", principal=eve))
    principals.update_principal(db, admin.actor, eve, 1, PrincipalUpdate(active=False))
    with pytest.raises(Unauthenticated):
        tokens.authenticate(db, live.secret)
    with pytest.raises(Conflict):
        tokens.issue_token(db, admin.actor, TokenCreate(name="d", principal=eve))


@pytest.mark.parametrize(
    "secret",
    ["", "Bearer chr_x", "chr_", "chr_" + "a" * 43, "xyz_" + "a" * 43, "chr_" + "a" * 300, "\x00"],
)
def test_malformed_or_unknown_secrets(db: Database, admin: Admin, secret: str) -> None:
    with pytest.raises(Unauthenticated):
        tokens.authenticate(db, secret)


def test_expiry_must_be_future_and_aware(db: Database, admin: Admin) -> None:
    with pytest.raises(InvalidInput):
        tokens.issue_token(
            db, admin.actor, TokenCreate(name="x", expires_at=utcnow() - timedelta(minutes=1))
        )
    # A naive time is refused by the schema itself, before any service sees it.
    with pytest.raises(ValidationError, match="timezone"):
        TokenCreate(name="x", expires_at=utcnow().replace(tzinfo=None))


def test_non_admins_manage_only_their_own(db: Database, admin: Admin, eve: str) -> None:
    own = tokens.issue_token(db, admin.actor, TokenCreate(name="mine", principal=eve))
    eve_actor = tokens.authenticate(db, own.secret)
    with pytest.raises(PermissionDenied):
        tokens.issue_token(db, eve_actor, TokenCreate(name="x", principal="admin"))
    with pytest.raises(PermissionDenied):
        tokens.list_tokens(db, eve_actor, "admin")
    admin_token_id = tokens.list_tokens(db, admin.actor).items[0].id
    with pytest.raises(NotFound):
        tokens.revoke_token(db, eve_actor, admin_token_id)
    tokens.authenticate(db, admin.token)
    second = tokens.issue_token(db, eve_actor, TokenCreate(name="second"))
    assert tokens.revoke_token(db, eve_actor, second.id).revoked_at is not None


def test_last_admin_cannot_be_removed(db: Database, admin: Admin) -> None:
    with pytest.raises(Conflict, match="last active admin"):
        principals.update_principal(
            db, admin.actor, "admin", 1, PrincipalUpdate(roles=[Role.AUDITOR])
        )
    principals.create_principal(db, admin.actor, PrincipalCreate(name="root2", roles=[Role.ADMIN]))
    demoted = principals.update_principal(
        db, admin.actor, "admin", 1, PrincipalUpdate(roles=[Role.AUDITOR])
    )
    assert demoted.roles == [Role.AUDITOR]
