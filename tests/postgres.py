"""A throwaway PostgreSQL server for the test session, so that the store's tests run against
both backends (SQLite and PostgreSQL) on every machine that runs the suite.

The server binaries come from, in this order: ``LOTSE_TEST_PG_BIN`` (a folder with ``initdb``
and ``postgres``), the distribution's server (Debian's ``postgresql`` package, which
``python3 dev.py test`` installs when it can), ``pg_config --bindir`` or ``postgres`` on the
PATH, and the ``pgserver`` wheel (a test dependency that bundles the binaries for Linux and
macOS). The distribution's comes first: it gets security updates, and it lies where an
unprivileged user can run it.

PostgreSQL refuses to run as root. As root (CI, containers) the server runs as the
distribution's ``postgres`` user, or as a system user ``lotse-pg`` created for it, in a folder
of its own under the system's temporary directory. It listens on a free loopback port, with a
password (scram-sha-256), fsync off, and dies with the test session (``PR_SET_PDEATHSIG``).

Without PostgreSQL the store tests fail, never skip silently: ``LOTSE_TEST_POSTGRES=skip``
skips them on a developer's machine, visibly; in CI (``CI=true``) nothing skips them.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import ctypes
import importlib.util
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

BIN_ENV = "LOTSE_TEST_PG_BIN"
OPT_OUT_ENV = "LOTSE_TEST_POSTGRES"
SYSTEM_USER = "lotse-pg"
USER = "lotse"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here; the message says why and what to do."""


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.parent.name)) or (0,)


