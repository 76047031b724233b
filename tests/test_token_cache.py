"""Verified tokens kept in memory (outaged/store/sqlite.py): a revoke or a new token
from the `outaged token` CLI, another process, counts for the very next request."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest

from outaged.store.base import Token
from outaged.store.sqlite import SqliteStore
from tests.daemon import Daemon, running_daemon

T0 = 1_700_000_000.0
REPORT = {"subscriber": "m3-c2-b4-000", "category": "game"}


async def test_a_verified_token_is_answered_from_memory_until_the_generation_moves(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    store, other = SqliteStore(path), SqliteStore(path)  # the daemon's, the CLI's
    await store.open()
    await other.open()
    try:
        await other.add_token(Token("cc", "reporter", "a" * 64, T0))
        assert await store.token_by_hash("a" * 64) == Token("cc", "reporter", "a" * 64, T0)
        # A change that bypasses the counter is not seen: the answer came from memory.
        with closing(sqlite3.connect(path)) as db, db:
            db.execute("UPDATE tokens SET role = 'admin'")
        assert (await store.token_by_hash("a" * 64) or Token("", "", "", 0)).role == "reporter"
        assert await other.revoke_token("cc", T0 + 1)  # bumps the counter: read again
        assert await store.token_by_hash("a" * 64) == Token("cc", "admin", "a" * 64, T0, T0 + 1)
        await other.add_token(Token("cc", "noc", "b" * 64, T0 + 2))
        assert await store.token_by_hash("a" * 64) is None
        assert await store.token_by_hash("b" * 64) == Token("cc", "noc", "b" * 64, T0 + 2)
        assert await store.token_by_hash("c" * 64) is None
        assert "c" * 64 not in store._tokens  # junk is never kept
    finally:
        await store.close()
        await other.close()


@pytest.fixture(scope="module")
def daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Daemon]:
    with running_daemon(tmp_path_factory.mktemp("tokens")) as d:
        yield d


def test_a_revoke_by_the_cli_refuses_the_very_next_request(daemon: Daemon) -> None:
    for round_ in range(3):
        token = daemon.create_token(f"cc-{round_}", "reporter")
        for _ in range(3):  # the first verifies it in the store, the others from memory
            assert daemon.call("POST", "/api/v1/reports", REPORT, token=token)[0] == 202
        daemon.revoke_token(f"cc-{round_}")  # returns once committed
        status, body = daemon.call("POST", "/api/v1/reports", REPORT, token=token)
        assert status == 401 and body["error"] == "unknown or revoked token"
        assert daemon.call("GET", "/api/v1/whoami", token=token)[0] == 401


def test_a_token_created_by_the_cli_works_at_once_and_its_predecessor_stays_refused(
    daemon: Daemon,
) -> None:
    old = daemon.create_token("desk", "viewer")
    assert daemon.call("GET", "/api/v1/whoami", token=old)[1] == {"name": "desk", "role": "viewer"}
    daemon.revoke_token("desk")
    new = daemon.create_token("desk", "agent")  # same name, new token and role
    assert daemon.call("GET", "/api/v1/whoami", token=new)[1] == {"name": "desk", "role": "agent"}
    assert daemon.call("POST", "/api/v1/reports", REPORT, token=new)[0] == 202
    assert daemon.call("GET", "/api/v1/whoami", token=old)[0] == 401  # its row replaced
