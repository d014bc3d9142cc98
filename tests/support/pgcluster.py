"""Start and stop a throwaway PostgreSQL server from the system's server binaries."""

from __future__ import annotations

import atexit
import contextlib
import glob
import grp
import os
import pwd
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import errors, sql
from psycopg.conninfo import make_conninfo
from psycopg.rows import TupleRow

__all__ = ["SUPERUSER", "TempPostgres", "find_bindir", "main"]

#: Superuser role created by initdb; every connection uses it (trust auth, no password).
SUPERUSER = "charter"
#: System account the server runs as when we are root (PostgreSQL refuses to run as root).
SERVER_SYSTEM_USER = "postgres"
#: Environment variable that overrides the server bin directory search.
BINDIR_ENV = "CHARTER_PG_BINDIR"

_HOST = "127.0.0.1"
_START_TIMEOUT = 30.0
_STOP_TIMEOUT = 15.0
_PORT_ATTEMPTS = 5
# Unix socket paths are limited to ~107 bytes; keep the temp dir's parent short.
_MAX_TEMP_BASE_LEN = 60
# DROP DATABASE ... WITH (FORCE) exists since PostgreSQL 13.
_DROP_FORCE_MIN_VERSION = 130000
_INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, postgres) were not found. "
    "Run `bash scripts/ensure-postgres.sh` (or `make test`) to install them, "
    f"or set {BINDIR_ENV} to the directory containing initdb and postgres."
)
_SERVER_SETTINGS: dict[str, str] = {
    "listen_addresses": _HOST,
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "max_connections": "200",
    "shared_buffers": "128MB",
    "timezone": "UTC",
    "log_timezone": "UTC",
}


def _is_server_bindir(path: Path) -> bool:
    return all(
        (path / exe).is_file() and os.access(path / exe, os.X_OK) for exe in ("initdb", "postgres")
    )


def _version_key(bindir: str) -> tuple[int, ...]:
    """Sort key for ``/usr/lib/postgresql/<version>/bin`` (numeric, unknown parts first)."""
    version = Path(bindir).parent.name
    return tuple(int(part) if part.isdigit() else -1 for part in version.split("."))


