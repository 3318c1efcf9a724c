"""The store's tables through its public face: ids, reads, pagination, deletion, frames."""

import threading

import numpy as np
import pandas as pd
import pytest

from discerner.errors import UnknownProductError, UnknownUserError
from discerner.store import DuplicateExternalIdError, Store, StoreReadOnlyError


def test_created_entities_get_increasing_ids_and_json_ready_dicts(store):
    first = store.create_user(external_id="u-1", attributes={"age": 30, "vip": True})
    second = store.create_user()
    product = store.create_product(attributes={"category": "books", "price": 9.5})
    assert (first["id"], second["id"], product["id"]) == (1, 2, 1)
    assert first["external_id"] == "u-1" and first["age"] == 30 and first["vip"] is True
    assert first["created_at"].endswith("Z")
    assert store.get_user(1) == first
    assert store.get_product(1) == product
    assert store.get_user_by_external_id("u-1") == first
    assert store.get_user(3) is None and store.get_product(2) is None
    assert store.has_user(2) and not store.has_user(3) and not store.has_product(7)


def test_external_ids_are_unique_and_attributes_checked(store):
    store.create_product(external_id="sku-1")
    with pytest.raises(DuplicateExternalIdError):
        store.create_product(external_id="sku-1")
    for bad in ({"id": 3}, {"nested": {"a": 1}}, {"x": float("nan")}, {"": 1}):
        with pytest.raises(ValueError):
            store.create_user(attributes=bad)
    assert store.count_products() == 1 and store.count_users() == 0


def test_add_activity_returns_its_row_and_checks_references(shop):
    got = shop.add_activity(1, 2, score=4.5, timestamp="2024-01-02T03:04:05Z")
    assert got == {
        "id": 1,
        "user_id": 1,
        "product_id": 2,
        "score": 4.5,
        "timestamp": "2024-01-02T03:04:05.000000Z",
    }
    with pytest.raises(UnknownUserError):
        shop.add_activity(9, 1)
    with pytest.raises(UnknownProductError):
        shop.add_activity(1, 9)
    with pytest.raises(ValueError):
        shop.add_activity(1, 1, score=float("inf"))
    assert shop.count_activities() == 1


def test_add_activities_is_all_or_nothing(shop):
    rows = [{"user_id": 1, "product_id": 1}, {"user_id": 2, "product_id": 99}]
    with pytest.raises(UnknownProductError):
        shop.add_activities(rows)
    assert shop.count_activities() == 0
    added = shop.add_activities([{"user_id": 1, "product_id": 1}, {"user_id": 2, "product_id": 3}])
    assert [a["id"] for a in added] == [1, 2] and added[0]["score"] == 1.0


def test_pagination_is_keyset_and_ascending(shop):
    for _ in range(5):
        shop.create_user()
    ids = [u["id"] for u in shop.list_users(after=2, limit=3)]
    assert ids == [3, 4, 5]
    assert [u["id"] for u in shop.list_users(after=5)] == [6, 7]
    assert shop.list_users(after=7) == []
    for i in range(6):
        shop.add_activity(1 + i % 2, 1 + i % 3)
    assert [a["id"] for a in shop.list_activities(after=1, limit=2)] == [2, 3]
    assert [a["id"] for a in shop.list_activities(user_id=2)] == [2, 4, 6]
    assert [a["id"] for a in shop.list_activities(product_id=1)] == [1, 4]
    assert [a["id"] for a in shop.list_activities(user_id=2, product_id=3, after=0)] == [6]
    assert [a["id"] for a in shop.list_activities(user_id=2, after=2, limit=1)] == [4]


def test_user_history_is_oldest_first_with_scores(shop):
    shop.add_activity(1, 3, 3.0, timestamp="2024-03-01T00:00:00Z")
    shop.add_activity(1, 1, 1.0, timestamp="2024-01-01T00:00:00Z")
    shop.add_activity(2, 2, 9.0)
    shop.add_activity(1, 2, 2.0, timestamp="2024-02-01T00:00:00Z")
    products, scores = shop.user_history(1)
    assert products.tolist() == [1, 2, 3] and scores.tolist() == [1.0, 2.0, 3.0]
    assert products.dtype == np.int64 and scores.dtype == np.float64
    assert shop.user_history(42)[0].tolist() == []


def test_history_version_moves_with_the_users_history_only(shop):
    first, second = shop.history_version(1), shop.history_version(2)
    shop.add_activity(1, 2, 4.0)
    assert shop.history_version(1) > first  # never reused: it only grows
    assert shop.history_version(2) == second  # another user's write leaves it alone
    unchanged = shop.history_version(1)
    shop.create_product()
    assert shop.history_version(1) == unchanged
    before = shop.history_version(2)
    shop.delete_product(3)  # a cascade may reach any history
    assert shop.history_version(2) > before


