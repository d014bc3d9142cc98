"""Check that TempPostgres starts a usable throwaway server and cleans up after itself."""

from __future__ import annotations

import socket

import psycopg

from .pgcluster import SUPERUSER, TempPostgres


def _port_accepts_connections(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_temp_postgres_lifecycle() -> None:
    with TempPostgres() as pg:
        port = pg.port
        directory = pg.directory
        assert pg.url == f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/postgres"
        assert pg.url_for("app db") == f"postgresql+psycopg://{SUPERUSER}@127.0.0.1:{port}/app%20db"
        assert _port_accepts_connections(port)

        pg.create_database("tpl")
        with psycopg.connect(pg.conninfo_for("tpl"), autocommit=True) as conn:
            conn.execute("CREATE TABLE marker (id int)")
        pg.create_database("copy", template="tpl")

        with psycopg.connect(pg.conninfo_for("copy")) as conn:
            assert conn.execute("select 1").fetchone() == (1,)
            assert conn.execute("select to_regclass('marker') is not null").fetchone() == (True,)
            assert conn.execute("show server_encoding").fetchone() == ("UTF8",)
            assert conn.execute("select current_user").fetchone() == (SUPERUSER,)

        # drop_database disconnects lingering sessions and tolerates missing databases.
        lingering = psycopg.connect(pg.conninfo_for("copy"))
        try:
            pg.drop_database("copy")
        finally:
            lingering.close()
        pg.drop_database("copy")
        with pg.connect_admin() as conn:
            names = {row[0] for row in conn.execute("select datname from pg_database")}
        assert "copy" not in names
        assert "tpl" in names

    assert not pg.running
    assert not _port_accepts_connections(port)
    assert not directory.exists()
