"""The API's token cache (outaged.api.tokens) over a real SQLite store: it saves
the store lookups, and a revocation through another connection to the same
database is seen at the next verification."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from outaged.api.auth import new_token
from outaged.api.tokens import TokenCache
from outaged.store.base import TOKEN_TRUST_S, Token
from outaged.store.sqlite import SqliteStore


class Counting:
    """A real store, counting the token lookups that reach it."""

    def __init__(self, store: SqliteStore) -> None:
        self.store = store
        self.lookups = 0

    def tokens_epoch(self) -> object:
        return self.store.tokens_epoch()

    async def token_by_hash(self, sha256: str) -> Token | None:
        self.lookups += 1
        return await self.store.token_by_hash(sha256)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


async def _stores(tmp_path: Path) -> tuple[SqliteStore, SqliteStore]:
    daemon, other = SqliteStore(tmp_path / "o.db"), SqliteStore(tmp_path / "o.db")
    await daemon.open()
    await other.open()
    return daemon, other


async def _add(store: SqliteStore, name: str) -> str:
    _, sha = new_token()
    await store.add_token(Token(name, "viewer", sha, 1.0))
    return sha


async def test_a_verified_token_is_served_from_memory(tmp_path: Path) -> None:
    daemon, other = await _stores(tmp_path)
    try:
        store = Counting(daemon)
        cache = TokenCache(store, Clock())  # type: ignore[arg-type]
        sha = await _add(other, "v")
        for _ in range(5):
            found = await cache.verify(sha)
            assert found is not None and found.name == "v"
        assert store.lookups == 1
    finally:
        await daemon.close()
        await other.close()


async def test_a_revocation_through_another_connection_refuses_the_next_request(
    tmp_path: Path,
) -> None:
    daemon, other = await _stores(tmp_path)
    try:
        store = Counting(daemon)
        cache = TokenCache(store, Clock())  # type: ignore[arg-type]
        sha, kept = await _add(other, "leaked"), await _add(other, "kept")
        assert await cache.verify(sha) is not None and await cache.verify(kept) is not None
        assert await other.revoke_token("leaked", 5.0)
        found = await cache.verify(sha)
        assert found is not None and found.revoked_at == 5.0
        found = await cache.verify(sha)  # a revoked token is never kept
        assert found is not None and found.revoked_at == 5.0
        assert (await cache.verify(kept)) is not None
        assert store.lookups == 5  # 2 first, 2 for the revoked one, the other once again
    finally:
        await daemon.close()
        await other.close()


async def test_unknown_tokens_are_not_kept_so_a_new_one_works_at_once(tmp_path: Path) -> None:
    daemon, other = await _stores(tmp_path)
    try:
        cache = TokenCache(daemon, Clock())
        _, sha = new_token()
        assert await cache.verify(sha) is None
        await other.add_token(Token("new", "viewer", sha, 1.0))
        found = await cache.verify(sha)
        assert found is not None and found.name == "new"
    finally:
        await daemon.close()
        await other.close()


async def test_a_revocation_nobody_announced_counts_after_the_trust_bound(tmp_path: Path) -> None:
    """Written into the database by hand (no marker): trusted at most TOKEN_TRUST_S."""
    daemon, other = await _stores(tmp_path)
    try:
        clock = Clock()
        cache = TokenCache(daemon, clock)
        sha = await _add(other, "v")
        assert await cache.verify(sha) is not None
        with sqlite3.connect(tmp_path / "o.db") as db:
            db.execute("UPDATE tokens SET revoked_at = 7.0 WHERE name = 'v'")
        clock.now += TOKEN_TRUST_S - 0.5
        found = await cache.verify(sha)
        assert found is not None and found.revoked_at is None  # within the bound
        clock.now += 1.0
        found = await cache.verify(sha)
        assert found is not None and found.revoked_at == 7.0
    finally:
        await daemon.close()
        await other.close()
