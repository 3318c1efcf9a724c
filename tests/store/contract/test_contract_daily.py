"""The contract for activities per UTC day: the growth an admin page draws."""

import pytest


def _add(shop, *times):
    for i, moment in enumerate(times):
        shop.add_activity(1 + i % 2, 1 + i % 3, timestamp=moment)


def test_activities_per_day_hand_computed(backend, shop):
    _add(
        shop,
        "2024-03-01T23:59:59.999999Z",  # the day before `since`'s day: not counted
        "2024-03-02T00:00:00Z",
        "2024-03-02T18:30:00+02:00",  # 16:30 UTC: still March 2nd
        "2024-03-03T01:00:00+02:00",  # 23:00 UTC on March 2nd
        "2024-03-05T12:00:00Z",
        "2024-03-05T12:00:01Z",
    )
    # From 2024-03-02 on: the 2nd has 3 (00:00, 16:30 and 23:00 UTC), the 3rd and 4th none,
    # the 5th has 2; `since` anywhere in March 2nd counts from its midnight.
    expected = {"2024-03-02": 3, "2024-03-05": 2}
    assert shop.activities_per_day("2024-03-02T15:00:00Z") == expected
    assert list(shop.activities_per_day("2024-03-02")) == ["2024-03-02", "2024-03-05"]
    assert shop.activities_per_day("2024-03-06") == {}
    assert shop.activities_per_day(0) == {"2024-03-01": 1, **expected}  # Unix seconds
    with backend.reader() as reader:
        assert reader.activities_per_day("2024-03-05T23:00:00Z") == {"2024-03-05": 2}


def test_activities_per_day_leaves_out_deleted_activities(shop):
    _add(shop, "2024-03-02T10:00:00Z", "2024-03-02T11:00:00Z", "2024-03-02T12:00:00Z")
    # Activities 1 and 3 are user 1's (users alternate 1, 2, 1); deleting user 1 leaves 1.
    shop.delete_user(1)
    assert shop.activities_per_day("2024-03-01") == {"2024-03-02": 1}


def test_activities_per_day_before_1970_and_bad_times(shop):
    _add(shop, "1969-12-31T23:00:00Z", "1970-01-01T00:00:00Z")
    assert shop.activities_per_day(-1) == {"1969-12-31": 1, "1970-01-01": 1}
    with pytest.raises(ValueError):
        shop.activities_per_day("yesterday")