def candidates() -> list[Path]:
    """Folders that may hold ``initdb`` and ``postgres``, in the order they are tried."""
    found: list[Path] = []
    if os.environ.get(BIN_ENV):
        found.append(Path(os.environ[BIN_ENV]))
    found += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    found += sorted(Path("/usr/local/opt").glob("postgresql*/bin"), reverse=True)  # Homebrew
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, timeout=10)
            if out.returncode == 0 and out.stdout.strip():
                found.append(Path(out.stdout.strip()))
    postgres = shutil.which("postgres")
    if postgres:
        found.append(Path(postgres).resolve().parent)
    spec = importlib.util.find_spec("pgserver")  # locate without importing (it locks at import)
    if spec is not None and spec.submodule_search_locations:
        found.append(Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin")
    return found


def find_bindir() -> Path | None:
    for folder in candidates():
        if (folder / "postgres").is_file() and (folder / "initdb").is_file():
            return folder
    return None


def _system_user() -> pwd.struct_passwd | None:
    """Whom the server runs as: None when we are not root."""
    if os.geteuid() != 0:
        return None
    for name in ("postgres", SYSTEM_USER):
        with contextlib.suppress(KeyError):
            return pwd.getpwnam(name)
    useradd = shutil.which("useradd")
    if useradd is None:
        raise PostgresUnavailable("running as root, no 'postgres' user and no useradd to create one")
    subprocess.run(
        [useradd, "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", SYSTEM_USER],
        check=True,
        capture_output=True,
    )
    return pwd.getpwnam(SYSTEM_USER)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """The server ends when the test session does, even a killed one (Linux)."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGINT)  # PR_SET_PDEATHSIG


def _free_port() -> int:
    from bot.devserver.synapse import free_port

    return free_port()


class ThrowawayPostgres:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.user = _system_user()
        self.dir = Path(tempfile.mkdtemp(prefix="lotse-pg-"))
        self.password = secrets.token_hex(16)
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None
        self._free: list[str] = []  # migrated, empty schemas ready for the next test
        self._baseline: tuple[Any, ...] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._admin_conn: Any = None

    def _as_server_user(self) -> dict[str, Any]:
        if self.user is None:
            return {}
        return {"user": self.user.pw_uid, "group": self.user.pw_gid, "extra_groups": []}

    def start(self, timeout: float = 60.0) -> None:
        data, log = self.dir / "data", self.dir / "server.log"
        pwfile = self.dir / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.user is not None:
            os.chown(self.dir, self.user.pw_uid, self.user.pw_gid)
            os.chown(pwfile, self.user.pw_uid, self.user.pw_gid)
        env = {**os.environ, "LC_ALL": "C", "LANG": "C"}
        init = subprocess.run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(data),
                "-U",
                USER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
            capture_output=True,
            env=env,
            cwd=self.dir,
            **self._as_server_user(),
        )
        pwfile.unlink()
        if init.returncode != 0:
            raise PostgresUnavailable(
                f"initdb ({self.bindir}) failed: {init.stderr.decode(errors='replace')[-800:]}"
            )
        self.port = _free_port()
        with log.open("wb") as out:
            if self.user is not None:
                os.chown(log, self.user.pw_uid, self.user.pw_gid)
            self.process = subprocess.Popen(
                [
                    str(self.bindir / "postgres"),
                    "-D",
                    str(data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.dir),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "fsync=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "max_connections=300",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=self.dir,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
                **self._as_server_user(),
            )
        deadline = time.monotonic() + timeout
        while b"ready to accept connections" not in log.read_bytes():
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise PostgresUnavailable(
                    f"the server did not start: {log.read_text(errors='replace')[-800:]}"
                )
            time.sleep(0.05)

    def url(self, schema: str | None = None, *, password: bool = True) -> str:
        """A URL of the test database; ``schema``: tables go into that schema (search_path), and
        connections are named after it (so that they can be found and ended)."""
        secret = f":{self.password}" if password else ""
        query = f"?search_path={schema}&application_name={schema}" if schema else ""
        return f"postgresql://{USER}{secret}@127.0.0.1:{self.port}/postgres{query}"

    # -- a schema per store ------------------------------------------------------------------
    #
    # Creating the tables costs PostgreSQL ~0.2 s (file system work), an empty schema next to
    # nothing. A schema the test only used through the store API (migrated, not altered) is
    # emptied after the test (rows deleted, numbering restarted) and handed to the next test
    # that asks for a migrated store; any other is dropped. The bookkeeping runs on one admin
    # connection in a thread of its own, whatever event loop the tests use.

    def _admin(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        if self._loop is None:
            self._loop = asyncio.new_event_loop()
            threading.Thread(target=self._loop.run_forever, name="postgres-admin", daemon=True).start()
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    async def _conn(self) -> Any:
        import asyncpg

        if self._admin_conn is None or self._admin_conn.is_closed():
            self._admin_conn = await asyncpg.connect(self.url())
        return self._admin_conn

    async def create_schema(self, *, migrated: bool = False) -> tuple[str, bool]:
        """A schema for one store: (name, whether it is migrated already). From any loop."""
        return await asyncio.wrap_future(self._admin(self._create(migrated)))

    async def _create(self, migrated: bool) -> tuple[str, bool]:
        conn = await self._conn()
        if migrated and self._free:
            return self._free.pop(), True
        name = "t_" + uuid.uuid4().hex[:16]
        await conn.execute(f"CREATE SCHEMA {name}")
        if migrated and self._baseline is None:
            from bot.store.db import Database

            db = await Database.connect(self.url(name))
            try:
                await db.migrate()
            finally:
                await db.close()
            self._baseline = await self._shape(conn, name)
            return name, True
        return name, False

    @staticmethod
    async def _shape(conn: Any, schema: str) -> tuple[Any, ...]:
        """What a migrated schema holds: its tables, indexes, sequences, functions, version."""
        rows = await conn.fetch(
            "SELECT c.relname::text, c.relkind::text FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1"
            " UNION ALL SELECT p.proname::text, 'f' FROM pg_proc p"
            " JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = $1",
            schema,
        )
        # Names in this file are our own ("t_" and hex digits), never input.
        version = await conn.fetchval(f"SELECT COALESCE(MAX(version), 0) FROM {schema}.lotse_migration")  # noqa: S608
        return (tuple(sorted((r[0], r[1]) for r in rows)), version)

    def release(self, schemas: list[tuple[str, bool]]) -> None:
        """After a test: empty the reusable schemas for the next test, drop the others."""
        if schemas:
            self._admin(self._release(schemas)).result(60)

    async def _release(self, schemas: list[tuple[str, bool]]) -> None:
        conn = await self._conn()
        for name, _ in schemas:  # connections the test left open
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE application_name = $1 AND pid != pg_backend_pid()",
                name,
            )
        for name, reusable in schemas:
            if reusable and await self._empty(conn, name):
                self._free.append(name)
            else:
                await conn.execute(f"DROP SCHEMA IF EXISTS {name} CASCADE")

    async def _empty(self, conn: Any, schema: str) -> bool:
        try:
            if self._baseline is None or await self._shape(conn, schema) != self._baseline:
                return False
            objects = self._baseline[0]
            # Foreign keys are triggers: off for this transaction, so any order will do.
            script = ["BEGIN", "SET LOCAL session_replication_role = replica"]
            script += [
                f"DELETE FROM {schema}.{t}"  # noqa: S608
                for t, kind in objects
                if kind == "r" and t != "lotse_migration"
            ]
            script += [f"ALTER SEQUENCE {schema}.{t} RESTART" for t, kind in objects if kind == "S"]
            await conn.execute(";\n".join([*script, "COMMIT"]))
        except Exception:
            with contextlib.suppress(Exception):
                await conn.execute("ROLLBACK")
            return False
        return True

    def stop(self) -> None:
        if self._loop is not None:
            if self._admin_conn is not None:
                with contextlib.suppress(Exception):
                    self._admin(self._admin_conn.close()).result(10)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._loop = None
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # fast shutdown
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        self.process = None
        shutil.rmtree(self.dir, ignore_errors=True)


def _alive(pid_file: Path) -> bool:
    try:
        os.kill(int(pid_file.read_text().split()[0]), 0)
    except PermissionError:
        return True  # someone else's, running
    except (OSError, ValueError, IndexError):
        return False
    return True


def _remove_leftovers(max_age_s: float = 3600) -> None:
    """Folders of servers from sessions that were killed (SIGKILL leaves them behind): no live
    postmaster, and old enough not to be another session's that is still starting."""
    for folder in Path(tempfile.gettempdir()).glob("lotse-pg-*"):
        with contextlib.suppress(OSError):
            if time.time() - folder.stat().st_mtime < max_age_s or _alive(folder / "data" / "postmaster.pid"):
                continue
            shutil.rmtree(folder, ignore_errors=True)


def start_server() -> ThrowawayPostgres:
    _remove_leftovers()
    bindir = find_bindir()
    if bindir is None:
        raise PostgresUnavailable(
            "no PostgreSQL server binaries found (install Debian's 'postgresql' package, or "
            f"'pip install pgserver', or set {BIN_ENV} to the folder with initdb and postgres)"
        )
    server = ThrowawayPostgres(bindir)
    server.start()
    return server


def may_skip() -> bool:
    """Whether a missing PostgreSQL may skip the store tests (asked for, and not in CI)."""
    return os.environ.get(OPT_OUT_ENV) == "skip" and os.environ.get("CI", "").lower() not in ("1", "true")
