"""The API's token check (outaged/api/middleware.py `Tokens`) on a real SQLite store
with a second store as the `outaged token` CLI: an answer is reused only within
the loop turn it was given in, so a revoke counts from the next turn on."""

from __future__ import annotations

import asyncio
from pathlib import Path

from outaged.api.middleware import Tokens
from outaged.store.base import Token
from outaged.store.sqlite import SqliteStore

T0 = 1_700_000_000.0
CC = Token("cc", "reporter", "a" * 64, T0)


def refused(found: Token | None) -> bool:
    """What the middleware answers 401 to: no such token, or a revoked one."""
    return found is None or found.revoked_at is not None


async def test_an_answer_is_reused_in_its_turn_and_a_revoke_counts_from_the_next(
    tmp_path: Path,
) -> None:
    path = tmp_path / "store.db"
    store, cli = SqliteStore(path), SqliteStore(path)
    await store.open()
    await cli.open()
    try:
        await cli.add_token(CC)
        tokens = Tokens(store)
        assert await tokens.find(CC.sha256) == CC  # through the store's thread: not kept
        assert await cli.revoke_token("cc", T0 + 1)
        assert refused(await tokens.find(CC.sha256))  # so the revoke is seen at once
        await cli.add_token(Token("cc", "reporter", "b" * 64, T0 + 2))
        assert await tokens.find("b" * 64) is not None  # verified (via the thread)
        await asyncio.sleep(0)
        found = await tokens.find("b" * 64)  # from the store's memory, within this turn
        assert found is not None and found.name == "cc"
        assert cli.revoke_token_sync("cc", T0 + 3)  # committed without ending the turn
        # Still this turn: every request checked now arrived before the store was asked.
        assert await tokens.find("b" * 64) == found and not refused(found)
        await asyncio.sleep(0)  # the turn is over: asked again, the revoke is seen
        assert refused(await tokens.find("b" * 64))
    finally:
        await store.close()
        await cli.close()


async def test_unknown_and_revoked_tokens_are_never_kept(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store, cli = SqliteStore(path), SqliteStore(path)
    await store.open()
    await cli.open()
    try:
        tokens = Tokens(store)
        assert await tokens.find("c" * 64) is None
        await cli.add_token(Token("late", "reporter", "c" * 64, T0))
        assert await tokens.find("c" * 64) is not None  # no "unknown" was kept
        await asyncio.sleep(0)
        assert await tokens.find("c" * 64) is not None  # kept now (from the store's memory)
        assert await cli.revoke_token("late", T0 + 1)
        await asyncio.sleep(0)
        revoked = await tokens.find("c" * 64)
        assert revoked is not None and revoked.revoked_at == T0 + 1
        assert tokens._kept == {}  # the refused are not kept
    finally:
        await store.close()
        await cli.close()
