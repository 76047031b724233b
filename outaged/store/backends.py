"""The store the configuration names: SQLite in the state directory (the
embedded default) or a PostgreSQL server shared by several instances.

The PostgreSQL store (and psycopg with it) is imported only when configured:
loaded, psycopg's modules hold ~9 MB of a daemon's RSS for good (bench_restart)."""

from __future__ import annotations

from outaged.config import Config
from outaged.store.base import Store
from outaged.store.sqlite import SqliteStore


def store_for(config: Config) -> Store:
    if config.store.backend == "postgresql" and config.store.url is not None:
        from outaged.store.postgres import PostgresStore

        return PostgresStore(config.store.url)
    return SqliteStore(config.db_path)


def store_name(config: Config) -> str:
    """Where the store is, for logs and messages (never a password)."""
    if config.store.backend == "postgresql" and config.store.url is not None:
        from outaged.store.postgres import describe

        return describe(config.store.url)
    return str(config.db_path)
