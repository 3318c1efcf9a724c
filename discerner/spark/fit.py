"""The model families fitted on Spark, each ending in the library's own fitted model.

`fit(spark, model, prepared, ...)` computes a model's own state on the executors and brings
only that to the driver: PureSVD's item factors (`RowMatrix.computeSVD`), ItemKNN's top-k
neighbour lists (`similarity`: exact in column blocks, or DIMSUM), ImplicitALS's item factors
(`pyspark.ml.recommendation.ALS`). With `with_history` (the winner's refit) the fit-time history
comes too, so the model answers its users by id exactly as a single-machine fit does; without
it (the candidates of the search) the model scores histories it is given.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from discerner.errors import TrainingError
from discerner.models import ImplicitALS, ItemKNN, Popularity, PureSVD, Recommender
from discerner.models.svd import popularity_scaling
from discerner.schema import SCORE, USER_ID
from discerner.spark import session, similarity
from discerner.spark.data import (
    COLUMN,
    WEIGHT,
    Prepared,
    bm25_statistics,
    int_users,
    row_matrix,
    weigh,
)

logger = logging.getLogger(__name__)

SUPPORTED = (Popularity, PureSVD, ItemKNN, ImplicitALS)


def check_supported(model: Recommender) -> None:
    """Raise TrainingError for a configuration Spark training cannot fit."""
    if type(model) not in SUPPORTED:
        names = ", ".join(c.__name__ for c in SUPPORTED)
        raise TrainingError(f"{type(model).__name__} cannot be fitted on Spark (only {names})")
    if isinstance(model, ItemKNN) and model.similarity != "cosine":
        raise TrainingError("ItemKNN on Spark computes cosine similarities only (not rp3beta)")


def fit(
    spark: SparkSession,
    model: Recommender,
    prepared: Prepared,
    *,
    with_history: bool = False,
    similarity_threshold: float = 0.0,
) -> Recommender:
    """Fit `model`'s configuration on `prepared` (merged by the model's `duplicates`).

    Args:
        spark: The session.
        model: An unfitted library model (its parameters are used; it is filled in).
        prepared: The interactions, merged and indexed (`data.prepare`).
        with_history: Also collect the fit-time history (the registered model needs it).
        similarity_threshold: DIMSUM threshold of item similarities (0: exact).

    Returns:
        The model, fitted.
    """
    check_supported(model)
    with session.progress(spark, f"{type(model).__name__} on Spark"):
        weighted = weigh(spark, prepared, model.weighting).cache()
        try:
            if isinstance(model, PureSVD):
                state = svd_state(model, weighted, prepared)
            elif isinstance(model, ItemKNN):
                state = knn_state(spark, model, weighted, prepared, similarity_threshold)
            elif isinstance(model, ImplicitALS):
                state = als_state(model, weighted, prepared, with_history)
            else:
                state = {}
        finally:
            weighted.unpersist()
        base = history_state(prepared) if with_history else empty_history(prepared)
        if model.weighting == "bm25":
            base["idf_"], base["avg_length_"] = bm25_statistics(prepared)
        if isinstance(model, ImplicitALS) and with_history:
            users = state.pop("_user_frame")
            state["user_factors_"] = aligned_users(users, base["user_ids_"], model)
    return model.assign(**base, **state)


# ------------------------------------------------------------------------------ base state
def empty_history(prepared: Prepared) -> dict:
    """Base state without users: the model scores given histories (the search's candidates)."""
    return {
        "user_ids_": np.empty(0, dtype=np.int64),
        "product_ids_": prepared.product_ids,
        "user_items_": sp.csr_matrix((0, len(prepared.product_ids)), dtype=np.float32),
        "popularity_": prepared.popularity,
    }


def history_state(prepared: Prepared) -> dict:
    """Base state with the fit-time history (raw merged scores), collected to the driver."""
    rows = prepared.merged.select(USER_ID, COLUMN, SCORE).toPandas()
    user_ids, users = np.unique(rows[USER_ID].to_numpy(dtype=np.int64), return_inverse=True)
    shape = (len(user_ids), len(prepared.product_ids))
    matrix = sp.csr_matrix(
        (rows[SCORE].to_numpy(np.float32), (users, rows[COLUMN].to_numpy(np.int64))), shape=shape
    )
    matrix.sort_indices()
    del rows
    return {
        "user_ids_": user_ids,
        "product_ids_": prepared.product_ids,
        "user_items_": matrix,
        "popularity_": np.bincount(matrix.indices, minlength=shape[1]).astype(np.float32),
    }


# ------------------------------------------------------------------------------- families
def svd_state(model: PureSVD, weighted: DataFrame, prepared: Prepared) -> dict:
    """PureSVD's item factors: the top right singular vectors of X S (`RowMatrix.computeSVD`)."""
    scale = popularity_scaling(prepared.popularity, model.popularity_exponent)
    n_products = len(prepared.product_ids)
    rank = max(1, min(model.n_components, min(prepared.n_users, n_products) - 1))
    matrix, rows = row_matrix(weighted, n_products, scale.astype(np.float64))
    try:
        factors = matrix.computeSVD(rank, computeU=False).V.toArray()
    finally:
        rows.unpersist()
    if factors.shape[1] < rank:  # singular values below rCond are left out: pad with zeros
        factors = np.pad(factors, ((0, 0), (0, rank - factors.shape[1])))
    return {"item_factors_": np.ascontiguousarray(factors, dtype=np.float32), "item_scale_": scale}


def knn_state(
    spark: SparkSession,
    model: ItemKNN,
    weighted: DataFrame,
    prepared: Prepared,
    threshold: float,
) -> dict:
    """ItemKNN's neighbour lists: exact in column blocks, or DIMSUM-sampled above 0 threshold."""
    penalty = np.power(np.maximum(prepared.popularity, 1.0), -model.beta)
    if threshold > 0:
        matrix = similarity.sampled(spark, model, weighted, penalty, threshold)
    else:
        matrix = similarity.exact(spark, model, weighted, penalty, prepared.n_entries)
    return {"similarity_": matrix}


def als_state(model: ImplicitALS, weighted: DataFrame, prepared: Prepared, users: bool) -> dict:
    """ImplicitALS's factors from Spark's ALS on the weighted scores (int32 ids, re-indexed).

    Spark's ALS scales λ by each row's count (ALS-WR): the model is set to
    `scale_regularization`, so that its fold-in solves the equations its factors solved.
    """
    from pyspark.ml.recommendation import ALS

    model.scale_regularization = True
    ratings, mapping = int_users(weighted.select(USER_ID, COLUMN, WEIGHT))
    als = ALS(
        rank=model.n_factors,
        maxIter=model.iterations,
        regParam=model.penalty(),
        alpha=model.alpha,
        implicitPrefs=True,
        seed=model.random_state or 0,
        userCol="user",
        itemCol=COLUMN,
        ratingCol=WEIGHT,
        nonnegative=False,
    )
    fitted = als.fit(ratings)
    items = fitted.itemFactors.toPandas()
    factors = np.zeros((len(prepared.product_ids), model.n_factors), dtype=np.float32)
    factors[items["id"].to_numpy()] = np.stack(items["features"].to_numpy()).astype(np.float32)
    state = {"item_factors_": factors, "user_factors_": np.empty((0, model.n_factors), np.float32)}
    if users:
        frame = fitted.userFactors.withColumnRenamed("id", "user")
        if mapping is None:
            frame = frame.withColumn(USER_ID, F.col("user").cast("long"))
        else:
            frame = frame.join(mapping, "user")
        state["_user_frame"] = frame.select(USER_ID, "features")
    return state


def aligned_users(frame: DataFrame, user_ids: np.ndarray, model: ImplicitALS) -> np.ndarray:
    """Spark's user factors in the order of the model's `user_ids_` (zeros when missing)."""
    found = frame.toPandas()
    out = np.zeros((len(user_ids), model.n_factors), dtype=np.float32)
    rows = np.searchsorted(user_ids, found[USER_ID].to_numpy(dtype=np.int64))
    out[rows] = np.stack(found["features"].to_numpy()).astype(np.float32)
    return out


__all__ = ["SUPPORTED", "check_supported", "fit"]
