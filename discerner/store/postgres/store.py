"""`PostgresStore`, the PostgreSQL backend: one database that many processes and hosts share."""

from __future__ import annotations

import logging
import os
import threading
from types import TracebackType
from typing import Self

import numpy as np
import pandas as pd

from discerner.store import frames
from discerner.store.postgres import bulk, schema
from discerner.store.postgres.accounts import Accounts
from discerner.store.postgres.activities import Activities
from discerner.store.postgres.database import Database
from discerner.store.postgres.entities import Entities

logger = logging.getLogger(__name__)

POOL_SIZE = 10  # connections per process; $DISCERNER_PG_POOL_SIZE overrides


class PostgresStore:
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

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    # ----------------------------------------------------------------- users and products

    def create_user(self, external_id: str | None = None, attributes: dict | None = None) -> dict:
        """Create a user with the next id."""
        return self._users.create(external_id, attributes)

    def create_product(
        self, external_id: str | None = None, attributes: dict | None = None
    ) -> dict:
        """Create a product with the next id."""
        return self._products.create(external_id, attributes)

    def get_user(self, user_id: int) -> dict | None:
        """The user's dict, or None when there is no user with that id."""
        return self._users.get(user_id)

    def get_product(self, product_id: int) -> dict | None:
        """The product's dict, or None when there is no product with that id."""
        return self._products.get(product_id)

    def get_user_by_external_id(self, external_id: str) -> dict | None:
        """The user with that external id, or None."""
        return self._users.get_by_external_id(external_id)

    def get_product_by_external_id(self, external_id: str) -> dict | None:
        """The product with that external id, or None."""
        return self._products.get_by_external_id(external_id)

    def has_user(self, user_id: int) -> bool:
        """Whether a user has this id (a primary-key look-up)."""
        return self._users.has(user_id)

    def has_product(self, product_id: int) -> bool:
        """Whether a product has this id (a primary-key look-up)."""
        return self._products.has(product_id)

    def list_users(self, after: int = 0, limit: int = 1000) -> list[dict]:
        """Up to `limit` users with id > `after`, ascending by id (keyset pagination)."""
        return self._users.page(after, limit)

    def list_products(self, after: int = 0, limit: int = 1000) -> list[dict]:
        """Up to `limit` products with id > `after`, ascending by id (keyset pagination)."""
        return self._products.page(after, limit)

    def count_users(self) -> int:
        """Number of users."""
        return self._users.count()

    def count_products(self) -> int:
        """Number of products."""
        return self._products.count()

    def count_activities(self) -> int:
        """Number of activities."""
        return self._activities.count()

    def delete_user(self, user_id: int) -> bool:
        """Delete a user and every activity of theirs in one transaction; False when none."""
        return self._users.delete(user_id)

    def delete_product(self, product_id: int) -> bool:
        """Delete a product and every activity with it in one transaction; False when none."""
        return self._products.delete(product_id)

    # ----------------------------------------------------------------- activities

    def add_activity(
        self,
        user_id: int,
        product_id: int,
        score: float = 1.0,
        timestamp: object = None,
    ) -> dict:
        """Record that a user did something with a product, durably."""
        return self._activities.add(
            [{"user_id": user_id, "product_id": product_id, "score": score, "timestamp": timestamp}]
        )[0]

    def add_activities(self, rows: list[dict]) -> list[dict]:
        """Record many activities in one transaction: all or nothing, consecutive ids."""
        return self._activities.add(rows)

    def list_activities(
        self,
        after: int = 0,
        limit: int = 1000,
        user_id: int | None = None,
        product_id: int | None = None,
    ) -> list[dict]:
        """Up to `limit` activities with id > `after`, ascending, optionally filtered."""
        return self._activities.page(after, limit, user_id, product_id)

    def user_history(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(product ids, scores) of a user's activities, oldest first."""
        return self._activities.history(user_id)

    def history_version(self, user_id: int) -> int:
        """A number that changes whenever the user's history may have changed."""
        return self._activities.history_version(user_id)

    def product_counts(self) -> pd.DataFrame:
        """Per product with activities: product_id, count, score_sum; ascending id."""
        return self._activities.product_counts()

    def product_categories(self) -> dict[int, str]:
        """{product id: category} of products that have a category."""
        return self._activities.product_categories()

    # ----------------------------------------------------------------- frames and versions

    def interactions(self) -> pd.DataFrame:
        """Every activity as of one moment: user_id, product_id, score, timestamp."""
        picture = bulk.read_snapshot(self._db)
        self._remember(bulk.version_of(picture))
        return bulk.interactions_frame(picture["cols"])

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

    # ----------------------------------------------------------------- accounts

    def create_account(self, username: str, password_hash: str) -> dict:
        """Add an API account with a new random account_id."""
        return self._accounts.create(username, password_hash)

    def get_account(self, username: str) -> dict | None:
        """The account or None (one primary-key look-up: every process sees changes at once)."""
        return self._accounts.get(username)

    def list_accounts(self) -> list[dict]:
        """Every account, ordered by username."""
        return self._accounts.list()

    def set_password(self, username: str, password_hash: str) -> bool:
        """Replace an account's password hash and bump its token_version (revoking tokens)."""
        return self._accounts.set_password(username, password_hash)

    def delete_account(self, username: str) -> bool:
        """Remove an account; False when there is none."""
        return self._accounts.delete(username)


__all__ = ["PostgresStore"]
