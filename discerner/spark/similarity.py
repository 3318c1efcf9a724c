"""ItemKNN's cosine neighbour lists computed on Spark, exactly (in blocks) or DIMSUM-sampled.

Exact: the products are dealt into B column blocks (product c into block c mod B), each block
the sparse columns X_b of the weighted users x products matrix, built in the JVM and shipped as
numpy arrays. Every ordered pair of blocks (a, b) is a task that multiplies X_aᵀ X_b with scipy
(`blocked_top_k`, the library's own kernel and formula) and keeps the k best columns of b for
each product of a; the B lists of each product are then merged into its k best. Nothing of
size users x products or products x products is ever in one place: a task holds two blocks,
the driver the final k neighbours per product. The pairs a user's products form (a billion at
20M activities) are never materialised, which is what stops `columnSimilarities` at that size.

Sampled (`threshold` > 0): `RowMatrix.columnSimilarities(threshold)`, Spark's DIMSUM.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import scipy.sparse as sp
from pyspark.mllib.common import callMLlibFunc
from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from discerner.models import ItemKNN
from discerner.models.knn import blocked_top_k, column_norms, cosine_finish, without_diagonal
from discerner.schema import USER_ID
from discerner.spark.data import COLUMN, WEIGHT, row_matrix

# Stored values per column block: a task holds two blocks and their product.
BLOCK_ENTRIES = 2_000_000


def block_count(n_entries: int, n_products: int, parallelism: int) -> int:
    """Blocks B: at most BLOCK_ENTRIES values each, and B² tasks enough to keep every core busy."""
    wanted = max(math.ceil(n_entries / BLOCK_ENTRIES), math.ceil(math.sqrt(2 * parallelism)))
    return max(1, min(n_products, wanted))


def exact(
    spark: SparkSession,
    model: ItemKNN,
    weighted: DataFrame,
    penalty: np.ndarray,
    n_entries: int,
) -> sp.csr_matrix:
    """ItemKNN's similarity_ (k per row), from the weighted user_id, col, weight rows.

    Args:
        spark: The session.
        model: The configuration (k, alpha, shrink).
        weighted: One row per stored value of the weighted matrix.
        penalty: popularity_j^-beta per column.
        n_entries: Rows of `weighted`.

    Returns:
        The products x products CSR similarity, float32, the k largest positive per row.
    """
    n_products = len(penalty)
    n_blocks = block_count(n_entries, n_products, spark.sparkContext.defaultParallelism)
    blocks = column_blocks(weighted, n_blocks).cache()
    blocks.count()  # each block built once; the pairs then read two of them from the cache
    shared = spark.sparkContext.broadcast(penalty.astype(np.float32))
    k, alpha, shrink = model.k, model.alpha, model.shrink

    def pair(both):
        (a, left), (b, right) = both
        return a, pair_top_k(left, right, a, b, n_blocks, shared.value, k, alpha, shrink)

    try:
        merged = (
            blocks.cartesian(blocks)
            .map(pair)
            .groupByKey(numPartitions=n_blocks)
            .map(lambda item: merge_top_k(list(item[1]), k))
            .collect()
        )
    finally:
        blocks.unpersist()
        shared.unpersist()
    rows, columns, values = (np.concatenate(part) for part in zip(*merged, strict=True))
    matrix = sp.csr_matrix((values, (rows, columns)), shape=(n_products, n_products))
    matrix.sort_indices()
    return matrix


def column_blocks(weighted: DataFrame, n_blocks: int):
    """An RDD of (block, (user ids, local columns, weights)), one block per partition."""

    def pack(frame: pd.DataFrame) -> pd.DataFrame:
        return pd.DataFrame(
            {
                "block": [int(frame["block"].iloc[0])],
                "users": [frame[USER_ID].to_numpy(np.int64).tobytes()],
                "columns": [(frame[COLUMN].to_numpy(np.int64) // n_blocks).tobytes()],
                "weights": [frame[WEIGHT].to_numpy(np.float32).tobytes()],
            }
        )

    packed = (
        weighted.select(USER_ID, COLUMN, WEIGHT)
        .withColumn("block", (F.col(COLUMN) % n_blocks).cast("int"))
        .groupBy("block")
        .applyInPandas(pack, "block int, users binary, columns binary, weights binary")
    )

    def unpack(row):
        arrays = (
            np.frombuffer(row.users, np.int64),
            np.frombuffer(row.columns, np.int64),
            np.frombuffer(row.weights, np.float32),
        )
        return row.block, arrays

    return packed.rdd.map(unpack).partitionBy(n_blocks, lambda block: block)


def pair_top_k(left, right, a: int, b: int, n_blocks: int, penalty, k, alpha, shrink):
    """The k best columns of block b for each product of block a: (rows, columns, values).

    Rows and columns are global product indexes (local index * n_blocks + block).
    """
    n_a = len(range(a, len(penalty), n_blocks))
    n_b = len(range(b, len(penalty), n_blocks))
    # The two blocks' users, renumbered 0..n-1 (the same user, the same row in both).
    users, rows = np.unique(np.concatenate([left[0], right[0]]), return_inverse=True)
    split = len(left[0])
    x_a = sp.csr_matrix((left[2], (rows[:split], left[1])), shape=(len(users), n_a))
    x_b = sp.csr_matrix((right[2], (rows[split:], right[1])), shape=(len(users), n_b))
    finish = cosine_finish(
        column_norms(x_a), column_norms(x_b), penalty[b::n_blocks], alpha, shrink
    )
    if a == b:
        finish = without_diagonal(finish)
    top = blocked_top_k(x_a.T.tocsr(), x_b, k, finish, threads=1, bar=False).tocoo()
    return top.row * n_blocks + a, top.col * n_blocks + b, top.data.astype(np.float32)


def merge_top_k(parts: list, k: int):
    """The k largest values per row of (rows, columns, values) lists (ties: the lower column)."""
    rows, columns, values = (np.concatenate(part) for part in zip(*parts, strict=True))
    order = np.lexsort((columns, -values, rows))
    rows, columns, values = rows[order], columns[order], values[order]
    rank = np.arange(len(rows)) - np.searchsorted(rows, rows)
    keep = rank < k
    return rows[keep], columns[keep], values[keep]


def sampled(
    spark: SparkSession,
    model: ItemKNN,
    weighted: DataFrame,
    penalty: np.ndarray,
    threshold: float,
) -> sp.csr_matrix:
    """ItemKNN's similarity_ from DIMSUM's sampled cosine (`columnSimilarities(threshold)`).

    Spark gives cos_ij = x_i·x_j / (|x_i| |x_j|) for i < j; with the column norms the dot
    product comes back and W_ij = x_i·x_j / (|x_i|^2a |x_j|^2(1-a) + shrink) popularity_j^-beta
    (ItemKNN's cosine), both directions, of which each row keeps its k largest positive values.
    """
    n_products = len(penalty)
    norms = weighted.groupBy(COLUMN).agg(F.sqrt(F.sum(F.col(WEIGHT) ** 2)).alias("norm"))
    columns = spark.createDataFrame(
        pd.DataFrame({COLUMN: np.arange(n_products, dtype=np.int32), "penalty": penalty})
    ).join(norms, COLUMN)
    matrix, rows = row_matrix(weighted, n_products)
    similar = matrix.columnSimilarities(threshold)
    # The entries as the JVM's own DataFrame (what `similar.entries` maps to Python objects one
    # by one): the pairs, hundreds of millions on a large catalogue, never leave the JVM.
    entries = callMLlibFunc("getMatrixEntries", similar._java_matrix_wrapper._java_model)
    cosine = entries.toDF("i", "j", "cosine").select(
        F.col("i").cast("int"), F.col("j").cast("int"), "cosine"
    )
    both = cosine.unionByName(cosine.select(F.col("j").alias("i"), F.col("i").alias("j"), "cosine"))
    left = F.broadcast(columns.select(F.col(COLUMN).alias("i"), F.col("norm").alias("norm_i")))
    right = F.broadcast(
        columns.select(F.col(COLUMN).alias("j"), F.col("norm").alias("norm_j"), "penalty")
    )
    scored = both.join(left, "i").join(right, "j")
    denominator = (
        F.pow("norm_i", 2 * model.alpha) * F.pow("norm_j", 2 * (1 - model.alpha))
        + model.shrink
        + 1e-12
    )
    value = F.col("cosine") * F.col("norm_i") * F.col("norm_j") / denominator * F.col("penalty")
    best = Window.partitionBy("i").orderBy(F.col("value").desc(), F.col("j"))
    top = (
        scored.withColumn("value", value)
        .filter(F.col("value") > 0)
        .withColumn("_n", F.row_number().over(best))
        .filter(F.col("_n") <= model.k)
        .select("i", "j", "value")
        .toPandas()
    )
    rows.unpersist()
    matrix = sp.csr_matrix(
        (top["value"].to_numpy(np.float32), (top["i"].to_numpy(), top["j"].to_numpy())),
        shape=(n_products, n_products),
        dtype=np.float32,
    )
    matrix.sort_indices()
    return matrix
