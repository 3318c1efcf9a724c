"""Users and products: list with pagination, create, read, delete (they behave alike)."""

from __future__ import annotations

import pytest

KINDS = ["users", "products"]


def _create(api, kind, count):
    return [api.post(f"/{kind}").get_json()["id"] for _ in range(count)]


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_list_is_an_empty_array(api, kind):
    response = api.get(f"/{kind}")
    assert response.status_code == 200
    assert response.get_json() == []
    assert response.headers["X-Total-Count"] == "0"
    assert "Link" not in response.headers


@pytest.mark.parametrize("kind", KINDS)
def test_create_without_a_body_returns_increasing_ids(api, kind):
    first = api.post(f"/{kind}")
    assert first.status_code == 201
    assert first.get_json() == {"id": 1}
    assert first.headers["Location"].endswith(f"/{kind}/1")
    assert api.post(f"/{kind}").get_json() == {"id": 2}
    listed = api.get(f"/{kind}").get_json()
    assert [item["id"] for item in listed] == [1, 2]


def test_create_with_external_id_and_attributes(api):
    body = {"external_id": "sku-9", "category": "books", "price": 12.5, "new": True}
    created = api.post("/products", json=body)
    assert created.status_code == 201
    product = api.get(f"/products/{created.get_json()['id']}").get_json()
    assert product["external_id"] == "sku-9"
    assert (product["category"], product["price"], product["new"]) == ("books", 12.5, True)


def test_user_attributes_are_kept(api):
    user_id = api.post("/users", json={"external_id": "u-1", "country": "NZ"}).get_json()["id"]
    user = api.get(f"/users/{user_id}").get_json()
    assert (user["id"], user["external_id"], user["country"]) == (user_id, "u-1", "NZ")
    assert user["created_at"].endswith("Z")


@pytest.mark.parametrize("kind", KINDS)
def test_a_taken_external_id_is_409(api, kind):
    assert api.post(f"/{kind}", json={"external_id": "x-1"}).status_code == 201
    response = api.post(f"/{kind}", json={"external_id": "x-1"})
    assert response.status_code == 409
    assert "x-1" in response.get_json()["error"]["message"]
    assert [item["id"] for item in api.get(f"/{kind}").get_json()] == [1]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"tags": ["a", "b"]}, "attribute 'tags' must be a string, number or boolean"),
        ({"id": 4}, "'id' is not a valid attribute name"),
        ({"bad name": 1}, "'bad name' is not a valid attribute name"),
        ({"external_id": ""}, "external_id"),
    ],
)
def test_invalid_bodies_are_400_saying_why(api, body, message):
    response = api.post("/products", json=body)
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]


def test_malformed_json_is_400(api):
    response = api.post("/users", data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert "JSON" in response.get_json()["error"]["message"]


def test_a_non_json_body_is_415(api):
    response = api.post("/users", data="external_id=x", content_type="text/plain")
    assert response.status_code == 415
    assert response.get_json()["error"]["message"] == "the request body must be application/json"


@pytest.mark.parametrize(("kind", "noun"), [("users", "user"), ("products", "product")])
def test_unknown_id_is_404_naming_it(api, kind, noun):
    response = api.get(f"/{kind}/42")
    assert response.status_code == 404
    assert response.get_json() == {"error": {"status": 404, "message": f"unknown {noun} 42"}}


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "1.5", "99999999999999999999"])
def test_ids_that_are_not_positive_integers_are_404(api, kind, bad_id):
    response = api.get(f"/{kind}/{bad_id}")
    assert response.status_code == 404
    assert response.is_json


@pytest.mark.parametrize("kind", KINDS)
def test_delete_removes_the_item_and_is_then_404(api, kind):
    _create(api, kind, 2)
    assert api.delete(f"/{kind}/1").status_code == 204
    assert api.get(f"/{kind}/1").status_code == 404
    assert api.delete(f"/{kind}/1").status_code == 404
    assert [item["id"] for item in api.get(f"/{kind}").get_json()] == [2]


def test_deleting_a_user_or_product_deletes_their_activities(api):
    _create(api, "users", 2)
    _create(api, "products", 2)
    for user, product in [(1, 1), (1, 2), (2, 1), (2, 2)]:
        api.post(f"/users/{user}/products/{product}/activities")
    api.delete("/users/1")
    remaining = [(a["user_id"], a["product_id"]) for a in api.get("/activities").get_json()]
    assert remaining == [(2, 1), (2, 2)]
    api.delete("/products/2")
    remaining = [(a["user_id"], a["product_id"]) for a in api.get("/activities").get_json()]
    assert remaining == [(2, 1)]


@pytest.mark.parametrize("kind", KINDS)
def test_pagination_follows_link_headers_to_the_end(api, kind):
    _create(api, kind, 5)
    first = api.get(f"/{kind}?limit=2")
    assert [item["id"] for item in first.get_json()] == [1, 2]
    assert first.headers["X-Total-Count"] == "5"
    assert first.headers["Link"] == f'</{kind}?limit=2&after=2>; rel="next"'
    second = api.get(f"/{kind}?limit=2&after=2")
    assert [item["id"] for item in second.get_json()] == [3, 4]
    last = api.get(f"/{kind}?limit=2&after=4")
    assert [item["id"] for item in last.get_json()] == [5]
    assert "Link" not in last.headers


def test_a_page_that_ends_exactly_at_the_end_has_no_link(api):
    _create(api, "users", 4)
    response = api.get("/users?limit=2&after=2")
    assert [item["id"] for item in response.get_json()] == [3, 4]
    assert "Link" not in response.headers


@pytest.mark.parametrize(
    "query", ["limit=0", "limit=10001", "limit=x", "after=-1", "after=y", "colour=blue"]
)
def test_invalid_pagination_is_400(api, query):
    response = api.get(f"/users?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].split(":")[0] in query
