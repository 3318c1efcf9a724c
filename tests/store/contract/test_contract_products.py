"""The contract for product labels, hidden flags and expiry, `product_rules`, and merge patches."""

from datetime import UTC, datetime

import pytest

from discerner.errors import DuplicateExternalIdError

NOON = "2030-01-01T12:00:00.000000Z"
NOON_SECONDS = 1893499200.0  # 2030-01-01T12:00:00Z: 60 years and 15 leap days after 1970


def test_product_fields_round_trip_and_nones_are_not_stored(backend):
    store = backend.open()
    made = store.create_product(
        "sku-1",
        {"category": "a", "labels": ["red", "sale"], "hidden": True, "expires_at": NOON},
    )
    plain = store.create_product(attributes={"labels": [], "hidden": False, "expires_at": None})
    # The same moment as Unix seconds and as a time with an offset.
    store.create_product(attributes={"expires_at": NOON_SECONDS})
    store.create_product(attributes={"expires_at": datetime(2030, 1, 1, 13, tzinfo=UTC)})
    store.create_product(attributes={"expires_at": "2030-01-01T14:00:00+02:00"})
    expected = {"category": "a", "labels": ["red", "sale"], "hidden": True, "expires_at": NOON}
    assert {k: made[k] for k in expected} == expected
    assert plain == store.get_product(2) and set(plain) == {"id", "created_at", "external_id"}
    backend.compact(store)
    store = backend.reopen(store)
    try:
        assert store.get_product(1) | {"created_at": ""} == {
            "id": 1,
            "created_at": "",
            "external_id": "sku-1",
            **expected,
        }
        listed = [p.get("expires_at") for p in store.list_products()]
        assert listed == [NOON, None, NOON, "2030-01-01T13:00:00.000000Z", NOON]
        assert store.products_frame()["labels"].tolist()[0] == ["red", "sale"]
    finally:
        store.close()


@pytest.mark.parametrize(
    ("attributes", "message"),
    [
        ({"labels": "red"}, "labels must be a list of texts"),
        ({"labels": ["red", "red"]}, "labels must be distinct"),
        ({"labels": [f"l{i}" for i in range(33)]}, "at most 32 labels"),
        ({"labels": ["x" * 65]}, "each label must be a text of 1-64 characters"),
        ({"labels": [""]}, "each label must be a text of 1-64 characters"),
        ({"labels": [3]}, "each label must be a text"),
        ({"labels": ["red,green"]}, "a label cannot hold a comma"),
        ({"hidden": "yes"}, "hidden must be true or false"),
        ({"hidden": 1}, "hidden must be true or false"),
        ({"expires_at": "soon"}, "expires_at: must be ISO 8601"),
        ({"expires_at": 10**12}, "expires_at: must be from 0001-01-01"),
    ],
)
def test_bad_product_fields_are_refused(store, attributes, message):
    with pytest.raises(ValueError, match=message):
        store.create_product(attributes=attributes)
    assert store.count_products() == 0


def test_users_have_no_product_fields(store):
    with pytest.raises(ValueError, match="attribute 'labels' must be text"):
        store.create_user(attributes={"labels": ["a"]})
    assert store.create_user(attributes={"hidden": "yes"})["hidden"] == "yes"  # a plain one


def test_product_rules_by_hand_and_kept_until_products_change(store):
    store.create_product(attributes={"hidden": True})  # 1
    store.create_product(attributes={"labels": ["red"], "expires_at": NOON})  # 2
    store.create_product(attributes={"category": "c"})  # 3
    rules = store.product_rules()
    assert rules.hidden == frozenset({1})
    assert dict(rules.expires_at) == {2: NOON_SECONDS}
    assert dict(rules.labels) == {2: ("red",)}
    assert store.product_rules() is rules  # nothing changed: the same object
    store.create_user()
    store.add_activity(1, 3)
    assert store.product_rules() is rules  # users and activities are no product change
    with pytest.raises(TypeError):
        rules.expires_at[3] = 0.0  # immutable
    store.update_product(3, {"hidden": True, "labels": ["blue", "red"]})
    changed = store.product_rules()
    assert changed is not rules and changed.hidden == frozenset({1, 3})
    assert dict(changed.labels) == {2: ("red",), 3: ("blue", "red")}
    store.update_product(3, {"category": "d"})
    assert store.product_categories() == {3: "d"}  # a patch reaches the categories too
    store.delete_product(1)
    assert store.product_rules().hidden == frozenset({3})
    assert rules.hidden == frozenset({1})  # an old snapshot stays as it was


def test_a_merge_patch_sets_removes_and_replaces(backend):
    store = backend.open()
    store.create_product("sku-1", {"category": "a", "colour": "red", "labels": ["x", "y"]})
    changed = store.update_product(
        1,
        {"colour": None, "size": 42, "labels": ["z"], "hidden": True, "expires_at": NOON},
    )
    assert changed | {"created_at": ""} == {
        "id": 1,
        "created_at": "",
        "external_id": "sku-1",
        "category": "a",
        "size": 42,
        "labels": ["z"],
        "hidden": True,
        "expires_at": NOON,
    }
    cleared = store.update_product(
        1, {"hidden": False, "expires_at": None, "labels": [], "external_id": None}
    )
    assert {k: cleared.get(k) for k in ("hidden", "expires_at", "labels", "external_id")} == {
        "hidden": None,
        "expires_at": None,
        "labels": None,
        "external_id": None,
    }
    store.create_user("u-1", {"country": "NZ"})
    assert store.update_user(1, {"external_id": "u-2", "age": 7})["age"] == 7
    assert store.update_user(1, {}) == store.get_user(1)  # nothing to change
    store = backend.reopen(store)
    try:
        assert store.get_product(1) == cleared
        assert store.get_user_by_external_id("u-2")["country"] == "NZ"
        assert store.get_user_by_external_id("u-1") is None
        assert store.get_product_by_external_id("sku-1") is None
    finally:
        store.close()
    with backend.reader() as reader:
        assert reader.get_user(1)["age"] == 7


def test_a_refused_patch_changes_nothing(store):
    store.create_user("taken")
    store.create_user("mine", {"a": 1})
    store.create_product("p", {"labels": ["x"]})
    before = (store.get_user(2), store.get_product(1), store.data_version()["version"])
    with pytest.raises(DuplicateExternalIdError):
        store.update_user(2, {"external_id": "taken", "a": 2})
    refused = [
        ({"labels": ["x", "x"]}, "labels must be distinct"),
        ({"hidden": "no", "category": "b"}, "hidden must be true or false"),
        ({"id": 5}, "id cannot be changed"),
        ({"created_at": None}, "created_at cannot be changed"),
        ({"external_id": ""}, "external_id must be a string"),
        ({"": 1}, "invalid attribute name"),
        ({f"n{i}": i for i in range(64)}, "at most 64 attributes, got 65"),
        (["labels"], "the changes must be an object"),
    ]
    for changes, message in refused:
        with pytest.raises(ValueError, match=message):
            store.update_product(1, changes)
    with pytest.raises(ValueError, match="attribute 'labels' must be"):
        store.update_user(2, {"labels": ["x"]})
    assert (store.get_user(2), store.get_product(1), store.data_version()["version"]) == before
    # The same external id as its own is no clash; an unknown id is None.
    assert store.update_user(2, {"external_id": "mine", "a": 3})["a"] == 3
    assert store.update_user(99, {"a": 1}) is None and store.update_product(99, {}) is None
    assert store.update_user("1", {"a": 1}) is None
