"""The contract for the activities since a moment: what an experiment's analysis reads."""

import pandas as pd
import pytest

ROWS = [  # (user, product, score, time, type), ids 1-5 in this order
    (1, 1, 1.0, "2024-03-01T23:59:59.999999Z", "view"),
    (2, 2, 2.0, "2024-03-02T00:00:00Z", "purchase"),
    (1, 3, 3.0, "2024-03-02T14:00:00+02:00", "view"),  # 12:00 UTC
    (2, 1, 4.0, "2024-03-01T00:00:00Z", "purchase"),  # older than id 1, added after it
    (1, 2, 5.0, "2024-03-03T00:00:00Z", "score"),
]
COLUMNS = ["user_id", "product_id", "score", "timestamp", "type"]


def _add(shop):
    shop.add_activities(
        [
            {"user_id": u, "product_id": p, "score": s, "timestamp": t, "type": k}
            for u, p, s, t, k in ROWS
        ]
    )


def _rows(frame: pd.DataFrame) -> list[tuple]:
    return [
        (u, p, s, t.isoformat(), k)
        for u, p, s, t, k in frame[COLUMNS].itertuples(index=False, name=None)
    ]


def _utc(text: str) -> str:
    return pd.Timestamp(text).tz_convert("UTC").isoformat()


def test_activities_since_hand_computed(backend, shop):
    _add(shop)
    # At or after 2024-03-02T00:00Z: ids 2 (exactly then), 3 (12:00 UTC) and 5, in id order;
    # id 1 is a microsecond too early and id 4 a day too early although added later.
    frame = shop.activities_since("2024-03-02T00:00:00Z")
    assert _rows(frame) == [
        (2, 2, 2.0, _utc("2024-03-02T00:00:00Z"), "purchase"),
        (1, 3, 3.0, _utc("2024-03-02T12:00:00Z"), "view"),
        (1, 2, 5.0, _utc("2024-03-03T00:00:00Z"), "score"),
    ]
    # The training frame's dtypes; the categories are the kept types, sorted by name.
    whole = shop.interactions()
    assert frame.dtypes.astype(str).tolist() == whole.dtypes.astype(str).tolist()
    assert frame["type"].cat.categories.tolist() == ["purchase", "score", "view"]
    assert list(frame.index) == [0, 1, 2]
    # One microsecond later id 2 drops out; Unix seconds and datetimes name times too.
    assert [r[2] for r in _rows(shop.activities_since("2024-03-02T00:00:00.000001Z"))] == [3, 5]
    assert len(shop.activities_since(0)) == 5
    assert len(shop.activities_since(pd.Timestamp("2024-03-02T12:00:00Z"))) == 2  # ids 3, 5
    assert shop.activities_since("2024-03-04").empty


def test_activities_since_of_some_types(backend, shop):
    _add(shop)
    # Purchases from March 1st 00:00 on: ids 2 and 4 (a type no activity has adds nothing).
    frame = shop.activities_since("2024-03-01", ["purchase", "click"])
    assert frame["score"].tolist() == [2.0, 4.0]
    assert frame["type"].cat.categories.tolist() == ["purchase"]
    # Views and plain scores from March 2nd: ids 3 and 5; no types: nothing.
    assert shop.activities_since("2024-03-02", ["view", "score"])["score"].tolist() == [3.0, 5.0]
    empty = shop.activities_since(0, [])
    assert empty.empty and list(empty.columns) == COLUMNS
    assert shop.activities_since(0, ["click"]).empty
    with backend.reader() as reader:
        assert reader.activities_since("2024-03-02", ["purchase"])["score"].tolist() == [2.0]


def test_activities_since_leaves_out_deleted_and_survives_compaction(backend, shop):
    _add(shop)
    shop.delete_user(2)  # ids 2 and 4
    backend.compact(shop)
    # Left from March 2nd: ids 3 and 5 (user 1's).
    assert shop.activities_since("2024-03-02")["score"].tolist() == [3.0, 5.0]
    shop.add_activity(1, 1, 6.0, timestamp="2024-03-02T06:00:00Z", type="purchase")  # id 6
    assert shop.activities_since("2024-03-02")["score"].tolist() == [3.0, 5.0, 6.0]
    reopened = backend.reopen(shop)
    try:
        assert reopened.activities_since("2024-03-02", ["purchase"])["score"].tolist() == [6.0]
    finally:
        reopened.close()


def test_activities_since_refuses_bad_arguments(shop):
    _add(shop)
    with pytest.raises(ValueError):
        shop.activities_since("yesterday")
    with pytest.raises(ValueError):
        shop.activities_since(0, "view")  # one string, not a list of types
    with pytest.raises(ValueError):
        shop.activities_since(0, ["no spaces"])
