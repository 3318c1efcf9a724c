"""Product labels, hidden flags and expiry over HTTP, and PATCH (JSON merge patch) of users and
products: set, null removes, labels replaced, 404, 409, 400 and 415 with nothing changed."""

from __future__ import annotations

import json

import pytest

NOON = "2030-01-01T12:00:00.000000Z"


@pytest.fixture
def shop(api):
    """Product 1 (sku-1, category a, labels red and sale), product 2, users 1 (u-1) and 2."""
    api.post("/products", json={"external_id": "sku-1", "category": "a", "labels": ["red", "sale"]})
    api.post("/products")
    api.post("/users", json={"external_id": "u-1", "country": "NZ"})
    api.post("/users")
    return api


def test_product_fields_are_created_read_and_listed(api):
    body = {"labels": ["b", "a"], "hidden": True, "expires_at": 1893499200}  # Unix seconds
    assert api.post("/products", json=body).status_code == 201
    assert api.post("/products", json={"hidden": False, "labels": []}).status_code == 201
    product = api.get("/products/1").get_json()
    assert (product["labels"], product["hidden"], product["expires_at"]) == (["b", "a"], True, NOON)
    listed = api.get("/products").get_json()
    assert listed[0]["labels"] == ["b", "a"]
    assert set(listed[1]) == {"id", "created_at", "external_id"}  # "none" is not stored


def test_patch_sets_removes_and_replaces(shop):
    patch = {"labels": ["blue"], "hidden": True, "expires_at": NOON, "category": None, "size": 3}
    response = shop.patch("/products/1", json=patch)
    assert response.status_code == 200
    changed = response.get_json()
    assert changed | {"created_at": ""} == {
        "id": 1,
        "created_at": "",
        "external_id": "sku-1",
        "labels": ["blue"],
        "hidden": True,
        "expires_at": NOON,
        "size": 3,
    }
    assert shop.get("/products/1").get_json() == changed
    cleared = shop.patch("/products/1", json={"hidden": False, "expires_at": None, "size": None})
    assert set(cleared.get_json()) == {"id", "created_at", "external_id", "labels"}
    user = shop.patch("/users/1", json={"external_id": "u-9", "country": None, "age": 30})
    assert user.status_code == 200
    assert user.get_json() | {"created_at": ""} == {
        "id": 1,
        "created_at": "",
        "external_id": "u-9",
        "age": 30,
    }
    assert shop.patch("/users/2", json={}).get_json() == shop.get("/users/2").get_json()


def test_patch_reads_merge_patch_json_too(shop):
    response = shop.patch(
        "/products/2",
        data=json.dumps({"labels": ["x"]}),
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert response.status_code == 200 and response.get_json()["labels"] == ["x"]


def test_patch_of_an_unknown_id_is_404(shop):
    for path in ("/users/9", "/products/9"):
        response = shop.patch(path, json={"a": 1})
        assert response.status_code == 404
        assert response.get_json()["error"]["message"].startswith("unknown ")


def test_a_taken_external_id_is_409_and_changes_nothing(shop):
    shop.patch("/users/2", json={"external_id": "u-2"})
    response = shop.patch("/users/2", json={"external_id": "u-1", "age": 5})
    assert response.status_code == 409 and "u-1" in response.get_json()["error"]["message"]
    assert shop.get("/users/2").get_json()["external_id"] == "u-2"
    assert "age" not in shop.get("/users/2").get_json()
    assert shop.patch("/users/1", json={"external_id": "u-1"}).status_code == 200  # its own


@pytest.mark.parametrize(
    ("path", "body", "message"),
    [
        ("/products/1", {"labels": ["a", "a"]}, "labels: labels must be distinct"),
        ("/products/1", {"labels": "red"}, "labels: "),
        ("/products/1", {"labels": [f"l{i}" for i in range(33)]}, "labels: "),
        ("/products/1", {"hidden": "yes", "category": "b"}, "hidden: "),
        ("/products/1", {"expires_at": "soon"}, "expires_at: "),
        ("/products/1", {"id": 7}, "'id' is not a valid attribute name"),
        ("/products/1", {"external_id": ""}, "external_id: "),
        ("/users/1", {"labels": ["a"]}, "attribute 'labels' must be a string, number"),
        ("/users/1", {"bad name": 1}, "is not a valid attribute name"),
        ("/users/1", {f"a{i}": 1 for i in range(65)}, "at most 64 attributes"),
        ("/users/1", {f"a{i}": 1 for i in range(64)}, "at most 64 attributes, got 65"),
        ("/users/1", [{"a": 1}], "body: "),
        ("/users/1", None, "a request body is required"),
    ],
)
def test_bad_fields_are_400_and_change_nothing(shop, path, body, message):
    before = shop.get(path).get_json()
    response = shop.patch(path, json=body) if body is not None else shop.patch(path)
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]
    assert shop.get(path).get_json() == before


def test_a_body_that_is_not_json_is_415(shop):
    response = shop.patch("/users/1", data={"age": "3"})
    assert response.status_code == 415
    assert "age" not in shop.get("/users/1").get_json()


def test_patch_needs_a_token(client):
    assert client.patch("/users/1", json={"a": 1}).status_code == 401
