"""Per-model answers computed by hand on 3-4 user frames."""

import numpy as np
import pandas as pd
import pytest

from discerner.models import Blend, ItemKNN, Popularity, PureSVD, UserKNN
from discerner.models.blend import standardize
from discerner.models.ranking import top_n_indices


def frame(pairs):
    users, products = zip(*pairs, strict=True)
    return pd.DataFrame({"user_id": users, "product_id": products, "score": 1.0})


# Product 1 has 3 users, product 2 has 2, products 3 and 4 one each.
POPULAR = frame([(1, 1), (2, 1), (3, 1), (1, 2), (2, 2), (3, 3), (4, 4)])


def test_popularity_counts_users_and_breaks_ties_by_id():
    model = Popularity().fit(POPULAR)
    recs = model.recommend([4, 99], n=3)
    assert list(recs["product_id"]) == [1, 2, 3, 1, 2, 3]
    # The score is the share of the 4 fitted users: 3/4, 2/4, 1/4.
    assert list(recs["score"]) == [0.75, 0.5, 0.25, 0.75, 0.5, 0.25]
    assert list(model.recommend([1], n=5)["product_id"]) == [3, 4]


def test_popularity_counts_distinct_users_not_events():
    events = pd.concat([POPULAR, frame([(4, 4)] * 5)])
    assert Popularity(duplicates="sum").fit(events).popularity_.tolist() == [3, 2, 1, 1]


@pytest.mark.parametrize("model", [Popularity(), UserKNN(k=2)], ids=["popularity", "user_knn"])
def test_models_without_an_item_similarity_use_co_occurrence(model):
    # Users of each product: 1 -> {1, 2, 3}, 2 -> {1, 2}, 3 -> {3}, 4 -> {4}.
    # sim(1, 2) = |{1, 2}| / sqrt(3 * 2); sim(1, 3) = |{3}| / sqrt(3 * 1); 4 shares no user.
    similar = model.fit(POPULAR).similar_products([1, 4], n=5)
    assert similar["product_id"].tolist() == [1, 1]
    assert similar["similar_product_id"].tolist() == [2, 3]
    np.testing.assert_allclose(similar["score"], [2 / np.sqrt(6), 1 / np.sqrt(3)], rtol=1e-6)


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


# Users 1: {1, 2}, 2: {1, 2, 3}, 3: {3, 4}. Product vectors over users: p1 = p2 = (1, 1, 0),
# p3 = (0, 1, 1), p4 = (0, 0, 1). Cosines: (1,2) = 1, (1,3) = (2,3) = 1/2, (3,4) = 1/√2.
CHAIN = frame([(1, 1), (1, 2), (2, 1), (2, 2), (2, 3), (3, 3), (3, 4)])


def test_item_knn_cosine_keeps_k_neighbours_per_product():
    model = ItemKNN(k=2, shrink=0.0).fit(CHAIN)
    # Product 4's only positive neighbour is 3; product 1 keeps 2 (1.0) and 3 (0.5).
    ids, scores = model.recommend_history(np.array([1, 4]), np.ones(2), n=3)
    assert ids.tolist() == [3, 2]
    np.testing.assert_allclose(scores, [0.5 + 1 / np.sqrt(2), 1.0], rtol=1e-6)
    one = ItemKNN(k=1, shrink=0.0).fit(CHAIN)
    assert one.similarity_.getnnz(axis=1).tolist() == [1, 1, 1, 1]


def test_item_knn_shrinkage_damps_rare_pairs():
    model = ItemKNN(k=2, shrink=1.0).fit(CHAIN)
    _, scores = model.recommend_history(np.array([1, 4]), np.ones(2), n=2)
    np.testing.assert_allclose(scores, [1 / 3 + 1 / (np.sqrt(2) + 1), 2 / 3], rtol=1e-6)


@pytest.mark.parametrize(("beta", "expected"), [(0.0, [5 / 12, 1 / 6]), (1.0, [5 / 24, 1 / 12])])
def test_rp3beta_random_walk(beta, expected):
    # P(1 -> u) = (1/2, 1/2, 0); P(u1 -> .) = (1/2, 1/2, 0, 0), P(u2 -> .) = (1/3, 1/3, 1/3, 0):
    # W[1] = (5/12, 5/12, 1/6, 0), the diagonal dropped, columns divided by popularity^beta.
    model = ItemKNN(k=10, similarity="rp3beta", alpha=1.0, beta=beta).fit(CHAIN)
    similar = model.similar_products([1], n=5)
    assert similar["similar_product_id"].tolist() == [2, 3]
    np.testing.assert_allclose(similar["score"], expected, rtol=1e-6)


def test_item_knn_rejects_an_unknown_similarity():
    with pytest.raises(ValueError, match="similarity"):
        ItemKNN(similarity="jaccard").fit(CHAIN)


@pytest.mark.parametrize(
    ("k", "expected"),
    [(1, {2: 1 / np.sqrt(2)}), (2, {2: 1 / np.sqrt(2) + 1 / np.sqrt(3), 3: 1 / np.sqrt(3)})],
)
def test_user_knn_weights_neighbours_by_cosine(k, expected):
    # A new user with product 1: cosine 1/√2 with user 1, 1/√3 with user 2, 0 with user 3.
    model = UserKNN(k=k, shrink=0.0).fit(CHAIN)
    history = pd.DataFrame({"user_id": [9], "product_id": [1]})
    recs = model.recommend([9], n=3, history=history)
    positive = recs[recs["score"] > 0]
    assert dict(zip(positive["product_id"], positive["score"], strict=True)) == pytest.approx(
        expected
    )


def test_standardize():
    np.testing.assert_allclose(standardize(np.array([1.0, 2.0, 3.0])), [-1.2247449, 0, 1.2247449])
    np.testing.assert_array_equal(standardize(np.ones((2, 3))), np.zeros((2, 3)))


@pytest.mark.parametrize("weight", [0.0, 1.0])
def test_blend_extremes_are_its_parts(weight):
    blend = Blend(n_components=2, k=2, similarity="cosine", shrink=0.0, svd_weight=weight)
    part = PureSVD(n_components=2) if weight else ItemKNN(k=2, shrink=0.0)
    users = [1, 2, 3]
    ours = blend.fit(CHAIN).recommend(users, n=2)
    theirs = part.fit(CHAIN).recommend(users, n=2)
    positive = theirs["score"] > 0
    assert ours["product_id"][positive].tolist() == theirs["product_id"][positive].tolist()


def test_top_n_indices_matches_a_stable_sort():
    rng = np.random.default_rng(3)
    scores = rng.integers(0, 50, size=(20, 6000)).astype(np.float32)
    scores[:, ::5] = -np.inf
    scores[2] = -np.inf
    scores[2, 17] = 1.0
    expected = np.argsort(-scores, axis=1, kind="stable")[:, :12]
    np.testing.assert_array_equal(top_n_indices(scores, 12), expected)
    assert top_n_indices(scores[:, :3], 12).shape == (20, 3)
