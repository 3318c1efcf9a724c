"""The Python binding, `discerner.client.Client`, against a live server."""

from __future__ import annotations

import pytest
from live import wait_until

from discerner.client import BadRequest, Client, NotFound, Unauthorized


@pytest.fixture(scope="module")
def live_settings():
    """Popularity recounted often: a test sees the activities it posted within a second."""
    return {"DISCERNER_POPULARITY_SECONDS": "0.2"}


@pytest.fixture
def api(live_server):
    with Client(live_server.url, "alice", "correct horse battery staple") as client:
        yield client


def test_a_round_trip_through_every_resource(api):
    user = api.create_user(external_id=None, country="NZ")
    assert api.get_user(user)["country"] == "NZ"
    books = [api.create_product(category="books") for _ in range(3)]
    assert api.get_product(books[0])["category"] == "books"
    stored = api.add_activity(user, books[0], score=4.5)
    assert (stored["user_id"], stored["product_id"], stored["score"]) == (user, books[0], 4.5)
    mine = api.activities(user_id=user)
    assert [a["id"] for a in mine] == [stored["id"]]
    recs = api.recommend(user, n=5)
    assert books[0] not in [r["product_id"] for r in recs]


def test_bulk_add_and_pagination_over_many_pages(api):
    user = api.create_user()
    products = [api.create_product() for _ in range(7)]
    rows = [{"user_id": user, "product_id": p, "score": 2.0} for p in products]
    stored = api.add_activities(rows)
    assert [a["product_id"] for a in stored] == products
    listed = api.activities(user_id=user, page_size=2)  # four pages
    assert [a["id"] for a in listed] == [a["id"] for a in stored]
    every_product = [p["id"] for p in api.products(page_size=3)]
    assert every_product == sorted(every_product)
    assert set(products) <= set(every_product)


def test_errors_are_typed_and_carry_the_api_message(api):
    with pytest.raises(NotFound) as missing:
        api.get_user(10**9)
    assert missing.value.message == f"unknown user {10**9}"
    assert missing.value.status == 404
    user = api.create_user()
    with pytest.raises(BadRequest) as bad:
        api.recommend(user, n=0)
    assert bad.value.message.startswith("n:")
    with pytest.raises(ValueError):
        api.add_activities([{"user_id": user, "product_id": 1}] * 10_001)


def test_a_refused_token_is_renewed_once_automatically(api):
    api.health()
    api.login()
    api._token = api._token[:-4] + "AAAA"  # as if it had expired or been revoked
    assert isinstance(api.users(), list)


def test_wrong_credentials_raise_unauthorized(live_server):
    with Client(live_server.url, "alice", "wrong") as client, pytest.raises(Unauthorized):
        client.users()


def test_health_and_ready_need_no_credentials(live_server):
    with Client(live_server.url, "nobody", "nothing") as client:
        assert client.health() == {"status": "ok"}
        assert client.ready()["store"] == "open"


def test_pages_of_recommendations_follow_the_cursor_to_the_end(api):
    # Popularity answers a user without history: 5 products, p_i with i activities by others.
    user, others = api.create_user(), [api.create_user() for _ in range(5)]
    products = [api.create_product() for _ in range(5)]
    api.add_activities(
        [{"user_id": o, "product_id": p} for i, p in enumerate(products) for o in others[: i + 1]]
    )
    top = products[4:0:-1]  # 5, 4, 3, 2 activities (others' products have 1 at most)
    wait_until(lambda: [r["product_id"] for r in api.recommend(user, n=4)] == top)
    whole = [r["product_id"] for r in api.recommend(user, n=1000, explain=True)]
    assert api.recommend(user, n=2, offset=2) == api.recommend(user, n=4)[2:]
    seen, page = [], api.recommend_page(user, n=2, explain=True)
    while True:
        assert not page.restarted and page.model_version == "popularity"
        assert all(r["because"] == [] for r in page.items)  # popularity gives no reason
        seen += [r["product_id"] for r in page.items]
        if page.next_cursor is None:
            break
        page = api.recommend_page(user, n=2, cursor=page.next_cursor, explain=True)
    assert seen == whole
    cursor = api.recommend_page(user, n=2).next_cursor
    api.add_activity(user, products[4])  # a new history: the cursor's ranking is gone
    page = api.recommend_page(user, n=2, cursor=cursor)
    assert page.restarted and [r["product_id"] for r in page.items] == products[3:1:-1]


def test_typed_activities_are_posted_and_filtered(api):
    user, product = api.create_user(), api.create_product()
    viewed = api.add_activity(user, product, type="view")
    plain = api.add_activity(user, product, score=2.0)
    assert (viewed["type"], plain["type"]) == ("view", "score")
    assert [a["id"] for a in api.activities(user_id=user, type="view")] == [viewed["id"]]
    assert [a["id"] for a in api.activities(user_id=user, type="score")] == [plain["id"]]


def test_users_and_products_are_changed_by_merge_patches(api):
    from datetime import UTC, datetime

    from discerner.client import Conflict

    taken = api.create_user(external_id="client-taken")
    user = api.create_user(country="NZ")
    assert api.update_user(user, country=None, age=7)["age"] == 7
    assert "country" not in api.get_user(user)
    with pytest.raises(Conflict):
        api.update_user(user, external_id="client-taken")
    assert api.get_user(taken)["external_id"] == "client-taken"
    moment = datetime(2030, 1, 1, 12, tzinfo=UTC)
    product = api.create_product(category="books", labels=["a"], expires_at=moment)
    assert api.get_product(product)["expires_at"] == "2030-01-01T12:00:00.000000Z"
    changed = api.update_product(product, labels=["b", "c"], hidden=True, expires_at=None)
    assert (changed["labels"], changed["hidden"], "expires_at" in changed) == (
        ["b", "c"],
        True,
        False,
    )
    with pytest.raises(NotFound):
        api.update_product(10**9, hidden=True)
    with pytest.raises(BadRequest):
        api.update_product(product, labels=["x", "x"])


def test_label_filters_reach_the_server(api):
    # Popularity answers a user without history; every product below has one activity.
    user, other = api.create_user(), api.create_user()
    both = api.create_product(labels=["client-x", "client-y"])
    only_x = api.create_product(labels=["client-x"])
    plain = api.create_product()
    api.add_activities([{"user_id": other, "product_id": p} for p in (both, only_x, plain)])

    def ids(**filters):
        return {r["product_id"] for r in api.recommend(user, n=1000, **filters)}

    wait_until(lambda: ids(labels_any=["client-x"]) == {both, only_x})
    assert ids(labels_all=["client-x", "client-y"]) == {both}
    assert ids(labels_any=["client-x"], labels_exclude=["client-y"]) == {only_x}
    assert plain in ids(labels_exclude=["client-x"]) and both not in ids(
        labels_exclude=["client-x"]
    )
    page = api.recommend_page(user, n=1, labels_any=["client-x"])
    assert [r["product_id"] for r in page.items] == [min(both, only_x)]  # equal counts: lower id
    last = api.recommend_page(user, n=1, labels_any=["client-x"], cursor=page.next_cursor)
    assert [r["product_id"] for r in last.items] == [max(both, only_x)]
    assert last.next_cursor is None
