"""The embedded store: SQLite in WAL mode, driven from two worker threads.

Writes run on one dedicated thread with its own connection, reads on another
(WAL lets readers see the last commit while a write is in progress), so the
event loop never blocks on disk and a slow fsync never delays a token check.
`synchronous=FULL`: a commit that returned survives `kill -9` and power loss.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from outaged.errors import StoreError, StoreUnavailable, UnstorableError
from outaged.store import outcomes
from outaged.store.base import Batch, Token
from outaged.store.codec import payload_path
from outaged.store.migrations import MIGRATIONS
from outaged.store.rows import (
    INSERT_SIGNAL,
    Reads,
    batch_rows,
)

BUSY_TIMEOUT_MS = 5000  # how long a write waits behind another process's lock

# One batch of expired signals (see Store.prune_signals). A manual fault goes once
# a later "cleared" for its element exists: replaying either from an empty engine
# leaves the same faults set. The signals_at index finds the old rows. `cleared`
# is looked up in either payload format (outaged.store.codec).
_PRUNE_SIGNALS = f"""
DELETE FROM signals WHERE seq IN (
    SELECT s.seq FROM signals s
    WHERE s.at < :before
      AND s.seq < (SELECT MAX(seq) FROM signals)
      AND (
        s.kind NOT IN ('manual', 'maintenance')
        OR (s.kind = 'maintenance' AND s.until_at < :before)
        OR (s.kind = 'manual' AND EXISTS (
              SELECT 1 FROM signals c
              WHERE c.kind = 'manual' AND c.element = s.element AND c.seq >= s.seq
                AND (json_extract(c.payload, '$.cleared') = 1
                     OR json_extract(c.payload, '{payload_path("manual", "cleared")}') = 1)))
      )
    ORDER BY s.at
    LIMIT :limit
)
"""
_BUMP_TOKENS = "UPDATE token_generation SET n = n + 1"
_PRUNE_IDEMPOTENCY = """
DELETE FROM idempotency WHERE key IN (
    SELECT key FROM idempotency WHERE created_at < :before ORDER BY created_at LIMIT :limit
)
"""


class SqliteStore(Reads):
    NO_LIMIT = -1  # LIMIT -1: all
    IN_CHUNK = 500  # `?` marks a statement: far under SQLite's limit

    def __init__(self, path: Path, busy_timeout_ms: int = BUSY_TIMEOUT_MS) -> None:
        self.path = path
        self.busy_timeout_ms = busy_timeout_ms
        self._db: sqlite3.Connection | None = None
        self._reader: sqlite3.Connection | None = None
        self._loop_db: sqlite3.Connection | None = None  # the token generation, per request
        self._tokens: dict[str, Token] = {}  # by SHA-256, as of `_tokens_seen`
        self._tokens_seen = -1
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-w")
        self._read_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-r")

    def _read_sync(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._reader is None:
            self._reader = self._connect()
        return self._query(sql, args, self._reader)

    def _among(self, column: str, values: list[Any]) -> tuple[str, tuple[Any, ...]]:
        return f"{column} IN ({', '.join('?' for _ in values)})", tuple(values)

    @property
    def db(self) -> sqlite3.Connection:
        if self._db is None:
            raise StoreError("the store is not open")
        return self._db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
        return db

    # ---- lifecycle -----------------------------------------------------

    async def open(self) -> None:
        await self._run(self.open_sync)

    def open_sync(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            db = self._connect()
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            self._db = db
            self._migrate()
        except (sqlite3.Error, OSError) as exc:
            raise StoreError(f"{self.path}: cannot open the database: {exc}") from exc

    def _migrate(self) -> None:
        db = self.db
        db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
        current = row[0] or 0
        if current > len(MIGRATIONS):
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this outaged "
                f"({len(MIGRATIONS)}); upgrade outaged"
            )
        for version in range(current + 1, len(MIGRATIONS) + 1):
            with self._transaction():
                for statement in MIGRATIONS[version - 1]:
                    db.execute(statement)
                db.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._loop_db is not None:
            self._loop_db.close()
            self._loop_db = None
        if self._reader is not None:
            await loop.run_in_executor(self._read_thread, self._reader.close)
            self._reader = None
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._thread.shutdown(wait=True)
        self._read_thread.shutdown(wait=True)

    def _transaction(self) -> _Transaction:
        return _Transaction(self.db)

    # ---- writes --------------------------------------------------------

    async def commit(self, batch: Batch) -> None:
        if batch:
            await self._run(self.commit_sync, batch)

    def commit_sync(self, batch: Batch) -> None:
        db = self.db
        try:
            with self._transaction():
                for sql, rows in batch_rows(batch):
                    if sql == INSERT_SIGNAL:
                        _insert_rows(db, _INSERT_SIGNALS, 9, rows)
                    else:
                        db.executemany(sql, rows)
        except sqlite3.OperationalError as exc:  # locked, I/O, full, schema gone: not the item
            raise StoreUnavailable(f"{self.path}: commit failed: {exc}") from exc
        except (sqlite3.Error, UnicodeError, OverflowError, ValueError, TypeError) as exc:
            # the rows themselves: a constraint, a lone surrogate, an int past 2^63-1
            raise UnstorableError(f"the store refused this change: {exc}") from exc
        except OSError as exc:
            raise StoreUnavailable(f"{self.path}: commit failed: {exc}") from exc

    async def writable(self) -> bool:
        return await self._run(self.writable_sync)

    def writable_sync(self) -> bool:
        """Whether a write transaction can start right now: no waiting out the busy
        timeout behind another process's lock."""
        db = self.db
        try:
            db.execute("PRAGMA busy_timeout=0")
            try:
                db.execute("BEGIN IMMEDIATE")
            finally:
                db.execute(f"PRAGMA busy_timeout={int(self.busy_timeout_ms)}")
            db.execute("ROLLBACK")
        except (sqlite3.Error, OSError):
            return False
        return True

    # ---- tokens and idempotency ---------------------------------------

    async def add_token(self, token: Token) -> None:
        await self._run(self.add_token_sync, token)

    def add_token_sync(self, token: Token) -> None:
        try:
            with self._transaction():
                row = self.db.execute(
                    "SELECT revoked_at FROM tokens WHERE name = ?", (token.name,)
                ).fetchone()
                if row is not None and row[0] is None:
                    raise StoreError(f"a token named {token.name!r} exists; revoke it first")
                self.db.execute("DELETE FROM tokens WHERE name = ?", (token.name,))
                self.db.execute(
                    "INSERT INTO tokens (name, role, sha256, created_at) VALUES (?, ?, ?, ?)",
                    (token.name, token.role, token.sha256, token.created_at),
                )
                self.db.execute(_BUMP_TOKENS)
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot add token: {exc}") from exc

    async def token_by_hash(self, sha256: str) -> Token | None:
        """From memory while the token generation has not moved since it was read.

        Every add and revoke bumps `token_generation` in its own transaction
        (`outaged token` is another process), and the generation is read here,
        per request, on a connection of the event loop's own: one indexed page
        read under WAL (readers never wait for the writer), far cheaper than a
        trip through the reader thread. A revoke committed before a request
        arrives is therefore seen by that request. Unknown tokens are never
        kept (a client sending junk cannot grow the cache)."""
        generation = self._token_generation()
        if generation != self._tokens_seen:
            self._tokens.clear()
            self._tokens_seen = generation
        found = self._tokens.get(sha256)
        if found is not None:
            return found
        sql = "SELECT name, role, sha256, created_at, revoked_at FROM tokens WHERE sha256 = ?"
        rows = await self._read(sql, (sha256,))
        if not rows:
            return None
        found = Token(*rows[0])
        # Read after `generation`: at worst newer than it, and the next request, seeing
        # the counter moved, reads it again.
        if generation == self._tokens_seen:
            self._tokens[sha256] = found
        return found

    def _token_generation(self) -> int:
        try:
            if self._loop_db is None:
                self._loop_db = self._connect()
            row = self._loop_db.execute("SELECT n FROM token_generation").fetchone()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: cannot check the tokens: {exc}") from exc
        return int(row[0])

    async def tokens(self) -> list[Token]:
        return await self._run(self.tokens_sync)

    def tokens_sync(self) -> list[Token]:
        sql = "SELECT name, role, sha256, created_at, revoked_at FROM tokens ORDER BY name"
        return [Token(*row) for row in self._query(sql, ())]

    async def revoke_token(self, name: str, at: float) -> bool:
        return await self._run(self.revoke_token_sync, name, at)

    def revoke_token_sync(self, name: str, at: float) -> bool:
        with self._transaction():
            cur = self.db.execute(
                "UPDATE tokens SET revoked_at = ? WHERE name = ? AND revoked_at IS NULL",
                (at, name),
            )
            self.db.execute(_BUMP_TOKENS)
        return cur.rowcount > 0

    # ---- retention -----------------------------------------------------

    async def prune_signals(self, before: float, limit: int) -> int:
        return await self._run(self._prune, _PRUNE_SIGNALS, before, limit)

    async def prune_idempotency(self, before: float, limit: int) -> int:
        return await self._run(self._prune, _PRUNE_IDEMPOTENCY, before, limit)

    # ---- queued requests (outaged.ha; outaged/store/outcomes.py) -------

    async def prune_outcomes(self, before: float, limit: int) -> int:
        return await self._run(self._prune, outcomes.PRUNE_SQLITE, before, limit)

    def _prune(self, sql: str, before: float, limit: int) -> int:
        """One short write transaction on the writer thread: commits queue behind
        it for the time `limit` rows take to delete, never longer."""
        try:
            with self._transaction():
                cur = self.db.execute(sql, {"before": before, "limit": limit})
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: pruning failed: {exc}") from exc
        return cur.rowcount

    def _query(
        self, sql: str, args: Sequence[Any], db: sqlite3.Connection | None = None
    ) -> list[tuple[Any, ...]]:
        try:
            return (db or self.db).execute(sql, tuple(args)).fetchall()
        except sqlite3.Error as exc:
            raise StoreError(f"{self.path}: query failed: {exc}") from exc


class _Transaction:
    """BEGIN IMMEDIATE ... COMMIT, or ROLLBACK on any error."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __enter__(self) -> None:
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        self.db.execute("ROLLBACK" if exc_type is not None else "COMMIT")


_INSERT_SIGNALS = INSERT_SIGNAL.split(" VALUES ")[0]  # rows added by _insert_rows
_MAX_ROWS = 64  # rows per INSERT statement (9 columns: 576 parameters)


def _insert_rows(
    db: sqlite3.Connection, head: str, columns: int, rows: list[tuple[Any, ...]]
) -> None:
    """`head VALUES (...), (...), ...`: a few statements for many rows. Each statement
    is one trip into SQLite, for which the writer thread gives up the GIL and must win
    it back from the busy event loop; `executemany` makes one trip per row. Row counts
    are powers of two, so a handful of statement texts fill SQLite's statement cache."""
    marks = "(" + ", ".join("?" for _ in range(columns)) + ")"
    start = 0
    while start < len(rows):
        count = min(_MAX_ROWS, 1 << ((len(rows) - start).bit_length() - 1))
        chunk = rows[start : start + count]
        values = ", ".join(marks for _ in chunk)
        db.execute(f"{head} VALUES {values}", [v for r in chunk for v in r])
        start += count
