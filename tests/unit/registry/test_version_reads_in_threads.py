"""PostgreSQL's point reads from threads (store/thread_reads.py): the answer the pool gave,
connections reused and replaced when the server closed them, never more than their bound,
failures raised as SQLAlchemy raises them (so the API's error mapping answers them), and
closed with the database."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from charter.domain.errors import NotFound
from charter.registry import versions
from charter.store import driver, thread_reads
from charter.store.engine import Database
from charter.store.thread_reads import ThreadReads
from tests.conftest import free_port

PID = text("SELECT pg_backend_pid()")


def test_the_point_read_answers_as_the_pool_does(db: Database, registered: None) -> None:
    assert (db.thread_reads is None) == db.is_sqlite
    for number in (1, 2):
        row = db.point_read(versions._VERSION, {"model": "credit", "version": number})
        pooled = driver.read_one(
            db.engine, versions._VERSION, {"model": "credit", "version": number}
        )
        assert row == pooled and row is not None
        assert versions.get_version(db, "credit", number).version == number
    with pytest.raises(NotFound, match="model 'credit' has no version 3"):
        versions.version_json(db, "credit", 3)
    if not db.is_sqlite:
        # Out of PostgreSQL's integer range: a DataError, which the API answers with 422.
        with pytest.raises(sa_exc.DataError):
            versions.version_json(db, "credit", 2**31)
        assert versions.version_json(db, "credit", 2).text  # the connection survived it


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite reads from its own pool
def test_connections_are_reused_and_replaced_when_the_server_closed_them(db: Database) -> None:
    reads = db.thread_reads
    assert reads is not None

    def backend_pid() -> int:
        row = reads.read_one(PID, {})
        assert row is not None
        return int(row[0])

    first = backend_pid()
    assert backend_pid() == first  # the idle connection is used again
    with db.rows() as connection:
        # With a timeout it returns once the backend has exited and closed its socket.
        ended = connection.execute(text("SELECT pg_terminate_backend(:pid, 10000)"), {"pid": first})
        assert ended.scalar()
    replaced = backend_pid()
    assert replaced != first
    db.dispose()
    assert reads._idle == []
    assert backend_pid() != replaced  # after close a read still works, on a new connection
    assert reads._idle == []  # and keeps nothing


@pytest.mark.parametrize("backend", ["postgresql"])
def test_threads_never_open_more_than_the_bound(db: Database) -> None:
    reads = ThreadReads(db.engine, size=2)
    slow = text("SELECT pg_backend_pid(), pg_sleep(0.05)")
    pids: list[int] = []
    start = threading.Barrier(8)

    def read() -> None:
        start.wait()
        row = reads.read_one(slow, {})
        assert row is not None
        pids.append(int(row[0]))

    threads = [threading.Thread(target=read) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    reads.close()
    assert len(pids) == 8 and len(set(pids)) <= 2


@pytest.mark.parametrize("backend", ["postgresql"])
def test_a_read_waits_for_a_connection_then_fails_as_the_pool_would(
    db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(thread_reads, "WAIT_SECONDS", 0.05)
    reads = ThreadReads(db.engine, size=1)
    busy = threading.Thread(target=reads.read_one, args=(text("SELECT pg_sleep(1)"), {}))
    busy.start()
    try:
        while reads._slots.acquire(blocking=False):  # until the slow read holds the slot
            reads._slots.release()
            threading.Event().wait(0.005)
        with pytest.raises(sa_exc.TimeoutError, match="no point-read connection"):
            reads.read_one(PID, {})  # which the API answers with 503
    finally:
        busy.join(30)
        reads.close()


@pytest.mark.parametrize("backend", ["postgresql"])
def test_an_unreachable_database_is_an_operational_error(db: Database) -> None:
    from sqlalchemy import create_engine

    gone = create_engine(db.engine.url.set(port=free_port()))
    try:
        with pytest.raises(sa_exc.OperationalError):  # which the API answers with 503
            ThreadReads(gone).read_one(text("SELECT 1"), {})
    finally:
        gone.dispose()
