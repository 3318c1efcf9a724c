"""Rankings over HTTP, hand-checked: pages (offset, cursor), explanations, typed feedback, and
the shop's product rules (hidden, expired) and label filters, in effect at the next request."""

from __future__ import annotations

import math
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from discerner.feedback import FeedbackTypes
from discerner.models import ItemKNN
from serving.api.schemas import Cursor

# Users 1-5 train the champion; user 6 (new) has product 1. Users of each product:
# p1 {1, 2, 3}, p2 {1, 2}, p3 {2, 3, 4}, p4 {4}, p5 {5}; p6 is created after training.
TRAINING = [(1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 1), (3, 3), (4, 3), (4, 4), (5, 5)]
# Item kNN, binary cosine without shrinkage: W12 = |{1, 2}| / sqrt(3 * 2) = 2/sqrt(6),
# W13 = |{2, 3}| / sqrt(3 * 3) = 2/3, W14 = W15 = 0 (no shared user). User 6's scores:
# p2 2/sqrt(6) = 0.816 > p3 2/3 > p4 = p5 = 0 (ties: lower id first), then live popularity
# tops up what the model cannot rank: p6.
RANKING = [2, 3, 4, 5, 6]
W12, W13, W23 = 2 / math.sqrt(6), 2 / 3, 1 / math.sqrt(6)  # W23 = |{2}| / sqrt(2 * 3)


@pytest.fixture(params=[0, 2, 50], ids=["live", "depth-2", "depth-50"])
def feed(request, shop, serve):
    """The shop served by item kNN, scored live or from precomputed top lists (depth 2: the
    first page comes from the list, the next from live scores, the last from popularity)."""
    serve(shop, depth=request.param)
    return request.getfixturevalue("api")


@pytest.fixture
def shop(api, store):
    """Users 1-6 and products 1-6 with the activities above; returns item kNN fitted on them."""
    for _ in range(6):
        store.create_user()
        store.create_product()
    frame = pd.DataFrame(TRAINING, columns=["user_id", "product_id"]).assign(score=1.0)
    store.import_interactions(frame, progress=False)
    store.add_activity(6, 1)
    store.add_activity(5, 6)
    return ItemKNN(k=10, shrink=0.0).fit(frame)


def _ids(response):
    assert response.status_code == 200, response.get_json()
    return [pick["product_id"] for pick in response.get_json()]


def test_offset_pages_are_slices_of_one_ranking(feed):
    assert _ids(feed.get("/users/6/recs?n=10")) == RANKING
    pages = [_ids(feed.get(f"/users/6/recs?n=2&offset={offset}")) for offset in (0, 2, 4, 6)]
    assert pages == [[2, 3], [4, 5], [6], []]
    # Every page size cuts the same ranking: no product twice, none skipped.
    assert [_ids(feed.get(f"/users/6/recs?n=1&offset={i}")) for i in range(5)] == [
        [p] for p in RANKING
    ]
    # User 1 was trained on (their list is in the precomputed block): history {1, 2} ranks
    # p3 (W13 + W23), p4, p5 (0), then p6 by popularity.
    assert [_ids(feed.get(f"/users/1/recs?n=3&offset={i}")) for i in (0, 3)] == [[3, 4, 5], [6]]


def test_the_cursor_follows_the_ranking_to_its_end(feed):
    response = feed.get("/users/6/recs?n=2")
    seen = _ids(response)
    while "Link" in response.headers:
        link = response.headers["Link"]
        assert link.startswith("</users/6/recs?") and link.endswith('>; rel="next"')
        url = link[1 : link.index(">")]
        assert parse_qs(urlsplit(url).query)["cursor"] == [response.headers["X-Next-Cursor"]]
        response = feed.get(url)
        assert "X-Ranking-Restarted" not in response.headers
        seen += _ids(response)
    assert seen == RANKING
    assert "X-Next-Cursor" not in response.headers


def test_a_cursor_after_a_new_activity_restarts_at_the_top_of_the_new_ranking(feed):
    cursor = feed.get("/users/6/recs?n=2").headers["X-Next-Cursor"]
    assert _ids(feed.get(f"/users/6/recs?n=2&cursor={cursor}")) == [4, 5]
    feed.post("/users/6/products/2/activities")
    response = feed.get(f"/users/6/recs?n=2&cursor={cursor}")
    # History {1, 2}: p3 = W13 + W23 = 2/3 + 1/sqrt(6), p4 = p5 = 0, then p6.
    assert _ids(response) == [3, 4]
    assert response.headers["X-Ranking-Restarted"] == "true"
    assert _ids(feed.get(f"/users/6/recs?cursor={response.headers['X-Next-Cursor']}")) == [5, 6]


