"""Evaluation: seeded splits, ranking and rating metrics, evaluation tables and model selection."""

from discerner.evaluation.metrics import (
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
from discerner.evaluation.selection import (
    DEFAULT_CANDIDATES,
    ProtocolResult,
    Selection,
    accuracy_protocol,
    default_models,
    evaluate,
    evaluate_model,
    grid_search,
    select_model,
)
from discerner.evaluation.splits import random_split, temporal_split, user_split

__all__ = [
    "DEFAULT_CANDIDATES",
    "ProtocolResult",
    "Selection",
    "accuracy_protocol",
    "catalog_coverage",
    "default_models",
    "evaluate",
    "evaluate_model",
    "grid_search",
    "hit_rate_at_k",
    "mae",
    "map_at_k",
    "mrr_at_k",
    "ndcg_at_k",
    "popularity_bias",
    "precision_at_k",
    "random_split",
    "ranking_metrics",
    "recall_at_k",
    "rmse",
    "select_model",
    "temporal_split",
    "user_split",
]
