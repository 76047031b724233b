"""The shared store: PostgreSQL through psycopg 3, for one or several instances.

Same design as `sqlite.py`: writes run on one dedicated thread with its own
connection (commits keep the decision loop's order and the event loop never
waits on the network), reads on another. A decision step is one transaction
(`commit`); the SQL and row codecs are `rows.py`'s, with `%s` placeholders.

Why psycopg 3 rather than asyncpg: its DB-API connection has the shape of
sqlite3's, so the store keeps the SQLite store's thread design, statements and
row codecs instead of a second, `$1`-style copy; `executemany` pipelines a
step's rows in one round trip; and the same library has the async connection
and LISTEN/NOTIFY that several instances need to wake each other.

Failures: no server, a dropped connection, a lock held past `lock_timeout_ms`,
a read-only (standby) server or a schema gone are StoreUnavailable (nothing
stored; the step is retried, on a new connection); a row PostgreSQL refuses (a
NUL or lone surrogate in text, an integer past 2^63-1, a constraint) is
UnstorableError, as in SQLite.

Fencing hook (for a leader lease): `fence`, given to the constructor or set
later, is called as `fence(connection)` inside every `commit` transaction on
the writer connection, before any row is written. It may read or lock rows
(e.g. `SELECT epoch FROM lease FOR SHARE`) and raises to refuse the step: the
transaction rolls back, an OutagedError propagates unchanged, a psycopg error
is mapped as above. Retention and token writes are not fenced.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import psycopg.errors
from psycopg.conninfo import conninfo_to_dict

from outaged.errors import StoreError, StoreUnavailable, UnstorableError
from outaged.store import outcomes
from outaged.store.base import Batch, Token
from outaged.store.codec import payload_index
from outaged.store.migrations import MIGRATIONS, postgres
from outaged.store.rows import (
    Reads,
    batch_rows,
    pg,
)

Connection = psycopg.Connection[tuple[Any, ...]]
Fence = Callable[[Connection], None]

LOCK_TIMEOUT_MS = 5000  # how long a write waits behind another instance's lock
CONNECT_TIMEOUT_S = 5
MIGRATION_LOCK = 0x6F757461  # pg_advisory_xact_lock key: one instance migrates at a time

# Store.prune_signals, as sqlite.py's: `cleared` in either payload format.
_PRUNE_SIGNALS = f"""
DELETE FROM signals WHERE seq IN (
    SELECT s.seq FROM signals s
    WHERE s.at < %(before)s
      AND s.seq < (SELECT MAX(seq) FROM signals)
      AND (
        s.kind NOT IN ('manual', 'maintenance')
        OR (s.kind = 'maintenance' AND s.until_at < %(before)s)
        OR (s.kind = 'manual' AND EXISTS (
              SELECT 1 FROM signals c
              WHERE c.kind = 'manual' AND c.element = s.element AND c.seq >= s.seq
                AND ((c.payload::jsonb -> 'cleared') = 'true'::jsonb
                     OR (c.payload::jsonb -> {payload_index("manual", "cleared")})
                        = 'true'::jsonb)))
      )
    ORDER BY s.at
    LIMIT %(limit)s
)
"""
_PRUNE_IDEMPOTENCY = """
DELETE FROM idempotency WHERE key IN (
    SELECT key FROM idempotency WHERE created_at < %(before)s ORDER BY created_at
    LIMIT %(limit)s
)
"""
# What a commit's INSERTs and UPDATEs take; refused on a standby.
_WRITE_LOCK = (
    "LOCK TABLE signals, outages, outage_events, deadlines, idempotency, outbox "
    "IN ROW EXCLUSIVE MODE NOWAIT"
)
_TOKEN = "SELECT name, role, sha256, created_at, revoked_at FROM tokens"
# Kept in step with the SQLite store's schema; this store still reads every token
# from the server per request (a generation read would cost the same round trip).
_BUMP_TOKENS = "UPDATE token_generation SET n = n + 1"
# Not the item: the server, the connection, a lock, a standby, the schema.
_UNAVAILABLE = (psycopg.OperationalError, psycopg.InterfaceError, psycopg.InternalError)
# The rows themselves: a constraint, NUL in text, an int past 2^63-1, bad UTF-8.
_REFUSED = (psycopg.DataError, psycopg.IntegrityError, UnicodeError, OverflowError, ValueError)


def describe(url: str) -> str:
    """The connection string without its password, for messages and logs."""
    try:
        parts = conninfo_to_dict(url)
    except psycopg.ProgrammingError:
        return "postgresql://(unparsable store.url)"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"postgresql://{user}{parts.get('host', '')}{port}/{parts.get('dbname', '')}"


class PostgresStore(Reads):
    NO_LIMIT = None  # LIMIT NULL: all
    IN_CHUNK = 10_000  # one array parameter a statement

    def __init__(
        self, url: str, *, lock_timeout_ms: int = LOCK_TIMEOUT_MS, fence: Fence | None = None
    ) -> None:
        self.url = url
        self.where = describe(url)
        self.lock_timeout_ms = lock_timeout_ms
        self.fence = fence
        self._db: Connection | None = None
        self._reader: Connection | None = None
        self._opened = False
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-w")
        self._read_thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-r")

    def _read_sync(self, sql: str, args: Sequence[Any]) -> list[tuple[Any, ...]]:
        if self._reader is None or self._reader.closed:
            self._reader = self._connect()
        try:
            return self._reader.execute(pg(sql), tuple(args)).fetchall()
        except psycopg.Error as exc:
            self._reader.close()  # the next read reconnects
            self._reader = None
            raise _failed(exc, f"{self.where}: query failed") from exc

    def _among(self, column: str, values: list[Any]) -> tuple[str, tuple[Any, ...]]:
        return f"{column} = ANY(?)", (values,)

    @property
    def db(self) -> Connection:
        """The writer connection, reconnected after a failure dropped it."""
        if not self._opened:
            raise StoreError("the store is not open")
        if self._db is None or self._db.closed:
            self._db = self._connect()
        return self._db

    def _reset(self) -> None:
        """Close the writer connection a failure may have left in any state; the next
        write reconnects."""
        if self._db is not None:
            self._db.close()
            self._db = None

    def _connect(self) -> Connection:
        try:
            db = psycopg.connect(
                self.url,
                autocommit=True,
                connect_timeout=CONNECT_TIMEOUT_S,
                application_name="outaged",
            )
            db.execute(f"SET lock_timeout = {int(self.lock_timeout_ms)}")
        except psycopg.Error as exc:
            raise StoreUnavailable(f"{self.where}: cannot connect: {_first_line(exc)}") from exc
        return db

    # ---- lifecycle -----------------------------------------------------

    async def open(self) -> None:
        await self._run(self.open_sync)

    def open_sync(self) -> None:
        """Connect and migrate; StoreError naming the server if either fails."""
        try:
            conninfo_to_dict(self.url)
        except psycopg.ProgrammingError as exc:
            raise StoreError(f"store.url: not a PostgreSQL connection URL: {exc}") from exc
        self._opened = True
        try:
            self._migrate(self.db)
        except (psycopg.Error, StoreError) as exc:
            self._reset()
            self._opened = False
            if isinstance(exc, psycopg.Error):
                raise StoreError(f"{self.where}: cannot migrate the schema: {exc}") from exc
            raise StoreError(f"cannot open the database: {exc}") from exc

    def _migrate(self, db: Connection) -> None:
        with db.transaction():
            db.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
            db.execute("CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)")
            row = db.execute("SELECT MAX(version) FROM schema_version").fetchone()
            current = row[0] if row and row[0] else 0
            if current > len(MIGRATIONS):
                raise StoreError(
                    f"{self.where}: schema version {current} is newer than this outaged "
                    f"({len(MIGRATIONS)}); upgrade outaged"
                )
            for version in range(current + 1, len(MIGRATIONS) + 1):
                for statement in MIGRATIONS[version - 1]:
                    db.execute(postgres(statement))
                db.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))

    async def close(self) -> None:
        loop = asyncio.get_running_loop()
        if self._reader is not None:
            await loop.run_in_executor(self._read_thread, self._reader.close)
            self._reader = None
        if self._db is not None:
            await self._run(self._db.close)
            self._db = None
        self._opened = False
        self._thread.shutdown(wait=True)
        self._read_thread.shutdown(wait=True)

    # ---- writes --------------------------------------------------------

    async def commit(self, batch: Batch) -> None:
        if batch:
            await self._run(self.commit_sync, batch)

    def commit_sync(self, batch: Batch) -> None:
        try:
            db = self.db
            with db.transaction():
                if self.fence is not None:
                    self.fence(db)
                with db.cursor() as cur:
                    for sql, rows in batch_rows(batch):
                        cur.executemany(pg(sql), rows)
        except psycopg.errors.LockNotAvailable as exc:
            raise StoreUnavailable(
                f"{self.where}: commit failed: locked by another session for longer than "
                f"lock_timeout ({self.lock_timeout_ms} ms)"
            ) from exc
        except _UNAVAILABLE as exc:
            self._reset()
            raise StoreUnavailable(f"{self.where}: commit failed: {_first_line(exc)}") from exc
        except (*_REFUSED, TypeError) as exc:
            raise UnstorableError(f"the store refused this change: {_first_line(exc)}") from exc
        except psycopg.Error as exc:  # the schema is not what this outaged wrote
            self._reset()
            raise StoreUnavailable(f"{self.where}: commit failed: {_first_line(exc)}") from exc

    async def writable(self) -> bool:
        return await self._run(self.writable_sync)

    def writable_sync(self) -> bool:
        """Whether a write could start now: connected, to a primary, and no other
        session holds a lock that keeps a commit's rows out (asked with NOWAIT)."""
        try:
            db = self.db
            with db.transaction():
                db.execute(_WRITE_LOCK)
        except psycopg.errors.LockNotAvailable:
            return False
        except psycopg.Error:
            self._reset()
            return False
        except StoreError:
            return False
        return True

    # ---- tokens and idempotency ---------------------------------------

    async def add_token(self, token: Token) -> None:
        await self._run(self.add_token_sync, token)

    def add_token_sync(self, token: Token) -> None:
        try:
            db = self.db
            with db.transaction():
                row = db.execute(
                    "SELECT revoked_at FROM tokens WHERE name = %s FOR UPDATE", (token.name,)
                ).fetchone()
                if row is not None and row[0] is None:
                    raise StoreError(f"a token named {token.name!r} exists; revoke it first")
                db.execute("DELETE FROM tokens WHERE name = %s", (token.name,))
                db.execute(
                    "INSERT INTO tokens (name, role, sha256, created_at) VALUES (%s, %s, %s, %s)",
                    (token.name, token.role, token.sha256, token.created_at),
                )
                db.execute(_BUMP_TOKENS)
        except psycopg.Error as exc:
            self._reset()
            raise _failed(exc, f"{self.where}: cannot add token") from exc

    async def token_by_hash(self, sha256: str) -> Token | None:
        rows = await self._read(f"{_TOKEN} WHERE sha256 = ?", (sha256,))
        return Token(*rows[0]) if rows else None

    async def tokens(self) -> list[Token]:
        return await self._run(self.tokens_sync)

    def tokens_sync(self) -> list[Token]:
        return [Token(*row) for row in self._query(f"{_TOKEN} ORDER BY name", ())]

    async def revoke_token(self, name: str, at: float) -> bool:
        return await self._run(self.revoke_token_sync, name, at)

    def revoke_token_sync(self, name: str, at: float) -> bool:
        sql = "UPDATE tokens SET revoked_at = %s WHERE name = %s AND revoked_at IS NULL"
        try:
            db = self.db
            with db.transaction():
                revoked = db.execute(sql, (at, name)).rowcount > 0
                db.execute(_BUMP_TOKENS)
            return revoked
        except psycopg.Error as exc:
            self._reset()
            raise _failed(exc, f"{self.where}: cannot revoke token") from exc

    # ---- retention -----------------------------------------------------

    async def prune_signals(self, before: float, limit: int) -> int:
        return await self._run(self._prune, _PRUNE_SIGNALS, before, limit)

    async def prune_idempotency(self, before: float, limit: int) -> int:
        return await self._run(self._prune, _PRUNE_IDEMPOTENCY, before, limit)

    # ---- queued requests (outaged.ha; outaged/store/outcomes.py) -------

    async def prune_outcomes(self, before: float, limit: int) -> int:
        return await self._run(self._prune, outcomes.PRUNE_POSTGRES, before, limit)

    def _prune(self, sql: str, before: float, limit: int) -> int:
        """One short transaction on the writer thread, as in SqliteStore."""
        try:
            return self.db.execute(sql, {"before": before, "limit": limit}).rowcount
        except psycopg.Error as exc:
            self._reset()
            raise _failed(exc, f"{self.where}: pruning failed") from exc

    def _query(self, sql: str, args: Sequence[Any], mark: bool = True) -> list[tuple[Any, ...]]:
        """Rows of `sql` (`?` placeholders unless `mark` is false) on the writer."""
        try:
            return self.db.execute(pg(sql) if mark else sql, tuple(args)).fetchall()
        except psycopg.Error as exc:
            self._reset()
            raise _failed(exc, f"{self.where}: query failed") from exc


def _failed(exc: psycopg.Error, what: str) -> StoreError:
    if isinstance(exc, _UNAVAILABLE):
        return StoreUnavailable(f"{what}: {_first_line(exc)}")
    return StoreError(f"{what}: {_first_line(exc)}")


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
