"""A real PostgreSQL server for the tests and benchmarks, started from the installed server binaries.

``initdb`` and ``pg_ctl`` build a cluster in a fresh temporary directory; the server listens only on
a unix socket in that directory (no TCP port at all), so runs never collide. As root the server
runs as the ``postgres`` user, which PostgreSQL requires. Each test gets its own database.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import psycopg

INSTALL_HINT = "PostgreSQL's server is needed: apt-get install postgresql (or set PG_BINDIR)"


def server_bindir() -> Path:
    """The newest installed server's bin directory (initdb, pg_ctl)."""
    chosen = os.environ.get("PG_BINDIR")
    if chosen:
        return Path(chosen)
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
    )
    if found:
        return Path(found[-1]).parent
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).parent
    raise RuntimeError(INSTALL_HINT)


class PostgresServer:
    """``durable`` keeps PostgreSQL's defaults (fsync, synchronous commit, full page writes); without
    it they are off, for speed. ``settings`` are more server settings (name to value)."""

    def __init__(
        self, *, durable: bool = False, settings: dict[str, str] | None = None, parent: Path | None = None
    ) -> None:
        self.bindir = server_bindir()
        self.root = Path(tempfile.mkdtemp(prefix="m2f-pg-", dir=parent))
        self.data = self.root / "data"
        self.durable = durable
        self.settings = dict(settings or {})
        self._run_as: dict[str, Any] = {}
        if os.geteuid() == 0:
            account = pwd.getpwnam("postgres")
            os.chown(self.root, account.pw_uid, account.pw_gid)
            self._run_as = {"user": account.pw_uid, "group": account.pw_gid, "extra_groups": []}

    def _run(self, *args: str) -> None:
        subprocess.run(
            [str(self.bindir / args[0]), *args[1:]],
            check=True,
            capture_output=True,
            cwd=self.root,
            **self._run_as,
        )

    def start(self) -> PostgresServer:
        self._run("initdb", "-D", str(self.data), "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8")
        options = f"-k {self.root} -c listen_addresses='' -c max_connections=200"
        if not self.durable:
            options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        options += "".join(f" -c {name}={value}" for name, value in self.settings.items())
        self._run("pg_ctl", "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w", "start")
        return self

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def pid(self) -> int:
        """The postmaster's process id: the server's other processes are its children."""
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def url(self, database: str = "postgres") -> str:
        return f"postgresql:///{database}?host={self.root}&user=postgres"

    def new_database(self) -> str:
        """A fresh, empty database; returns its URL."""
        name = f"t_{secrets.token_hex(6)}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.split("?")[0].rsplit("/", 1)[1]
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
