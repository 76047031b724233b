"""Several instances on one PostgreSQL store: one leader decides and notifies.

    lease.py   the leader's lease and its own fence (pure: times, injected clock)
    shard.py   probe targets shared among live members (rendezvous hashing, pure)
    sql.py     the lease row, members' heartbeats, the inbox and the outbox claim in SQL
    node.py    one instance: keeps the lease, starts and fences the leader's work

The lease row (holder, epoch, expiry) is timed by the database's clock. The
leader fences itself by its own monotonic clock, measured from the start of
its last successful renewal, a margin before the row can expire; and every
decision commit and outbox claim checks the epoch in its own transaction, so
an old leader that was paused and resumed writes and sends nothing.
"""
