"""Verified bearer tokens kept in memory, so a request does not wait on the store.

A token found active is trusted from memory while the store's `tokens_epoch()`
(for SQLite: the size of a marker file every revocation appends to after its
commit, read with one stat per request) stays what it was when the token was
looked up, and for at most TOKEN_TRUST_S. The guarantee: a revocation through
any process writing the same store (`outaged token revoke`, another daemon)
refuses every request that begins after the revocation returned. The bound of
TOKEN_TRUST_S is only for a revocation the store committed but could not
announce (the revoking process died in between, or its marker write failed,
which it reports). Unknown and revoked tokens are never kept: a token created
a moment ago works at once, and a flood of bad tokens cannot fill memory.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from outaged.store.base import TOKEN_TRUST_S, Store, Token

MAX_TOKENS = 1024  # distinct active tokens kept; past that the oldest go


class TokenCache:
    def __init__(self, store: Store, clock: Callable[[], float] = time.monotonic) -> None:
        self.store = store
        self.clock = clock
        self._epoch: object = store.tokens_epoch()
        self._found: dict[str, tuple[Token, float]] = {}  # sha256 -> token, when looked up

    async def verify(self, sha256: str) -> Token | None:
        """The token with this hash as the store has it (None: unknown)."""
        epoch = self.store.tokens_epoch()  # before the lookup: a later change empties it
        if epoch != self._epoch:
            self._found.clear()
            self._epoch = epoch
        now = self.clock()
        kept = self._found.get(sha256)
        if kept is not None and now - kept[1] < TOKEN_TRUST_S:
            return kept[0]
        found = await self.store.token_by_hash(sha256)
        if found is None or found.revoked_at is not None:
            self._found.pop(sha256, None)
            return found
        if epoch == self._epoch:  # no revocation announced while the store answered
            if len(self._found) >= MAX_TOKENS:
                self._found.pop(next(iter(self._found)))
            self._found[sha256] = (found, now)
        return found
