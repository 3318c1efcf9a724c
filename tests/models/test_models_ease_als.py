"""EASE and implicit ALS: answers computed by hand on tiny frames, fold-in and `similar`."""

import json

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from discerner.datasets import generate
from discerner.errors import ModelTooLargeError, NotFittedError
from discerner.models import EASE, ImplicitALS, load
from discerner.models.ease import dense_gram, ease_weights
from discerner.models.factors import confidences, normal_equations, solve_rows


def frame(pairs, scores=None):
    users, products = zip(*pairs, strict=True)
    score = 1.0 if scores is None else scores
    return pd.DataFrame({"user_id": users, "product_id": products, "score": score})


# Users 1, 2 take products 1 and 2; user 3 takes 2 and 3; user 4 takes 3.
# G = XᵀX = [[2, 2, 0], [2, 3, 1], [0, 1, 2]]; with l2 = 1, G + I = [[3, 2, 0], [2, 4, 1],
# [0, 1, 3]], det = 3·11 - 2·6 = 21, and its cofactors give
# P = (G + I)⁻¹ = [[11, -6, 2], [-6, 9, -3], [2, -3, 8]] / 21.
# B_ij = -P_ij / P_jj (P_11 = 11/21, P_22 = 9/21, P_33 = 8/21), diag(B) = 0:
# B = [[0, 6/9, -2/8], [6/11, 0, 3/8], [-2/11, 3/9, 0]].
TRIANGLE = frame([(1, 1), (1, 2), (2, 1), (2, 2), (3, 2), (3, 3), (4, 3)])
B = np.array([[0, 2 / 3, -1 / 4], [6 / 11, 0, 3 / 8], [-2 / 11, 1 / 3, 0]])


def test_ease_weights_by_hand():
    model = EASE(l2=1.0, weighting="binary").fit(TRIANGLE)
    np.testing.assert_allclose(model.item_weights_, B, rtol=1e-5, atol=1e-6)


def test_ease_fold_in_of_an_unseen_user_is_x_times_b():
    model = EASE(l2=1.0, weighting="binary").fit(TRIANGLE)
    # x = (1, 0, 1): x B = row 1 + row 3 = (-2/11, 2/3 + 1/3, -1/4); 1 and 3 are seen.
    history = frame([(50, 1), (50, 3)])
    recs = model.recommend([50], n=3, history=history)
    assert list(recs["product_id"]) == [2]
    np.testing.assert_allclose(recs["score"], [1.0], rtol=1e-5)
    # The fast path scores the same history the same way, unseen products first.
    ids, scores = model.recommend_history(np.array([1]), np.array([5.0]), n=3)
    assert list(ids) == [2, 3]
    np.testing.assert_allclose(scores, [2 / 3, -1 / 4], rtol=1e-5)


def test_ease_without_binarising_scales_with_the_score():
    model = EASE(l2=1.0, weighting="none").fit(TRIANGLE)
    # The fitted B is the same (all scores are 1); x = (4, 0, 0) scores 4 · row 1.
    ids, scores = model.recommend_history(np.array([1]), np.array([4.0]), n=3)
    assert list(ids) == [2, 3]
    np.testing.assert_allclose(scores, [8 / 3, -1.0], rtol=1e-5)


def test_ease_similar_products_read_the_rows_of_b():
    model = EASE(l2=1.0, weighting="binary").fit(TRIANGLE)
    similar = model.similar_products([2, 3], n=5)
    # Row 2 of B: (6/11, 0, 3/8); row 3: (-2/11, 1/3, 0); a product is never its own.
    assert similar["product_id"].tolist() == [2, 2, 3, 3]
    assert similar["similar_product_id"].tolist() == [1, 3, 2, 1]
    np.testing.assert_allclose(similar["score"], [6 / 11, 3 / 8, 1 / 3, -2 / 11], rtol=1e-5)


def test_ease_explains_with_the_exact_terms_of_its_score():
    model = EASE(l2=1.0, weighting="binary").fit(TRIANGLE)
    # History {1, 3}: product 2 scores B_12 + B_32 = 2/3 + 1/3; product 1 of the history
    # adds 2/3, product 3 adds 1/3 (B_21 = 6/11 and B_23 = 3/8 are the other direction).
    (reasons,) = model.explain(np.array([1, 3]), np.ones(2), [2])
    assert [product for product, _ in reasons] == [1, 3]
    np.testing.assert_allclose([weight for _, weight in reasons], [2 / 3, 1 / 3], rtol=1e-5)


