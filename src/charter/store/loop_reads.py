"""One-row reads on PostgreSQL from the event loop, on async connections of their own.

The synchronous path hands the read to a worker thread so the network round trip does
not hold the loop; the hop costs about as much as the read itself (~0.2 ms). psycopg's
AsyncConnection waits on the loop instead. The statement is compiled once per dialect,
as for `driver.read_one`, and failures are raised as SQLAlchemy raises them, so the
API's one error mapping answers them.
"""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import ClauseElement

from charter.store.driver import compiled


class LoopReads:
    """Autocommit AsyncConnections made as needed; at most `keep` are kept idle."""

    def __init__(self, engine: Engine, keep: int = 4) -> None:
        self._dialect = engine.dialect
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._keep = keep
        self._idle: list[psycopg.AsyncConnection[Any]] = []

    async def read_one(
        self, statement: ClauseElement, params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        sql, positions = compiled(statement, self._dialect)
        arguments: Any = params if positions is None else [params[name] for name in positions]
        while self._idle:
            connection = self._idle.pop()
            if connection.closed:
                continue
            try:
                return await self._read(connection, sql, arguments)
            except sa_exc.OperationalError:
                # The server closed the idle connection (a restart, an idle timeout): the
                # read itself is safe to repeat, on a fresh connection.
                continue
        connection = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        return await self._read(connection, sql, arguments)

    async def _read(
        self, connection: psycopg.AsyncConnection[Any], sql: str, arguments: Any
    ) -> tuple[Any, ...] | None:
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(sql, arguments)
                row: tuple[Any, ...] | None = await cursor.fetchone()
        except psycopg.Error as exc:
            await connection.close()
            raise sa_exc.DBAPIError.instance(sql, arguments, exc, psycopg.Error) from exc
        except BaseException:
            # Cancelled mid-read: what the connection holds is unknown, so it goes.
            await connection.close()
            raise
        if len(self._idle) < self._keep:
            self._idle.append(connection)
        else:
            await connection.close()
        return row

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()
