"""Migrations produce exactly the tables' schema, re-run safely and reverse cleanly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from typer.testing import CliRunner

from charter.cli.main import app
from charter.store.engine import SQLITE_CACHE_KIB, Database
from charter.store.migrate import current_revision, downgrade, head_revision, upgrade
from charter.store.tables import Base


@pytest.fixture
def empty_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no tables at all, not the pre-migrated template."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'home' / 'charter.db'}"
        return
    cluster = request.getfixturevalue("pg_cluster")
    name = "m_" + uuid.uuid4().hex[:16]
    cluster.create_database(name)
    yield cluster.url_for(name)
    cluster.drop_database(name)


def schema_differences(db: Database) -> list[object]:
    with db.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "compare_server_default": True}
        )
        return list(compare_metadata(context, Base.metadata))


def test_migrated_schema_equals_the_tables(empty_url: str) -> None:
    db = Database(empty_url, pool_size=1)
    try:
        upgrade(db.engine)
        assert current_revision(db.engine) == head_revision()
        assert schema_differences(db) == []
    finally:
        db.dispose()


def test_cli_upgrade_is_idempotent(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CHARTER_DATABASE_URL", empty_url)
    runner = CliRunner()
    for _ in range(2):
        result = runner.invoke(app, ["db", "upgrade", "--home", str(tmp_path / "home")])
        assert result.exit_code == 0, result.output
        assert "newest schema" in result.output
    db = Database(empty_url, pool_size=1)
    try:
        assert current_revision(db.engine) == head_revision()
        assert schema_differences(db) == []
    finally:
        db.dispose()


def test_downgrade_to_base_and_back(empty_url: str) -> None:
    db = Database(empty_url, pool_size=1)
    try:
        upgrade(db.engine)
        downgrade(db.engine, "base")
        assert set(inspect(db.engine).get_table_names()) <= {"alembic_version"}
        assert current_revision(db.engine) is None
        upgrade(db.engine)
        assert schema_differences(db) == []
        downgrade(db.engine, "0001")
        assert current_revision(db.engine) == "0001"
        upgrade(db.engine)
        assert current_revision(db.engine) == head_revision()
        assert schema_differences(db) == []
    finally:
        db.dispose()


def test_sqlite_runs_in_wal_mode_with_foreign_keys(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'c.db'}", pool_size=1)
    try:
        upgrade(db.engine)
        with db.engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert connection.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000
            # A negative cache_size is in KiB: the page cache holds a 10,000-version search.
            assert connection.exec_driver_sql("PRAGMA cache_size").scalar() == -SQLITE_CACHE_KIB
            tags_sql = connection.exec_driver_sql(
                "SELECT sql FROM sqlite_master WHERE name = 'tags'"
            ).scalar()
            assert "WITHOUT ROWID" in str(tags_sql)
    finally:
        db.dispose()
