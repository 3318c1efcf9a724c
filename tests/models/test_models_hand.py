"""Per-model answers computed by hand on 3-4 user frames."""

import numpy as np
import pandas as pd
import pytest

from discerner.models import Popularity, PureSVD


def frame(pairs):
    users, products = zip(*pairs, strict=True)
    return pd.DataFrame({"user_id": users, "product_id": products, "score": 1.0})


# Product 1 has 3 users, product 2 has 2, products 3 and 4 one each.
POPULAR = frame([(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 3), (4, 4)])


def test_popularity_counts_users_and_breaks_ties_by_id():
    model = Popularity().fit(POPULAR)
    recs = model.recommend([4, 99], n=3)
    assert list(recs["product_id"]) == [1, 2, 3, 1, 2, 3]
    assert list(recs["score"]) == [3.0, 2.0, 1.0, 3.0, 2.0, 1.0]
    assert list(model.recommend([1], n=5)["product_id"]) == [3, 4]


def test_popularity_counts_distinct_users_not_events():
    events = pd.concat([POPULAR, frame([(4, 4)] * 5)])
    assert Popularity(duplicates="sum").fit(events).popularity_.tolist() == [3, 2, 1, 1]


# Users 1, 2 own products 1 and 2; user 3 owns product 3. XᵀX = [[2,2,0],[2,2,0],[0,0,1]]:
# the top right singular vector is (1, 1, 0)/√2, so a rank-1 fold-in of x = e1 scores
# x V Vᵀ = (1/2, 1/2, 0).
BLOCKS = frame([(1, 1), (1, 2), (2, 1), (2, 2), (3, 3)])


def test_pure_svd_rank_one_fold_in():
    model = PureSVD(n_components=1).fit(BLOCKS)
    history = pd.DataFrame({"user_id": [50], "product_id": [1], "score": [4.0]})
    recs = model.recommend([50], n=3, history=history)
    assert list(recs["product_id"]) == [2, 3]
    np.testing.assert_allclose(recs["score"], [0.5, 0.0], atol=1e-6)


def test_pure_svd_without_binarising_scales_with_the_score():
    model = PureSVD(n_components=1, weighting="none").fit(BLOCKS)
    ids, scores = model.recommend_history(np.array([1]), np.array([4.0]), n=1)
    assert ids.tolist() == [2]
    assert scores[0] == pytest.approx(2.0, abs=1e-5)


def test_pure_svd_similar_products():
    model = PureSVD(n_components=2).fit(BLOCKS)
    similar = model.similar_products([1, 3, 77], n=1)
    assert similar["product_id"].tolist() == [1, 3]
    assert similar["similar_product_id"].tolist()[0] == 2
    assert similar["score"].tolist()[0] == pytest.approx(1.0, abs=1e-5)
