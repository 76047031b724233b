"""The SQL of several instances on one PostgreSQL: lease, members, inbox, claims.

Every time here is the database's clock (`now()`, in POSIX seconds), never an
instance's: instances whose clocks disagree still agree on who holds the lease.
The functions take a psycopg connection; `lease_try`, `heartbeat` and
`members` run on the lease keeper's own autocommit connection, `check_epoch`
inside a transaction that writes (a decision commit, an outbox claim).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import AsyncConnection, AsyncCursor

from outaged.ha.lease import Fenced

LEASE = "leader"
NOW = "EXTRACT(EPOCH FROM now())"
QUEUED = "queued"  # outaged.notify.base.State.QUEUED


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str
    epoch: int
    acquired_at: float
    renewed_at: float
    expires_at: float
    now: float  # the database's clock when read

    @property
    def live(self) -> bool:
        return self.expires_at > self.now

    @property
    def age_s(self) -> float:
        """Since the holder's last renewal."""
        return max(0.0, self.now - self.renewed_at)


@dataclass(frozen=True, slots=True)
class Member:
    name: str
    api: str
    started_at: float
    heartbeat_at: float
    expires_at: float
    now: float  # the database's clock when read

    @property
    def age_s(self) -> float:
        """Since its last heartbeat."""
        return max(0.0, self.now - self.heartbeat_at)


_TRY = f"""
INSERT INTO ha_lease AS l (name, holder, epoch, acquired_at, renewed_at, expires_at)
VALUES (%(name)s, %(me)s, 1, {NOW}, {NOW}, {NOW} + %(lease_s)s)
ON CONFLICT (name) DO UPDATE SET
    epoch = CASE WHEN l.holder = EXCLUDED.holder AND l.epoch = %(held)s
                  AND l.expires_at > EXCLUDED.renewed_at
            THEN l.epoch ELSE l.epoch + 1 END,
    acquired_at = CASE WHEN l.holder = EXCLUDED.holder AND l.epoch = %(held)s
                  AND l.expires_at > EXCLUDED.renewed_at
            THEN l.acquired_at ELSE EXCLUDED.acquired_at END,
    holder = EXCLUDED.holder,
    renewed_at = EXCLUDED.renewed_at,
    expires_at = EXCLUDED.expires_at
WHERE (l.holder = EXCLUDED.holder AND l.epoch = %(held)s AND l.expires_at > EXCLUDED.renewed_at)
   OR l.expires_at <= EXCLUDED.renewed_at
RETURNING l.epoch
"""


async def lease_try(
    conn: AsyncConnection[Any], me: str, held: int | None, lease_s: float
) -> int | None:
    """One try, one statement: renew the lease `me` holds as epoch `held`, or
    take an expired one under the next epoch. The epoch held after, or None
    when another instance holds a live lease (or ours could not be renewed)."""
    params = {"name": LEASE, "me": me, "held": -1 if held is None else held, "lease_s": lease_s}
    async with conn.cursor() as cur:
        await cur.execute(_TRY, params)
        row = await cur.fetchone()
    return None if row is None else int(row[0])


async def release(conn: AsyncConnection[Any], me: str, epoch: int) -> bool:
    """Give the lease up at once (a graceful stop): a standby takes it at its next try."""
    async with conn.cursor() as cur:
        await cur.execute(
            f"UPDATE ha_lease SET expires_at = {NOW} "
            "WHERE name = %s AND holder = %s AND epoch = %s AND expires_at > " + NOW,
            (LEASE, me, epoch),
        )
        return cur.rowcount == 1


async def lease(conn: AsyncConnection[Any]) -> Lease | None:
    async with conn.cursor() as cur:
        await cur.execute(
            f"SELECT holder, epoch, acquired_at, renewed_at, expires_at, {NOW} "
            "FROM ha_lease WHERE name = %s",
            (LEASE,),
        )
        row = await cur.fetchone()
    if row is None:
        return None
    return Lease(row[0], int(row[1]), *(float(v) for v in row[2:]))


