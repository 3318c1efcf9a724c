"""Interactions as Spark DataFrames: read an export, split it, merge repeats, weigh, index.

Every function here returns a DataFrame computed on the executors; only `prepare` brings
small per-product arrays (ids, user counts) to the driver; `row_matrix` gives MLlib's RowMatrix.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pyspark.mllib.linalg import Vectors, VectorUDT
from pyspark.mllib.linalg.distributed import RowMatrix
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StructField, StructType

from discerner.errors import TrainingError
from discerner.feedback import IGNORE, NEGATIVE, FeedbackTypes
from discerner.matrix import DUPLICATE_POLICIES
from discerner.schema import DEFAULT_TYPE, PRODUCT_ID, SCORE, TIMESTAMP, TYPE, USER_ID

ROW = "row_id"  # the activity's id, or its position in the files: the later row wins ties
COLUMN = "col"  # a product's column index in the model (its rank among the product ids)
WEIGHT = "weight"
INT32_MAX = 2**31 - 1
BM25_K1, BM25_B = 1.2, 0.75  # `discerner.matrix.bm25_weight`'s defaults


def read_export(spark: SparkSession, location: str) -> tuple[DataFrame, dict]:
    """The activities of a Parquet export (`discerner export DIR`, `Store.export`) and its version.

    Args:
        spark: The session.
        location: The export's folder: a local path or any URL Spark reads (hdfs://, s3a://).

    Returns:
        (activities with user_id, product_id, score, timestamp, row_id, type; the data
        version: the export's version.json when it can be read here, else the source and
        row count).
    """
    frame = spark.read.parquet(location.rstrip("/") + "/activities.parquet")
    row = F.col("id") if "id" in frame.columns else F.monotonically_increasing_id()
    stamp = F.col(TIMESTAMP) if TIMESTAMP in frame.columns else F.lit(None).cast("timestamp")
    kind = F.col(TYPE) if TYPE in frame.columns else F.lit(DEFAULT_TYPE)  # older exports
    activities = frame.select(
        F.col(USER_ID).cast("long").alias(USER_ID),
        F.col(PRODUCT_ID).cast("long").alias(PRODUCT_ID),
        F.col(SCORE).cast("double").alias(SCORE),
        stamp.alias(TIMESTAMP),
        row.cast("long").alias(ROW),
        kind.cast("string").alias(TYPE),
    )
    version_file = Path(location) / "version.json"
    if "://" not in location and version_file.exists():
        version = json.loads(version_file.read_text())
        version.pop("files", None)
    else:
        version = {"source": location}
    return activities, version


def apply_feedback(activities: DataFrame, feedback: FeedbackTypes) -> DataFrame:
    """`FeedbackTypes.apply` on the executors: rows of ignored types dropped, scores weighted,
    a negative type's score -|score x weight| (the `type` column is kept)."""

    def per_type(value) -> Column:
        chosen = F.lit(value(feedback.unknown))
        for name, entry in feedback.types.items():
            chosen = F.when(F.col(TYPE) == name, F.lit(value(entry))).otherwise(chosen)
        return chosen

    weight = per_type(lambda entry: entry.weight)
    meaning = per_type(lambda entry: entry.meaning)
    weighted = F.col(SCORE) * weight
    scored = F.when(meaning == NEGATIVE, -F.abs(weighted)).otherwise(weighted)
    return activities.withColumn(SCORE, scored).where(meaning != IGNORE)


def from_pandas(spark: SparkSession, interactions: pd.DataFrame) -> DataFrame:
    """A validated interactions frame as a Spark DataFrame (tests, notebooks)."""
    from discerner.schema import validate_interactions

    frame = validate_interactions(interactions).reset_index(drop=True)
    frame = frame.assign(**{ROW: np.arange(len(frame), dtype=np.int64)})
    # Times travel as microseconds (nullable): no time zone for Arrow and pandas to disagree on.
    stamps = frame[TIMESTAMP]
    micros = stamps.to_numpy(dtype="datetime64[us]").astype(np.int64)
    frame[TIMESTAMP] = pd.array(np.where(stamps.isna(), 0, micros), dtype="Int64")
    frame.loc[stamps.isna().to_numpy(), TIMESTAMP] = pd.NA
    created = spark.createDataFrame(frame[[USER_ID, PRODUCT_ID, SCORE, TIMESTAMP, ROW]])
    return created.withColumn(TIMESTAMP, F.timestamp_micros(TIMESTAMP))


