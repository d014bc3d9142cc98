"""One-row reads on PostgreSQL from threads, on autocommit connections of their own.

The point lookup (`versions.version_json`, what every in-process caller and the serving
path resolve a model version with) is one indexed statement. Through SQLAlchemy's pool
it paid ~30 us for checkout and return (events, reset, the autocommit switch there and
back) and ~10 us for a new cursor, a fifth of a ~190 us read whose round trip is most of
the rest. Here a read takes a kept connection with its kept cursor from a list and puts
them back.

Hand-written, the synchronous twin of `loop_reads.LoopReads`, rather than psycopg_pool:
that pool's getconn and putconn cost ~12 us, it waits out its timeout when the database
is unreachable (here the connect error is raised at once, and the API answers 503), and
it starts background threads in every process that makes a Database, CLI commands
included.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import ClauseElement

from charter.store.driver import LostConnection, bound, connect_args

# How long a read waits for one of the connections when all are busy, as SQLAlchemy's
# pool_timeout; then it fails as that pool does (sqlalchemy.exc.TimeoutError).
WAIT_SECONDS = 30.0

_Kept = tuple[psycopg.Connection[Any], psycopg.Cursor[Any]]


class ThreadReads:
    """Autocommit connections, made as needed and kept: at most `size` exist, and a read
    waits for one of them rather than open another."""

    def __init__(self, engine: Engine, size: int = 4) -> None:
        self._dialect = engine.dialect
        self._connect_args = connect_args(engine)
        self._slots = threading.BoundedSemaphore(size)
        # Guards _idle and _closed together, so close() never misses a connection a read
        # is putting back, nor closes one a read has just taken.
        self._lock = threading.Lock()
        self._idle: list[_Kept] = []
        self._closed = False

    def read_one(self, statement: ClauseElement, params: dict[str, Any]) -> tuple[Any, ...] | None:
        sql, arguments = bound(statement, self._dialect, params)
        if not self._slots.acquire(timeout=WAIT_SECONDS):
            raise sa_exc.TimeoutError(
                f"no point-read connection came free within {WAIT_SECONDS:.0f} s"
            )
        try:
            while kept := self._take():
                if kept[0].closed:
                    continue
                try:
                    return self._read(*kept, sql, arguments, reused=True)
                except LostConnection:
                    continue  # the read is safe to repeat, on another connection
            try:
                connection = psycopg.Connection.connect(**self._connect_args, autocommit=True)
            except psycopg.Error as exc:
                raise sa_exc.DBAPIError.instance(sql, arguments, exc, psycopg.Error) from exc
            return self._read(connection, None, sql, arguments, reused=False)
        finally:
            self._slots.release()

    def _take(self) -> _Kept | None:
        with self._lock:
            return self._idle.pop() if self._idle else None

    def _read(
        self,
        connection: psycopg.Connection[Any],
        cursor: psycopg.Cursor[Any] | None,
        sql: str,
        arguments: Any,
        *,
        reused: bool,
    ) -> tuple[Any, ...] | None:
        try:
            if cursor is None:
                cursor = connection.cursor()
            cursor.execute(sql, arguments)
            row: tuple[Any, ...] | None = cursor.fetchone()
        except psycopg.Error as exc:
            lost = connection.broken
            connection.close()
            if lost and reused:
                raise LostConnection from exc
            raise sa_exc.DBAPIError.instance(sql, arguments, exc, psycopg.Error) from exc
        except BaseException:
            # Interrupted mid-read: what the connection holds is unknown, so it goes.
            connection.close()
            raise
        with self._lock:
            keep = not self._closed
            if keep:
                self._idle.append((connection, cursor))  # within the bound: it held a slot
        if not keep:
            connection.close()
        return row

    def close(self) -> None:
        """Close the kept connections; reads still under way close theirs when done."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection, _ in idle:
            connection.close()