def test_explain_names_the_history_products_behind_each_score(feed):
    response = feed.get("/users/6/recs?n=3&explain=true")
    picks = response.get_json()
    assert [p["product_id"] for p in picks] == [2, 3, 4]
    # Item kNN's score is sum_h w_h W_h,i with w_h = 1 (binary): the terms themselves.
    assert picks[0]["because"] == [{"product_id": 1, "weight": pytest.approx(W12, rel=1e-6)}]
    assert picks[1]["because"] == [{"product_id": 1, "weight": pytest.approx(W13, rel=1e-6)}]
    assert picks[2]["because"] == []  # W14 = 0: nothing in the history led to p4
    assert "because" not in feed.get("/users/6/recs?n=3").get_json()[0]


def test_explain_on_a_later_page_and_for_popularity(feed):
    feed.post("/users/6/products/2/activities")
    picks = feed.get("/users/6/recs?n=2&explain=true").get_json()
    assert picks[0]["product_id"] == 3
    assert picks[0]["because"] == [
        {"product_id": 1, "weight": pytest.approx(W13, rel=1e-6)},
        {"product_id": 2, "weight": pytest.approx(W23, rel=1e-6)},
    ]
    last = feed.get("/users/6/recs?n=2&offset=2&explain=true").get_json()
    assert [(p["product_id"], p["because"]) for p in last] == [(5, []), (6, [])]  # p6: popularity


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("n=10&offset=991", "offset: n + offset must be at most 1000"),
        ("offset=-1", "offset: Input should be greater than or equal to 0"),
        ("offset=1000", "offset: Input should be less than or equal to 999"),
        ("offset=2&cursor=eyJ9", "cursor: give offset or cursor, not both"),
        ("cursor=eyJ9", "cursor: is not a cursor this server gave (take it from X-Next-Cursor)"),
        ("cursor=a%2Fb", "cursor: String should match pattern '^[A-Za-z0-9_-]{1,400}$'"),
        ("explain=maybe", "explain: Input should be a valid boolean, unable to interpret input"),
    ],
)
def test_invalid_paging_options_are_400_with_a_message(api, store, query, message):
    store.create_user()
    response = api.get(f"/users/1/recs?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"] == message


def test_a_cursor_past_the_limit_is_400(feed):
    # n=1 pages to offset 999 are allowed; a cursor at 999 with n=2 would pass 1000.
    cursor = Cursor(offset=999, history=1, ranking="m/1").encode()
    response = feed.get(f"/users/6/recs?n=2&cursor={cursor}")
    assert response.status_code == 400
    message = "cursor: n + the cursor's offset must be at most 1000"
    assert response.get_json()["error"]["message"] == message


# --------------------------------------------------------------------- typed feedback
@pytest.fixture
def types(app):
    """`types(**{name: (weight, meaning)})`: the data folder's feedback configuration, read
    by the server on every request from now on (not at most once a second)."""
    app.extensions["discerner"].models.feedback_seconds = 0

    def configure(**entries):
        config = FeedbackTypes()
        for name, (weight, meaning) in entries.items():
            config = config.with_type(name, weight, meaning)
        config.save(app.config["DISCERNER_HOME"])

    return configure


def test_a_dislike_is_never_recommended_and_lowers_its_neighbours(feed, types):
    types(dislike=(1.0, "negative"))
    feed.post("/users/6/products/3/activities", json={"type": "dislike"})
    # History p1 (+1), p3 (-1), binary weights: p2 = W12 - W32 = 2/sqrt(6) - 1/sqrt(6) > 0,
    # p5 = 0, p4 = W14 - W34 = 0 - 1/sqrt(3 * 1) < 0 (W34: p3 and p4 share user 4); then p6.
    # Had p3 been liked, p4 = 1/sqrt(3) would come before p5.
    assert _ids(feed.get("/users/6/recs")) == [2, 5, 4, 6]


def test_an_ignored_type_neither_scores_nor_excludes(feed, types):
    types(impression=(1.0, "ignore"))
    feed.post("/users/6/products/2/activities", json={"type": "impression"})
    assert _ids(feed.get("/users/6/recs")) == RANKING


def test_a_new_feedback_configuration_takes_effect_at_once(feed, types):
    feed.post("/users/6/products/3/activities", json={"type": "view"})
    # Views positive (the default): history {1, 3}: p2 = W12 + W32, p4 = W34, p5 = 0, then p6.
    assert _ids(feed.get("/users/6/recs")) == [2, 4, 5, 6]
    cursor = feed.get("/users/6/recs?n=2").headers["X-Next-Cursor"]
    types(view=(1.0, "negative"))  # the precomputed lists of the old configuration are stale
    assert _ids(feed.get("/users/6/recs")) == [2, 5, 4, 6]
    restarted = feed.get(f"/users/6/recs?n=2&cursor={cursor}")
    assert restarted.headers["X-Ranking-Restarted"] == "true" and _ids(restarted) == [2, 5]