def test_deleting_a_user_cascades_and_survives_reopen(path, shop):
    shop.add_activities([{"user_id": 1, "product_id": p} for p in (1, 2, 3)])
    shop.add_activity(2, 1)
    assert shop.delete_user(1) is True
    assert shop.delete_user(1) is False
    assert shop.count_activities() == 1 and shop.user_history(1)[0].tolist() == []
    assert shop.delete_product(1) is True
    assert shop.count_activities() == 0
    shop.close()
    with Store.open(path, compact_interval=0) as again:
        assert (again.count_users(), again.count_products(), again.count_activities()) == (1, 2, 0)
        assert again.get_user(1) is None and again.list_activities() == []
        assert again.create_user()["id"] == 3  # deleted ids are never reused


def test_interactions_frame_has_schema_dtypes_and_live_rows(shop):
    shop.add_activity(1, 2, 2.0, timestamp=0)
    shop.add_activity(2, 3, 5.0, timestamp=60)
    shop.delete_product(2)
    frame = shop.interactions()
    assert frame.to_dict("list") == {
        "user_id": [2],
        "product_id": [3],
        "score": [5.0],
        "timestamp": [pd.Timestamp("1970-01-01T00:01:00Z")],
    }
    assert str(frame["timestamp"].dtype) == "datetime64[us, UTC]"
    products = shop.products_frame()
    assert products["id"].tolist() == [1, 3] and products["category"].tolist() == ["a", "b"]
    assert shop.product_categories() == {1: "a", 3: "b"}


def test_data_version_is_monotonic_and_hash_follows_content(tmp_path):
    versions = []
    for name in ("one", "two"):
        with Store.open(tmp_path / name, compact_interval=0) as store:
            store.create_user()
            store.create_product()
            store.add_activity(1, 1, 2.0, timestamp=10)
            versions.append(store.data_version())
            store.add_activity(1, 1, 3.0, timestamp=10)
            versions.append(store.data_version())
    assert versions[0]["hash"] == versions[2]["hash"] != versions[1]["hash"]
    assert versions[1]["version"] > versions[0]["version"]
    assert versions[1] | {"hash": ""} == {
        "version": 4,
        "users": 1,
        "products": 1,
        "activities": 2,
        "hash": "",
    }


def test_ids_are_unique_when_many_threads_write_at_once(shop):
    ids, errors = [], []

    def work():
        try:
            for _ in range(25):
                ids.append(shop.add_activity(1, 2)["id"])
                ids.append(shop.create_user()["id"] + 1000)
        except Exception as exc:  # surfaced by the assertion below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    activity_ids = sorted(i for i in ids if i < 1000)
    user_ids = sorted(i - 1000 for i in ids if i >= 1000)
    assert activity_ids == list(range(1, 401))
    assert user_ids == list(range(3, 403))


def test_compaction_then_reopen_gives_the_same_data(path, shop):
    shop.create_user(external_id="x", attributes={"tier": "gold"})
    for i in range(20):
        shop.add_activity(1 + i % 3, 1 + i % 3, float(i), timestamp=i)
    shop.delete_user(2)
    before = (shop.data_version(), shop.interactions(), shop.users_frame(), shop.list_activities())
    compacted = shop.compact()
    assert compacted == before[0]
    assert (path / "manifest.json").exists() and len(list((path / "log").glob("*.wal"))) == 1
    shop.close()
    with Store.open(path, compact_interval=0) as again:
        after = (again.data_version(), again.interactions(), again.users_frame())
        assert after[0] == before[0]
        pd.testing.assert_frame_equal(after[1], before[1])
        pd.testing.assert_frame_equal(after[2], before[2])
        assert again.list_activities() == before[3]
        assert again.get_user_by_external_id("x")["tier"] == "gold"


def test_snapshot_files_are_plain_parquet(path, shop):
    shop.add_activity(1, 3, 2.5, timestamp=0)
    shop.close()
    manifest = pd.read_json(path / "manifest.json", typ="series")
    folder = path / manifest["snapshot"]
    activities = pd.read_parquet(folder / "activities.parquet")
    assert activities.to_dict("records") == [
        {
            "id": 1,
            "user_id": 1,
            "product_id": 3,
            "score": 2.5,
            "timestamp": pd.Timestamp(0, tz="UTC"),
        }
    ]
    assert pd.read_parquet(folder / "products.parquet")["category"].tolist() == ["a", "a", "b"]


def test_readonly_open_sees_acknowledged_writes_and_refuses_writes(path, shop):
    shop.add_activity(1, 1)
    reader = Store.open(path, readonly=True)
    assert reader.count_activities() == 1 and reader.has_user(2)
    assert reader.data_version() == shop.data_version()
    with pytest.raises(StoreReadOnlyError):
        reader.create_user()
    reader.close()


def test_readonly_open_of_a_missing_store_is_empty(path):
    with Store.open(path, readonly=True) as reader:
        assert reader.count_users() == 0 and reader.interactions().empty
    assert not path.exists()


