"""The connection pool, the write transaction (with its write counter), times and ids in SQL."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
from psycopg_pool import ConnectionPool

from discerner.errors import StoreError, StoreReadOnlyError
from discerner.store.tables import EPOCH

logger = logging.getLogger(__name__)

SHARDS = 16  # rows of write_counts; a connection bumps the row of its backend pid
_BUMP = (
    "UPDATE write_counts SET writes = writes + 1, product_writes = product_writes + %s,"
    " cascades = cascades + %s WHERE shard = pg_backend_pid() %% " + str(SHARDS)
)
_INT64 = np.iinfo(np.int64)


class Database:
    """A pool of connections to one store database; reads, snapshots and write transactions.

    Every connection runs with `synchronous_commit=on` (a COMMIT returns once the WAL is
    flushed) in UTC, autocommit unless a transaction is opened; a read-only store's
    connections are read-only in PostgreSQL too.
    """

    def __init__(self, url: str, readonly: bool, pool_size: int):
        options = "-c synchronous_commit=on -c TimeZone=UTC"
        if readonly:
            options += " -c default_transaction_read_only=on"
        self.readonly, self.closed = readonly, False
        self.pool = ConnectionPool(
            url,
            min_size=1,
            max_size=pool_size,
            kwargs={"autocommit": True, "options": options},
            open=False,
            name="discerner-store",
        )
        try:
            self.pool.open(wait=True, timeout=30)
        except psycopg.Error as exc:
            self.pool.close()
            raise StoreError(f"cannot connect to the PostgreSQL store: {exc}") from exc

    @contextmanager
    def reading(self) -> Iterator[psycopg.Connection]:
        """A connection for single-statement reads (each sees the latest commits)."""
        if self.closed:
            raise StoreError("the store is closed")
        try:
            with self.pool.connection() as conn:
                yield conn
        except psycopg.Error as exc:
            raise StoreError(f"the PostgreSQL store failed: {exc}") from exc

    @contextmanager
    def snapshot(self) -> Iterator[psycopg.Connection]:
        """A connection in a REPEATABLE READ, read-only transaction: one consistent picture."""
        with self.reading() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield conn

    @contextmanager
    def writing(
        self, products: bool = False, cascade: bool = False, counted: bool = True
    ) -> Iterator[psycopg.Connection]:
        """A write transaction; it counts itself in `write_counts` and returns after COMMIT.

        Args:
            products: The write changes products (their categories' cache is stale).
            cascade: The write may change many users' histories (bumps every history version).
            counted: Whether the write changes the data (accounts are not data).
        """
        if self.readonly:
            raise StoreReadOnlyError("the store is open read-only")
        with self.reading() as conn, conn.transaction():
            yield conn
            if counted:
                conn.execute(_BUMP, (int(products), int(cascade)))

    def close(self) -> None:
        if not self.closed:
            self.closed = True
            self.pool.close()


def db_id(value: object) -> int | None:
    """An id as an int that fits a bigint, or None (not an integer, a bool, or out of range)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        return None
    return int(value) if _INT64.min <= value <= _INT64.max else None


def to_datetime(micros: int) -> datetime:
    """Microseconds since the Unix epoch as an aware UTC datetime (for psycopg)."""
    return EPOCH + timedelta(microseconds=int(micros))


def iso(moment: datetime) -> str:
    """An aware datetime as ISO 8601 UTC with microseconds ending in "Z" (as `iso_utc`)."""
    naive = moment.astimezone(UTC).replace(tzinfo=None)
    return naive.isoformat(timespec="microseconds") + "Z"


def micros(moment: datetime) -> int:
    """An aware datetime as microseconds since the Unix epoch."""
    return (moment - EPOCH) // timedelta(microseconds=1)
