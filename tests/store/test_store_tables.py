"""The embedded store's columns and snapshots: compaction keeps the data and drops tombstones,
snapshots are plain Parquet, the per-user index stays right across chunks, imports and reopens."""

import numpy as np
import pandas as pd

from discerner.store import Store


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
            "type": "score",
        }
    ]
    assert pd.read_parquet(folder / "products.parquet")["category"].tolist() == ["a", "a", "b"]


def test_readonly_open_of_a_missing_store_is_empty(path):
    with Store.open(path, readonly=True) as reader:
        assert reader.count_users() == 0 and reader.interactions().empty
    assert not path.exists()


def test_per_user_index_stays_right_across_chunks_imports_and_reopen(path, store, monkeypatch):
    from discerner.store import activity_table

    monkeypatch.setattr(activity_table, "APPEND_CHUNK", 4)  # many sealed chunks and index merges
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
    assert len(store._engine.state.acts.parts) < 8

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


def test_compaction_drops_tombstones_from_memory_and_reads_stay_right(path, store, monkeypatch):
    from discerner.store import activity_table

    monkeypatch.setattr(activity_table, "APPEND_CHUNK", 4)
    for _ in range(4):
        store.create_user()
        store.create_product()
    for i in range(30):
        store.add_activity(1 + i % 4, 1 + i % 3, float(i), timestamp=i)
    store.delete_user(2)
    store.delete_product(3)
    expected = store.interactions()
    store.compact()
    assert store._engine.state.acts.total == store._engine.state.acts.live == len(expected) == 15
    assert len(store._engine.state.acts.chunks) == 1
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


def test_compaction_joins_many_appended_chunks(store, monkeypatch):
    from discerner.store import activity_table, compaction

    monkeypatch.setattr(activity_table, "APPEND_CHUNK", 2)
    monkeypatch.setattr(compaction, "MAX_CHUNKS", 3)
    store.create_user()
    store.create_product()
    for i in range(9):
        store.add_activity(1, 1, float(i))
    assert len(store._engine.state.acts.chunks) == 5
    store.compact()
    assert len(store._engine.state.acts.chunks) == 1
    assert store.user_history(1)[1].tolist() == [float(i) for i in range(9)]
