"""The contract for A/B experiments' impressions: appended durably, read per experiment."""

from datetime import UTC, datetime

import pandas as pd


def _row(request_id, experiment, user_id, products, second):
    return {
        "request_id": request_id,
        "experiment": experiment,
        "variant": "B" if user_id % 2 else "A",
        "version": "discerner/2" if user_id % 2 else "discerner/1",
        "user_id": user_id,
        "product_ids": products,
        "time": datetime(2026, 11, 30, 12, 0, second, 250_000, tzinfo=UTC),
    }


def test_impressions_round_trip_per_experiment(backend, store):
    assert store.impressions("exp").empty
    store.add_impressions([_row("r1", "exp", 1, [5, 3, 9], 0), _row("r2", "other", 2, [1], 1)])
    store.add_impressions([_row("r3", "exp", 2, [], 2)])
    found = store.impressions("exp")
    assert found["request_id"].tolist() == ["r1", "r3"]  # in the order written
    assert found["variant"].tolist() == ["B", "A"]
    assert found["version"].tolist() == ["discerner/2", "discerner/1"]
    assert found["user_id"].tolist() == [1, 2]
    assert [list(p) for p in found["product_ids"]] == [[5, 3, 9], []]  # rank = position + 1
    assert found["time"].tolist() == [
        pd.Timestamp("2026-11-30 12:00:00.25", tz="UTC"),
        pd.Timestamp("2026-11-30 12:00:02.25", tz="UTC"),
    ]
    assert store.impressions("other")["request_id"].tolist() == ["r2"]


def test_impressions_survive_a_restart_and_readers_see_them(backend, store):
    store.add_impressions([_row("r1", "exp", 1, [4], 0)])
    store = backend.reopen(store)
    try:
        assert store.impressions("exp")["request_id"].tolist() == ["r1"]
        with backend.reader() as reader:
            assert reader.impressions("exp")["product_ids"].map(list).tolist() == [[4]]
    finally:
        store.close()
