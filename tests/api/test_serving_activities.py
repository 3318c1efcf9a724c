"""Activities: posting one (JSON or form), bulk all-or-nothing, listing and filters."""

from __future__ import annotations

import pytest


@pytest.fixture
def people(api):
    """Two users and three products."""
    for _ in range(2):
        api.post("/users")
    for _ in range(3):
        api.post("/products")
    return api


def _pairs(response):
    return [(a["user_id"], a["product_id"], a["score"]) for a in response.get_json()]


def test_post_without_a_body_records_score_one(people):
    response = people.post("/users/1/products/2/activities")
    assert response.status_code == 201
    body = response.get_json()
    assert {k: body[k] for k in ("id", "user_id", "product_id", "score")} == {
        "id": 1,
        "user_id": 1,
        "product_id": 2,
        "score": 1.0,
    }
    assert body["timestamp"].endswith("Z")


def test_post_score_as_form_field(people):
    response = people.post("/users/1/products/1/activities", data={"score": "4.5"})
    assert response.status_code == 201
    assert response.get_json()["score"] == 4.5


def test_post_score_and_timestamp_as_json(people):
    body = {"score": -2, "timestamp": "2024-03-01T12:00:00Z"}
    response = people.post("/users/2/products/3/activities", json=body)
    assert response.status_code == 201
    assert response.get_json()["score"] == -2.0
    assert response.get_json()["timestamp"].startswith("2024-03-01T12:00:00")


def test_unix_seconds_are_a_timestamp_too(people):
    response = people.post("/users/1/products/1/activities", json={"timestamp": 86400})
    assert response.get_json()["timestamp"].startswith("1970-01-02T00:00:00")


@pytest.mark.parametrize(
    "body",
    [
        {"score": "nan"},
        {"score": "inf"},
        {"score": "abc"},
        {"score": True},
        {"timestamp": "yesterday"},
        {"rating": 3},
    ],
)
def test_invalid_scores_are_400_and_store_nothing(people, store, body):
    response = people.post("/users/1/products/1/activities", json=body)
    assert response.status_code == 400
    assert store.count_activities() == 0


def test_form_nan_is_rejected_too(people):
    response = people.post("/users/1/products/1/activities", data={"score": "NaN"})
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith("score")


@pytest.mark.parametrize(
    ("path", "message"),
    [
        ("/users/9/products/1/activities", "unknown user 9"),
        ("/users/1/products/9/activities", "unknown product 9"),
    ],
)
def test_unknown_user_or_product_in_the_path_is_404(people, path, message):
    response = people.post(path)
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == message


def test_list_filters_by_user_and_product(people):
    for user, product in [(1, 1), (1, 2), (2, 2), (2, 3)]:
        people.post(f"/users/{user}/products/{product}/activities")
    everything = people.get("/activities")
    assert [(u, p) for u, p, _ in _pairs(everything)] == [(1, 1), (1, 2), (2, 2), (2, 3)]
    assert everything.headers["X-Total-Count"] == "4"
    by_product = people.get("/activities?product_id=2")
    assert [(u, p) for u, p, _ in _pairs(by_product)] == [(1, 2), (2, 2)]
    both = people.get("/activities?user_id=2&product_id=2")
    assert [(u, p) for u, p, _ in _pairs(both)] == [(2, 2)]


def test_filtered_pages_keep_the_filter_in_the_next_link(people):
    for product in (1, 2, 3):
        people.post(f"/users/1/products/{product}/activities")
    people.post("/users/2/products/1/activities")
    response = people.get("/activities?user_id=1&limit=2")
    assert [p for _, p, _ in _pairs(response)] == [1, 2]
    assert "user_id=1" in response.headers["Link"] and "after=2" in response.headers["Link"]


def test_a_users_activities(people):
    people.post("/users/1/products/3/activities", json={"score": 2})
    people.post("/users/2/products/1/activities")
    response = people.get("/users/1/activities")
    assert _pairs(response) == [(1, 3, 2.0)]
    assert response.headers["X-Total-Count"] == "1"
    assert people.get("/users/5/activities").status_code == 404


def test_bulk_post_stores_every_row_in_order(people, store):
    rows = [
        {"user_id": 1, "product_id": 1, "score": 5},
        {"user_id": 2, "product_id": 3},
        {"user_id": 1, "product_id": 2, "score": 0.5, "timestamp": "2024-01-01T00:00:00Z"},
    ]
    response = people.post("/activities", json=rows)
    assert response.status_code == 201
    assert _pairs(response) == [(1, 1, 5.0), (2, 3, 1.0), (1, 2, 0.5)]
    assert [a["id"] for a in response.get_json()] == [1, 2, 3]
    assert store.count_activities() == 3


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([{"user_id": 1, "product_id": 1}, {"user_id": 1, "product_id": 7}], "[1].product_id"),
        ([{"user_id": 3, "product_id": 1}], "[0].user_id: unknown user 3"),
        (
            [{"user_id": 1, "product_id": 1}, {"user_id": 1, "product_id": 1, "score": "x"}],
            "[1].score: ",
        ),
        ([{"user_id": 1}], "[0].product_id: "),
        ([{"user_id": 0, "product_id": 1}], "[0].user_id: "),
        ([], "body"),
        ({"user_id": 1, "product_id": 1}, "body"),
    ],
)
def test_bulk_post_with_any_bad_row_stores_none(people, store, rows, message):
    response = people.post("/activities", json=rows)
    assert response.status_code == 400
    assert message in response.get_json()["error"]["message"]
    assert store.count_activities() == 0


def test_bulk_post_over_ten_thousand_rows_is_400(people, store):
    rows = [{"user_id": 1, "product_id": 1}] * 10_001
    response = people.post("/activities", json=rows)
    assert response.status_code == 400
    assert store.count_activities() == 0


def test_bulk_post_reads_json_only(people):
    response = people.post("/activities", data={"user_id": "1", "product_id": "1"})
    assert response.status_code == 415
