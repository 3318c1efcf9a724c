"""Dislikes (negative scores): weightings keep their sign, models learn from their magnitude,
and a dislike lowers the products similar to it. Hand-computed on 3-product frames."""

import math

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from discerner.matrix import apply_weighting, bm25_idf, weigh_values
from discerner.models import ItemKNN, PureSVD


def frame(rows):
    return pd.DataFrame(rows, columns=["user_id", "product_id", "score"])


# One row: p1 liked 3.0, p2 disliked -3.0, p3 seen with score 0.
ROW = sp.csr_matrix((np.array([3.0, -3.0, 0.0], np.float32), [0, 1, 2], [0, 3]), shape=(1, 3))


@pytest.mark.parametrize(
    ("weighting", "expected"),
    [
        ("none", [3.0, -3.0, 0.0]),
        ("binary", [1.0, -1.0, 1.0]),  # seen is 1 whatever the score; a dislike -1
        ("log", [math.log(4.0), -math.log(4.0), 0.0]),  # sign(x) log(1 + |x|)
    ],
)
def test_weightings_keep_the_sign_of_a_dislike(weighting, expected):
    np.testing.assert_allclose(apply_weighting(ROW, weighting).data, expected, rtol=1e-6)
    columns = np.array([0, 1, 2])
    np.testing.assert_allclose(weigh_values(ROW.data, columns, weighting), expected, rtol=1e-6)


def test_bm25_gives_a_dislike_the_weight_of_its_magnitude_negated():
    # idf = (1, 1, 1), |u| = 3 = avg_length, k1 = 1.2, b = 0.75: the norm is k1 = 1.2, so
    # w(3) = 3 * 2.2 / (3 + 1.2) = 1.5714..., w(-3) = -w(3), w(0) = 0.
    idf = np.ones(3, dtype=np.float32)
    weighted = apply_weighting(ROW, "bm25", idf, 3.0).data
    np.testing.assert_allclose(weighted, [6.6 / 4.2, -6.6 / 4.2, 0.0], rtol=1e-6)
    assert bm25_idf(ROW).shape == (3,)


# Users of each product: p1 {1, 2}, p2 {1, 2, 3}, p3 {2, 3}; user 3 dislikes p2 (-1).
LIKES = [(1, 1, 1.0), (1, 2, 1.0), (2, 1, 1.0), (2, 2, 1.0), (2, 3, 1.0), (3, 3, 1.0)]
WITH_DISLIKE = frame([*LIKES, (3, 2, -1.0)])
ALL_LIKED = frame([*LIKES, (3, 2, 1.0)])


def test_what_goes_together_is_learned_from_every_interaction():
    # The dislike is still an interaction: the fitted similarity is that of all-liked data,
    # W12 = 2 / sqrt(2 * 3), W13 = 1/2, W23 = 2 / sqrt(3 * 2).
    disliked = ItemKNN(k=2, shrink=0.0).fit(WITH_DISLIKE)
    liked = ItemKNN(k=2, shrink=0.0).fit(ALL_LIKED)
    np.testing.assert_allclose(disliked.similarity_.toarray(), liked.similarity_.toarray())
    assert disliked.similarity_[0, 1] == pytest.approx(2 / math.sqrt(6))
    # ... but user 3 keeps their dislike: it counts against p2's neighbours in their scores.
    assert disliked.user_items_[2].toarray().tolist() == [[0.0, -1.0, 1.0]]


def test_a_dislike_lowers_the_products_similar_to_it():
    # A new user with p3 liked: p1 = W31 = 1/2, p2 = W32 = 2/sqrt(6) = 0.816: p2 first.
    # Adding a dislike of p2 excludes it and lowers its neighbour p1 by W21 = 2/sqrt(6):
    # p1 = 1/2 - 0.816 < 0. Disliking p1 instead lowers p2 to 0.816 - 0.816 = 0.
    model = ItemKNN(k=2, shrink=0.0).fit(ALL_LIKED)
    ids, scores = model.recommend_history(np.array([3]), np.array([1.0]))
    assert ids.tolist() == [2, 1]
    np.testing.assert_allclose(scores, [2 / math.sqrt(6), 0.5], rtol=1e-6)
    ids, scores = model.recommend_history(np.array([3, 2]), np.array([1.0, -1.0]))
    assert ids.tolist() == [1]  # the disliked product is never recommended
    np.testing.assert_allclose(scores, [0.5 - 2 / math.sqrt(6)], rtol=1e-6)
    ids, scores = model.recommend_history(np.array([3, 1]), np.array([1.0, -1.0]))
    np.testing.assert_allclose(scores, [0.0], atol=1e-6)


def test_a_dislike_folds_into_pure_svd_against_its_block():
    # Blocks: users 1, 2 own p1 and p2, user 3 owns p3; rank 2 gives p1 = p2 = (1/√2, 0) and
    # p3 = (0, 1) (up to sign). x = (p3: +1, p1: -1): x V Vᵀ = (-1/2, -1/2, 1), so p2 scores
    # -1/2, below what the same history without the dislike gives it (0).
    blocks = frame([(1, 1, 1.0), (1, 2, 1.0), (2, 1, 1.0), (2, 2, 1.0), (3, 3, 1.0)])
    model = PureSVD(n_components=2).fit(blocks)
    _, liked = model.recommend_history(np.array([3]), np.array([1.0]), allowed=np.array([2]))
    _, mixed = model.recommend_history(
        np.array([3, 1]), np.array([1.0, -1.0]), allowed=np.array([2])
    )
    np.testing.assert_allclose([liked[0], mixed[0]], [0.0, -0.5], atol=1e-5)
