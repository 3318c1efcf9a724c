"""Explanations and pages of a ranking in the library, computed by hand on 3-product frames."""

import math

import numpy as np
import pandas as pd
import pytest

from discerner.models import Blend, ImplicitALS, ItemKNN, Popularity, PureSVD, UserKNN


def frame(pairs):
    users, products = zip(*pairs, strict=True)
    return pd.DataFrame({"user_id": users, "product_id": products, "score": 1.0})


# Users of each product: p1 {1, 2}, p2 {1, 2, 3}, p3 {2, 3}. Binary cosine, no shrinkage:
# W12 = 2 / sqrt(2 * 3), W13 = 1 / sqrt(2 * 2) = 1/2, W23 = 2 / sqrt(3 * 2).
CHAIN = frame([(1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 2), (3, 3)])
W12 = W23 = 2 / math.sqrt(6)


def test_item_knn_explains_with_the_exact_terms_of_its_score():
    # Raw scores (weighting none): a history of p1 (2.0) and p3 (1.0) scores
    # p2 = 2.0 W12 + 1.0 W32 = 3 * 2/sqrt(6) = sqrt(6); the terms are 4/sqrt(6) and 2/sqrt(6).
    model = ItemKNN(k=2, shrink=0.0, weighting="none").fit(CHAIN)
    history, scores = np.array([1, 3]), np.array([2.0, 1.0])
    ids, values = model.recommend_history(history, scores)
    assert ids.tolist() == [2]
    np.testing.assert_allclose(values, [math.sqrt(6)], rtol=1e-6)
    (reasons,) = model.explain(history, scores, [2])
    assert [product for product, _ in reasons] == [1, 3]
    np.testing.assert_allclose([w for _, w in reasons], [2 * W12, W23], rtol=1e-6)
    assert sum(w for _, w in reasons) == pytest.approx(values[0], rel=1e-6)


def test_explain_keeps_the_top_terms_and_breaks_ties_by_id():
    # Binary weights: both terms of p2 are W12 = W32 = 2/sqrt(6), a tie the lower id wins.
    model = ItemKNN(k=2, shrink=0.0).fit(CHAIN)
    history = np.array([3, 1])
    assert model.explain(history, np.ones(2), [2], top=1) == [[(1, pytest.approx(W12))]]
    # A product the model never saw, or an empty history, has nothing to explain.
    assert model.explain(history, np.ones(2), [2, 99])[1] == []
    assert model.explain(np.array([], dtype=np.int64), np.array([]), [2]) == [[]]


# Users 1, 2 own p1 and p2; user 3 owns p3. XᵀX = [[2,2,0],[2,2,0],[0,0,1]] has the
# eigenvectors (1, 1, 0)/√2 and (0, 0, 1): p1 and p2 share one factor row, (±1/√2, 0), and
# p3 is (0, ±1). Cosines: cos(p1, p2) = 1, cos(p3, p2) = 0.
BLOCKS = frame([(1, 1), (1, 2), (2, 1), (2, 2), (3, 3)])


@pytest.mark.parametrize(
    "model",
    [PureSVD(n_components=2), Blend(n_components=2, k=2, similarity="cosine")],
    ids=["pure_svd", "blend"],
)
def test_factor_models_explain_by_the_cosine_of_the_factors(model):
    # History p1 (weight 1) and p3 (weight 1), for p2: 1 * cos(p1, p2) = 1, 1 * cos(p3, p2) = 0
    # (float rounding of about 1e-12 is no contribution).
    model.fit(BLOCKS)
    (reasons,) = model.explain(np.array([1, 3]), np.ones(2), [2])
    assert reasons == [(1, pytest.approx(1.0, rel=1e-5))]


def test_popularity_explains_nothing():
    model = Popularity().fit(BLOCKS)
    assert model.explain(np.array([1]), np.ones(1), [2, 3]) == [[], []]


@pytest.mark.parametrize(
    "model", [ImplicitALS(n_factors=2), UserKNN(k=2)], ids=["implicit_als", "user_knn"]
)
def test_other_models_name_the_related_history_product(model):
    # ALS: p1 and p2 have parallel factors; user kNN: the co-occurrence cosine of p1, p2 is 1.
    model.fit(BLOCKS)
    (reasons,) = model.explain(np.array([1, 3]), np.ones(2), [2])
    assert reasons[0][0] == 1 and reasons[0][1] > 0


def test_a_dislike_never_explains():
    # p1 disliked (-1): its term -1 * W12 is negative, so only p3 is named.
    model = ItemKNN(k=2, shrink=0.0, weighting="none").fit(CHAIN)
    (reasons,) = model.explain(np.array([1, 3]), np.array([-1.0, 1.0]), [2])
    assert reasons == [(3, pytest.approx(W23))]


def test_pages_of_recommend_history_are_slices_of_one_ranking():
    # 6,000 products with many equal scores: the bounded selection (over 4,096 columns) and
    # the full sort must cut one order, so pages of any size never repeat or skip a product.
    rng = np.random.default_rng(5)
    pairs = [(u, p) for u in range(1, 301) for p in rng.choice(6000, 8, replace=False) + 1]
    model = ItemKNN(k=20).fit(frame(pairs))
    history, scores = np.array(pairs[0][1:] + pairs[1][1:]), np.ones(2)
    whole = model.recommend_history(history, scores, n=300)[0].tolist()
    assert len(whole) == len(set(whole)) == 300
    for size in (7, 50):
        pages = [
            model.recommend_history(history, scores, n=end)[0][end - size : end]
            for end in range(size, 301, size)
        ]
        assert np.concatenate(pages).tolist() == whole[: len(pages) * size]
