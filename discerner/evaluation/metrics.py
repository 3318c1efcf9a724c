"""Ranking metrics at k, catalogue coverage, popularity bias and rating errors.

Ranking metrics compare a recommendations frame (`user_id`, `product_id`, `rank`) with a truth
frame (`user_id`, `product_id`: every row is a relevant product, except rows whose `score`, when
the frame has one, is negative: a dislike, see `discerner.feedback`, is never relevant). They
average over the users of the truth frame who have a relevant product; a user with no
recommendations scores 0. With no truth users they return NaN. Relevance is binary, ranks start
at 1 and only ranks <= k count.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from discerner.schema import PRODUCT_ID, RANK, SCORE, USER_ID

RANKING_METRICS = ("precision", "recall", "ndcg", "map", "mrr", "hit_rate")


def hit_matrix(
    recommendations: pd.DataFrame, truth: pd.DataFrame, k: int
) -> tuple[np.ndarray, np.ndarray]:
    """Which of each truth user's top-k recommendations are relevant.

    Args:
        recommendations: Frame with `user_id`, `product_id`, `rank`.
        truth: Frame with `user_id`, `product_id` and optionally `score`; repeated pairs count
            once, rows with a negative score not at all.
        k: Cut-off.

    Returns:
        (hits, n_relevant): bool (n_users, k) with hits[u, r - 1] true when the product at rank
        r is relevant, and int (n_users,) relevant products per user; users in id order.
    """
    pairs = relevant(truth)[[USER_ID, PRODUCT_ID]].drop_duplicates()
    users, n_relevant = np.unique(pairs[USER_ID].to_numpy(), return_counts=True)
    top = recommendations[recommendations[RANK] <= k]
    marked = top.merge(pairs.assign(_hit=True), on=[USER_ID, PRODUCT_ID], how="inner")
    hits = np.zeros((len(users), k), dtype=bool)
    rows = np.searchsorted(users, marked[USER_ID].to_numpy())
    hits[rows, marked[RANK].to_numpy(dtype=np.int64) - 1] = True
    return hits, n_relevant


def relevant(truth: pd.DataFrame) -> pd.DataFrame:
    """The rows of a truth frame that are relevant: all but those with a negative `score`."""
    if SCORE not in truth.columns:
        return truth
    return truth[~(truth[SCORE].to_numpy() < 0)]


def _mean(values: np.ndarray) -> float:
    return float(values.mean()) if len(values) else float("nan")


def precision_at_k(recommendations: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """P@k = mean over users of |relevant in top k| / k. Empty truth: NaN."""
    hits, _ = hit_matrix(recommendations, truth, k)
    return _mean(hits.sum(axis=1) / k)


def recall_at_k(recommendations: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """R@k = mean over users of |relevant in top k| / |relevant|. Empty truth: NaN."""
    hits, n_relevant = hit_matrix(recommendations, truth, k)
    return _mean(hits.sum(axis=1) / n_relevant)


def ndcg_at_k(recommendations: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """NDCG@k = mean of DCG/IDCG, DCG = sum_r hit_r / log2(r + 1) over r <= k.

    IDCG = sum_{r <= min(|relevant|, k)} 1 / log2(r + 1). Empty truth: NaN.
    """
    return _ndcg(*hit_matrix(recommendations, truth, k))


def map_at_k(recommendations: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """MAP@k = mean of AP@k = sum_r P@r * hit_r / min(|relevant|, k). Empty truth: NaN."""
    return _map(*hit_matrix(recommendations, truth, k))


def mrr_at_k(recommendations: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """MRR@k = mean of 1 / (rank of the first relevant product), 0 if none in top k.

    Empty truth: NaN.
    """
    hits, _ = hit_matrix(recommendations, truth, k)
    return _mrr(hits)


def hit_rate_at_k(recommendations: pd.DataFrame, truth: pd.DataFrame, k: int = 10) -> float:
    """HR@k = share of users with at least one relevant product in the top k. Empty: NaN."""
    hits, _ = hit_matrix(recommendations, truth, k)
    return _mean(hits.any(axis=1).astype(float))


def _discounts(k: int) -> np.ndarray:
    return 1.0 / np.log2(np.arange(2, k + 2))


def _ndcg(hits: np.ndarray, n_relevant: np.ndarray) -> float:
    k = hits.shape[1]
    discounts = _discounts(k)
    ideal = np.cumsum(discounts)[np.minimum(n_relevant, k) - 1]
    return _mean((hits * discounts).sum(axis=1) / ideal)


def _map(hits: np.ndarray, n_relevant: np.ndarray) -> float:
    k = hits.shape[1]
    precision = np.cumsum(hits, axis=1) / np.arange(1, k + 1)
    return _mean((precision * hits).sum(axis=1) / np.minimum(n_relevant, k))


def _mrr(hits: np.ndarray) -> float:
    first = hits.argmax(axis=1)
    return _mean(np.where(hits.any(axis=1), 1.0 / (first + 1), 0.0))


def ranking_metrics(
    recommendations: pd.DataFrame, truth: pd.DataFrame, k: int = 10
) -> dict[str, float]:
    """Every ranking metric at k from one hit matrix, keyed by MLflow-safe name (`ndcg_at_10`).

    Args:
        recommendations: Frame with `user_id`, `product_id`, `rank`.
        truth: Frame with `user_id`, `product_id`.
        k: Cut-off.

    Returns:
        Dict of `precision_at_k`, `recall_at_k`, `ndcg_at_k`, `map_at_k`, `mrr_at_k`,
        `hit_rate_at_k` with k substituted. NaN values when the truth is empty.
    """
    hits, n_relevant = hit_matrix(recommendations, truth, k)
    values = {
        "precision": _mean(hits.sum(axis=1) / k),
        "recall": _mean(hits.sum(axis=1) / np.maximum(n_relevant, 1)),
        "ndcg": _ndcg(hits, n_relevant),
        "map": _map(hits, n_relevant),
        "mrr": _mrr(hits),
        "hit_rate": _mean(hits.any(axis=1).astype(float)),
    }
    return {f"{name}_at_{k}": value for name, value in values.items()}


def catalog_coverage(recommendations: pd.DataFrame, n_products: int, k: int = 10) -> float:
    """Coverage@k = |distinct products in anyone's top k| / n_products. n_products 0: NaN."""
    if n_products <= 0:
        return float("nan")
    top = recommendations.loc[recommendations[RANK] <= k, PRODUCT_ID]
    return top.nunique() / n_products


