"""Activity types over HTTP: posted (JSON, form, bulk), defaulted, listed and filtered."""

from __future__ import annotations

import pytest


@pytest.fixture
def people(api):
    """Two users and two products."""
    for _ in range(2):
        api.post("/users")
        api.post("/products")
    return api


def test_types_are_posted_returned_and_filtered(people):
    assert people.post("/users/1/products/1/activities").get_json()["type"] == "score"
    typed = people.post("/users/1/products/2/activities", json={"type": "view"})
    assert typed.status_code == 201 and typed.get_json()["type"] == "view"
    form = people.post("/users/2/products/1/activities", data={"type": "cart:add", "score": "2"})
    assert form.get_json()["type"] == "cart:add" and form.get_json()["score"] == 2.0
    rows = [{"user_id": 2, "product_id": 2, "type": "view"}, {"user_id": 1, "product_id": 1}]
    assert [a["type"] for a in people.post("/activities", json=rows).get_json()] == [
        "view",
        "score",
    ]
    # Ids 1-5: score, view, cart:add, view, score.
    views = people.get("/activities?type=view")
    assert [a["id"] for a in views.get_json()] == [2, 4]
    assert "X-Total-Count" not in views.headers  # the filtered count is not known cheaply
    page = people.get("/activities?type=score&limit=1")
    assert [a["id"] for a in page.get_json()] == [1]
    assert "type=score" in page.headers["Link"] and "after=1" in page.headers["Link"]
    both = people.get("/activities?type=view&user_id=2").get_json()
    assert [a["id"] for a in both] == [4]
    assert people.get("/activities?type=never").get_json() == []


@pytest.mark.parametrize("bad", ["", "two words", "x" * 65, "a/b", 3, None])
def test_a_bad_type_is_400_and_stores_nothing(people, store, bad):
    response = people.post("/users/1/products/1/activities", json={"type": bad})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith("type: ")
    bulk = people.post("/activities", json=[{"user_id": 1, "product_id": 1, "type": bad}])
    assert bulk.status_code == 400 and "[0].type: " in bulk.get_json()["error"]["message"]
    assert store.count_activities() == 0


def test_a_bad_type_filter_is_400(people):
    response = people.get("/activities?type=a%20b")
    assert response.status_code == 400 and "type" in response.get_json()["error"]["message"]
