"""The contract for users and products: ids, reads, external ids, deletes, readers, threads."""

import threading

import pytest

from discerner.store import DuplicateExternalIdError, StoreReadOnlyError


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
    assert store.existing_products([1, 7, -1, 2**70, "1"]) == {1}


def test_external_ids_are_unique_and_attributes_checked(store):
    store.create_product(external_id="sku-1")
    with pytest.raises(DuplicateExternalIdError):
        store.create_product(external_id="sku-1")
    for bad in ({"id": 3}, {"nested": {"a": 1}}, {"x": float("nan")}, {"": 1}):
        with pytest.raises(ValueError):
            store.create_user(attributes=bad)
    assert store.count_products() == 1 and store.count_users() == 0


def test_deleting_a_user_cascades_and_survives_reopen(backend, shop):
    shop.add_activities([{"user_id": 1, "product_id": p} for p in (1, 2, 3)])
    shop.add_activity(2, 1)
    assert shop.delete_user(1) is True
    assert shop.delete_user(1) is False
    assert shop.count_activities() == 1 and shop.user_history(1)[0].tolist() == []
    assert shop.delete_product(1) is True
    assert shop.count_activities() == 0
    with backend.reopen(shop) as again:
        assert (again.count_users(), again.count_products(), again.count_activities()) == (1, 2, 0)
        assert again.get_user(1) is None and again.list_activities() == []
        assert again.create_user()["id"] == 3  # deleted ids are never reused


def test_readonly_open_sees_acknowledged_writes_and_refuses_writes(backend, shop):
    shop.add_activity(1, 1)
    reader = backend.reader()
    assert reader.count_activities() == 1 and reader.has_user(2)
    assert reader.data_version() == shop.data_version()
    with pytest.raises(StoreReadOnlyError):
        reader.create_user()
    reader.close()


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
