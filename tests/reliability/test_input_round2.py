"""Input over HTTP: the accepted time range, typed JSON bodies, and attribute limits."""

from __future__ import annotations

import pytest

ONE = "/users/1/products/1/activities"
RANGE = "0001-01-01T00:00:00Z to 9999-12-31T23:59:59Z"


@pytest.fixture
def shop(store):
    """User 1 and product 1."""
    store.create_user()
    store.create_product()
    return store


def _error(response, status: int) -> str:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert body["error"]["status"] == status
    return body["error"]["message"]


# --------------------------------------------------------------------- the time range
@pytest.mark.parametrize(
    "moment", ["9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59.5Z"]
)
def test_a_time_outside_the_range_is_400_naming_it_everywhere(api, shop, moment):
    message = _error(api.post(ONE, json={"timestamp": moment}), 400)
    assert message.startswith("timestamp: ") and RANGE in message
    assert RANGE in _error(api.post(ONE, data={"timestamp": moment}), 400)
    batch = [{"user_id": 1, "product_id": 1}, {"user_id": 1, "product_id": 1, "timestamp": moment}]
    message = _error(api.post("/activities", json=batch), 400)
    assert message.startswith("[1].timestamp: ") and RANGE in message
    assert shop.count_activities() == 0


@pytest.mark.parametrize(
    ("moment", "stored"),
    [
        ("9999-12-31T18:59:59-05:00", "9999-12-31T23:59:59.000000Z"),
        ("0001-01-01T05:00:00+05:00", "0001-01-01T00:00:00.000000Z"),
        (-62135596800, "0001-01-01T00:00:00.000000Z"),
    ],
)
def test_the_ends_of_the_range_are_accepted(api, shop, moment, stored):
    response = api.post(ONE, json={"timestamp": moment})
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["timestamp"] == stored
    assert api.get("/activities").get_json()[0]["timestamp"] == stored


