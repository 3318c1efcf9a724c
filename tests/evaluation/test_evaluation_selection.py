"""Evaluation tables, grid search and model selection on small generated data."""

import pandas as pd
import pytest

from discerner.datasets import generate
from discerner.evaluation import (
    evaluate,
    evaluate_model,
    grid_search,
    random_split,
    ranking_metrics,
    select_model,
    user_split,
)
from discerner.evaluation.selection import DEFAULT_CANDIDATES, expand_grid
from discerner.models import Popularity, PureSVD


@pytest.fixture(scope="module")
def split():
    data = generate(n_users=200, n_products=80, n_activities=4000, seed=5)
    return random_split(data.activities, 0.2, seed=1)


def test_evaluate_returns_a_tidy_table_with_mlflow_safe_names(split):
    train, test = split
    table = evaluate({"pop": Popularity(), "svd": PureSVD(n_components=8)}, train, test, k=(5, 10))
    assert list(table.columns) == ["model", "metric", "value"]
    metrics = set(table["metric"])
    assert {"ndcg_at_10", "precision_at_5", "recall_at_10", "coverage_at_10"} <= metrics
    assert not any("@" in name for name in metrics)
    wide = table.pivot(index="model", columns="metric", values="value")
    assert wide.loc["svd", "ndcg_at_10"] > wide.loc["pop", "ndcg_at_10"]


def test_grid_search_ranks_every_point(split):
    train, test = split
    results, best = grid_search(PureSVD, {"n_components": [1, 8]}, train, test)
    assert len(results) == 2
    assert results["ndcg_at_10"].is_monotonic_decreasing
    assert best == results.loc[0, "params"]


def test_expand_grid():
    assert expand_grid({"a": [1, 2], "b": ["x"]}) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]
    assert expand_grid([{"a": 1}]) == [{"a": 1}]


def test_select_model_never_sees_the_test_part(split):
    train, _ = split
    candidates = {"popularity": (Popularity, [{}]), "svd": (PureSVD, {"n_components": [8]})}
    selection = select_model(train, seed=3, candidates=candidates)
    assert selection.family == "svd"
    assert selection.params == {"n_components": 8}
    model = selection.build()
    assert isinstance(model, PureSVD) and not hasattr(model, "product_ids_")
    assert set(selection.results["family"]) == {"popularity", "svd"}


def test_default_candidates_build():
    for factory, grid in DEFAULT_CANDIDATES.values():
        for params in expand_grid(grid):
            assert factory(**params).get_params().items() >= params.items()


def test_split_inputs_are_untouched(split):
    train, _ = split
    before = train.copy()
    select_model(train, candidates={"popularity": (Popularity, [{}])})
    pd.testing.assert_frame_equal(train, before)


def test_cold_start_users_are_scored_through_their_history():
    data = generate(n_users=300, n_products=120, n_activities=6000, n_categories=6, seed=6)
    train, held = user_split(data.activities, test_fraction=0.2, seed=1)
    history, targets = random_split(held, 0.5, seed=2)
    model = PureSVD(n_components=8).fit(train)
    folded = evaluate_model(model, train, targets, k=(10,), history=history)
    recs = model.recommend(targets["user_id"].unique(), n=10, history=history)
    assert folded["ndcg_at_10"] == ranking_metrics(recs, targets, 10)["ndcg_at_10"]
    # The fold-in finds the planted favourite category of users the model never saw; without
    # their history they get popularity, which lands near 1/6 of the time.
    category = data.products.set_index("id")["category"]
    wanted = data.users.set_index("id")["category"]
    users = targets["user_id"].unique()
    shares = []
    for rows in (history, None):
        recs = model.recommend(users, n=10, history=rows)
        hits = category[recs["product_id"]].to_numpy() == wanted[recs["user_id"]].to_numpy()
        shares.append(hits.mean())
    assert shares[0] > 0.6 > 0.3 > shares[1]
