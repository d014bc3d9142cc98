"""The database handle: engine set-up per backend and one transaction per unit of work."""

from __future__ import annotations

import json
import select
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import URL, Connection, Engine, create_engine, event, make_url
from sqlalchemy import exc as sa_exc
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool
from sqlalchemy.sql import ClauseElement

from charter.domain.errors import Conflict
from charter.store import driver
from charter.store.loop_reads import LoopReads
from charter.store.thread_reads import ThreadReads

# SQLSTATE 23505 on PostgreSQL; SQLite names the constraint in its message.
_UNIQUE_MARKERS = ("23505", "UNIQUE constraint failed", "duplicate key value")


_BEGIN = {mode: f"BEGIN {mode}" for mode in ("DEFERRED", "IMMEDIATE", "EXCLUSIVE")}

# How long a SQLite writer waits for the write lock before the request fails (503), and
# how often it tries meanwhile: after a quarter millisecond, then twice as long each time
# up to 2 ms, so that forty waiting threads cost a fraction of a core, not all of it.
SQLITE_BUSY_TIMEOUT_MS = 60_000
SQLITE_WRITE_POLL_FIRST = 0.00025
SQLITE_WRITE_POLL_MAX = 0.002

# Seconds to wait for a PostgreSQL connection to open, unless the URL says otherwise.
PG_CONNECT_TIMEOUT_SECONDS = 10

# SQLite's page cache per connection, in KiB (a negative cache_size is KiB). The default,
# 2 MiB, is smaller than the pages a search of 10,000 versions touches, and every miss is
# a read() from the OS: 64 MiB made the two-tag search 2.3x faster (1.2 -> 0.5 ms at
# 10,000 versions). Pages are allocated only as they are read, so a small database costs
# only its size per pooled connection.
SQLITE_CACHE_KIB = 64 * 1024


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
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute(f"PRAGMA cache_size=-{SQLITE_CACHE_KIB}")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        # Straight to the driver: every write pays for this, and SQLAlchemy's statement
        # machinery costs more than SQLite's BEGIN itself.
        raw = conn.connection.driver_connection
        if mode == "DEFERRED":
            raw.execute(_BEGIN[mode])  # takes no lock yet: nothing to wait for
        else:
            begin_write(raw, _BEGIN[mode])


def begin_write(raw: sqlite3.Connection, statement: str) -> None:
    """Take SQLite's write lock, trying again within 2 ms (SQLITE_WRITE_POLL_*) while
    another connection (a thread here, or another process) holds it.

    Why not SQLite's own busy handler: it sleeps 1, 2, 5, 10 ... then 100 ms between tries,
    so a waiter sleeps on long after the writer before it has committed. Measured with four
    concurrent batch registrations over two server processes: the write lock stood idle a
    third of the time, and waits came out at 228, 328, 428 and 528 ms, the handler's
    cumulative sleeps. Python's sqlite3 module cannot install another handler, so the wait
    is here, with the handler off for this one statement (it stays on for the rest, e.g. a
    reader meeting a WAL recovery). Same deadline as before. A failure, the last
    SQLITE_BUSY included, is raised as SQLAlchemy raises the driver's errors
    (OperationalError, which the API answers with 503): SQLAlchemy does not wrap what a
    `begin` event raises, and sqlite3's own error had become a 500.

    Any busy code counts: with the handler off, BEGIN can also meet SQLITE_BUSY_RECOVERY
    (another connection rebuilding the WAL index after a crash), and `sqlite_errorcode`
    holds the extended code, whose low byte is SQLITE_BUSY.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    delay = SQLITE_WRITE_POLL_FIRST
    try:
        raw.execute("PRAGMA busy_timeout=0")
        while True:
            try:
                raw.execute(statement)
                return
            except sqlite3.OperationalError as exc:
                busy = exc.sqlite_errorcode & 0xFF == sqlite3.SQLITE_BUSY
                if not busy or time.monotonic() > deadline:
                    raise sa_exc.DBAPIError.instance(statement, None, exc, sqlite3.Error) from exc
            time.sleep(delay)
            delay = min(delay * 2, SQLITE_WRITE_POLL_MAX)
    finally:
        raw.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
        # Instead of pool_pre_ping's SELECT 1, a round trip on every checkout: a server
        # that restarted or closed the connection leaves its socket readable (a notice
        # or EOF), which an idle healthy connection never is. The pool then retries with
        # a fresh connection.
        if dbapi_conn.closed or select.select([dbapi_conn.fileno()], [], [], 0)[0]:
            raise sa_exc.DisconnectionError("the database closed this pooled connection")


def json_text(value: Any) -> str:
    """JSON columns' text: orjson, ~8x faster than json.dumps, which cost a sixth of a batch
    registration's server time (a version has seven JSON columns). json.dumps takes what
    orjson refuses (integers past 64 bits, non-string keys), so whatever was storable stays
    storable."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return json.dumps(value)


