"""The database handle: read connections, PostgreSQL's lost connections, SQLite's BEGIN."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from charter.store import engine
from charter.store.engine import Database


def test_reads_see_committed_writes_and_never_hold_a_transaction_open(db: Database) -> None:
    with db.transaction() as session:
        session.execute(text("UPDATE audit_head SET origin = origin WHERE id = 1"))
    with db.rows() as connection:
        assert connection.execute(text("SELECT count(*) FROM audit_head")).scalar() == 1
    with db.reading() as session:
        assert session.execute(text("SELECT count(*) FROM audit_head")).scalar() == 1
    if not db.is_sqlite:
        with db.rows() as connection:
            # Autocommit: a read on PostgreSQL opens no transaction to BEGIN and COMMIT.
            assert connection.connection.driver_connection.autocommit  # type: ignore[union-attr]
        with db.transaction() as session:
            raw = session.connection().connection.driver_connection
            assert not raw.autocommit  # type: ignore[union-attr]


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_write_transaction_on_sqlite_takes_the_write_lock_at_begin(db: Database) -> None:
    with db.transaction() as session:
        raw = session.connection().connection.driver_connection
        assert raw.in_transaction  # type: ignore[union-attr]
        rival = sqlite3.connect(db.url.split("///", 1)[1], timeout=0, isolation_level=None)
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            rival.execute("BEGIN IMMEDIATE")  # the lock is already held, before any write
        rival.close()
        other = Database(db.url, pool_size=1)
        try:
            with other.rows() as connection:  # a reader is never blocked by the writer
                assert connection.execute(text("SELECT size FROM audit_head")).scalar() is not None
        finally:
            other.dispose()


def busy_timeout(raw: object) -> int:
    value: int = raw.execute("PRAGMA busy_timeout").fetchone()[0]  # type: ignore[attr-defined]
    return value


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_sqlite_writer_waits_for_the_write_lock_and_takes_it_when_freed(db: Database) -> None:
    holder = sqlite3.connect(db.url.split("///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    began = threading.Event()
    polls: list[int] = []
    real_sleep = engine.time.sleep

    def counting_sleep(seconds: float) -> None:
        polls.append(1)
        if len(polls) == 3:
            began.set()  # the writer has found the lock taken three times: free it
        real_sleep(seconds)

    errors: list[BaseException] = []

    def write() -> None:
        try:
            with db.transaction() as session:
                session.execute(text("UPDATE audit_head SET origin = origin WHERE id = 1"))
        except BaseException as exc:
            errors.append(exc)

    engine.time.sleep = counting_sleep  # type: ignore[assignment]
    try:
        writer = threading.Thread(target=write)
        writer.start()
        assert began.wait(10), "the writer never waited for the lock"
        holder.execute("COMMIT")
        writer.join(10)
    finally:
        engine.time.sleep = real_sleep
        holder.close()
    assert not writer.is_alive() and errors == []
    with db.transaction() as session:  # SQLite's own busy handler is back on afterwards
        raw = session.connection().connection.driver_connection
        assert busy_timeout(raw) == engine.SQLITE_BUSY_TIMEOUT_MS


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_sqlite_writer_gives_up_after_the_busy_timeout_and_leaves_no_transaction(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(db.url.split("///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        # As SQLAlchemy raises the driver's errors: the API's 503, not a 500.
        locked = pytest.raises(sa_exc.OperationalError, match="database is locked")
        with locked, db.transaction() as session:
            session.execute(text("UPDATE audit_head SET origin = origin WHERE id = 1"))
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    raw = db.engine.raw_connection()
    try:
        sqlite = raw.driver_connection
        assert not sqlite.in_transaction  # type: ignore[union-attr]
        assert busy_timeout(sqlite) == 50
        sqlite.execute("BEGIN")  # type: ignore[union-attr]
        with pytest.raises(sa_exc.OperationalError, match="within a transaction"):
            engine.begin_write(sqlite, "BEGIN IMMEDIATE")  # type: ignore[arg-type]
        sqlite.execute("ROLLBACK")  # type: ignore[union-attr]
        assert busy_timeout(sqlite) == 50  # restored after any error, not only BUSY
    finally:
        raw.close()


class ScriptedSqlite:
    """A driver connection whose BEGINs fail with the given SQLite result codes, in turn."""

    def __init__(self, codes: list[int]) -> None:
        self.codes = codes
        self.statements: list[str] = []

    def execute(self, statement: str) -> None:
        self.statements.append(statement)
        if statement.startswith("BEGIN") and self.codes:
            exc = sqlite3.OperationalError("database is locked")
            exc.sqlite_errorcode = self.codes.pop(0)
            raise exc


def test_every_busy_code_is_waited_out_and_any_other_raised_at_once() -> None:
    # SQLITE_BUSY, SQLITE_BUSY_RECOVERY (a WAL index rebuilt after a crash: 261) and
    # SQLITE_BUSY_SNAPSHOT (517) all mean "try again"; sqlite_errorcode holds the
    # extended code.
    waited = ScriptedSqlite([261, 5, 517])
    engine.begin_write(waited, "BEGIN IMMEDIATE")  # type: ignore[arg-type]
    assert waited.statements == [
        "PRAGMA busy_timeout=0",
        *["BEGIN IMMEDIATE"] * 4,
        f"PRAGMA busy_timeout={engine.SQLITE_BUSY_TIMEOUT_MS}",
    ]
    failed = ScriptedSqlite([sqlite3.SQLITE_IOERR])
    with pytest.raises(sa_exc.OperationalError):
        engine.begin_write(failed, "BEGIN IMMEDIATE")  # type: ignore[arg-type]
    assert failed.statements[1:] == [
        "BEGIN IMMEDIATE",
        f"PRAGMA busy_timeout={engine.SQLITE_BUSY_TIMEOUT_MS}",
    ]


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_connections_time_out_opening_unless_the_url_says_otherwise(
    db: Database,
) -> None:
    from sqlalchemy import make_url

    from charter.store.thread_reads import ThreadReads

    # Every connection Charter opens: the pool's, the loop's and the threads' own.
    assert db.engine.url.query["connect_timeout"] == str(engine.PG_CONNECT_TIMEOUT_SECONDS)
    assert ThreadReads(db.engine)._connect_args["connect_timeout"] == "10"
    own = make_url(db.url).update_query_dict({"connect_timeout": "3"})
    explicit = Database(own.render_as_string(hide_password=False), pool_size=1)
    try:
        assert explicit.engine.url.query["connect_timeout"] == "3"
        with explicit.rows() as connection:
            assert connection.execute(text("SELECT 1")).scalar() == 1
    finally:
        explicit.dispose()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_connection_the_server_closed_is_replaced_before_use(db: Database) -> None:
    with db.rows() as connection:
        pid = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    killer = Database(db.url, pool_size=1)
    try:
        with killer.transaction() as session:
            # With a timeout it returns once the backend has exited and closed its socket.
            ended = session.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": pid})
            assert ended.scalar()
    finally:
        killer.dispose()
    # The same pooled connection would fail its first statement; the checkout sees the
    # closed socket and hands out a fresh one, for reads and for writes alike.
    for _ in range(3):
        with db.rows() as connection:
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != pid
        with db.transaction() as session:
            assert session.execute(text("SELECT 1")).scalar() == 1


def test_a_driver_error_on_a_hot_read_arrives_as_sqlalchemy_would_raise_it(db: Database) -> None:
    from sqlalchemy import exc as sa_exc

    from charter.domain.errors import NotFound
    from charter.registry import versions

    # 2**31 does not fit PostgreSQL's integer column; SQLite's integers are 64-bit.
    if db.is_sqlite:
        with pytest.raises(NotFound):
            versions.get_version(db, "m", 2**31)
    else:
        with pytest.raises(sa_exc.DataError):  # which the API answers with a 422
            versions.get_version(db, "m", 2**31)


def test_a_quick_read_runs_inline_only_on_sqlite_with_an_idle_connection(db: Database) -> None:
    # The point lookup route reads on the event loop only when that cannot wait: a local
    # file, and a pooled connection free to take (a fresh pool has none yet).
    fresh = Database(db.url, pool_size=1)
    try:
        assert not fresh.quick_read_ready()
        with fresh.rows() as connection:
            connection.execute(text("SELECT 1"))
            assert not fresh.quick_read_ready()  # the only connection is in use
        assert fresh.quick_read_ready() == fresh.is_sqlite
    finally:
        fresh.dispose()


def test_a_one_statement_read_leaves_the_pooled_connection_ready_for_transactions(
    db: Database,
) -> None:
    from sqlalchemy import bindparam, select
    from sqlalchemy import exc as sa_exc

    from charter.store import driver
    from charter.store import tables as t

    statement = select(t.AuditHead.size).where(t.AuditHead.id == bindparam("id"))
    assert driver.read_one(db.engine, statement, {"id": 1}) is not None
    assert driver.read_one(db.engine, statement, {"id": 2}) is None
    if not db.is_sqlite:
        with pytest.raises(sa_exc.DataError):  # as SQLAlchemy raises it: the API's 422
            driver.read_one(db.engine, statement, {"id": 2**40})

    # The next writer, on the same pooled connection, still gets a transaction it can roll
    # back (after the failed read above too).
    def change_then_fail() -> None:
        with db.transaction() as session:
            session.execute(text("UPDATE audit_head SET origin = 'changed' WHERE id = 1"))
            raise RuntimeError("roll back")

    with pytest.raises(RuntimeError):
        change_then_fail()
    with db.rows() as connection:
        assert connection.execute(text("SELECT origin FROM audit_head")).scalar() != "changed"


def test_the_pool_hands_out_the_connection_used_last(db: Database) -> None:
    # LIFO keeps one connection's page cache (SQLite) and prepared statements (psycopg)
    # warm instead of rotating through every pooled connection.
    fresh = Database(db.url, pool_size=2)
    try:
        first, second = fresh.engine.raw_connection(), fresh.engine.raw_connection()
        first_id, second_id = id(first.dbapi_connection), id(second.dbapi_connection)
        first.close()
        second.close()
        again = fresh.engine.raw_connection()
        assert id(again.dbapi_connection) == second_id != first_id
        again.close()
    finally:
        fresh.dispose()
