"""Fixtures shared across test modules: one PostgreSQL server per session, and the
`backend` parameter that runs a store test on SQLite and on PostgreSQL."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.postgres import Postgres, postgres_server
from tests.stores import BACKENDS, Backend


@pytest.fixture(scope="session")
def pg() -> Iterator[Postgres]:
    """A real PostgreSQL server for the whole session (started on first use), in a
    directory of its own: pytest's numbered tmp directories are pruned by other
    sessions running at the same time."""
    with (
        tempfile.TemporaryDirectory(prefix="outaged-pg-") as workdir,
        postgres_server(Path(workdir)) as server,
    ):
        yield server


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Backend:
    """SQLite in tmp_path, or a fresh database on the session's PostgreSQL server."""
    path = tmp_path / "store.db"
    if request.param == "sqlite":
        return Backend("sqlite", path)
    server: Postgres = request.getfixturevalue("pg")
    return Backend("postgresql", path, server.fresh_dsn())
