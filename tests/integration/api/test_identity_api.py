"""Identity over HTTP: tokens shown once and stored hashed, revocation, expiry, admin rules."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select, update

from charter.access import token_cache, tokens
from charter.access.tokens import authenticate
from charter.client.client import Client
from charter.domain.errors import Conflict, NotFound, PermissionDenied, Unauthenticated
from charter.settings import Settings
from charter.store import tables as t
from charter.store.engine import Database
from tests.conftest import Admin, free_port, serving

API = "/api/v1"


def status_as(server: str, token: str, path: str = "/me") -> int:
    with httpx.Client(base_url=server + API, timeout=30) as http:
        return http.get(path, headers={"Authorization": f"Bearer {token}"}).status_code


@pytest.fixture
def alice(client: Client, server: str) -> Iterator[Client]:
    client.create_principal("alice", ["data_scientist"])
    with Client(server, client.create_token("alice-laptop", principal="alice").secret) as sdk:
        yield sdk


def every_stored_value(db: Database) -> str:
    """All rows of every table, rendered as text."""
    parts: list[str] = []
    with db.reading() as session:
        for table in t.Base.metadata.sorted_tables:
            for row in session.execute(select(table)):
                parts.append(repr(tuple(row)))
    return "\n".join(parts)


def test_token_secret_is_shown_once_and_stored_only_as_hash(
    client: Client, server: str, db: Database, settings: Settings
) -> None:
    issued = client.create_token("ci")
    secret = issued.secret
    assert secret.startswith("chr_") and len(secret) >= 40
    assert secret.startswith(issued.prefix) and len(issued.prefix) < 16
    assert status_as(server, secret) == 200

    with httpx.Client(base_url=server + API, timeout=30) as http:
        headers = {"Authorization": f"Bearer {secret}"}
        listing = http.get("/tokens", headers=headers)
        assert listing.status_code == 200
        assert all("secret" not in item for item in listing.json()["items"])
        assert secret not in listing.text
        assert secret[len(issued.prefix) :] not in listing.text
        assert {i["name"] for i in listing.json()["items"]} == {"bootstrap", "ci"}

    stored = every_stored_value(db)
    assert secret not in stored
    assert secret[len(issued.prefix) :] not in stored  # not even the part after the prefix
    with db.reading() as session:
        row = session.get(t.ApiToken, issued.id)
        assert row is not None
        assert row.secret_hash == hashlib.sha256(secret.encode()).hexdigest()
    if db.is_sqlite:
        # Also the raw file and its write-ahead log, where a deleted value could linger.
        path = Path(db.url.split("///", 1)[1])
        raw = b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))
        assert len(raw) > 4096
        assert secret.encode() not in raw


def test_revoked_token_is_refused(client: Client, server: str, alice: Client) -> None:
    issued = alice.create_token("temporary")
    assert status_as(server, issued.secret) == 200
    revoked = alice.revoke_token(issued.id)
    assert revoked.revoked_at is not None
    assert status_as(server, issued.secret) == 401
    assert status_as(server, issued.secret, "/models") == 401
    assert alice.revoke_token(issued.id).revoked_at == revoked.revoked_at  # idempotent
    assert alice.me().name == "alice"  # her other token still works
    listed = {tok.id: tok for tok in alice.list_tokens().items}
    assert listed[issued.id].revoked_at is not None


def test_expired_token_is_refused(
    client: Client, server: str, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    soon = datetime.now(UTC) + timedelta(hours=1)
    issued = client.create_token("short-lived", expires_at=soon)
    assert issued.expires_at is not None
    assert abs((issued.expires_at - soon).total_seconds()) < 1
    assert status_as(server, issued.secret) == 200  # and now remembered by the server
    # Let the hour pass, for the token checks only (the server runs in this process): the
    # token the server remembers expires as surely as the one it reads.
    later = datetime.now(UTC) + timedelta(hours=2)
    monkeypatch.setattr(token_cache, "utcnow", lambda: later)
    monkeypatch.setattr(tokens, "utcnow", lambda: later)
    with httpx.Client(base_url=server + API, timeout=30) as http:
        response = http.get("/me", headers={"Authorization": f"Bearer {issued.secret}"})
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert "expired" in response.json()["detail"]
    assert client.me().name == "admin"


def test_expiry_moved_in_the_database_is_seen_within_the_cache_time(
    client: Client, settings: Settings, db: Database
) -> None:
    """A change made behind a server's back (another worker, a replica, SQL) is seen
    within auth_cache_seconds; with 0 at once."""
    issued = client.create_token("short-lived", expires_at=datetime.now(UTC) + timedelta(hours=1))
    strict = settings.model_copy(update={"auth_cache_seconds": 0.0})
    brief = settings.model_copy(update={"auth_cache_seconds": 0.3})
    with serving(strict) as strict_url, serving(brief) as brief_url:
        assert status_as(strict_url, issued.secret) == 200
        assert status_as(brief_url, issued.secret) == 200
        with db.transaction() as session:
            session.execute(
                update(t.ApiToken)
                .where(t.ApiToken.id == issued.id)
                .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
            )
        assert status_as(strict_url, issued.secret) == 401
        time.sleep(0.35)
        assert status_as(brief_url, issued.secret) == 401


@contextmanager
def server_process(settings: Settings) -> Iterator[str]:
    """`charter server` in a process of its own: a worker that shares no memory with ours."""
    port = free_port()
    env = {
        **os.environ,
        "CHARTER_HOME": str(settings.home),
        "CHARTER_DATABASE_URL": settings.resolved_database_url,
    }
    charter = Path(sys.executable).parent / "charter"
    command = [str(charter), "server", "--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen([*command, "--log-level", "warning"], env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, "charter server exited"
            try:
                if httpx.get(url + API + "/health", timeout=2).is_success:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "charter server did not start"
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


def test_revocation_through_another_process_is_seen_within_the_cache_time(
    client: Client, settings: Settings, admin: Admin
) -> None:
    """A token revoked through another worker or replica: refused there at once, here
    within auth_cache_seconds, never later."""
    issued = client.create_token("shared")
    here = settings.model_copy(update={"auth_cache_seconds": 0.5})
    with server_process(settings) as there, serving(here) as url:
        assert status_as(there, issued.secret) == 200
        assert status_as(url, issued.secret) == 200  # remembered here from now on
        with Client(there, admin.token) as admin_there:
            admin_there.revoke_token(issued.id)
        revoked_at = time.monotonic()
        assert status_as(there, issued.secret) == 401
        while True:
            # Timed from when the request is sent, so a slow answer cannot fail the test.
            sent = time.monotonic()
            if status_as(url, issued.secret) != 200:
                break
            assert sent - revoked_at < 0.5, "still admitted after the cache time"
            time.sleep(0.02)


def test_token_expiry_must_be_future_and_zoned(client: Client) -> None:
    from charter.domain.errors import InvalidInput

    with pytest.raises(InvalidInput, match="past"):
        client.create_token("old", expires_at=datetime.now(UTC) - timedelta(minutes=1))
    with pytest.raises(InvalidInput, match="timezone"):
        client.create_token("naive", expires_at=datetime(2999, 1, 1))


def test_deactivated_user_is_refused_until_reactivated(
    client: Client, server: str, alice: Client
) -> None:
    token = alice.create_token("spare").secret
    principal = client.update_principal(client.get_principal("alice"), active=False)
    assert principal.active is False
    assert status_as(server, token) == 401
    with pytest.raises(Unauthenticated):
        alice.me()
    with pytest.raises(Conflict, match="deactivated"):
        client.create_token("new", principal="alice")
    client.update_principal(principal, active=True)
    assert status_as(server, token) == 200


def test_non_admin_cannot_manage_others_tokens(client: Client, server: str, alice: Client) -> None:
    with pytest.raises(PermissionDenied):
        alice.create_token("sneaky", principal="admin")
    with pytest.raises(PermissionDenied):
        alice.list_tokens(principal="admin")
    admin_tokens = client.list_tokens().items
    assert admin_tokens
    for token in admin_tokens:
        with pytest.raises(NotFound):
            alice.revoke_token(token.id)
    with pytest.raises(NotFound):  # the same answer as for a token that does not exist
        alice.revoke_token(10**9)
    assert all(tok.revoked_at is None for tok in client.list_tokens().items)
    assert client.me().name == "admin"
    # Her own tokens are hers to manage; an admin may manage anyone's.
    own = alice.create_token("own", principal="alice")
    assert {t.name for t in client.list_tokens(principal="alice").items} >= {"own"}
    assert client.revoke_token(own.id).revoked_at is not None
    with pytest.raises(PermissionDenied):
        alice.create_principal("mallory", ["admin"])


def test_last_admin_cannot_be_deactivated_or_demoted(client: Client, server: str) -> None:
    me = client.get_principal("admin")
    with pytest.raises(Conflict, match="last active admin"):
        client.update_principal(me, active=False)
    with pytest.raises(Conflict, match="last active admin"):
        client.update_principal(me, roles=["auditor"])
    assert client.get_principal("admin").revision == me.revision

    second = client.create_principal("root2", ["admin"])
    deputy_token = client.create_token("deputy", principal="root2").secret
    client.update_principal(second, active=False)  # not the last: allowed
    # An inactive admin does not count: the first is still the last active one.
    with pytest.raises(Conflict):
        client.update_principal(client.get_principal("admin"), active=False)
    client.update_principal(client.get_principal("root2"), active=True)
    with Client(server, deputy_token) as deputy:
        demoted = deputy.update_principal(deputy.get_principal("admin"), roles=["auditor"])
        assert demoted.roles == ["auditor"]
        with pytest.raises(Conflict):
            deputy.update_principal(deputy.get_principal("root2"), active=False)
    with pytest.raises(PermissionDenied):
        client.create_principal("x", ["admin"])  # the old admin is now an auditor


def _init(home: Path, settings: Settings) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHARTER_")}
    if settings.database_url:
        env["CHARTER_DATABASE_URL"] = settings.database_url
    return subprocess.run(
        [str(Path(sys.executable).parent / "charter"), "init", "--home", str(home), "--json"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_init_bootstraps_once(tmp_path: Path, settings: Settings, backend: str) -> None:
    home = tmp_path / "fresh-home"
    # On SQLite the database lives in the new home; on PostgreSQL it is the test's database.
    target = settings if backend == "postgresql" else Settings(home=home)
    first = _init(home, target)
    assert first.returncode == 0, first.stderr
    printed = json.loads(first.stdout)
    assert printed["admin"] == "admin" and printed["token"].startswith("chr_")

    db = Database(target.resolved_database_url, pool_size=1)
    try:
        assert authenticate(db, printed["token"]).name == "admin"
        second = _init(home, target)
        assert second.returncode != 0
        assert "already has users" in second.stderr + second.stdout
        assert printed["token"] not in second.stdout
        with db.reading() as session:
            assert session.execute(select(func.count()).select_from(t.Principal)).scalar() == 1
            assert session.execute(select(func.count()).select_from(t.ApiToken)).scalar() == 1
    finally:
        db.dispose()
