"""Shared fixtures: a fresh database per test on SQLite and PostgreSQL, and a live server."""

from __future__ import annotations

import shutil
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
import uvicorn

from charter.access.principals import bootstrap_admin
from charter.access.tokens import authenticate
from charter.api.app import create_app
from charter.artifacts.blobstore import LocalBlobStore
from charter.client.client import Client
from charter.domain.identity import Actor
from charter.settings import Settings
from charter.store.engine import Database
from charter.store.migrate import upgrade
from tests.support.pgcluster import TempPostgres

BACKENDS = ["sqlite", "postgresql"]


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[TempPostgres]:
    with TempPostgres() as cluster:
        db = Database(cluster.url_for("postgres"), pool_size=1)
        db.dispose()
        cluster.create_database("charter_template")
        template = Database(cluster.url_for("charter_template"), pool_size=1)
        upgrade(template.engine)
        template.dispose()
        yield cluster


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "charter.db"
    db = Database(f"sqlite:///{path}", pool_size=1)
    upgrade(db.engine)
    db.dispose()
    return path


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def database_url(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Iterator[str]:
    """A freshly migrated, empty database for this test only."""
    if backend == "sqlite":
        target = tmp_path / "charter.db"
        shutil.copy(sqlite_template, target)
        yield f"sqlite:///{target}"
        return
    cluster: TempPostgres = request.getfixturevalue("pg_cluster")
    name = "t_" + uuid.uuid4().hex[:16]
    cluster.create_database(name, template="charter_template")
    yield cluster.url_for(name)
    cluster.drop_database(name)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    home = tmp_path / "home"
    (home / "tmp").mkdir(parents=True)
    return Settings(home=home, database_url=database_url)


@pytest.fixture
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings.resolved_database_url, pool_size=4)
    yield database
    database.dispose()


@pytest.fixture
def blobs(settings: Settings) -> LocalBlobStore:
    return LocalBlobStore(settings.resolved_artifact_url)


@dataclass
class Admin:
    actor: Actor
    token: str


@pytest.fixture
def admin(db: Database) -> Admin:
    _, token = bootstrap_admin(db, "admin")
    return Admin(actor=authenticate(db, token.secret), token=token.secret)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """A real uvicorn server on a loopback port, serving this test's database."""
    with serving(settings) as url:
        yield url


@contextmanager
def serving(settings: Settings) -> Iterator[str]:
    """Run create_app(settings) under uvicorn on a free loopback port until the block ends."""
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("test server did not start")
        time.sleep(0.01)
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def client(server: str, admin: Admin) -> Iterator[Client]:
    with Client(server, admin.token) as sdk:
        yield sdk


@pytest.fixture
def signed_server(settings: Settings, request: pytest.FixtureRequest) -> str:
    """A live server that holds a signing key (made before it starts): it signs audit
    checkpoints and the manifests of the versions it registers."""
    from charter.audit.keys import create_signing_key

    create_signing_key(settings.resolved_audit_key)
    server: str = request.getfixturevalue("server")
    return server
