"""The token cache: answers from memory only while fresh, unexpired and unchanged."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import update

from charter.access import principals, token_cache, tokens
from charter.access.token_cache import TokenCache
from charter.domain.enums import Role
from charter.domain.errors import Unauthenticated
from charter.domain.identity import PrincipalCreate, PrincipalUpdate, TokenCreate
from charter.store import tables as t
from charter.store.engine import Database
from charter.store.tables import utcnow
from tests.conftest import Admin


@pytest.fixture
def secret(db: Database, admin: Admin) -> str:
    principals.create_principal(db, admin.actor, PrincipalCreate(name="eve", roles=[Role.CONSUMER]))
    body = TokenCreate(name="ci", principal="eve", expires_at=utcnow() + timedelta(hours=1))
    return tokens.issue_token(db, admin.actor, body).secret


def _stored_expiry(db: Database, secret: str, when: object) -> None:
    """Change the token behind the cache's back, as another worker or SQL would."""
    with db.transaction() as session:
        session.execute(
            update(t.ApiToken)
            .where(t.ApiToken.secret_hash == tokens.hash_secret(secret))
            .values(expires_at=when)
        )


def test_a_token_read_a_moment_ago_is_answered_from_memory(db: Database, secret: str) -> None:
    cache = TokenCache(ttl=60)
    assert cache.get(secret) is None  # never read
    actor = cache.authenticate(db, secret)
    assert actor.name == "eve" and actor.roles == {Role.CONSUMER}
    _stored_expiry(db, secret, utcnow() - timedelta(seconds=1))
    assert cache.get(secret) == actor  # from memory: the database was not asked
    with pytest.raises(Unauthenticated):
        tokens.authenticate(db, secret)  # which would have refused it


def test_an_entry_older_than_the_ttl_is_read_again(
    db: Database, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = TokenCache(ttl=1.0)
    clock = [1000.0]
    monkeypatch.setattr(token_cache.time, "monotonic", lambda: clock[0])
    cache.authenticate(db, secret)
    clock[0] += 0.99
    assert cache.get(secret) is not None
    clock[0] += 0.01
    assert cache.get(secret) is None


def test_expiry_is_checked_on_every_answer_from_memory(
    db: Database, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = TokenCache(ttl=60)
    cache.authenticate(db, secret)
    later = utcnow() + timedelta(hours=2)
    monkeypatch.setattr(token_cache, "utcnow", lambda: later)
    assert cache.get(secret) is None


def test_revocation_and_role_changes_in_this_process_are_seen_at_once(
    db: Database, admin: Admin, secret: str
) -> None:
    cache = TokenCache(ttl=60)
    cache.authenticate(db, secret)
    eve = principals.get_principal(db, "eve")
    principals.update_principal(
        db, admin.actor, "eve", eve.revision, PrincipalUpdate(roles=[Role.AUDITOR])
    )
    assert cache.get(secret) is None
    assert cache.authenticate(db, secret).roles == {Role.AUDITOR}
    token_id = cache.authenticate(db, secret).token_id
    assert token_id is not None
    assert cache.get(secret) is not None
    tokens.revoke_token(db, admin.actor, token_id)
    assert cache.get(secret) is None
    with pytest.raises(Unauthenticated):
        cache.authenticate(db, secret)


def test_an_answer_read_before_a_change_is_not_remembered(
    db: Database, admin: Admin, secret: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A read that raced a revocation (read the old row, finished after the commit)."""
    cache = TokenCache(ttl=60)
    real_lookup = tokens.lookup

    def lookup_then_someone_revokes(db: Database, given: str) -> object:
        found = real_lookup(db, given)
        tokens.changed()
        return found

    monkeypatch.setattr(tokens, "lookup", lookup_then_someone_revokes)
    cache.authenticate(db, secret)
    assert cache.get(secret) is None


def test_refusals_are_not_remembered_and_ttl_zero_reads_every_time(
    db: Database, admin: Admin, secret: str
) -> None:
    cache = TokenCache(ttl=60)
    with pytest.raises(Unauthenticated):
        cache.authenticate(db, "chr_not-a-token")
    assert cache.get("chr_not-a-token") is None
    off = TokenCache(ttl=0)
    off.authenticate(db, secret)
    assert off.get(secret) is None


def test_concurrent_readers_and_writers_stay_consistent(db: Database, secret: str) -> None:
    cache = TokenCache(ttl=60)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for i in range(200):
                if i % 50 == 0:
                    tokens.changed()
                if cache.get(secret) is None:
                    cache.authenticate(db, secret)
        except BaseException as exc:  # collected and raised below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    cache.authenticate(db, secret)
    remembered = cache.get(secret)
    assert remembered is not None and remembered.name == "eve"
