"""A real PostgreSQL server in a temporary directory, for tests and benches.

Debian's `postgresql` package (installed by scripts/bootstrap) provides the
binaries; the cluster is created with `initdb` and run with `pg_ctl`, listening
only on a Unix socket in its own directory (no TCP port, nothing on the host's
clusters). PostgreSQL refuses to run as root, so as root (CI) every server
command runs under `runuser -u postgres` and the directory is handed to that
user; as another user it runs as that user.

    with postgres_server(tmp_path) as pg:
        dsn = pg.dsn("outaged")      # creates the database on first use
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

SERVER_USER = "postgres"


def bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name),
    )
    if not found:
        raise RuntimeError("no PostgreSQL server: scripts/bootstrap installs postgresql")
    return Path(found[-1]).parent


def _as_server_user() -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--"]
    return []


@dataclass
class Postgres:
    workdir: Path
    user: str = field(default="")
    _databases: set[str] = field(default_factory=set)

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def sockdir(self) -> Path:
        return self.workdir / "sock"

    @property
    def superuser(self) -> str:
        if os.geteuid() == 0:
            return SERVER_USER
        return self.user or os.environ.get("USER", "postgres")

    def _run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*_as_server_user(), *args],
            check=check,
            capture_output=True,
            text=True,
            timeout=150,
        )

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.sockdir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.workdir, SERVER_USER, SERVER_USER)
            shutil.chown(self.sockdir, SERVER_USER, SERVER_USER)
            # runuser must be able to reach the directory from / down.
            for parent in self.workdir.parents:
                mode = parent.stat().st_mode
                if not mode & 0o001:
                    os.chmod(parent, mode | 0o001)
        bins = bindir()
        if not (self.datadir / "PG_VERSION").exists():
            self._run(
                str(bins / "initdb"),
                "-D",
                str(self.datadir),
                "-A",
                "trust",
                "-U",
                self.superuser,
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            )
        options = (
            f"-c listen_addresses='' -c unix_socket_directories='{self.sockdir}' "
            "-c fsync=off -c synchronous_commit=on -c max_connections=200 "
            "-c shared_buffers=64MB"
        )
        self._run(
            str(bins / "pg_ctl"),
            "-D",
            str(self.datadir),
            "-l",
            str(self.workdir / "server.log"),
            "-o",
            options,
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        """Stop the server and return only once it is down (a loaded machine can
        take longer than pg_ctl's default minute): a test that stops it relies on
        nothing answering any more, so a stop that did not happen is an error."""
        if (self.datadir / "postmaster.pid").exists():
            pg_ctl = str(bindir() / "pg_ctl")
            stopped = self._run(
                pg_ctl,
                "-D",
                str(self.datadir),
                "-m",
                "fast",
                "-w",
                "-t",
                "120",
                "stop",
                check=False,
            )
            if (self.datadir / "postmaster.pid").exists():
                raise RuntimeError(f"PostgreSQL did not stop: {stopped.stdout}{stopped.stderr}")

    def psql(self, sql: str, database: str = "postgres") -> str:
        out = self._run(
            str(bindir() / "psql"),
            "-h",
            str(self.sockdir),
            "-U",
            self.superuser,
            "-d",
            database,
            "-v",
            "ON_ERROR_STOP=1",
            "-Atqc",
            sql,
            check=False,
        )
        if out.returncode != 0:
            raise PsqlError(f"psql {sql!r} on {database}: {out.stderr.strip()}")
        return out.stdout

    def dsn(self, database: str = "outaged") -> str:
        """A libpq connection string for `database`, created on first use."""
        if database not in self._databases:
            exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{database}'")
            if not exists.strip():
                self._create(database)
            self._databases.add(database)
        return f"postgresql://{self.superuser}@/{database}?host={self.sockdir}"

    def _create(self, database: str) -> None:
        """CREATE DATABASE, tried again (bounded) while another session is still
        on the template: PostgreSQL refuses to copy a template that is in use."""
        for attempt in range(10):
            try:
                self.psql(f'CREATE DATABASE "{database}"')
                return
            except PsqlError as e:
                if "being accessed by other users" not in str(e) or attempt == 9:
                    raise
                time.sleep(0.5)

    def fresh_dsn(self, prefix: str = "t") -> str:
        """A new, empty database (one per test keeps tests independent)."""
        name = f"{prefix}_{time.monotonic_ns()}"
        return self.dsn(name)


class PsqlError(RuntimeError):
    """psql refused a statement: its message says why."""


@contextmanager
def postgres_server(workdir: Path) -> Iterator[Postgres]:
    pg = Postgres(workdir)
    pg.start()
    try:
        yield pg
    finally:
        pg.stop()
