"""One-row reads on PostgreSQL from the event loop, on async connections of their own.

The synchronous path hands the read to a worker thread so the network round trip does
not hold the loop; the hop costs about as much as the read itself (~0.2 ms). psycopg's
AsyncConnection waits on the loop instead. The statement is compiled once per dialect,
as for `driver.read_one`, and failures are raised as SQLAlchemy raises them, so the
API's one error mapping answers them.
"""

from __future__ import annotations

import asyncio
from typing import Any

import psycopg
from sqlalchemy import Engine
from sqlalchemy import exc as sa_exc
from sqlalchemy.sql import ClauseElement

from charter.store.driver import LostConnection, bound, connect_args


class LoopReads:
    """Autocommit AsyncConnections, made as needed and kept: at most `size` exist, and a
    read waits for one of them rather than open another (a burst of lookups must not
    exhaust the server's connection slots)."""

    def __init__(self, engine: Engine, size: int = 4) -> None:
        self._dialect = engine.dialect
        self._connect_args = connect_args(engine)
        self._slots = asyncio.Semaphore(size)
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._closed = False

    async def read_one(
        self, statement: ClauseElement, params: dict[str, Any]
    ) -> tuple[Any, ...] | None:
        sql, arguments = bound(statement, self._dialect, params)
        async with self._slots:
            while self._idle:
                connection = self._idle.pop()
                if connection.closed:
                    continue
                try:
                    return await self._read(connection, sql, arguments, kept=True)
                except LostConnection:
                    continue  # the read is safe to repeat, on another connection
            try:
                connection = await psycopg.AsyncConnection.connect(
                    **self._connect_args, autocommit=True
                )
            except psycopg.Error as exc:
                raise sa_exc.DBAPIError.instance(sql, arguments, exc, psycopg.Error) from exc
            return await self._read(connection, sql, arguments, kept=False)

    async def _read(
        self, connection: psycopg.AsyncConnection[Any], sql: str, arguments: Any, *, kept: bool
    ) -> tuple[Any, ...] | None:
        try:
            async with connection.cursor() as cursor:
                await cursor.execute(sql, arguments)
                row: tuple[Any, ...] | None = await cursor.fetchone()
        except psycopg.Error as exc:
            lost = connection.broken
            await connection.close()
            if lost and kept:
                raise LostConnection from exc
            raise sa_exc.DBAPIError.instance(sql, arguments, exc, psycopg.Error) from exc
        except BaseException:
            # Cancelled mid-read: what the connection holds is unknown, so it goes.
            await connection.close()
            raise
        if self._closed:
            await connection.close()
        else:
            self._idle.append(connection)  # within the bound: this read held a slot
        return row

    async def close(self) -> None:
        """Close the kept connections; reads still under way close theirs when done."""
        self._closed = True
        idle, self._idle = self._idle, []
        for connection in idle:
            await connection.close()