def popularity_bias(recommendations: pd.DataFrame, train: pd.DataFrame, k: int = 10) -> float:
    """Mean popularity percentile of the top-k recommended products (1 = the most popular).

    A product's percentile is the share of training products with at most its number of
    distinct users; a product absent from training counts 0. Empty recommendations: NaN.
    """
    top = recommendations.loc[recommendations[RANK] <= k, PRODUCT_ID].to_numpy()
    if len(top) == 0:
        return float("nan")
    counts = train.drop_duplicates([USER_ID, PRODUCT_ID])[PRODUCT_ID].value_counts()
    percentile = counts.rank(method="max", pct=True)
    return float(pd.Series(top).map(percentile).fillna(0.0).mean())


def rmse(predicted: np.ndarray, actual: np.ndarray) -> float:
    """RMSE = sqrt(mean((predicted - actual)^2)). Empty input: NaN."""
    errors = np.asarray(predicted, dtype=float) - np.asarray(actual, dtype=float)
    return float(np.sqrt(np.mean(errors**2))) if len(errors) else float("nan")


def mae(predicted: np.ndarray, actual: np.ndarray) -> float:
    """MAE = mean(|predicted - actual|). Empty input: NaN."""
    errors = np.asarray(predicted, dtype=float) - np.asarray(actual, dtype=float)
    return float(np.mean(np.abs(errors))) if len(errors) else float("nan")