def test_ease_weights_agree_with_a_float64_inverse():
    rng = np.random.default_rng(3)
    users, products = rng.integers(1, 81, 2000), rng.zipf(1.4, 2000) % 150 + 1
    model = EASE(l2=5.0, weighting="binary").fit(frame(list(zip(users, products, strict=True))))
    x = (model.user_items_.toarray() > 0).astype(np.float64)
    p = np.linalg.inv(x.T @ x + 5.0 * np.eye(x.shape[1]))
    expected = -p / np.diag(p)[None, :]
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.item_weights_, expected, atol=1e-4)


def test_dense_gram_blocks_add_up_to_the_whole_product():
    rng = np.random.default_rng(4)
    x = (rng.random((30, 7)) < 0.3).astype(np.float32)
    np.testing.assert_allclose(dense_gram(sp.csr_matrix(x), block=3), x.T @ x)


def test_ease_weights_overwrite_the_gram_matrix():
    gram = np.array([[2, 2, 0], [2, 3, 1], [0, 1, 2]], dtype=np.float32)
    weights = ease_weights(gram, 1.0)
    assert np.shares_memory(weights, gram)
    np.testing.assert_allclose(weights, B, rtol=1e-5, atol=1e-6)


def test_ease_refuses_a_catalogue_over_its_limit_before_fitting():
    model = EASE(max_products=2)
    fits, reason = model.fits_in_memory(n_users=4, n_products=3)
    assert not fits
    assert "3 products exceed max_products=2" in reason
    with pytest.raises(ModelTooLargeError, match="max_products=2"):
        model.fit(TRIANGLE)
    with pytest.raises(NotFittedError):
        model.recommend([1])
    assert EASE(max_products=3).fits_in_memory(4, 3) == (True, "")


def test_ease_refuses_what_the_machine_cannot_hold():
    # 10⁷ products: 2 · 4 · 10¹⁴ bytes (800 TB), more than any machine has available.
    fits, reason = EASE(max_products=10**8).fits_in_memory(10, 10**7)
    assert not fits
    assert "available" in reason


# ------------------------------------------------------------------------------ implicit ALS
# One factor per product: y = (1, 2, -1), so YᵀY = 1 + 4 + 1 = 6.
ITEMS = np.array([[1.0], [2.0], [-1.0]], dtype=np.float32)


def assigned_als(**params):
    """An ImplicitALS holding the hand-made item factors ITEMS (no fitted users)."""
    return ImplicitALS(n_factors=1, alpha=2.0, weighting="binary", **params).assign(
        user_ids_=np.empty(0, np.int64),
        product_ids_=np.array([1, 2, 3]),
        user_items_=sp.csr_matrix((0, 3), dtype=np.float32),
        popularity_=np.ones(3, np.float32),
        item_factors_=ITEMS,
        user_factors_=np.empty((0, 1), np.float32),
    )


def test_als_normal_equations_by_hand():
    # Products 1 and 2 with c1 = 2 each: A = 6 + 2 (1 + 4) + λ' = 16 + λ', b = 3 + 6 = 9;
    # λ' = λ = 1 plain, λ n = 2 scaled.
    for scaled, expected in ((False, 17.0), (True, 18.0)):
        a, b = normal_equations(
            ITEMS[:2].astype(float), np.array([[6.0]]), np.full(2, 2.0), 1.0, scaled
        )
        np.testing.assert_allclose(a, [[expected]])
        np.testing.assert_allclose(b, [9.0])


def test_als_fold_in_by_hand():
    # History {2}, c1 = alpha w = 2: A = 6 + 2·4 + 1 = 15, b = (1 + 2)·2 = 6, x = 2/5;
    # scores x y: product 1 2/5, product 3 -2/5 (product 2 is seen).
    ids, scores = assigned_als(regularization=1.0).recommend_history(np.array([2]), np.ones(1))
    assert list(ids) == [1, 3]
    np.testing.assert_allclose(scores, [0.4, -0.4], rtol=1e-5)
    # History {1, 2}: x = 9/17 plain, 9/18 when λ is scaled by the 2 products.
    for scale, x in ((False, 9 / 17), (True, 9 / 18)):
        model = assigned_als(regularization=1.0, scale_regularization=scale)
        ids, scores = model.recommend_history(np.array([1, 2]), np.ones(2))
        assert list(ids) == [3]
        np.testing.assert_allclose(scores, [-x], rtol=1e-5)


