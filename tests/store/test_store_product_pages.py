"""Keyset pages of one product's activities: right across chunks, deletes and compaction, and
cheap: a binary search in a per-product index, built without holding the writers' lock."""

import threading

import numpy as np
import pandas as pd
import pytest

from discerner.store import Store, activity_table, indexes


def _walk(store, product: int, limit: int) -> list[int]:
    """Every id of the product's activities, page by page as the API walks them."""
    ids, after = [], 0
    while True:
        page = store.list_activities(after=after, limit=limit, product_id=product)
        assert [a["product_id"] for a in page] == [product] * len(page)
        ids += [a["id"] for a in page]
        if len(page) < limit:
            return ids
        after = page[-1]["id"]


def _expected(store, product: int) -> list[int]:
    return [a["id"] for a in store.list_activities(limit=10**6) if a["product_id"] == product]


def test_pages_stay_right_across_chunks_imports_deletes_and_compaction(path, store, monkeypatch):
    monkeypatch.setattr(activity_table, "APPEND_CHUNK", 4)  # many sealed chunks and index merges
    for _ in range(5):
        store.create_user()
        store.create_product()
    rng = np.random.default_rng(3)

    users, products = [1, 2, 3, 4, 5], [1, 2, 3, 4, 5]

    def write(steps: int) -> None:
        for step in range(steps):
            user, product = int(rng.choice(users)), int(rng.choice(products))
            if step % 25 == 24:
                frame = pd.DataFrame({"user_id": [user, 5], "product_id": [product, 1]})
                store.import_interactions(frame, progress=False)
            else:
                store.add_activity(user, product)

    def check(opened) -> None:
        for product in range(1, 7):
            for limit in (1, 3, 1000):
                assert _walk(opened, product, limit) == _expected(opened, product)

    write(100)
    check(store)  # builds the index
    write(40)  # sealed chunks after the index was built, and an open one
    check(store)
    store.delete_user(2)
    store.delete_product(4)
    users.remove(2)
    products.remove(4)
    check(store)
    store.compact()  # drops the tombstones: row numbers change
    check(store)
    write(30)
    check(store)
    store.close()
    with Store.open(path, readonly=True) as reader:
        check(reader)


def test_the_index_is_sorted_outside_the_writers_lock(shop, monkeypatch):
    frame = pd.DataFrame({"user_id": 1, "product_id": [1 + i % 3 for i in range(10)]})
    shop.import_interactions(frame, progress=False)  # one sealed chunk, not indexed yet
    built = []
    original = indexes.ProductIndexPart.build.__func__

    def build(cls, *args):
        built.append(shop._engine.lock._is_owned())  # RLock: whether this thread holds it
        return original(cls, *args)

    monkeypatch.setattr(indexes.ProductIndexPart, "build", classmethod(build))
    assert [a["id"] for a in shop.list_activities(product_id=2)] == [2, 5, 8]
    assert built == [False]
    assert [a["id"] for a in shop.list_activities(product_id=2, after=2)] == [5, 8]
    assert built == [False]  # built once; later pages only search it


class Counting(np.ndarray):
    """A column that counts the values read out of it (by slicing or indexing)."""

    read = 0

    def __getitem__(self, key):
        got = super().__getitem__(key)
        Counting.read += np.size(got)
        return got


@pytest.mark.parametrize("limit", [10, 100])
def test_a_page_reads_about_a_page_of_rows_not_the_whole_table(store, monkeypatch, limit):
    store.create_user()
    for _ in range(2):
        store.create_product()
    size = 50_000
    frame = pd.DataFrame({"user_id": 1, "product_id": np.tile([1, 2], size // 2)})
    store.import_interactions(frame, progress=False)  # ids 1-50000
    store.import_interactions(frame.iloc[:4], progress=False)  # ids 50001-50004
    store.add_activity(1, 1)  # id 50005, in the open chunk
    store.list_activities(product_id=1, limit=1)  # builds the index, if there is one
    for chunk in store._engine.state.acts.chunks:
        chunk.cols["product"] = chunk.cols["product"].view(Counting)
    gathered = []
    gather = store._engine.state.acts.gather
    monkeypatch.setattr(
        store._engine.state.acts,
        "gather",
        lambda rows, names: gathered.append(len(rows)) or gather(rows, names),
    )
    Counting.read = 0
    page = store.list_activities(after=size - 20, product_id=1, limit=limit)
    expected = [size - 19 + 2 * i for i in range(10)] + [50001, 50003, 50005]
    assert [a["id"] for a in page] == expected[:limit]
    assert Counting.read + sum(gathered) <= 8 * limit


def test_pages_stay_right_while_writers_seal_chunks_and_compaction_renumbers(store, monkeypatch):
    monkeypatch.setattr(activity_table, "APPEND_CHUNK", 8)
    for _ in range(3):
        store.create_user()
        store.create_product()
    stop, errors = threading.Event(), []

    def page_all():
        while not stop.is_set():
            try:
                ids = _walk(store, 1, 7)
                assert ids == sorted(set(ids))
            except Exception as error:  # reported by the main thread
                errors.append(error)
                return

    readers = [threading.Thread(target=page_all) for _ in range(2)]
    for reader in readers:
        reader.start()
    users = [1, 2, 3]
    for step in range(600):
        store.add_activity(users[step % 3], 1 + step % 2)
        if step % 150 == 149:
            store.delete_user(users.pop(0))
            users.append(store.create_user()["id"])
            store.compact()  # reclaims: rows are renumbered under the readers
    stop.set()
    for reader in readers:
        reader.join()
    assert errors == []
    assert _walk(store, 1, 7) == _expected(store, 1)
