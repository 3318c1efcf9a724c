"""Validation metrics on Spark: executors score their users' top k and sum the metrics.

Each executor gets the candidate (broadcast; a library model without the fit-time history),
the training histories and held-out products of its share of the validation users, and
computes the library's own metrics (`discerner.evaluation.metrics`) for each batch of users,
weighted by the batch's size. The driver receives one row: the sums, the number of users,
and the number of distinct products in anyone's top k. The values are those of
`discerner.evaluation.evaluate_model` on the same split.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import ArrayType, DoubleType, LongType, StructField, StructType

from discerner.evaluation.metrics import RANKING_METRICS, ranking_metrics
from discerner.matrix import index_of
from discerner.models import Recommender
from discerner.schema import PRODUCT_ID, RANK, SCORE, USER_ID

HISTORY_PRODUCTS, HISTORY_SCORES, RELEVANT = "history_products", "history_scores", "relevant"


def validation_frame(merged: DataFrame, validation: DataFrame) -> DataFrame:
    """One row per validation user: their training history and their held-out products.

    Args:
        merged: The training part merged by the model's policy (`data.prepare(...).merged`).
        validation: The held-out rows.
    """
    truth = validation.groupBy(USER_ID).agg(F.collect_set(PRODUCT_ID).alias(RELEVANT))
    history = merged.groupBy(USER_ID).agg(
        F.collect_list(PRODUCT_ID).alias(HISTORY_PRODUCTS),
        F.collect_list(F.col(SCORE).cast("double")).alias(HISTORY_SCORES),
    )
    return truth.join(history, USER_ID, "left")


def _names(ks: list[int]) -> list[str]:
    sums = [f"{m}_at_{k}" for k in ks for m in RANKING_METRICS]
    return sums + [f"bias_sum_at_{k}" for k in ks] + [f"bias_count_at_{k}" for k in ks]


def _schema(ks: list[int]) -> StructType:
    fields = [StructField("users", LongType())]
    fields += [StructField(name, DoubleType()) for name in _names(ks)]
    fields += [StructField(f"top_at_{k}", ArrayType(LongType())) for k in ks]
    return StructType(fields)


def batch_metrics(model: Recommender, frame: pd.DataFrame, ks: list[int]) -> dict:
    """The summed metrics of one batch of validation users (see the module docstring)."""
    histories = [
        (np.asarray(p if p is not None else [], np.int64), np.asarray(s if s is not None else []))
        for p, s in zip(frame[HISTORY_PRODUCTS], frame[HISTORY_SCORES], strict=True)
    ]
    answers = model.recommend_histories(histories, n=ks[-1])
    counts = [len(ids) for ids, _ in answers]
    recs = pd.DataFrame(
        {
            USER_ID: np.repeat(frame[USER_ID].to_numpy(np.int64), counts),
            PRODUCT_ID: np.concatenate([ids for ids, _ in answers] or [[]]).astype(np.int64),
            SCORE: np.concatenate([s for _, s in answers] or [[]]),
            RANK: np.concatenate([np.arange(1, c + 1) for c in counts] or [[]]).astype(np.int64),
        }
    )
    truth = frame[[USER_ID, RELEVANT]].explode(RELEVANT).rename(columns={RELEVANT: PRODUCT_ID})
    truth[PRODUCT_ID] = truth[PRODUCT_ID].astype(np.int64)
    percentile = pd.Series(model.popularity_).rank(method="max", pct=True).to_numpy()
    row: dict = {"users": len(frame)}
    for k in ks:
        row |= {n: v * len(frame) for n, v in ranking_metrics(recs, truth, k).items()}
        top = recs.loc[recs[RANK] <= k, PRODUCT_ID].to_numpy()
        columns = index_of(model.product_ids_, top)
        row[f"bias_sum_at_{k}"] = float(np.where(columns >= 0, percentile[columns], 0.0).sum())
        row[f"bias_count_at_{k}"] = float(len(top))
        row[f"top_at_{k}"] = np.unique(top).tolist()
    return row


def evaluate(
    spark: SparkSession, model: Recommender, users: DataFrame, ks: Iterable[int]
) -> dict[str, float]:
    """The validation metrics of a fitted candidate, computed on the executors.

    Args:
        spark: The session.
        model: The fitted library model (it travels to the executors as a broadcast).
        users: `validation_frame(...)`, ideally cached.
        ks: Cut-offs.

    Returns:
        The metrics of `discerner.evaluation.evaluate_model` (`ndcg_at_10`, ...,
        `coverage_at_k`, `popularity_bias_at_k`, `recommend_seconds`).
    """
    ks = sorted(set(ks))
    started = time.perf_counter()
    shared = spark.sparkContext.broadcast(model)

    def run(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        for frame in batches:
            if len(frame):
                yield pd.DataFrame([batch_metrics(shared.value, frame, ks)])

    sums = users.mapInPandas(run, _schema(ks))
    totals = [F.sum(name).alias(name) for name in ["users", *_names(ks)]]
    tops = [
        F.size(F.array_distinct(F.flatten(F.collect_list(f"top_at_{k}")))).alias(f"top_at_{k}")
        for k in ks
    ]
    result = sums.agg(*totals, *tops).first().asDict()
    shared.unpersist()
    return _finish(result, ks, len(model.product_ids_)) | {
        "recommend_seconds": time.perf_counter() - started
    }


def _finish(result: dict, ks: list[int], n_products: int) -> dict[str, float]:
    users = result["users"] or 0
    values: dict[str, float] = {}
    for k in ks:
        for name in RANKING_METRICS:
            key = f"{name}_at_{k}"
            values[key] = result[key] / users if users else float("nan")
        values[f"coverage_at_{k}"] = result[f"top_at_{k}"] / n_products if n_products else np.nan
        count = result[f"bias_count_at_{k}"] or 0
        values[f"popularity_bias_at_{k}"] = result[f"bias_sum_at_{k}"] / count if count else np.nan
    return values
