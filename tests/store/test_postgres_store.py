"""What the PostgreSQL backend adds to the contract: several stores (processes) on one
database, snapshots read in ranges, bulk imports that rebuild indexes, the embedded hash."""

import threading

import pandas as pd
import psycopg
import pytest

from discerner.store import Store
from discerner.store.postgres import PostgresStore, bulk, schema


@pytest.fixture
def url(postgres_store_url):
    return postgres_store_url()


def _shop(store):
    for _ in range(2):
        store.create_user()
    for category in ("a", "b"):
        store.create_product(attributes={"category": category})


def test_two_stores_on_one_database_see_each_others_writes(url):
    with PostgresStore.open(url) as one, PostgresStore.open(url) as two:
        _shop(one)
        version, categories = two.history_version(1), two.product_categories()
        assert categories == {1: "a", 2: "b"} and two.product_categories() is categories
        one.add_activity(1, 2)
        assert two.history_version(1) > version
        assert two.user_history(1)[0].tolist() == [2]
        one.create_product(attributes={"category": "c"})
        assert two.product_categories() == {1: "a", 2: "b", 3: "c"}
        assert two.data_version() == one.data_version()
        assert two.create_user()["id"] == 3  # one sequence for every process


def test_product_changes_reach_every_process_on_their_next_read(url):
    with PostgresStore.open(url) as one, PostgresStore.open(url) as two:
        _shop(one)
        rules = two.product_rules()
        assert rules.hidden == frozenset() and two.product_rules() is rules
        one.update_product(2, {"hidden": True, "labels": ["new"]})
        changed = two.product_rules()  # the very next call, in the other process
        assert changed.hidden == frozenset({2}) and dict(changed.labels) == {2: ("new",)}
        assert two.product_categories() == {1: "a", 2: "b"}  # categories kept
        one.update_product(1, {"category": "z", "external_id": "p1"})
        assert two.product_categories() == {1: "z", 2: "b"}
        assert two.get_product_by_external_id("p1")["id"] == 1


def test_concurrent_batches_get_consecutive_ids(url):
    with PostgresStore.open(url, pool_size=8) as store:
        _shop(store)
        batches = []

        def work():
            for _ in range(10):
                batches.append(
                    [a["id"] for a in store.add_activities([{"user_id": 1, "product_id": 2}] * 5)]
                )

        threads = [threading.Thread(target=work) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert all(ids == list(range(ids[0], ids[0] + 5)) for ids in batches)
        assert sorted(i for ids in batches for i in ids) == list(range(1, 301))


def test_snapshot_in_many_ranges_and_the_same_hash_as_the_embedded_store(
    url, tmp_path, monkeypatch
):
    monkeypatch.setattr(bulk, "CHUNK_IDS", 3)
    kinds = ("view", "score", "buy:now")
    rows = [
        {"user_id": 1 + i % 2, "product_id": 1 + i % 2, "score": float(i), "timestamp": i}
        | {"type": kinds[i % 3]}
        for i in range(20)
    ]
    with (
        PostgresStore.open(url) as store,
        Store.open(tmp_path / "store", compact_interval=0) as embedded,
    ):
        for backend in (store, embedded):
            _shop(backend)
            backend.add_activities(rows)
            backend.delete_user(2)
        frame = store.interactions()
        assert frame.to_dict("list") == embedded.interactions().to_dict("list")
        assert frame["score"].tolist() == [float(i) for i in range(0, 20, 2)]
        assert frame["type"].tolist() == [kinds[i % 3] for i in range(0, 20, 2)]
        assert store.data_version()["hash"] == embedded.data_version()["hash"]
        store.export(tmp_path / "pg")
        embedded.export(tmp_path / "embedded")
    for name in ("users", "products", "activities"):
        pg = pd.read_parquet(tmp_path / "pg" / f"{name}.parquet").drop(
            columns="created_at", errors="ignore"
        )
        ours = pd.read_parquet(tmp_path / "embedded" / f"{name}.parquet").drop(
            columns="created_at", errors="ignore"
        )
        pd.testing.assert_frame_equal(pg, ours)


def test_a_big_import_rebuilds_the_indexes(url, monkeypatch):
    monkeypatch.setattr(bulk, "REBUILD_ROWS", 2)
    frame = pd.DataFrame({"user_id": [3, 1, 3], "product_id": [5, 5, 2], "score": [1.0, 2.0, 3.0]})
    with PostgresStore.open(url) as store:
        assert store.import_interactions(frame, progress=False)["activities"] == 3
        assert [a["id"] for a in store.list_activities(user_id=3)] == [1, 3]
        assert [a["id"] for a in store.list_activities(product_id=5)] == [1, 2]
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT indexname FROM pg_indexes WHERE tablename = 'activities'")
        assert sorted(r[0] for r in found) == [
            "activities_pkey",
            "activities_product_id",
            "activities_timestamp",
            "activities_type",
            "activities_user_id",
        ]


def _at_revision(database: str, revision: str, activities: str, last_id: int) -> None:
    """The tables as `revision` made them, holding user 1, product 1 and `activities` (an
    INSERT), the activities' id sequence at `last_id`."""
    schema._upgrade(database, revision)
    with psycopg.connect(database, autocommit=True) as conn:
        conn.execute("INSERT INTO users (id, created_at) VALUES (1, now())")
        conn.execute("INSERT INTO products (id, created_at) VALUES (1, now())")
        conn.execute(activities)
        conn.execute("SELECT setval('activities_ids', %s)", (last_id,))


def test_migration_0003_reads_existing_activities_as_score(postgres_database):
    _at_revision(
        postgres_database,
        "0002",  # before the activity types
        "INSERT INTO activities (id, user_id, product_id, score, timestamp)"
        " VALUES (1, 1, 1, 2.5, '2024-01-01Z')",
        last_id=1,
    )
    with PostgresStore.open(postgres_database) as store:  # a writer migrates to 0003
        assert [a["type"] for a in store.list_activities()] == ["score"]
        assert store.add_activity(1, 1, type="view") | {"timestamp": ""} == {
            "id": 2,
            "user_id": 1,
            "product_id": 1,
            "score": 1.0,
            "timestamp": "",
            "type": "view",
        }
        assert store.interactions()["type"].tolist() == ["score", "view"]


def test_migration_0005_indexes_the_activity_times(postgres_database):
    _at_revision(
        postgres_database,
        "0004",  # before the time index
        "INSERT INTO activities (id, user_id, product_id, score, timestamp, type)"
        " SELECT n, 1, 1, n, '2024-01-01Z'::timestamptz + n * interval '1 hour', 'view'"
        " FROM generate_series(1, 2000) AS n",
        last_id=2000,
    )
    with PostgresStore.open(postgres_database) as store:  # a writer migrates to 0005
        # From 2024-03-23T00:00Z, 82 days (1968 hours) after 2024-01-01: ids 1968-2000, 33 rows.
        recent = store.activities_since("2024-03-23T00:00:00Z", ["view"])
        assert recent["score"].tolist() == [float(n) for n in range(1968, 2001)]
    with psycopg.connect(postgres_database) as conn:
        conn.execute("ANALYZE activities")
        query = bulk._BOUNDS + " AND timestamp >= '2024-03-23Z'"  # the rows `read_since` reads
        plan = " ".join(row[0] for row in conn.execute("EXPLAIN " + query))
        assert "activities_timestamp" in plan and "pkey" not in plan  # 33 index entries read
