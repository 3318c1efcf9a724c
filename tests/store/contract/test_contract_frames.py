"""The contract for whole-table reads and bulk loads: training frames, data versions, imports."""

import pandas as pd
import pytest

from discerner.errors import DataFormatError


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
        "type": ["score"],
    }
    assert str(frame["timestamp"].dtype) == "datetime64[us, UTC]"
    assert isinstance(frame["type"].dtype, pd.CategoricalDtype)
    products = shop.products_frame()
    assert products["id"].tolist() == [1, 3] and products["category"].tolist() == ["a", "b"]
    assert shop.product_categories() == {1: "a", 3: "b"}


def test_data_version_is_monotonic_and_hash_follows_content(backend):
    versions = []
    for name in ("one", "two"):
        with backend.elsewhere(name).open() as store:
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


def test_import_keeps_ids_and_creates_what_is_missing(shop):
    frame = pd.DataFrame(
        {"user_id": [2, 10, 10], "product_id": [3, 3, 7], "score": [1.0, 2.0, 3.0]}
    )
    counts = shop.import_interactions(frame, progress=False)
    assert counts | {"version": 0} == {
        "activities": 3,
        "users_created": 1,
        "products_created": 1,
        "version": 0,
    }
    assert shop.has_user(10) and shop.has_product(7)
    assert shop.list_activities(user_id=10)[1] | {"timestamp": ""} == {
        "id": 3,
        "user_id": 10,
        "product_id": 7,
        "score": 3.0,
        "timestamp": "",
        "type": "score",
    }
    assert shop.create_user()["id"] == 11
    assert shop.add_activity(10, 7)["id"] == 4


def test_malformed_import_imports_nothing(shop):
    frame = pd.DataFrame({"user_id": [1, -4], "product_id": [1, 1]})
    with pytest.raises(DataFormatError, match="user_id must be a positive integer"):
        shop.import_interactions(frame, progress=False)
    assert shop.count_activities() == 0 and shop.count_users() == 2


def test_import_can_bring_back_a_deleted_id_without_its_old_activities(backend, shop):
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
    with backend.reader() as reader:
        assert reader.user_history(3)[0].tolist() == [2] and reader.count_users() == 4
