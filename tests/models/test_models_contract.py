"""The contract every recommender keeps, run against each model on one small random frame."""

import numpy as np
import pandas as pd
import pytest

from discerner.errors import NotFittedError
from discerner.models import (
    EASE,
    Blend,
    ImplicitALS,
    ItemKNN,
    Popularity,
    PureSVD,
    UserKNN,
    load,
)

MODELS = {
    "popularity": lambda: Popularity(),
    "pure_svd": lambda: PureSVD(n_components=4),
    "pure_svd_scaled": lambda: PureSVD(n_components=4, popularity_exponent=0.5, weighting="bm25"),
    "item_knn": lambda: ItemKNN(k=10),
    "item_knn_asymmetric": lambda: ItemKNN(k=5, alpha=0.8, beta=0.3, weighting="log"),
    "rp3beta": lambda: ItemKNN(k=10, similarity="rp3beta", alpha=0.8, beta=0.4),
    "user_knn": lambda: UserKNN(k=5),
    "blend": lambda: Blend(n_components=4, k=10),
    "ease": lambda: EASE(l2=10.0),
    "ease_bm25": lambda: EASE(l2=50.0, weighting="bm25"),
    "implicit_als": lambda: ImplicitALS(n_factors=4, iterations=3),
    "implicit_als_scaled": lambda: ImplicitALS(
        n_factors=4, iterations=3, scale_regularization=True
    ),
}


@pytest.fixture(scope="module")
def interactions():
    rng = np.random.default_rng(0)
    n = 600
    frame = pd.DataFrame(
        {
            "user_id": rng.integers(1, 41, n),
            "product_id": rng.zipf(1.3, n) % 60 + 1,
            "score": rng.integers(1, 6, n).astype(float),
        }
    )
    return frame


@pytest.fixture(params=sorted(MODELS))
def model(request, interactions):
    return MODELS[request.param]().fit(interactions)


def seen(frame, user):
    return set(frame.loc[frame.user_id == user, "product_id"])


def test_fit_returns_self(interactions):
    for make in MODELS.values():
        model = make()
        assert model.fit(interactions) is model


def test_at_most_n_rows_per_user_sorted_by_score(model):
    recs = model.recommend(model.user_ids_[:10], n=5)
    assert list(recs.columns) == ["user_id", "product_id", "score", "rank"]
    for _, group in recs.groupby("user_id"):
        assert len(group) <= 5
        assert list(group["rank"]) == list(range(1, len(group) + 1))
        assert group["score"].is_monotonic_decreasing
        assert group["product_id"].is_unique


def test_seen_products_excluded(model, interactions):
    recs = model.recommend(model.user_ids_, n=10)
    for user, group in recs.groupby("user_id"):
        assert not set(group["product_id"]) & seen(interactions, user)
    kept = model.recommend([model.user_ids_[0]], n=100, exclude_seen=False)
    assert len(kept) == len(model.product_ids_)


def test_unknown_user_gets_the_popularity_ranking(model, interactions):
    recs = model.recommend([10_000], n=5)
    expected = Popularity().fit(interactions).recommend([10_000], n=5)
    assert list(recs["product_id"]) == list(expected["product_id"])


def test_save_load_round_trip(model, tmp_path):
    model.save(tmp_path / "m")
    loaded = load(tmp_path / "m")
    assert type(loaded) is type(model)
    assert loaded.get_params() == model.get_params()
    users = model.user_ids_[:15]
    pd.testing.assert_frame_equal(loaded.recommend(users), model.recommend(users))
    assert not list(tmp_path.glob("m/*.pkl"))


def test_recommend_history_agrees_with_recommend(model, interactions):
    for user in model.user_ids_[:10]:
        rows = interactions[interactions.user_id == user]
        ids, scores = model.recommend_history(
            rows["product_id"].to_numpy(), rows["score"].to_numpy(), n=7
        )
        recs = model.recommend([user], n=7)
        assert list(ids) == list(recs["product_id"])
        np.testing.assert_allclose(scores, recs["score"], rtol=1e-4, atol=1e-5)


def test_batched_histories_agree_with_one_at_a_time(model, interactions):
    histories = [
        (rows["product_id"].to_numpy(), rows["score"].to_numpy())
        for _, rows in interactions[interactions.user_id <= 12].groupby("user_id")
    ]
    histories += [
        (np.array([10**9]), np.ones(1)),  # nothing the model knows: popularity
        (np.empty(0, np.int64), np.empty(0)),
        (np.array([model.product_ids_[0]] * 2), np.array([5.0, 0.0])),  # a repeat, then zero
    ]
    batched = model.recommend_histories(histories, n=7)
    assert len(batched) == len(histories)
    for (history, scores), (ids, values) in zip(histories, batched, strict=True):
        one_ids, one_values = model.recommend_history(history, scores, n=7)
        assert list(ids) == list(one_ids)
        np.testing.assert_allclose(values, one_values, rtol=1e-4, atol=1e-5)
    assert model.product_ids_[0] not in batched[-1][0]  # a zero score is still seen


def test_history_fold_in_matches_a_fitted_user(model, interactions):
    user = model.user_ids_[3]
    rows = interactions[interactions.user_id == user].assign(user_id=99_999)
    folded = model.recommend([99_999], n=6, history=rows)
    fitted = model.recommend([user], n=6)
    assert list(folded["product_id"]) == list(fitted["product_id"])


def test_fast_path_filters(model):
    allowed = model.product_ids_[::2]
    ids, _ = model.recommend_history(
        np.array([model.product_ids_[0], 10**9]),
        np.ones(2),
        n=50,
        exclude=allowed[:3],
        allowed=allowed,
    )
    assert set(ids) <= set(allowed[3:])
    assert model.product_ids_[0] not in ids
    empty_ids, _ = model.recommend_history(np.array([10**9]), np.ones(1), n=3)
    assert list(empty_ids) == list(model.product_ids_[model.popular_order_[:3]])


def test_params_unchanged(model):
    clone = type(model)(**model.get_params())
    assert clone.get_params() == model.get_params()


def test_not_fitted_raises():
    with pytest.raises(NotFittedError):
        PureSVD().recommend([1])


def test_models_say_what_they_know(model, interactions):
    assert model.known_users().tolist() == sorted(interactions["user_id"].unique().tolist())
    assert model.known_products().tolist() == sorted(interactions["product_id"].unique().tolist())
    unseen = interactions["product_id"].max() + 1
    assert model.knows_any(np.array([unseen, interactions["product_id"].iloc[0]]))
    assert not model.knows_any(np.array([unseen]))
    assert not model.knows_any(np.array([], dtype=np.int64))


def test_only_bm25_models_save_bm25_statistics(model, tmp_path):
    saved = {path.stem for path in model.save(tmp_path / "m").glob("*.npy")}
    assert ("idf_" in saved) == (model.weighting == "bm25")
