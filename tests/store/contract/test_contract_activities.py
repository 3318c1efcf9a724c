"""The contract for activities: adding, keyset pages (of a user, of a product), histories."""

import numpy as np
import pytest

from discerner.errors import UnknownProductError, UnknownUserError


def test_add_activity_returns_its_row_and_checks_references(shop):
    got = shop.add_activity(1, 2, score=4.5, timestamp="2024-01-02T03:04:05Z")
    assert got == {
        "id": 1,
        "user_id": 1,
        "product_id": 2,
        "score": 4.5,
        "timestamp": "2024-01-02T03:04:05.000000Z",
        "type": "score",
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


def test_pages_of_a_product_hand_computed(shop):
    for i in range(9):  # ids 1-9: products 1, 2, 3, 1, 2, 3, ...
        shop.add_activity(1 + i % 2, 1 + i % 3)
    assert [a["id"] for a in shop.list_activities(product_id=1, limit=2)] == [1, 4]
    assert [a["id"] for a in shop.list_activities(product_id=1, after=4)] == [7]
    assert [a["id"] for a in shop.list_activities(product_id=2, after=1, limit=1)] == [2]
    assert shop.list_activities(product_id=3, after=9) == []
    assert shop.list_activities(product_id=7) == []
    assert shop.list_activities(product_id=1, limit=0) == []


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