def test_als_fold_in_of_a_dislike_is_a_confident_no():
    # History: product 2 liked (w = 1), product 3 disliked (w = -1), c1 = alpha |w| = 2 each.
    # A = 6 + 2·2² + 2·(-1)² + λ = 17 (scaled: λ times the one liked product, the same),
    # b = (1 + 2)·2 for the liked product only = 6: x = 6/17 (2/5 without the dislike).
    # Product 1 scores 6/17; the disliked product 3 is never recommended.
    for scale in (False, True):
        model = assigned_als(regularization=1.0, scale_regularization=scale)
        ids, scores = model.recommend_history(np.array([2, 3]), np.array([1.0, -1.0]))
        assert list(ids) == [1]
        np.testing.assert_allclose(scores, [6 / 17], rtol=1e-5)
    # Only a dislike: no preference to fold in, the zero vector.
    assert not assigned_als().fold_in(np.array([2]), np.array([-1.0])).any()


def test_als_confidences_keep_positive_weights_only():
    # implicit reads c > 0 as a preference with confidence c: 1 + alpha w = 1 + 3·2 = 7;
    # a zero score (seen, no preference) would become confidence 1, so it is dropped.
    row = sp.csr_matrix((np.array([2.0, 0.0], np.float32), [0, 2], [0, 2]), shape=(1, 3))
    kept = confidences(row, alpha=3.0)
    assert kept.indices.tolist() == [0]
    np.testing.assert_allclose(kept.data, [7.0])


def test_als_library_fit_solves_the_reference_equations():
    # With 3 factors, implicit's 3 conjugate-gradient steps solve each row exactly; its last
    # half-sweep solves the items against the final users, so the item factors must be
    # `solve_rows` of the users under the same plain λ and confidences.
    rng = np.random.default_rng(6)
    pairs = {
        (int(u), int(p))
        for u, p in zip(rng.integers(1, 31, 150), rng.integers(1, 13, 150), strict=True)
    }
    # A fifth of the scores are dislikes: the fit reads their magnitudes (`Recommender.fit`).
    scores = rng.integers(1, 6, len(pairs)) * np.where(rng.random(len(pairs)) < 0.2, -1, 1)
    model = ImplicitALS(n_factors=3, regularization=2.0, alpha=4.0, iterations=2).fit(
        frame(sorted(pairs), scores=scores.astype(float))
    )
    weighted = model._weigh(model.user_items_)
    assert (weighted.data < 0).any()
    weighted = abs(weighted).T.tocsr()
    expected = solve_rows(weighted, model.user_factors_, 4.0, 2.0, scaled=False)
    np.testing.assert_allclose(model.item_factors_, expected, rtol=1e-3, atol=1e-5)


@pytest.fixture(scope="module")
def planted():
    return generate(n_users=300, n_products=120, n_activities=6000, n_categories=6, seed=11)


@pytest.mark.parametrize("scale", [False, True], ids=["implicit", "reference"])
def test_als_fold_in_of_a_fitted_user_gives_back_their_fitted_vector(planted, scale):
    model = ImplicitALS(
        n_factors=8,
        regularization=5.0 if not scale else 0.05,
        iterations=15,
        scale_regularization=scale,
    ).fit(planted.activities)
    rows = model.user_items_
    close = []
    for row in range(rows.shape[0]):
        columns = rows.indices[rows.indptr[row] : rows.indptr[row + 1]]
        values = rows.data[rows.indptr[row] : rows.indptr[row + 1]]
        folded = model.fold_in(columns, model._weigh_one(columns, values))
        fitted = model.user_factors_[row]
        cosine = folded @ fitted / (np.linalg.norm(folded) * np.linalg.norm(fitted))
        close.append(
            cosine > 0.99 and np.linalg.norm(folded - fitted) < 0.1 * np.linalg.norm(fitted)
        )
    # The fitted vectors solved the equations against the previous sweep's items: close, not equal.
    assert np.mean(close) >= 0.95


def test_als_similar_products_share_the_planted_category(planted):
    model = ImplicitALS(n_factors=8, regularization=5.0).fit(planted.activities)
    similar = model.similar_products(planted.products["id"], n=5)
    category = planted.products.set_index("id")["category"]
    same = (
        category.loc[similar["product_id"]].to_numpy()
        == category.loc[similar["similar_product_id"]].to_numpy()
    )
    # Six categories: unrelated neighbours would share one about 1/6 of the time.
    assert len(similar) == 5 * len(planted.products)
    assert same.mean() > 0.9


def test_als_saved_before_scaling_existed_loads_with_spark_equations(tmp_path):
    model = assigned_als(regularization=1.0, scale_regularization=True)
    folder = model.save(tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text())
    del meta["params"]["scale_regularization"]
    (folder / "model.json").write_text(json.dumps(meta))
    loaded = load(folder)
    assert loaded.scale_regularization
    np.testing.assert_allclose(
        loaded.recommend_history(np.array([1, 2]), np.ones(2))[1], [-9 / 18], rtol=1e-5
    )