def test_per_user_index_stays_right_across_chunks_imports_and_reopen(path, store, monkeypatch):
    from discerner.store import tables

    monkeypatch.setattr(tables, "APPEND_CHUNK", 4)  # many sealed chunks and index merges
    for _ in range(3):
        store.create_user()
        store.create_product()
    rng = np.random.default_rng(7)
    expected = {1: [], 2: [], 3: [], 9: []}
    for step in range(60):
        user, product = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        if step % 20 == 19:
            frame = pd.DataFrame({"user_id": [9, user], "product_id": [product, 2]})
            frame["timestamp"] = [step, step]
            store.import_interactions(frame, progress=False)
            expected[9].append(product)
            expected[user].append(2)
        else:
            store.add_activity(user, product, timestamp=step)
            expected[user].append(product)
    assert len(store._acts.parts) < 8

    def check(opened):
        for user, products in expected.items():
            assert opened.user_history(user)[0].tolist() == products
            listed = opened.list_activities(user_id=user, limit=1000)
            assert [a["product_id"] for a in listed] == products

    check(store)
    store.compact()
    store.close()
    with Store.open(path, readonly=True) as reader:
        check(reader)


def test_product_counts_sum_live_activities(shop):
    shop.add_activities(
        [
            {"user_id": 1, "product_id": 3, "score": 2.0},
            {"user_id": 2, "product_id": 3, "score": 0.5},
            {"user_id": 2, "product_id": 1, "score": 4.0},
            {"user_id": 1, "product_id": 2, "score": 1.0},
        ]
    )
    shop.delete_product(2)
    assert shop.product_counts().to_dict("list") == {
        "product_id": [1, 3],
        "count": [1, 2],
        "score_sum": [4.0, 2.5],
    }


def test_product_counts_with_sparse_ids(store):
    store.import_interactions(
        pd.DataFrame({"user_id": [1, 2, 2], "product_id": [2**40, 5, 2**40], "score": [1.0, 2, 3]}),
        progress=False,
    )
    assert store.product_counts().to_dict("list") == {
        "product_id": [5, 2**40],
        "count": [1, 2],
        "score_sum": [2.0, 4.0],
    }


def test_compaction_drops_tombstones_from_memory_and_reads_stay_right(path, store, monkeypatch):
    from discerner.store import tables

    monkeypatch.setattr(tables, "APPEND_CHUNK", 4)
    for _ in range(4):
        store.create_user()
        store.create_product()
    for i in range(30):
        store.add_activity(1 + i % 4, 1 + i % 3, float(i), timestamp=i)
    store.delete_user(2)
    store.delete_product(3)
    expected = store.interactions()
    store.compact()
    assert store._acts.total == store._acts.live == len(expected) == 15
    assert len(store._acts.chunks) == 1
    store.add_activity(3, 4, 99.0, timestamp=100)
    # user 3 had i = 2, 6, 10, ..., 26; products 1 + i % 3 without product 3: 1, 2, 1, 2
    assert store.user_history(3)[0].tolist() == [1, 2, 1, 2, 4]
    assert [a["id"] for a in store.list_activities(after=25)] == [28, 29, 31]
    assert store.delete_user(1)
    assert store.count_activities() == 10  # 15 - user 1's 6 + the new one
    assert [a["product_id"] for a in store.list_activities(user_id=3)] == [1, 2, 1, 2, 4]
    store.close()
    with Store.open(path, readonly=True) as reader:
        assert reader.count_activities() == 10
        assert reader.user_history(3)[0].tolist() == [1, 2, 1, 2, 4]


def test_import_can_bring_back_a_deleted_id_without_its_old_activities(path, shop):
    shop.create_user(external_id="old")  # id 3
    shop.add_activity(3, 1)
    shop.delete_user(3)
    frame = pd.DataFrame({"user_id": [3, 2], "product_id": [2, 2]})
    assert shop.import_interactions(frame, progress=False)["users_created"] == 1
    assert [u["id"] for u in shop.list_users()] == [1, 2, 3]
    assert shop.get_user(3)["external_id"] is None
    assert shop.user_history(3)[0].tolist() == [2]
    assert shop.create_user(external_id="old")["id"] == 4
    shop.close()
    with Store.open(path, readonly=True) as reader:
        assert reader.user_history(3)[0].tolist() == [2] and reader.count_users() == 4


def test_compaction_joins_many_appended_chunks(store, monkeypatch):
    from discerner.store import core, tables

    monkeypatch.setattr(tables, "APPEND_CHUNK", 2)
    monkeypatch.setattr(core, "MAX_CHUNKS", 3)
    store.create_user()
    store.create_product()
    for i in range(9):
        store.add_activity(1, 1, float(i))
    assert len(store._acts.chunks) == 5
    store.compact()
    assert len(store._acts.chunks) == 1
    assert store.user_history(1)[1].tolist() == [float(i) for i in range(9)]
