"""`Store`, the embedded backend: one folder of log and Parquet files, its parts behind one face."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from types import TracebackType
from typing import Self

import numpy as np
import pandas as pd

from discerner.store.accounts import AccountBook
from discerner.store.activities import Activities
from discerner.store.compaction import (
    COMPACT_INTERVAL,
    COMPACT_LOG_BYTES,
    DELETE_COMPACT_SECONDS,
    Compactor,
)
from discerner.store.engine import Engine
from discerner.store.entities import Entities
from discerner.store.frames import Frames
from discerner.store.importing import import_interactions

logger = logging.getLogger(__name__)


class Store:
    """Users, products, activities and accounts of one store folder. Use `Store.open`.

    Keeps every promise of `StoreContract` (see there for what each method promises). The
    work is done by the parts it holds: `Engine` (lock, log, recovery, fall-back),
    `Compactor`, `Entities` (users, products), `Activities`, `Frames` and `AccountBook`.
    """

    def __init__(
        self,
        path: Path,
        readonly: bool,
        compact_interval: float = 0,
        compact_bytes: int = COMPACT_LOG_BYTES,
        delete_compact_seconds: float = DELETE_COMPACT_SECONDS,
    ):
        self.path = Path(path)
        self.readonly = readonly
        self._engine = Engine(self.path, readonly)
        self._compactor = Compactor(
            self._engine, compact_interval, compact_bytes, delete_compact_seconds
        )
        self._users = Entities(self._engine, "user")
        self._products = Entities(self._engine, "product")
        self._activities = Activities(self._engine)
        self._frames = Frames(self._engine)
        self._accounts = AccountBook(self.path, readonly=readonly)

    # ----------------------------------------------------------------- opening and closing

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        readonly: bool = False,
        *,
        compact_interval: float = COMPACT_INTERVAL,
        compact_bytes: int = COMPACT_LOG_BYTES,
        delete_compact_seconds: float = DELETE_COMPACT_SECONDS,
    ) -> Store:
        """Open a store folder.

        Args:
            path: The store folder (`discerner.config.store_dir(home)`); a writer creates it.
            readonly: Take no lock and never write; sees every write acknowledged before now.
            compact_interval: Seconds between the writer's background compaction checks
                (0 turns the background thread off).
            compact_bytes: Log size that triggers a background compaction.
            delete_compact_seconds: Age of a delete that triggers a background compaction,
                which removes the deleted data from disk and memory.

        Returns:
            The open store (also a context manager).

        Raises:
            StoreLockedError: Another process has the store open for writing.
            StoreCorruptError: A file is damaged, or the manifest, snapshots and log disagree
                (then nothing is changed); the message names the file and what to do.
        """
        store = cls(Path(path), readonly, compact_interval, compact_bytes, delete_compact_seconds)
        if readonly:
            store._engine.open_readonly()
        else:
            store._engine.open_writer()
            store._compactor.start()
            logger.info(
                "store %s open for writing at version %d", store.path, store._engine.state.seq
            )
        return store

    def close(self) -> None:
        """Stop background work, compact what the log holds, flush, and release the lock."""
        if self._engine.closed:
            return
        if not self.readonly:
            self._compactor.stop()
            try:
                self.compact()
            finally:
                self._engine.close_log()
        self._engine.closed = True
        logger.info("store %s closed at version %d", self.path, self._engine.state.seq)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def compact(self) -> dict:
        """Fold the log and import segments into a new Parquet snapshot, then drop them.

        Embedded only (not part of `StoreContract`). The snapshot's files become durable and
        the manifest is swapped atomically before any log file is removed, so a crash at any
        moment loses nothing.

        Returns:
            The data version of the snapshot.
        """
        return self._compactor.compact()

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
        """The user's dict, or None when there is no live user with that id."""
        return self._users.get(user_id)

    def get_product(self, product_id: int) -> dict | None:
        """The product's dict, or None when there is no live product with that id."""
        return self._products.get(product_id)

    def get_user_by_external_id(self, external_id: str) -> dict | None:
        """The live user with that external id, or None."""
        return self._users.get_by_external_id(external_id)

    def get_product_by_external_id(self, external_id: str) -> dict | None:
        """The live product with that external id, or None."""
        return self._products.get_by_external_id(external_id)

    def has_user(self, user_id: int) -> bool:
        """Whether a live user has this id (a lock-free dict look-up)."""
        return self._users.has(user_id)

    def has_product(self, product_id: int) -> bool:
        """Whether a live product has this id (a lock-free dict look-up)."""
        return self._products.has(product_id)

    def list_users(self, after: int = 0, limit: int = 1000) -> list[dict]:
        """Up to `limit` users with id > `after`, ascending by id (keyset pagination)."""
        return self._users.page(after, limit)

    def list_products(self, after: int = 0, limit: int = 1000) -> list[dict]:
        """Up to `limit` products with id > `after`, ascending by id (keyset pagination)."""
        return self._products.page(after, limit)

    def count_users(self) -> int:
        """Number of live users."""
        return self._users.count()

    def count_products(self) -> int:
        """Number of live products."""
        return self._products.count()

    def count_activities(self) -> int:
        """Number of live activities."""
        return self._activities.count()

    def delete_user(self, user_id: int) -> bool:
        """Delete a user and, durably, every activity of theirs; False when there is none."""
        return self._users.delete(user_id)

    def delete_product(self, product_id: int) -> bool:
        """Delete a product and, durably, every activity with it; False when there is none."""
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
        """Record many activities at once: all or nothing, in one durable commit."""
        return self._activities.add(rows)

    def list_activities(
        self,
        after: int = 0,
        limit: int = 1000,
        user_id: int | None = None,
        product_id: int | None = None,
    ) -> list[dict]:
        """Up to `limit` live activities with id > `after`, ascending, optionally filtered."""
        return self._activities.page(after, limit, user_id, product_id)

    def user_history(self, user_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(product ids, scores) of a user's live activities, oldest first."""
        return self._activities.history(user_id)

    def history_version(self, user_id: int) -> int:
        """A number that changes whenever the user's history may have changed."""
        return self._activities.history_version(user_id)

    def product_counts(self) -> pd.DataFrame:
        """Per product with live activities: product_id, count, score_sum; ascending id."""
        return self._activities.product_counts()

    def product_categories(self) -> dict[int, str]:
        """{product id: category} of live products that have a category."""
        return self._activities.product_categories()

    # ----------------------------------------------------------------- frames and versions

    def interactions(self) -> pd.DataFrame:
        """A consistent copy of every live activity: user_id, product_id, score, timestamp."""
        return self._frames.interactions()

    def users_frame(self) -> pd.DataFrame:
        """Live users: id, created_at, external_id and one column per attribute name."""
        return self._frames.users()

    def products_frame(self) -> pd.DataFrame:
        """Live products: id, created_at, external_id and one column per attribute name."""
        return self._frames.products()

    def data_version(self) -> dict:
        """{"version", "users", "products", "activities", "hash"} of the data seen now."""
        return self._frames.data_version()

    def export(self, directory: str | os.PathLike[str]) -> dict:
        """Write a consistent snapshot: users, products, activities Parquet files + version.json."""
        return self._frames.export(directory)

    def import_interactions(self, frame: pd.DataFrame, progress: bool = True) -> dict:
        """Bulk-load interactions, keeping the frame's ids: one segment, one log record."""
        return import_interactions(self._engine, frame, progress)

    # ----------------------------------------------------------------- accounts

    def create_account(self, username: str, password_hash: str) -> dict:
        """Add an API account (see `AccountBook.create`)."""
        return self._accounts.create(username, password_hash)

    def get_account(self, username: str) -> dict | None:
        """The account or None; re-reads the accounts file only when it changed."""
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


__all__ = ["Store"]