_IDLE = "SET LOCAL idle_in_transaction_session_timeout = {ms}"
_EPOCH = "SELECT epoch FROM ha_lease WHERE name = %s FOR SHARE"


def _checked(row: tuple[Any, ...] | None, epoch: int) -> None:
    now = None if row is None else int(row[0])
    if now != epoch:
        raise Fenced(
            f"the lease is at epoch {now}, this instance led epoch {epoch}: "
            "fenced, nothing decided or sent here"
        )


async def check_epoch(cur: AsyncCursor[Any], epoch: int, idle_s: float) -> None:
    """Inside a writing transaction: Fenced unless `epoch` is the lease's epoch now.

    The row is locked FOR SHARE until the transaction ends, so a standby's
    takeover (which updates it) waits for this transaction: a write checked
    here lands before the next leader reads the store, or not at all. Should
    this process stop mid-transaction (SIGSTOP), the server ends the session
    after `idle_s` idle, which lets the takeover go on."""
    await cur.execute(_IDLE.format(ms=int(idle_s * 1000)))
    await cur.execute(_EPOCH, (LEASE,))
    _checked(await cur.fetchone(), epoch)


def check_epoch_sync(conn: psycopg.Connection[Any], epoch: int, idle_s: float) -> None:
    """`check_epoch` for the store's (synchronous) writer connection."""
    conn.execute(_IDLE.format(ms=int(idle_s * 1000)))
    _checked(conn.execute(_EPOCH, (LEASE,)).fetchone(), epoch)


async def heartbeat(conn: AsyncConnection[Any], me: str, api: str, ttl_s: float) -> list[Member]:
    """Say `me` is alive for `ttl_s` more seconds; the live members after that."""
    async with conn.cursor() as cur:
        await cur.execute(
            f"""INSERT INTO ha_members AS m (name, api, started_at, heartbeat_at, expires_at)
            VALUES (%s, %s, {NOW}, {NOW}, {NOW} + %s)
            ON CONFLICT (name) DO UPDATE SET
                api = EXCLUDED.api,
                started_at = CASE WHEN m.expires_at > EXCLUDED.heartbeat_at
                             THEN m.started_at ELSE EXCLUDED.started_at END,
                heartbeat_at = EXCLUDED.heartbeat_at,
                expires_at = EXCLUDED.expires_at""",
            (me, api, ttl_s),
        )
    return await members(conn)


async def members(conn: AsyncConnection[Any]) -> list[Member]:
    """The live members, by name."""
    async with conn.cursor() as cur:
        await cur.execute(
            f"SELECT name, api, started_at, heartbeat_at, expires_at, {NOW} FROM ha_members "
            f"WHERE expires_at > {NOW} ORDER BY name"
        )
        rows = await cur.fetchall()
    return [Member(r[0], r[1], *(float(v) for v in r[2:])) for r in rows]


async def leave(conn: AsyncConnection[Any], me: str) -> None:
    async with conn.cursor() as cur:
        await cur.execute("DELETE FROM ha_members WHERE name = %s", (me,))


async def claim(
    conn: AsyncConnection[Any], epoch: int, ids: Sequence[str], idle_s: float
) -> set[str]:
    """Claim queued outbox rows for sending under `epoch`: the ones still queued
    and not locked by another claim (FOR UPDATE SKIP LOCKED). Fenced, claiming
    nothing, unless `epoch` is the lease's now."""
    async with conn.transaction(), conn.cursor() as cur:
        await check_epoch(cur, epoch, idle_s)
        await cur.execute(
            "SELECT id FROM outbox WHERE id = ANY(%s) AND state = %s FOR UPDATE SKIP LOCKED",
            (list(ids), QUEUED),
        )
        found = [str(r[0]) for r in await cur.fetchall()]
        if found:
            await cur.execute(
                "UPDATE outbox SET claimed_epoch = %s WHERE id = ANY(%s)", (epoch, found)
            )
    return set(found)