# --------------------------------------------------------------------- product rules, labels
PAST, FUTURE = "2001-01-01T00:00:00Z", "2999-01-01T00:00:00Z"


def _patch(api, product, **changes):
    response = api.patch(f"/products/{product}", json=changes)
    assert response.status_code == 200, response.get_json()


def test_a_hidden_product_is_never_recommended_nor_similar_until_shown_again(feed):
    _patch(feed, 2, hidden=True)
    assert _ids(feed.get("/users/6/recs")) == [3, 4, 5, 6]
    assert 2 not in _ids(feed.get("/products/1/similar"))  # p1's neighbours: p2, p3
    assert _ids(feed.get("/products/1/similar")) == [3]
    _patch(feed, 2, hidden=None)
    assert _ids(feed.get("/users/6/recs")) == RANKING
    assert _ids(feed.get("/products/1/similar")) == [2, 3]  # W12 = 0.816 > W13 = 0.667


def test_an_expired_product_is_left_out_from_its_expiry_on(feed):
    _patch(feed, 3, expires_at=FUTURE)
    assert _ids(feed.get("/users/6/recs")) == RANKING
    _patch(feed, 3, expires_at=PAST)
    assert _ids(feed.get("/users/6/recs")) == [2, 4, 5, 6]
    assert _ids(feed.get("/users/6/recs?n=2&offset=2")) == [5, 6]  # pages skip it too


def test_label_filters_any_all_and_exclude(feed):
    _patch(feed, 2, labels=["vegan"])
    _patch(feed, 3, labels=["vegan", "organic"], category="c")
    _patch(feed, 4, labels=["organic"], category="c")
    # The ranking is 2, 3, 4, 5, 6; p5 and p6 have no label.
    assert _ids(feed.get("/users/6/recs?labels_any=vegan,organic")) == [2, 3, 4]
    assert _ids(feed.get("/users/6/recs?labels_all=vegan,organic")) == [3]
    assert _ids(feed.get("/users/6/recs?labels_exclude=organic")) == [2, 5, 6]
    assert _ids(feed.get("/users/6/recs?labels_any=organic&labels_exclude=vegan")) == [4]
    assert _ids(feed.get("/users/6/recs?category=c&labels_any=vegan")) == [3]
    assert _ids(feed.get("/users/6/recs?category=c&labels_all=organic&exclude=4")) == [3]
    assert _ids(feed.get("/users/6/recs?labels_any=nothing-has-it")) == []
    pages = [
        _ids(feed.get(f"/users/6/recs?labels_exclude=organic&n=1&offset={i}")) for i in (0, 1, 2)
    ]
    assert pages == [[2], [5], [6]]
    _patch(feed, 4, labels=None)  # takes effect at the next request
    assert _ids(feed.get("/users/6/recs?labels_any=vegan,organic")) == [2, 3]


def test_filters_and_explanations_together(feed):
    _patch(feed, 2, hidden=True)
    _patch(feed, 3, labels=["vegan"])
    picks = feed.get("/users/6/recs?labels_any=vegan&explain=true").get_json()
    assert picks == [
        {
            "product_id": 3,
            "score": pytest.approx(W13, rel=1e-6),
            "because": [{"product_id": 1, "weight": pytest.approx(W13, rel=1e-6)}],
        }
    ]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("labels_any=a,,b", "labels_any: must be labels separated by commas"),
        ("labels_all=", "labels_all: must be labels separated by commas"),
        ("labels_exclude=%00", "labels_exclude: must be labels separated by commas"),
    ],
)
def test_invalid_label_filters_are_400(api, store, query, message):
    store.create_user()
    response = api.get(f"/users/1/recs?{query}")
    assert response.status_code == 400
    assert response.get_json()["error"]["message"].startswith(message)


@pytest.fixture
def settings(request):
    """The embedded store; a test parametrized with "postgresql" runs on a new database."""
    if getattr(request, "param", None) == "postgresql":
        return {"DISCERNER_STORE": request.getfixturevalue("postgres_store_url")()}
    return {}


@pytest.mark.parametrize("settings", ["postgresql"], indirect=True)
def test_rules_take_effect_at_once_on_postgresql(feed, app):
    assert app.config["DISCERNER_STORE"].startswith("postgresql")
    _patch(feed, 2, hidden=True)
    _patch(feed, 4, labels=["organic"])
    assert _ids(feed.get("/users/6/recs")) == [3, 4, 5, 6]
    assert _ids(feed.get("/users/6/recs?labels_exclude=organic")) == [3, 5, 6]
