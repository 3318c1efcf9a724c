"""`Store`, the embedded backend: one folder of log and Parquet files, its parts behind one face."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pandas as pd

from discerner.errors import StoreReadOnlyError
from discerner.store import daily
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
from discerner.store.facade import StoreFacade
from discerner.store.frames import Frames
from discerner.store.importing import import_interactions
from discerner.store.impressions import ImpressionLog

logger = logging.getLogger(__name__)


class Store(StoreFacade):
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
        self._impressions = ImpressionLog(self.path / "impressions", readonly=readonly)

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

    def compact(self) -> dict:
        """Fold the log and import segments into a new Parquet snapshot, then drop them.

        Embedded only (not part of `StoreContract`). The snapshot's files become durable and
        the manifest is swapped atomically before any log file is removed, so a crash at any
        moment loses nothing.

        Returns:
            The data version of the snapshot.
        """
        return self._compactor.compact()

    # ----------------------------------------------------------------- frames and versions

    def interactions(self) -> pd.DataFrame:
        """A consistent copy of every live activity: user_id, product_id, score, timestamp."""
        return self._frames.interactions()

    def activities_since(self, since: object, types: list[str] | None = None) -> pd.DataFrame:
        """Live activities at or after `since` (of `types`): only those rows are copied."""
        return self._frames.since(since, types)

    def users_frame(self) -> pd.DataFrame:
        """Live users: id, created_at, external_id and one column per attribute name."""
        return self._frames.users()

    def products_frame(self) -> pd.DataFrame:
        """Live products: id, created_at, external_id and one column per attribute name."""
        return self._frames.products()

    def data_version(self) -> dict:
        """{"version", "users", "products", "activities", "hash"} of the data seen now."""
        return self._frames.data_version()

    def activities_per_day(self, since: object) -> dict[str, int]:
        """Live activities per UTC day from `since`'s day on (one pass over the time column)."""
        with self._engine.lock:
            views = self._engine.state.acts.views()
        return daily.count_views(views, since)

    def export(self, directory: str | os.PathLike[str]) -> dict:
        """Write a consistent snapshot: users, products, activities Parquet files + version.json."""
        return self._frames.export(directory)

    def import_interactions(self, frame: pd.DataFrame, progress: bool = True) -> dict:
        """Bulk-load interactions, keeping the frame's ids: one segment, one log record."""
        return import_interactions(self._engine, frame, progress)

    # ----------------------------------------------------------------- experiments

    def add_impressions(self, rows: list[dict]) -> None:
        """Append impressions: one fsynced Parquet file per call (`store.impressions`)."""
        if self.readonly:
            raise StoreReadOnlyError("the store is open read-only")
        self._impressions.append(rows)

    def impressions(self, experiment: str) -> pd.DataFrame:
        """Every impression of `experiment`, read from its Parquet files."""
        return self._impressions.read(experiment)


__all__ = ["Store"]