def make_engine(url: str, pool_size: int = 10) -> Engine:
    sqlite = url.startswith("sqlite")
    if sqlite:
        path = url.split("///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    target: str | URL = url
    if not sqlite and "connect_timeout" not in (parsed := make_url(url)).query:
        # Without one, a database host that drops packets holds a request for the OS's
        # TCP connect timeout (about two minutes) before its 503. The engine's URL carries
        # it, so the loop's and threads' own connections (loop_reads, thread_reads) too.
        target = parsed.update_query_dict({"connect_timeout": str(PG_CONNECT_TIMEOUT_SECONDS)})
    # LIFO: the most recently used connection goes out again, so the busiest one keeps its
    # SQLite page cache and psycopg's prepared statements (made on a statement's fifth
    # execution on a connection) warm, instead of every pooled connection warming its own.
    engine = create_engine(
        target,
        pool_size=pool_size,
        max_overflow=pool_size,
        pool_use_lifo=True,
        json_serializer=json_text,
    )
    (_configure_sqlite if sqlite else _configure_postgresql)(engine)
    return engine


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
        # PostgreSQL reads at READ COMMITTED see a new snapshot per statement, inside a
        # transaction or not, so they run in autocommit and save its BEGIN and COMMIT
        # round trips. SQLite reads keep a deferred transaction: that is their snapshot.
        self._read_engine = (
            self.engine.execution_options(sqlite_begin="DEFERRED")
            if self.is_sqlite
            else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        )
        self._read = sessionmaker(self._read_engine, expire_on_commit=False)
        # PostgreSQL's hottest reads, from an event loop (None on SQLite: quick_read_ready).
        self.loop_reads = None if self.is_sqlite else LoopReads(self.engine)
        # And from threads (`point_read`), past SQLAlchemy's pool.
        self.thread_reads = None if self.is_sqlite else ThreadReads(self.engine)

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
        """A read-only Core connection (one snapshot on SQLite): for hot paths that need
        rows, not objects, and so skip the ORM's identity map and unit of work."""
        return self._read_engine.begin()

    def quick_read_ready(self) -> bool:
        """Whether a one-row read may run on the caller's event loop: on SQLite (a read from
        the page cache, no network) and with an idle pooled connection, so the checkout
        cannot wait for one."""
        pool = self.engine.pool
        return self.is_sqlite and isinstance(pool, QueuePool) and pool.checkedin() > 0

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A read-only session: one snapshot on SQLite, one per statement on PostgreSQL
        (its READ COMMITTED default), never a write lock."""
        with self._read.begin() as session:
            yield session

    def point_read(
        self, statement: ClauseElement, params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        """The first row of a one-statement read on a hot path (no snapshot beyond the
        statement's own): on PostgreSQL from `thread_reads`, on SQLite from the pool."""
        if self.thread_reads is not None:
            return self.thread_reads.read_one(statement, params)
        return driver.read_one(self.engine, statement, params)

    def dispose(self) -> None:
        if self.thread_reads is not None:
            self.thread_reads.close()
        self.engine.dispose()
