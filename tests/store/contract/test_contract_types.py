"""The contract for activity types: stored, defaulted, filtered, in histories, frames and files."""

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from discerner.errors import DataFormatError


def _typed(shop):
    """Five activities: ids 1-5 of types score, view, purchase, view, score (hand-written)."""
    shop.add_activity(1, 1, 4.0, timestamp=30)  # 1: no type: "score"
    shop.add_activity(1, 2, 1.0, timestamp=10, type="view")  # 2
    shop.add_activities(
        [
            {"user_id": 2, "product_id": 2, "type": "purchase", "timestamp": 5},  # 3
            {"user_id": 1, "product_id": 3, "score": 2.0, "type": "view", "timestamp": 20},  # 4
            {"user_id": 2, "product_id": 1, "type": None},  # 5: None is "score"
        ]
    )


def test_types_are_returned_defaulted_and_filtered(shop):
    _typed(shop)
    assert [a["type"] for a in shop.list_activities()] == [
        "score",
        "view",
        "purchase",
        "view",
        "score",
    ]
    assert [a["id"] for a in shop.list_activities(type="view")] == [2, 4]
    assert [a["id"] for a in shop.list_activities(type="view", after=2)] == [4]
    assert [a["id"] for a in shop.list_activities(type="score", limit=1)] == [1]
    assert [a["id"] for a in shop.list_activities(type="score", user_id=2)] == [5]
    assert [a["id"] for a in shop.list_activities(type="view", product_id=3)] == [4]
    assert shop.list_activities(type="view", product_id=1) == []
    assert shop.list_activities(type="never-seen") == []


def test_malformed_types_are_refused_and_nothing_is_stored(shop):
    for bad in ("", "two words", "x" * 65, "é", 7, "a\x00"):
        with pytest.raises(ValueError, match="type must be"):
            shop.add_activity(1, 1, type=bad)
    rows = [{"user_id": 1, "product_id": 1}, {"user_id": 1, "product_id": 2, "type": "a/b"}]
    with pytest.raises(ValueError, match="type must be"):
        shop.add_activities(rows)
    assert shop.count_activities() == 0
    with pytest.raises(ValueError, match="type must be"):
        shop.list_activities(type="a b")
    allowed = "Az09_-.:" + "x" * 56  # 64 characters of every kind allowed
    assert shop.add_activity(1, 1, type=allowed)["type"] == allowed


def test_types_survive_a_restart_and_a_compaction(backend):
    store = backend.open()
    for _ in range(2):
        store.create_user()
        store.create_product()
    store.add_activity(1, 2, type="cart:add")
    backend.compact(store)
    store.add_activity(2, 1, type="view")
    store = backend.reopen(store)
    try:
        assert [a["type"] for a in store.list_activities()] == ["cart:add", "view"]
        assert [a["id"] for a in store.list_activities(type="cart:add")] == [1]
    finally:
        store.close()
    with backend.reader() as reader:
        assert reader.list_activities(type="view")[0]["user_id"] == 2


def test_user_activity_is_user_history_with_types(shop):
    _typed(shop)
    # User 1, oldest first: id 2 (t=10, view), id 4 (t=20, view), id 1 (t=30, score).
    products, scores, types = shop.user_activity(1)
    assert products.tolist() == [2, 3, 1] and scores.tolist() == [1.0, 2.0, 4.0]
    assert types.tolist() == ["view", "view", "score"]
    assert products.dtype == np.int64 and scores.dtype == np.float64
    assert [p.tolist() for p in shop.user_history(1)] == [[2, 3, 1], [1.0, 2.0, 4.0]]
    assert [len(part) for part in shop.user_activity(42)] == [0, 0, 0]


def test_frames_exports_and_imports_carry_types(shop, tmp_path):
    _typed(shop)
    frame = shop.interactions()
    assert frame["type"].tolist() == ["score", "view", "purchase", "view", "score"]
    assert list(frame["type"].cat.categories) == ["purchase", "score", "view"]  # sorted
    shop.export(tmp_path / "export")
    written = pq.read_table(tmp_path / "export" / "activities.parquet").to_pydict()
    assert written["type"] == ["score", "view", "purchase", "view", "score"]
    imported = pd.DataFrame({"user_id": [2, 3], "product_id": [3, 1], "type": ["like", ""]})
    shop.import_interactions(imported, progress=False)
    assert [a["type"] for a in shop.list_activities(after=5)] == ["like", "score"]  # "": default
    with pytest.raises(DataFormatError, match="row 1: type must be"):
        bad = pd.DataFrame({"user_id": [1, 1], "product_id": [1, 2], "type": ["ok", "not ok"]})
        shop.import_interactions(bad, progress=False)
    assert shop.count_activities() == 7


def test_the_content_hash_follows_types(backend):
    hashes = []
    for name, kind in (("one", "view"), ("two", "score"), ("three", "view")):
        with backend.elsewhere(name).open() as store:
            store.create_user()
            store.create_product()
            store.add_activity(1, 1, timestamp=0, type=kind)
            hashes.append(store.data_version()["hash"])
    assert hashes[0] == hashes[2] != hashes[1]