def find_bindir() -> Path:
    """Return the directory holding ``initdb`` and ``postgres``, or raise RuntimeError.

    Search order: ``$CHARTER_PG_BINDIR``, ``pg_config --bindir``,
    ``/usr/lib/postgresql/*/bin`` (newest first), then ``initdb`` on PATH.
    """
    candidates: list[Path] = []
    override = os.environ.get(BINDIR_ENV)
    if override:
        candidates.append(Path(override))
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, check=True, timeout=10
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    debian_bindirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    candidates.extend(Path(p) for p in debian_bindirs)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for candidate in candidates:
        if _is_server_bindir(candidate):
            return candidate
    raise RuntimeError(_INSTALL_HINT)


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    """Return the passwd entry for ``name``, creating it as a system user if missing."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        pass
    useradd = shutil.which("useradd") or "/usr/sbin/useradd"
    try:
        grp.getgrnam(name)
        group_args = ["--gid", name]
    except KeyError:
        group_args = ["--user-group"]
    cmd = [
        useradd,
        "--system",
        *group_args,
        "--no-create-home",
        "--home-dir",
        "/var/lib/postgresql",
        "--shell",
        "/usr/sbin/nologin",
        name,
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise RuntimeError(
            f"PostgreSQL cannot run as root and creating the {name!r} system user failed "
            f"({' '.join(cmd)}):\n{result.stdout}{result.stderr}"
        )
    return pwd.getpwnam(name)


def _traversable_by_others(path: Path) -> bool:
    """True if every directory from / down to ``path`` is searchable by other users."""
    for directory in (path, *path.parents):
        try:
            mode = directory.stat().st_mode
        except OSError:
            return False
        if not mode & stat.S_IXOTH:
            return False
    return True


def _temp_base(run_as_other_user: bool) -> str | None:
    """Pick a parent for the temp dir: short enough for socket paths, reachable by the server."""
    base = Path(tempfile.gettempdir()).resolve()
    too_long = len(str(base)) > _MAX_TEMP_BASE_LEN
    if too_long or (run_as_other_user and not _traversable_by_others(base)):
        return "/tmp"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((_HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _port_in_use_message(log: str) -> bool:
    return "could not bind" in log or "Address already in use" in log


class TempPostgres:
    """A private PostgreSQL server in a temp dir, listening on 127.0.0.1 only.

    Use as a context manager (or call :meth:`start`/:meth:`stop`)::

        with TempPostgres() as pg:
            pg.create_database("app")
            engine = sqlalchemy.create_engine(pg.url_for("app"))

    Authentication is ``trust`` for the superuser :data:`SUPERUSER`. Durability is
    switched off (fsync etc.), so the server is only suitable for throwaway data.
    The server is also stopped at interpreter exit if :meth:`stop` was never reached.
    """

    def __init__(self, bindir: Path | str | None = None) -> None:
        self._bindir_arg = Path(bindir) if bindir is not None else None
        self._bindir: Path | None = None
        self._tmpdir: Path | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._port: int | None = None
        self._run_as: pwd.struct_passwd | None = None
        self._log_file: Path | None = None

    # -- lifecycle ------------------------------------------------------------------

    def __enter__(self) -> TempPostgres:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> TempPostgres:
        """Initialise a cluster in a fresh temp dir and start the server; return ``self``."""
        if self._proc is not None:
            raise RuntimeError("TempPostgres is already running")
        bindir = self._bindir_arg if self._bindir_arg is not None else find_bindir()
        if not _is_server_bindir(bindir):
            raise RuntimeError(f"{bindir} does not contain initdb and postgres. {_INSTALL_HINT}")
        self._bindir = bindir
        self._run_as = _ensure_system_user(SERVER_SYSTEM_USER) if os.geteuid() == 0 else None
        self._tmpdir = Path(
            tempfile.mkdtemp(prefix="charter-pg-", dir=_temp_base(self._run_as is not None))
        )
        atexit.register(self.stop)
        try:
            if self._run_as is not None:
                os.chown(self._tmpdir, self._run_as.pw_uid, self._run_as.pw_gid)
            self._log_file = self._tmpdir / "server.log"
            self._initdb()
            self._launch()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server (immediate shutdown) and delete its temp dir. Idempotent."""
        atexit.unregister(self.stop)
        proc, self._proc = self._proc, None
        self._port = None
        if proc is not None:
            self._terminate(proc)
        tmpdir, self._tmpdir = self._tmpdir, None
        if tmpdir is not None:
            shutil.rmtree(tmpdir, ignore_errors=True)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    # -- connection info ------------------------------------------------------------

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("TempPostgres is not running")
        return self._port

    @property
    def host(self) -> str:
        return _HOST

    @property
    def directory(self) -> Path:
        """The temp dir holding the data directory, Unix socket and server log."""
        if self._tmpdir is None:
            raise RuntimeError("TempPostgres is not running")
        return self._tmpdir

    @property
    def bindir(self) -> Path:
        if self._bindir is None:
            raise RuntimeError("TempPostgres has not been started")
        return self._bindir

    @property
    def url(self) -> str:
        """SQLAlchemy URL of the ``postgres`` maintenance database."""
        return self.url_for("postgres")

    def url_for(self, dbname: str) -> str:
        """SQLAlchemy URL (psycopg 3 driver) for database ``dbname``."""
        return f"postgresql+psycopg://{SUPERUSER}@{_HOST}:{self.port}/{quote(dbname, safe='')}"

    def conninfo_for(self, dbname: str = "postgres") -> str:
        """libpq connection string for ``psycopg.connect``."""
        return make_conninfo(host=_HOST, port=self.port, user=SUPERUSER, dbname=dbname)

    def server_log(self) -> str:
        """Current contents of the server log (empty if unavailable)."""
        if self._log_file is None:
            return ""
        try:
            return self._log_file.read_text(errors="replace")
        except OSError:
            return ""

    # -- database management -----------------------------------------------------

    def connect_admin(self) -> psycopg.Connection[TupleRow]:
        """An autocommit superuser connection to the ``postgres`` database."""
        return psycopg.connect(self.conninfo_for("postgres"), autocommit=True, connect_timeout=10)

    def create_database(self, name: str, template: str | None = None) -> None:
        """``CREATE DATABASE name [TEMPLATE template]``.

        Copying a template fails while anyone is connected to it, so this retries for a
        few seconds to let lingering (e.g. pooled) connections go away.
        """
        query: sql.Composed = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template is not None:
            query = sql.SQL("{} TEMPLATE {}").format(query, sql.Identifier(template))
        deadline = time.monotonic() + 10.0
        with self.connect_admin() as conn:
            while True:
                try:
                    conn.execute(query)
                    return
                except errors.ObjectInUse:
                    if template is None or time.monotonic() > deadline:
                        raise
                    time.sleep(0.1)

    def drop_database(self, name: str) -> None:
        """``DROP DATABASE IF EXISTS name``, disconnecting any sessions first."""
        with self.connect_admin() as conn:
            query = sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name))
            if conn.info.server_version >= _DROP_FORCE_MIN_VERSION:
                query = sql.SQL("{} WITH (FORCE)").format(query)
            conn.execute(query)

    # -- internals ------------------------------------------------------------------

    def _subprocess_kwargs(self) -> dict[str, Any]:
        assert self._tmpdir is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env["LC_ALL"] = "C"
        kwargs: dict[str, Any] = {"cwd": self._tmpdir, "env": env, "stdin": subprocess.DEVNULL}
        if self._run_as is not None:
            kwargs.update(user=self._run_as.pw_uid, group=self._run_as.pw_gid, extra_groups=[])
        return kwargs

    def _initdb(self) -> None:
        assert self._tmpdir is not None
        assert self._bindir is not None
        datadir = self._tmpdir / "data"
        base = [
            str(self._bindir / "initdb"),
            "--pgdata",
            str(datadir),
            "--username",
            SUPERUSER,
            "--auth",
            "trust",
            "--encoding",
            "UTF8",
            "--no-sync",
        ]
        outputs: list[str] = []
        # C.UTF-8 is built into glibc >= 2.35 (Debian 12); fall back to the plain C locale.
        for locale_args in (["--locale", "C.UTF-8"], ["--no-locale"]):
            shutil.rmtree(datadir, ignore_errors=True)
            result = subprocess.run(
                [*base, *locale_args],
                capture_output=True,
                text=True,
                check=False,
                timeout=120,
                **self._subprocess_kwargs(),
            )
            if result.returncode == 0:
                return
            outputs.append(f"$ {' '.join(result.args)}\n{result.stdout}{result.stderr}")
        raise RuntimeError("initdb failed:\n" + "\n".join(outputs))

    def _launch(self) -> None:
        assert self._tmpdir is not None
        assert self._bindir is not None
        assert self._log_file is not None
        for attempt in range(1, _PORT_ATTEMPTS + 1):
            port = _free_port()
            settings = {
                **_SERVER_SETTINGS,
                "port": str(port),
                "unix_socket_directories": str(self._tmpdir),
            }
            cmd = [str(self._bindir / "postgres"), "-D", str(self._tmpdir / "data")]
            for key, value in settings.items():
                cmd += ["-c", f"{key}={value}"]
            with self._log_file.open("wb") as log:
                # New session: a Ctrl-C in the terminal reaches us, not the server, so the
                # test run's own teardown (dropping databases, stop()) still works.
                proc = subprocess.Popen(
                    cmd,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    **self._subprocess_kwargs(),
                )
            self._proc, self._port = proc, port
            if self._wait_until_ready(proc, port):
                return
            # The server exited by itself.
            self._proc = self._port = None
            log_text = self.server_log()
            if _port_in_use_message(log_text) and attempt < _PORT_ATTEMPTS:
                continue  # Lost a race for the port; try another.
            raise RuntimeError(
                f"PostgreSQL server exited with code {proc.returncode} during startup. "
                f"Server log ({self._log_file}):\n{log_text}"
            )

    def _wait_until_ready(self, proc: subprocess.Popen[bytes], port: int) -> bool:
        """Wait until the server accepts connections; False if it exited first."""
        conninfo = make_conninfo(host=_HOST, port=port, user=SUPERUSER, dbname="postgres")
        deadline = time.monotonic() + _START_TIMEOUT
        last_error = ""
        while True:
            if proc.poll() is not None:
                return False
            try:
                with psycopg.connect(conninfo, connect_timeout=2):
                    return True
            except psycopg.OperationalError as exc:
                last_error = str(exc).strip()
            if time.monotonic() > deadline:
                log_text = self.server_log()
                raise RuntimeError(
                    f"PostgreSQL server did not accept connections on {_HOST}:{port} within "
                    f"{_START_TIMEOUT:.0f} s (last error: {last_error}). "
                    f"Server log ({self._log_file}):\n{log_text}"
                )
            time.sleep(0.05)

    @staticmethod
    def _terminate(proc: subprocess.Popen[bytes]) -> None:
        if proc.poll() is None:
            # SIGQUIT = immediate shutdown: no checkpoint, the data is thrown away anyway.
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGQUIT)
            try:
                proc.wait(timeout=_STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def _raise_keyboard_interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def main() -> int:
    """Run a TempPostgres in the foreground, print how to reach it, stop it on Ctrl-C."""
    signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    signal.signal(signal.SIGINT, _raise_keyboard_interrupt)  # even if started with SIGINT ignored
    try:
        with TempPostgres() as pg:
            print(pg.url, flush=True)
            print(
                f"psql:  {pg.bindir / 'psql'} '{pg.conninfo_for()}'\n"
                f"data:  {pg.directory}\n"
                "Press Ctrl-C to stop (the data is deleted).",
                file=sys.stderr,
                flush=True,
            )
            while pg.running:
                time.sleep(0.5)
            print("PostgreSQL server exited unexpectedly:\n" + pg.server_log(), file=sys.stderr)
            return 1
    except KeyboardInterrupt:
        print("stopped", file=sys.stderr)
        return 0
    except RuntimeError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
