"""The store's own limits on values, which every entry point (HTTP, Python, CLI) obeys."""

from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest

EAST = timezone(timedelta(hours=5))
WEST = timezone(timedelta(hours=-5))


@pytest.mark.parametrize(
    "moment",
    [
        "9999-12-31T23:59:59-05:00",  # 10000-01-01T04:59:59Z
        "0001-01-01T00:00:00+05:00",  # 0000-12-31T19:00:00Z
        "9999-12-31T23:59:59.5Z",  # past the last whole second
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=WEST),
        datetime(1, 1, 1, tzinfo=EAST),
        253402300800,  # Unix seconds: 10000-01-01T00:00:00Z
        -62135596801,
        1e300,
        pytest.param(10**400, id="10**400"),  # too large for a float
        np.int64(2**62),
    ],
)
def test_a_time_outside_years_1_to_9999_utc_is_refused_by_name(shop, moment):
    with pytest.raises(ValueError, match=r"0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z"):
        shop.add_activity(1, 1, timestamp=moment)
    with pytest.raises(ValueError, match="timestamp"):
        shop.add_activities(
            [{"user_id": 1, "product_id": 1}, {"user_id": 2, "product_id": 1, "timestamp": moment}]
        )
    assert shop.count_activities() == 0


@pytest.mark.parametrize(
    ("moment", "stored"),
    [
        ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59.000000Z"),
        ("9999-12-31T18:59:59-05:00", "9999-12-31T23:59:59.000000Z"),
        (datetime(1, 1, 1, 5, tzinfo=EAST), "0001-01-01T00:00:00.000000Z"),
        (253402300799, "9999-12-31T23:59:59.000000Z"),
        (-62135596800.0, "0001-01-01T00:00:00.000000Z"),
        (datetime(2024, 2, 29, 12, tzinfo=UTC), "2024-02-29T12:00:00.000000Z"),
    ],
)
def test_the_ends_of_the_range_are_stored_and_listed(shop, moment, stored):
    assert shop.add_activity(1, 1, timestamp=moment)["timestamp"] == stored
    assert shop.list_activities()[0]["timestamp"] == stored


def _many(count: int) -> dict:
    return {f"a{i}": i for i in range(count)}


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        (_many(65), "at most 64 attributes"),
        ({"k" * 65: 1}, "1-64 characters"),
        ({"note": "x" * 1025}, "at most 1024 characters"),
        ({"note": "x" * 8_000_000}, "at most 1024 characters"),
        ({"big": 2**63}, "between"),
        ({"big": -(2**63) - 1}, "between"),
        ({"big": 1e300}, "between"),
        ({"big": float("inf")}, "finite"),
    ],
)
def test_attributes_over_the_limits_are_refused(store, attributes, message):
    with pytest.raises(ValueError, match=message):
        store.create_user(attributes=attributes)
    with pytest.raises(ValueError, match=message):
        store.create_product(attributes=attributes)
    assert store.count_users() == store.count_products() == 0


def test_attributes_at_the_limits_are_kept(store):
    widest = _many(61) | {"k" * 64: "x" * 1024, "lo": -(2**63)}
    widest["hi"] = 2**63 - 1
    user = store.create_user(external_id="e" * 256, attributes=widest)
    assert store.get_user(user["id"]) == user
    assert user["k" * 64] == "x" * 1024 and user["hi"] == 2**63 - 1
    assert len(user) == 3 + 64  # id, created_at, external_id + attributes
    # None values are dropped before counting: they are not stored.
    assert store.create_product(attributes=_many(64) | {"gone": None})["a63"] == 63


def test_an_external_id_over_256_characters_is_refused(store):
    with pytest.raises(ValueError, match="1-256 characters"):
        store.create_user(external_id="e" * 257)
    assert store.count_users() == 0


@pytest.mark.parametrize(
    "make",
    [
        lambda store: store.create_user(external_id="a\x00b"),
        lambda store: store.create_product(attributes={"category": "books\x00"}),
    ],
    ids=["external_id", "attribute"],
)
def test_text_with_the_nul_character_is_refused_and_nothing_is_created(store, make):
    with pytest.raises(ValueError, match="NUL"):
        make(store)
    assert store.count_users() == store.count_products() == 0