def test_the_document_states_the_range(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    timestamp = schemas["ActivityCreate"]["properties"]["timestamp"]
    assert RANGE in timestamp["description"]
    number = next(s for s in timestamp["anyOf"] if s.get("type") == "number")
    assert (number["minimum"], number["maximum"]) == (-62135596800, 253402300799)


# --------------------------------------------------------------------- JSON is typed
@pytest.mark.parametrize(
    ("body", "where"),
    [
        ({"score": "4"}, "score"),
        ({"score": "4.5"}, "score"),
        ({"timestamp": "1700000000"}, "timestamp"),  # a string must be ISO 8601
        ({"timestamp": [2024]}, "timestamp"),
        ({"timestamp": {"seconds": 1}}, "timestamp"),
    ],
)
def test_a_json_field_of_the_wrong_type_is_400(api, shop, body, where):
    assert _error(api.post(ONE, json=body), 400).startswith(f"{where}: ")
    batch = [{"user_id": 1, "product_id": 1, **body}]
    assert _error(api.post("/activities", json=batch), 400).startswith(f"[0].{where}: ")
    assert shop.count_activities() == 0


@pytest.mark.parametrize(
    "row",
    [
        {"user_id": "1", "product_id": 1},
        {"user_id": 1, "product_id": "1"},
        {"user_id": 1.0, "product_id": 1},
        {"user_id": 1, "product_id": 1, "score": "1"},
    ],
)
def test_a_batch_row_with_a_number_in_a_string_is_400(api, shop, row):
    assert _error(api.post("/activities", json=[row]), 400).startswith("[0].")
    assert shop.count_activities() == 0


@pytest.mark.parametrize(
    ("body", "score", "stored"),
    [
        ({"score": 4}, 4.0, None),
        ({"score": 4.5, "timestamp": 1700000000}, 4.5, "2023-11-14T22:13:20.000000Z"),
        ({"timestamp": 1700000000.25}, 1.0, "2023-11-14T22:13:20.250000Z"),
        ({"timestamp": "2023-11-14T23:13:20+01:00"}, 1.0, "2023-11-14T22:13:20.000000Z"),
        ({"timestamp": None}, 1.0, None),
    ],
)
def test_json_of_the_documented_types_is_stored(api, shop, body, score, stored):
    response = api.post(ONE, json=body)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["score"] == score
    assert stored is None or response.get_json()["timestamp"] == stored


@pytest.mark.parametrize(
    ("form", "score", "stored"),
    [
        ({"score": "4"}, 4.0, None),
        ({"score": "4.5", "timestamp": "1700000000"}, 4.5, "2023-11-14T22:13:20.000000Z"),
        ({"timestamp": "-86400.5"}, 1.0, "1969-12-30T23:59:59.500000Z"),
        ({"timestamp": "2023-11-14T22:13:20Z"}, 1.0, "2023-11-14T22:13:20.000000Z"),
    ],
)
def test_form_fields_are_text_and_read_as_numbers(api, shop, form, score, stored):
    response = api.post(ONE, data=form)
    assert response.status_code == 201, response.get_json()
    assert response.get_json()["score"] == score
    assert stored is None or response.get_json()["timestamp"] == stored


# --------------------------------------------------------------------- attribute limits
def _attributes(count: int) -> dict:
    return {f"a{i}": i for i in range(count)}


@pytest.mark.parametrize(
    ("path", "body", "said"),
    [
        ("/users", {"note": "x" * 1025}, "1024"),
        ("/users", {"note": "x" * 8_000_000}, "1024"),
        ("/users", _attributes(65), "64"),
        ("/products", _attributes(64) | {"category": "a"}, "64"),
        ("/users", {"k" * 65: 1}, "k" * 65),
        ("/users", {"big": 2**63}, "2**63"),
        ("/users", {"big": 1e300}, "2**63"),
        ("/users", {"external_id": "e" * 257}, "external_id"),
        ("/products", {"category": "c" * 257}, "category"),
    ],
)
def test_attributes_over_the_limits_are_400_and_nothing_is_created(api, store, path, body, said):
    assert said in _error(api.post(path, json=body), 400)
    assert store.count_users() == store.count_products() == 0


def test_attributes_at_the_limits_are_created(api, store):
    body = _attributes(62) | {"k" * 64: "x" * 1024, "big": 2**63 - 1, "external_id": "e" * 256}
    response = api.post("/users", json=body)
    assert response.status_code == 201, response.get_json()
    user = api.get("/users/1").get_json()
    assert user["k" * 64] == "x" * 1024 and user["big"] == 2**63 - 1
    product = api.post("/products", json=_attributes(63) | {"category": "c" * 256})
    assert product.status_code == 201, product.get_json()


def test_the_document_states_the_attribute_limits(client):
    schemas = client.get("/openapi.json").get_json()["components"]["schemas"]
    for name in ("UserCreate", "ProductCreate"):
        schema = schemas[name]
        assert schema["additionalProperties"] == {
            "type": ["string", "number", "boolean"],
            "maxLength": 1024,
            "pattern": "^[^\\x00]*$",
            "minimum": -(2**63),
            "maximum": 2**63 - 1,
        }
        assert schema["propertyNames"]["pattern"] == "^[A-Za-z_][A-Za-z0-9_]{0,63}$"
        assert {"maxProperties": 64} in schema["anyOf"]
        assert {"required": ["external_id"], "maxProperties": 65} in schema["anyOf"]
        assert schema["properties"]["external_id"]["anyOf"][0]["maxLength"] == 256


def test_a_value_the_store_refuses_after_the_schema_is_400_not_500(api, shop, monkeypatch):
    def refuse(*args, **kwargs):
        raise ValueError("score must be finite, got inf")

    monkeypatch.setattr(shop, "add_activity", refuse)
    monkeypatch.setattr(shop, "add_activities", refuse)
    for path, body in ((ONE, {}), ("/activities", [{"user_id": 1, "product_id": 1}])):
        assert _error(api.post(path, json=body), 400) == "score must be finite, got inf"


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/users", {"external_id": "a\u0000b"}),
        ("/products", {"category": "books\u0000"}),
        ("/token", {"username": "al\u0000ice", "password": "pw"}),
    ],
)
def test_text_with_the_nul_character_is_400(api, store, path, body):
    assert "must not contain the NUL character" in _error(api.post(path, json=body), 400)
    assert store.count_users() == store.count_products() == 0
