"""The point lookup read from an event loop: same answer as the threaded read, on both
backends; PostgreSQL's loop connections are reused, replaced when the server closed them,
and closed with the app."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import text

from charter.domain.errors import NotFound
from charter.registry import versions
from charter.store.engine import Database
from charter.store.loop_reads import LoopReads


def test_the_loop_read_answers_as_the_threaded_one(db: Database, registered: None) -> None:
    async def both() -> None:
        for number in (1, 2):
            on_loop = await versions.version_json_on_loop(db, "credit", number)
            assert on_loop == versions.version_json(db, "credit", number)
        with pytest.raises(NotFound, match="model 'credit' has no version 3"):
            await versions.version_json_on_loop(db, "credit", 3)
        with pytest.raises(NotFound, match="debit"):
            await versions.version_json_on_loop(db, "debit", 1)
        if db.loop_reads is not None:
            # Out of PostgreSQL's integer range: a DataError, which the API answers with 422.
            with pytest.raises(sa_exc.DataError):
                await versions.version_json_on_loop(db, "credit", 2**31)
            await db.loop_reads.close()

    asyncio.run(both())
    assert (db.loop_reads is None) == db.is_sqlite


@pytest.mark.parametrize("backend", ["postgresql"])  # SQLite has no loop connections
def test_postgresql_loop_connections_are_reused_and_replaced_when_closed(
    db: Database, registered: None
) -> None:
    reads = db.loop_reads
    assert reads is not None

    async def backend_pid() -> int:
        statement = text("SELECT pg_backend_pid()")
        row = await reads.read_one(statement, {})
        assert row is not None
        return int(row[0])

    async def scenario() -> None:
        first = await backend_pid()
        assert await backend_pid() == first  # the idle connection is used again
        with db.rows() as connection:
            # With a timeout it returns once the backend has exited and closed its socket.
            terminate = text("SELECT pg_terminate_backend(:pid, 10000)")
            ended = connection.execute(terminate, {"pid": first})
            assert ended.scalar()
        replaced = await backend_pid()
        assert replaced != first
        version = await versions.version_json_on_loop(db, "credit", 2)
        assert version == versions.version_json(db, "credit", 2)
        await reads.close()
        assert reads._idle == []

    asyncio.run(scenario())


@pytest.mark.parametrize("backend", ["postgresql"])
def test_postgresql_loop_reads_never_open_more_than_their_bound(db: Database) -> None:
    reads = LoopReads(db.engine, size=2)
    slow = text("SELECT pg_backend_pid(), pg_sleep(0.05)")

    async def burst() -> set[int]:
        rows = await asyncio.gather(*(reads.read_one(slow, {}) for _ in range(10)))
        await reads.close()
        return {int(row[0]) for row in rows if row is not None}

    assert len(asyncio.run(burst())) <= 2


@pytest.mark.parametrize("backend", ["postgresql"])
def test_an_unreachable_database_is_an_operational_error(db: Database) -> None:
    from sqlalchemy import create_engine

    from tests.conftest import free_port

    gone = create_engine(db.engine.url.set(port=free_port()))
    try:
        with pytest.raises(sa_exc.OperationalError):  # which the API answers with 503
            asyncio.run(LoopReads(gone).read_one(text("SELECT 1"), {}))
    finally:
        gone.dispose()