def validation_split(
    activities: DataFrame, fraction: float, seed: int, max_users: int | None = None
) -> tuple[DataFrame, DataFrame]:
    """The seeded per-user split of `discerner.evaluation.random_split`, on Spark.

    Each user with c rows gets round(fraction * c) rows (halves up) held out, chosen by a
    seeded hash of the row (the same rows whatever the partitioning); with `max_users`, only
    that many users (a seeded sample) take part.

    Returns:
        (train, validation), computed once (cached).
    """
    if max_users is not None:
        users = activities.select(USER_ID).distinct()
        chosen = users.orderBy(F.xxhash64(F.lit(seed), USER_ID)).limit(max_users)
        activities = activities.join(chosen, USER_ID)
    key = F.xxhash64(F.lit(seed), USER_ID, PRODUCT_ID, ROW)
    by_user = Window.partitionBy(USER_ID)
    ranked = activities.withColumn("_position", F.row_number().over(by_user.orderBy(key)) - 1)
    ranked = ranked.withColumn("_count", F.count(F.lit(1)).over(by_user))
    held = F.col("_position") < F.floor(F.lit(fraction) * F.col("_count") + 0.5)
    ranked = ranked.withColumn("_held", held).drop("_position", "_count").cache()
    train = ranked.filter(~F.col("_held")).drop("_held")
    validation = ranked.filter(F.col("_held")).drop("_held")
    return train, validation


