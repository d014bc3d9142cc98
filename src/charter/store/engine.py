"""The database handle: engine set-up per backend and one transaction per unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker

from charter.domain.errors import Conflict

# SQLSTATE 23505 on PostgreSQL; SQLite names the constraint in its message.
_UNIQUE_MARKERS = ("23505", "UNIQUE constraint failed", "duplicate key value")


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Take transaction control from the sqlite3 module so we can BEGIN IMMEDIATE:
        # a deferred write transaction that upgrades its lock fails with SQLITE_BUSY
        # under concurrency instead of waiting.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def make_engine(url: str, pool_size: int = 10) -> Engine:
    if url.startswith("sqlite"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, pool_size=pool_size, max_overflow=pool_size)
        _configure_sqlite(engine)
        return engine
    return create_engine(url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


def _is_unique_violation(exc: sa_exc.IntegrityError) -> bool:
    sqlstate = getattr(exc.orig, "sqlstate", None)
    return sqlstate == "23505" or any(marker in str(exc.orig) for marker in _UNIQUE_MARKERS)


class Database:
    """Owns the engine; services open exactly one transaction per unit of work."""

    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.url = url
        self.engine = make_engine(url, pool_size)
        self.is_sqlite = self.engine.dialect.name == "sqlite"
        self._write = sessionmaker(self.engine, expire_on_commit=False)
        self._read_engine = self.engine.execution_options(sqlite_begin="DEFERRED")
        self._read = sessionmaker(self._read_engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A write transaction: commits on success, rolls back on any error.

        Services check uniqueness before inserting, but two concurrent writers can both
        pass the check on PostgreSQL; the loser's unique violation becomes a Conflict
        instead of an internal error.
        """
        try:
            with self._write.begin() as session:
                yield session
        except sa_exc.IntegrityError as exc:
            if not _is_unique_violation(exc):
                raise
            raise Conflict(
                "a concurrent change created the same record first; "
                "fetch the current state and retry"
            ) from exc

    def rows(self) -> AbstractContextManager[Connection]:
        """A read-only Core connection in one transaction: for hot paths that need rows,
        not objects, and so skip the ORM's identity map and unit of work."""
        return self._read_engine.begin()

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only transaction (a consistent snapshot, never a write lock)."""
        with self._read.begin() as session:
            yield session

    def dispose(self) -> None:
        self.engine.dispose()
