"""Problems the fuzzer found, pinned down: ids in paths, Unix-second timestamps, the document."""

from __future__ import annotations

import re

import pytest

from serving.api.schemas import RecsQuery, decimal_pattern


@pytest.mark.parametrize("bound", [1, 9, 10, 47, 100, 347, 2905])
def test_decimal_pattern_matches_exactly_one_to_bound(bound):
    pattern = re.compile(decimal_pattern(bound))
    matched = [n for n in range(4000) if pattern.fullmatch(str(n))]
    assert matched == list(range(1, bound + 1))
    assert pattern.fullmatch(f"0{bound}") is None


@pytest.mark.parametrize("path", ["/users/0", "/products/0", "/users/9223372036854775808"])
def test_an_id_out_of_range_is_404_for_every_method(api, path):
    for method in ("GET", "DELETE"):
        response = api.open(path, method=method)
        assert response.status_code == 404, (method, response.get_json())


def test_the_largest_id_is_routed(api):
    response = api.delete("/users/9223372036854775807")
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == "unknown user 9223372036854775807"


@pytest.mark.parametrize(
    ("seconds", "stored"),
    [
        (20000000001, "2603-10-11T11:33:21.000000Z"),  # pydantic would read this as ms
        (-86400, "1969-12-31T00:00:00.000000Z"),
        (253402300799, "9999-12-31T23:59:59.000000Z"),
    ],
)
def test_a_number_is_always_unix_seconds(api, store, seconds, stored):
    store.create_user()
    store.create_product()
    response = api.post("/users/1/products/1/activities", json={"timestamp": seconds})
    assert response.status_code == 201
    assert response.get_json()["timestamp"] == stored


def test_a_timestamp_past_year_9999_is_400(api, store):
    store.create_user()
    store.create_product()
    response = api.post("/users/1/products/1/activities", json={"timestamp": 253402300800})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith("timestamp:")


def test_document_states_attribute_rules_and_login_failure(client):
    document = client.get("/openapi.json").get_json()
    user = document["components"]["schemas"]["UserCreate"]
    assert user["additionalProperties"]["type"] == ["string", "number", "boolean"]
    assert user["propertyNames"]["not"] == {"enum": ["created_at", "id"]}
    assert "401" in document["paths"]["/token"]["post"]["responses"]
    form = document["paths"]["/token"]["post"]["requestBody"]["content"]
    activity = document["paths"]["/users/{user_id}/products/{product_id}/activities"]["post"]
    timestamp = activity["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert {"type": "null"} not in timestamp["properties"]["timestamp"]["anyOf"]
    assert set(form) == {"application/json", "application/x-www-form-urlencoded"}


@pytest.mark.parametrize(
    ("exclude", "valid"),
    [
        ("1,2, 3", True),
        (" 007 ,9223372036854775807 ", True),
        ("0", True),
        ("9223372036854775808", True),  # names no product: leaving it out changes nothing
        ("99388825917775140662", True),
        ("1,,2", False),
        ("١٢", False),  # digits of other scripts are not ids
    ],
)
def test_the_exclude_pattern_is_exactly_the_accepted_ids(exclude, valid):
    field = RecsQuery.model_json_schema()["properties"]["exclude"]["anyOf"][0]
    assert (re.fullmatch(field["pattern"], exclude) is not None) is valid
    accepted = True
    try:
        RecsQuery.model_validate({"exclude": exclude})
    except ValueError:
        accepted = False
    assert accepted is valid