def merge(activities: DataFrame, duplicates: str) -> DataFrame:
    """One row per (user, product), by the policy of `discerner.matrix.build_matrix`.

    "last" keeps the latest timestamp (undated rows lose; ties: the later row), "sum", "max"
    and "mean" combine the scores.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    pair = [USER_ID, PRODUCT_ID]
    if duplicates == "last":
        latest = Window.partitionBy(*pair).orderBy(
            F.col(TIMESTAMP).desc_nulls_last(), F.col(ROW).desc()
        )
        ranked = activities.withColumn("_n", F.row_number().over(latest))
        return ranked.filter("_n = 1").select(*pair, SCORE)
    combine = {"sum": F.sum, "max": F.max, "mean": F.avg}[duplicates]
    return activities.groupBy(*pair).agg(combine(SCORE).alias(SCORE))


@dataclass
class Prepared:
    """A training part merged by one policy, with its product index.

    Attributes:
        merged: user_id, product_id, score (merged, raw), col; cached.
        product_ids: int64, column -> product id (ascending): the model's `product_ids_`.
        popularity: float32, distinct users per column: the model's `popularity_`.
        n_users: Distinct users.
        n_entries: Rows of `merged` (stored values of the users x products matrix).
    """

    merged: DataFrame
    product_ids: np.ndarray
    popularity: np.ndarray
    n_users: int
    n_entries: int

    def unpersist(self) -> None:
        """Free the cached rows."""
        self.merged.unpersist()


def prepare(spark: SparkSession, activities: DataFrame, duplicates: str) -> Prepared:
    """Merge repeats and index the products (their ids and counts come to the driver)."""
    merged = merge(activities, duplicates)
    counts = merged.groupBy(PRODUCT_ID).count().toPandas().sort_values(PRODUCT_ID)
    product_ids = counts[PRODUCT_ID].to_numpy(dtype=np.int64)
    if len(product_ids) > INT32_MAX:
        raise TrainingError(f"{len(product_ids)} products: more than Spark's int32 indexes hold")
    index = spark.createDataFrame(
        pd.DataFrame({PRODUCT_ID: product_ids, COLUMN: np.arange(len(product_ids), dtype=np.int32)})
    )
    merged = merged.join(F.broadcast(index), PRODUCT_ID).cache()
    n_users, n_entries = merged.agg(F.countDistinct(USER_ID), F.count(F.lit(1))).first()
    return Prepared(
        merged=merged,
        product_ids=product_ids,
        popularity=counts["count"].to_numpy(dtype=np.float32),
        n_users=int(n_users),
        n_entries=int(n_entries),
    )


def bm25_statistics(prepared: Prepared) -> tuple[np.ndarray, np.float32]:
    """`idf_` and `avg_length_` of `discerner.matrix.bm25_idf`, from the prepared counts."""
    n_users = max(prepared.n_users, 1)
    idf = np.maximum(np.log(n_users / (1.0 + prepared.popularity)), 0.0).astype(np.float32)
    return idf, np.float32(prepared.n_entries / n_users)


def weigh(spark: SparkSession, prepared: Prepared, weighting: str) -> DataFrame:
    """`prepared.merged` with the column `weight`: what the library's fit reads, the magnitudes
    of `discerner.matrix.apply_weighting` (a dislike weighs as the product chosen; its sign acts
    in its user's own scores only, see `Recommender.fit`), on Spark."""
    x = F.abs(F.col(SCORE))
    if weighting == "none":
        return prepared.merged.withColumn(WEIGHT, x)
    if weighting == "binary":
        return prepared.merged.withColumn(WEIGHT, F.lit(1.0))
    if weighting == "log":
        return prepared.merged.withColumn(WEIGHT, F.log1p(x))
    if weighting != "bm25":
        raise ValueError(f"unknown weighting {weighting!r}")
    idf, avg_length = bm25_statistics(prepared)
    idf_frame = spark.createDataFrame(
        pd.DataFrame({COLUMN: np.arange(len(idf), dtype=np.int32), "_idf": idf.astype(float)})
    )
    length = F.count(F.lit(1)).over(Window.partitionBy(USER_ID))
    norm = BM25_K1 * (1.0 - BM25_B + BM25_B * length / max(float(avg_length), 1e-9))
    value = x * (BM25_K1 + 1.0) / (x + norm) * F.col("_idf")
    joined = prepared.merged.join(F.broadcast(idf_frame), COLUMN)
    return joined.withColumn(WEIGHT, value).drop("_idf")


def int_users(frame: DataFrame) -> tuple[DataFrame, DataFrame | None]:
    """Users as Spark's int32 ids: their own ids when all fit, else a dense re-index.

    Returns:
        (frame with an int column `user`, the map user_id -> user, or None when the ids
        are used as they are).
    """
    largest = frame.agg(F.max(USER_ID)).first()[0] or 0
    if largest <= INT32_MAX:
        return frame.withColumn("user", F.col(USER_ID).cast("int")), None
    users = frame.select(USER_ID).distinct().rdd.map(lambda row: row[0]).zipWithIndex()
    mapping = users.toDF([USER_ID, "user"]).withColumn("user", F.col("user").cast("int"))
    return frame.join(mapping, USER_ID), mapping


def row_matrix(weighted: DataFrame, n_columns: int, scale: np.ndarray | None = None):
    """The weighted users x products matrix as a RowMatrix of sparse rows (one per user).

    The rows are built once in Python and cached as a DataFrame in the JVM: the SVD's Lanczos
    iterations pass over them many times without coming back to Python.

    Returns:
        (the RowMatrix, the cached rows to unpersist when done).
    """
    rows = weighted.groupBy(USER_ID).agg(
        F.sort_array(F.collect_list(F.struct(COLUMN, WEIGHT))).alias("entries")
    )

    def vector(row):
        columns = [entry[0] for entry in row.entries]
        values = np.asarray([entry[1] for entry in row.entries], dtype=np.float64)
        if scale is not None:
            values = values * scale[columns]
        return (Vectors.sparse(n_columns, columns, values),)

    schema = StructType([StructField("row", VectorUDT())])
    frame = weighted.sparkSession.createDataFrame(rows.rdd.map(vector), schema).cache()
    return RowMatrix(frame), frame
