"""Metrics against hand-computed values on a two-user example."""

import math

import numpy as np
import pandas as pd
import pytest

from discerner.evaluation import (
    catalog_coverage,
    hit_rate_at_k,
    mae,
    map_at_k,
    mrr_at_k,
    ndcg_at_k,
    popularity_bias,
    precision_at_k,
    ranking_metrics,
    recall_at_k,
    rmse,
)

# User 1 gets a, b, c (ids 1, 2, 3); relevant: 2 and 4. User 2 gets nothing; relevant: 9.
RECS = pd.DataFrame({"user_id": [1, 1, 1], "product_id": [1, 2, 3], "rank": [1, 2, 3]})
TRUTH = pd.DataFrame({"user_id": [1, 1, 2], "product_id": [2, 4, 9]})
DCG = 1 / math.log2(3)
IDCG = 1 + 1 / math.log2(3)


@pytest.mark.parametrize(
    ("metric", "expected"),
    [
        (precision_at_k, (1 / 3) / 2),
        (recall_at_k, (1 / 2) / 2),
        (ndcg_at_k, (DCG / IDCG) / 2),
        (map_at_k, ((1 / 2) / 2) / 2),
        (mrr_at_k, (1 / 2) / 2),
        (hit_rate_at_k, 1 / 2),
    ],
)
def test_ranking_metric(metric, expected):
    assert metric(RECS, TRUTH, k=3) == pytest.approx(expected)
    name = metric.__name__.replace("_k", "_3")
    assert ranking_metrics(RECS, TRUTH, 3)[name] == pytest.approx(expected)


def test_cut_off_ignores_later_ranks():
    assert precision_at_k(RECS, TRUTH, k=1) == 0.0
    assert ndcg_at_k(RECS, TRUTH, k=1) == 0.0


def test_empty_truth_is_nan():
    empty = TRUTH.iloc[:0]
    assert math.isnan(ndcg_at_k(RECS, empty, 10))
    assert all(math.isnan(v) for v in ranking_metrics(RECS, empty, 10).values())


def test_coverage_and_popularity_bias():
    assert catalog_coverage(RECS, 6, k=2) == pytest.approx(2 / 6)
    assert math.isnan(catalog_coverage(RECS, 0))
    train = pd.DataFrame({"user_id": [1, 2, 3, 1], "product_id": [1, 1, 1, 2]})
    # Percentiles: product 1 (3 users) 1.0, product 2 (1 user) 0.5, product 3 absent 0.
    assert popularity_bias(RECS, train, k=3) == pytest.approx((1.0 + 0.5 + 0.0) / 3)


def test_rating_errors():
    assert rmse(np.array([0.0, 2.0]), np.array([2.0, 2.0])) == pytest.approx(math.sqrt(4 / 2))
    assert mae(np.array([0.0, 3.0]), np.array([2.0, 2.0])) == pytest.approx(1.5)
    assert math.isnan(rmse(np.array([]), np.array([])))
