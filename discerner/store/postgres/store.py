"""`PostgresStore`, the PostgreSQL backend: one database that many processes and hosts share."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Self

import pandas as pd

from discerner.store import daily, frames, values
from discerner.store.facade import StoreFacade
from discerner.store.postgres import bulk, impressions, schema
from discerner.store.postgres.accounts import Accounts
from discerner.store.postgres.activities import Activities
from discerner.store.postgres.database import Database
from discerner.store.postgres.entities import Entities
from discerner.store.postgres.shared import LoginFailures, TopLists, signing_secret

logger = logging.getLogger(__name__)

POOL_SIZE = 10  # connections per process; $DISCERNER_PG_POOL_SIZE overrides


class PostgresStore(StoreFacade):
    """Users, products, activities and accounts in one PostgreSQL database. Use `open`.

    Keeps every promise of `StoreContract` (see there for what each method promises); how
    it keeps them in SQL is in the docstring of `discerner.store.postgres`.
    """

    def __init__(self, url: str, readonly: bool, pool_size: int):
        self.url, self.readonly = url, readonly
        self._db = Database(url, readonly, pool_size)
        self._users = Entities(self._db, "user")
        self._products = Entities(self._db, "product")
        self._activities = Activities(self._db)
        self._accounts = Accounts(self._db)
        self._version: dict | None = None  # the last data version computed, by write count
        self._version_lock = threading.Lock()

    # ----------------------------------------------------------------- opening and closing

    @classmethod
    def open(cls, url: str, readonly: bool = False, *, pool_size: int | None = None) -> Self:
        """Connect to a store database; a writer creates or upgrades its tables first.

        Args:
            url: A `postgresql://` URL (libpq's: `?host=/socket/dir` for a Unix socket).
            readonly: Refuse writes (also in PostgreSQL: read-only transactions).
            pool_size: Connections kept per process (default $DISCERNER_PG_POOL_SIZE or 10).

        Raises:
            StoreError: The database cannot be reached, or (read-only) holds no store yet.
        """
        if not readonly:
            schema.migrate(url)
        size = pool_size or int(os.environ.get("DISCERNER_PG_POOL_SIZE") or POOL_SIZE)
        store = cls(url, readonly, max(size, bulk.WORKERS + 1))
        if readonly:
            with store._db.reading() as conn:
                schema.check(conn)
        logger.info("PostgreSQL store open%s", " read-only" if readonly else "")
        return store

    def close(self) -> None:
        """Close the connections; every acknowledged write is already committed."""
        self._db.close()

    # ----------------------------------------------------------------- frames and versions

    def interactions(self) -> pd.DataFrame:
        """Every activity as of one moment: user_id, product_id, score, timestamp, type."""
        picture = bulk.read_snapshot(self._db)
        self._remember(bulk.version_of(picture))
        return frames.interactions_frame(picture["cols"])

    def activities_since(self, since: object, types: list[str] | None = None) -> pd.DataFrame:
        """Activities at or after `since` (of `types`) as of one moment: an index range scan
        on the time, only those rows read."""
        return frames.interactions_frame(bulk.read_since(self._db, values.timestamp(since), types))

    def users_frame(self) -> pd.DataFrame:
        """Users: id, created_at, external_id and one column per attribute name."""
        with self._db.snapshot() as conn:
            return frames.entity_frame(bulk._entity_table(conn, "users"))

    def products_frame(self) -> pd.DataFrame:
        """Products: id, created_at, external_id and one column per attribute name."""
        with self._db.snapshot() as conn:
            return frames.entity_frame(bulk._entity_table(conn, "products"))

    def data_version(self) -> dict:
        """{"version", "users", "products", "activities", "hash"}; cached until the next write.

        `version` is the number of writes committed (the sum of `write_counts`); only when
        it moved since the last call is the content read and hashed again.
        """
        with self._db.reading() as conn:
            seq = conn.execute("SELECT sum(writes)::bigint FROM write_counts").fetchone()[0]
        cached = self._version
        if cached is not None and cached["version"] == seq:
            return dict(cached)
        version = bulk.version_of(bulk.read_snapshot(self._db))
        self._remember(version)
        return dict(version)

    def activities_per_day(self, since: object) -> dict[str, int]:
        """Activities per UTC day from `since`'s day on (grouped in the database)."""
        return daily.count_database(self._db, since)

    def _remember(self, version: dict) -> None:
        with self._version_lock:
            if self._version is None or self._version["version"] <= version["version"]:
                self._version = version

    def export(self, directory: str | os.PathLike[str]) -> dict:
        """Write a consistent snapshot: users, products, activities Parquet files + version.json."""
        return bulk.export(bulk.read_snapshot(self._db, entities=True), directory)

    def import_interactions(self, frame: pd.DataFrame, progress: bool = True) -> dict:
        """Bulk-load interactions, keeping the frame's ids: one transaction, binary COPY."""
        return bulk.import_interactions(self._db, frame, progress)

    # ----------------------------------------------------------------- what servers share

    @property
    def accounts(self) -> Accounts:
        """The accounts table, with `AccountBook`'s methods (for `discerner accounts`)."""
        return self._accounts

    def signing_secret(self, make: Callable[[], str]) -> str:
        """The token signing secret of every server on this database (`make` creates it once)."""
        return signing_secret(self._db, make)

    def login_failures(self, limits: dict[str, int], window: float) -> LoginFailures:
        """Failed logins counted in the database, across processes and hosts."""
        return LoginFailures(self._db, limits, window)

    def top_lists(self) -> TopLists:
        """Precomputed top lists that one process computes and every process reads."""
        return TopLists(self._db)

    # ----------------------------------------------------------------- experiments

    def add_impressions(self, rows: list[dict]) -> None:
        """Append impressions to the `impressions` table in one transaction."""
        impressions.append(self._db, rows)

    def impressions(self, experiment: str) -> pd.DataFrame:
        """Every impression of `experiment`, in insertion order."""
        return impressions.read(self._db, experiment)


__all__ = ["PostgresStore"]
