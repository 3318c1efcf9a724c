"""Recommendations ranked by live popularity, never a product the user already has."""

from __future__ import annotations

import pytest

# Product 1 has 3 users, product 2 has 2, product 3 has 1; product 4 has none. Popularity's
# score is the product's share of the 6 activities.
ACTIVITIES = [(1, 1), (2, 1), (2, 2), (3, 1), (3, 2), (3, 3)]


@pytest.fixture
def shop(api):
    for _ in range(4):
        api.post("/users")
        api.post("/products")
    rows = [{"user_id": u, "product_id": p} for u, p in ACTIVITIES]
    assert api.post("/activities", json=rows).status_code == 201
    return api


def _recs(api, path):
    response = api.get(path)
    assert response.status_code == 200, response.get_json()
    return [(r["product_id"], r["score"]) for r in response.get_json()]


def test_popularity_counts_users_and_skips_the_users_products(shop):
    assert _recs(shop, "/users/1/recs") == [(2, 2 / 6), (3, 1 / 6)]
    assert _recs(shop, "/users/2/recs") == [(3, 1 / 6)]
    assert _recs(shop, "/users/3/recs") == []


def test_a_user_without_history_gets_the_whole_ranking(shop):
    assert _recs(shop, "/users/4/recs") == [(1, 3 / 6), (2, 2 / 6), (3, 1 / 6)]
    assert _recs(shop, "/users/4/recs?n=2") == [(1, 3 / 6), (2, 2 / 6)]


def test_the_model_version_is_in_a_header(shop):
    assert shop.get("/users/1/recs").headers["X-Model-Version"] == "popularity"


def test_an_activity_posted_now_is_excluded_at_once(shop):
    shop.post("/users/1/products/2/activities")
    assert _recs(shop, "/users/1/recs") == [(3, 1 / 7)]  # 7 activities now


def test_a_deleted_product_is_never_recommended(shop):
    shop.get("/users/4/recs")  # the ranking is fitted before the delete
    shop.delete("/products/1")
    assert _recs(shop, "/users/4/recs") == [(2, 2 / 6), (3, 1 / 6)]


def test_the_ranking_is_refitted_from_live_data(app, shop):
    assert _recs(shop, "/users/4/recs?n=1") == [(1, 3 / 6)]
    assert shop.post("/users").get_json() == {"id": 5}
    for user in (1, 2, 5):
        shop.post(f"/users/{user}/products/3/activities")
    app.extensions["discerner"].models.refresh()
    assert _recs(shop, "/users/4/recs?n=1") == [(3, 4 / 9)]


def test_an_empty_store_recommends_nothing(api):
    api.post("/users")
    assert _recs(api, "/users/1/recs") == []


def test_exclude_leaves_products_out(shop):
    assert _recs(shop, "/users/4/recs?exclude=1,3") == [(2, 2 / 6)]
    # An id past 2**63-1 names no product: nothing more to leave out.
    assert _recs(shop, "/users/4/recs?exclude=1,3,99999999999999999999") == [(2, 2 / 6)]


def test_an_invalid_exclude_says_what_it_should_be_in_a_short_message(shop):
    response = shop.get("/users/1/recs?exclude=1;2")
    assert response.status_code == 400
    message = response.get_json()["error"]["message"]
    assert message == "exclude: must be product ids separated by commas, such as 3,17,42"


@pytest.mark.parametrize("query", ["n=0", "n=1001", "n=ten", "exclude=a,b", "exclude=1,,2"])
def test_invalid_options_are_400(shop, query):
    response = shop.get(f"/users/1/recs?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith(query.split("=")[0])


def test_unknown_user_is_404(shop):
    response = shop.get("/users/99/recs")
    assert response.status_code == 404
    assert response.get_json()["error"]["message"] == "unknown user 99"
