"""Fixtures of the contract suite: every test here runs once per store backend.

A backend fixture opens stores of one kind on one data set: `open()` a writer (again after a
close: the same data), `reopen(store)`, `reader()` a read-only store on the same data,
`elsewhere(name)` the same kind on a separate, empty data set, and `compact(store)` to run its
maintenance now. The PostgreSQL backend makes each data set a database of the session's
server (`tests/postgres.py`), copied from a template that holds the schema.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from discerner.store import Store, StoreContract
from discerner.store.postgres import PostgresStore


class Embedded:
    """Embedded stores (write-ahead log + Parquet snapshots) in a folder that does not exist yet."""

    def __init__(self, folder: Path):
        self.folder = folder

    def open(self) -> StoreContract:
        """A writer on this data; background compaction off so tests decide when it runs."""
        return Store.open(self.folder, compact_interval=0)

    def reopen(self, store: StoreContract) -> StoreContract:
        """Close `store` and open this data again, as after a restart."""
        store.close()
        return self.open()

    def reader(self) -> StoreContract:
        """A read-only store on this data."""
        return Store.open(self.folder, readonly=True)

    def elsewhere(self, name: str) -> Embedded:
        """The same backend on a separate data set."""
        return Embedded(self.folder.parent / name)

    def compact(self, store: StoreContract) -> None:
        """Fold the log into a snapshot now (the data must not change)."""
        store.compact()


class Postgres:
    """PostgreSQL stores on a new database of the test session's server."""

    def __init__(self, new_database):
        self.new_database = new_database
        self.url = new_database()

    def open(self) -> StoreContract:
        return PostgresStore.open(self.url, pool_size=4)

    def reopen(self, store: StoreContract) -> StoreContract:
        store.close()
        return self.open()

    def reader(self) -> StoreContract:
        return PostgresStore.open(self.url, readonly=True, pool_size=4)

    def elsewhere(self, name: str) -> Postgres:
        return Postgres(self.new_database)

    def compact(self, store: StoreContract) -> None:
        """Nothing to fold: PostgreSQL keeps its own files."""


BACKENDS = {"embedded": Embedded, "postgresql": Postgres}


@pytest.fixture(params=sorted(BACKENDS))
def backend(request, tmp_path):
    """One backend, on a fresh data set of this test."""
    if request.param == "postgresql":
        return Postgres(request.getfixturevalue("postgres_store_url"))
    return Embedded(tmp_path / "store")


@pytest.fixture
def store(backend):
    """A writer on a fresh data set of the backend."""
    opened = backend.open()
    yield opened
    opened.close()
