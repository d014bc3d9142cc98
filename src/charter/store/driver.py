"""Running a prebuilt statement on the driver's own cursor, for the hottest one-row reads.

SQLAlchemy's per-execution work (cache-key lookup, parameter processing, result set-up)
costs about as much as an indexed one-row query itself on PostgreSQL (~45 µs of ~175 µs
for a version point lookup here), so the busiest lookups compile their statement once
per dialect and hand the SQL straight to the driver. The statement is still built with
SQLAlchemy, so both backends get correct SQL and parameter style.
"""

from __future__ import annotations

import functools
from typing import Any, cast

from sqlalchemy import Connection, Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import Dialect
from sqlalchemy.sql import ClauseElement
from sqlalchemy.sql.compiler import SQLCompiler


@functools.lru_cache(maxsize=64)
def compiled(statement: ClauseElement, dialect: Dialect) -> tuple[str, tuple[str, ...] | None]:
    """The statement's SQL for `dialect`, and the order of its positional parameters
    (None when the driver takes them by name); built once per statement and dialect."""
    result = cast(SQLCompiler, statement.compile(dialect=dialect))
    positions = tuple(result.positiontup) if result.positiontup is not None else None
    return str(result), positions


def bound(statement: ClauseElement, dialect: Dialect, params: dict[str, Any]) -> tuple[str, Any]:
    """The statement's SQL for `dialect` and `params` in the order and style its driver
    takes them."""
    sql, positions = compiled(statement, dialect)
    return sql, params if positions is None else [params[name] for name in positions]


def connect_args(engine: Engine) -> dict[str, Any]:
    """The keyword arguments the engine itself connects with (hosts, ports, TLS, timeouts),
    for connections made outside its pool (loop_reads, thread_reads)."""
    args, kwargs = engine.dialect.create_connect_args(engine.url)
    if args:
        raise ValueError(f"unexpected positional connect arguments for {engine.url!r}")
    return dict(kwargs)


class LostConnection(Exception):
    """A kept connection the server had closed (a restart, an idle timeout): the read is
    safe to repeat on another one."""


def fetch_one(
    connection: Connection, statement: ClauseElement, params: dict[str, Any]
) -> tuple[Any, ...] | None:
    """The first row of `statement` with `params` (plain values, no type processing: the
    statement's columns must come back as the driver gives them, e.g. text)."""
    raw = connection.connection.driver_connection
    return _first_row(raw, connection.dialect, statement, params)


def _first_row(
    raw: Any, dialect: Dialect, statement: ClauseElement, params: dict[str, Any]
) -> tuple[Any, ...] | None:
    sql, arguments = bound(statement, dialect, params)
    cursor = raw.cursor()
    dbapi_error = dialect.loaded_dbapi.Error
    try:
        cursor.execute(sql, arguments)
        row: tuple[Any, ...] | None = cursor.fetchone()
        return row
    except dbapi_error as exc:
        # As SQLAlchemy would raise it (DataError, OperationalError, ...), so the API's one
        # error mapping answers it: a value out of the column's range is a 422, not a 500.
        raise sa_exc.DBAPIError.instance(sql, arguments, exc, dbapi_error) from exc
    finally:
        cursor.close()


def read_one(
    engine: Engine, statement: ClauseElement, params: dict[str, Any]
) -> tuple[Any, ...] | None:
    """`fetch_one` for a read that is one statement, on a pooled driver connection outside
    any SQLAlchemy Connection or transaction: for SQLite, whose connections are already in
    autocommit (engine.py issues BEGIN itself). PostgreSQL's such reads go through
    `thread_reads.ThreadReads` (`Database.point_read`)."""
    pooled = engine.raw_connection()
    try:
        return _first_row(pooled.driver_connection, engine.dialect, statement, params)
    except sa_exc.DBAPIError as exc:
        if engine.dialect.is_disconnect(cast(Any, exc.orig), pooled.dbapi_connection, None):
            pooled.invalidate(exc)  # not back into the pool
        raise
    finally:
        pooled.close()
