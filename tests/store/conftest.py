"""Fixtures of the embedded store's own tests: a store folder and a writer without background work.

The contract suite (`contract/`) has its own `store`, one per backend; `shop` builds on it.
"""

import pytest

from discerner.store import Store


@pytest.fixture
def path(tmp_path):
    """A store folder that does not exist yet."""
    return tmp_path / "store"


@pytest.fixture
def store(path):
    """A writer on a fresh store; background compaction off so tests decide when it runs."""
    opened = Store.open(path, compact_interval=0)
    yield opened
    opened.close()


@pytest.fixture
def shop(store):
    """Two users (ids 1, 2) and three products (ids 1-3, categories a, a, b)."""
    for _ in range(2):
        store.create_user()
    for category in ("a", "a", "b"):
        store.create_product(attributes={"category": category})
    return store
