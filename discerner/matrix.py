"""The rating matrix: interactions frame -> users x products CSR matrix, index maps, weightings."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import scipy.sparse as sp

from discerner.schema import PRODUCT_ID, SCORE, TIMESTAMP, USER_ID

logger = logging.getLogger(__name__)

DUPLICATE_POLICIES = ("last", "sum", "max", "mean")
WEIGHTINGS = ("none", "binary", "log", "bm25")


@dataclass(frozen=True)
class RatingMatrix:
    """A users x products matrix with the maps from row/column index to external id.

    Attributes:
        matrix: CSR matrix, float32, one stored value per (user, product) pair, sorted indices.
        user_ids: int64 array, row index -> user id (ascending).
        product_ids: int64 array, column index -> product id (ascending).
    """

    matrix: sp.csr_matrix
    user_ids: np.ndarray
    product_ids: np.ndarray


def build_matrix(
    interactions: pd.DataFrame,
    duplicates: str = "last",
    *,
    user_ids: np.ndarray | None = None,
    product_ids: np.ndarray | None = None,
) -> RatingMatrix:
    """Build the users x products CSR matrix of an interactions frame.

    Repeated (user, product) pairs are merged by `duplicates`:
    `"last"` keeps the score with the latest timestamp (ties and missing timestamps: the later
    row wins), the policy for ratings; `"sum"` adds the scores, the policy for implicit events
    (views, purchases); `"max"` and `"mean"` take the largest score and the average.

    Args:
        interactions: Frame with `user_id`, `product_id`, `score` and optionally `timestamp`.
        duplicates: One of "last", "sum", "max", "mean".
        user_ids: Fixed sorted row ids; rows of other users are dropped. Default: the frame's.
        product_ids: Fixed sorted column ids; rows of other products are dropped (this is how a
            fitted model maps new activities onto its columns). Default: the frame's.

    Returns:
        The RatingMatrix.

    Raises:
        ValueError: `duplicates` is not a known policy.
    """
    if duplicates not in DUPLICATE_POLICIES:
        raise ValueError(f"duplicates must be one of {DUPLICATE_POLICIES}, got {duplicates!r}")
    users, user_ids = _codes(interactions[USER_ID].to_numpy(dtype=np.int64), user_ids)
    products, product_ids = _codes(interactions[PRODUCT_ID].to_numpy(dtype=np.int64), product_ids)
    scores = interactions[SCORE].to_numpy(dtype=np.float64)
    keep = (users >= 0) & (products >= 0)
    order = _time_order(interactions) if duplicates == "last" else None
    if not keep.all():
        order = _subset_order(order, keep)
    if order is not None:
        users, products, scores = users[order], products[order], scores[order]
    shape = (len(user_ids), len(product_ids))
    matrix = _merge(users, products, scores, shape, duplicates)
    return RatingMatrix(matrix=matrix, user_ids=user_ids, product_ids=product_ids)


def index_of(ids: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Positions of `values` in the sorted id map `ids`; -1 where a value is absent.

    Args:
        ids: Sorted int64 id map (index -> id).
        values: Ids to look up.

    Returns:
        int64 array of positions, same length as `values`.
    """
    values = np.asarray(values, dtype=np.int64)
    if len(ids) == 0:
        return np.full(len(values), -1, dtype=np.int64)
    positions = np.searchsorted(ids, values)
    positions = np.minimum(positions, len(ids) - 1)
    return np.where(ids[positions] == values, positions, -1).astype(np.int64)


def _codes(values: np.ndarray, ids: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    if ids is None:
        codes, uniques = pd.factorize(values, sort=True)
        return codes.astype(np.int64), np.asarray(uniques, dtype=np.int64)
    ids = np.asarray(ids, dtype=np.int64)
    return index_of(ids, values), ids


def _time_order(interactions: pd.DataFrame) -> np.ndarray | None:
    """Row order by time (stable), or None when rows are already in order or undated."""
    if TIMESTAMP not in interactions.columns:
        return None
    stamps = interactions[TIMESTAMP]
    if stamps.isna().all() or stamps.is_monotonic_increasing:
        return None
    # NaT sorts first: an undated row never overrides a dated one.
    nanos = stamps.to_numpy(dtype="datetime64[us]").astype(np.int64)
    return np.argsort(nanos, kind="stable")


def _subset_order(order: np.ndarray | None, keep: np.ndarray) -> np.ndarray:
    if order is None:
        return np.flatnonzero(keep)
    return order[keep[order]]


def _merge(users, products, scores, shape, duplicates: str) -> sp.csr_matrix:
    """One value per (user, product) by hashing the pair keys (no full sort of the rows)."""
    index_type = np.int32 if max(shape) < 2**31 else np.int64
    if duplicates == "sum":
        # The CSR conversion itself adds up repeated entries.
        pairs = (users.astype(index_type), products.astype(index_type))
        matrix = sp.csr_matrix((scores.astype(np.float32), pairs), shape=shape)
        matrix.sum_duplicates()
        return matrix
    keys = pd.Series(users * shape[1] + products)
    if duplicates == "last":
        last = ~keys.duplicated(keep="last").to_numpy()
        unique_keys, values = keys.to_numpy()[last], scores[last]
    else:
        grouped = pd.Series(scores).groupby(keys.to_numpy(), sort=False)
        merged = grouped.max() if duplicates == "max" else grouped.mean()
        unique_keys, values = merged.index.to_numpy(), merged.to_numpy()
    rows, columns = np.divmod(unique_keys, shape[1])
    matrix = sp.csr_matrix(
        (values.astype(np.float32), (rows.astype(index_type), columns.astype(index_type))),
        shape=shape,
    )
    matrix.sort_indices()
    return matrix


def binarize(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Every stored value becomes 1.0 (an interaction happened, whatever its score), or -1.0
    where the score is negative (a dislike, see `discerner.feedback`)."""
    out = matrix.copy()
    out.data = binary_values(out.data)
    return out


def binary_values(values: np.ndarray) -> np.ndarray:
    """1 for each value, -1 for negative ones (float32)."""
    return np.where(np.asarray(values) < 0, -1.0, 1.0).astype(np.float32)


def magnitudes(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """|x| elementwise: the matrix itself when no value is negative (no dislikes), else a copy."""
    if not len(matrix.data) or matrix.data.min() >= 0:
        return matrix
    return abs(matrix)


def log_weight(matrix: sp.csr_matrix) -> sp.csr_matrix:
    """Damp large counts: w = sign(x) log(1 + |x|), elementwise on stored values."""
    out = matrix.copy()
    out.data = log_values(out.data).astype(out.dtype)
    return out


def log_values(values: np.ndarray) -> np.ndarray:
    """sign(x) log(1 + |x|): log(1 + x) for x >= 0, and the same weight negated for a dislike."""
    values = np.asarray(values)
    return (np.sign(values) * np.log1p(np.abs(values))).astype(np.float32)


def bm25_idf(matrix: sp.csr_matrix) -> np.ndarray:
    """Per-product inverse document frequency, idf_j = log(n_users / (1 + n_users_j)) clipped >= 0.

    Computed once at fit time and reused for new users' rows.
    """
    n_users = max(matrix.shape[0], 1)
    counts = np.bincount(matrix.indices, minlength=matrix.shape[1])
    return np.maximum(np.log(n_users / (1.0 + counts)), 0.0).astype(np.float32)


def bm25_weight(
    matrix: sp.csr_matrix,
    idf: np.ndarray,
    avg_length: float,
    k1: float = 1.2,
    b: float = 0.75,
) -> sp.csr_matrix:
    """Okapi BM25 weighting of each user's row (users are documents, products are terms).

    w_uj = x_uj (k1 + 1) / (x_uj + k1 (1 - b + b |u| / avg_length)) * idf_j, with |u| the number of
    products in the user's row; a negative x (a dislike) gets the weight of |x|, negated.

    Args:
        matrix: Users x products CSR with non-negative scores.
        idf: Per-product weights from `bm25_idf` (of the fit-time matrix).
        avg_length: Mean row length at fit time.
        k1: Score saturation.
        b: Length normalisation strength.

    Returns:
        A new CSR matrix with the same pattern.
    """
    out = matrix.copy()
    counts = np.diff(out.indptr)
    lengths = np.repeat(counts, counts)
    out.data = bm25_values(out.data, out.indices, lengths, idf, avg_length, k1, b)
    return out


def bm25_values(values, columns, lengths, idf, avg_length, k1=1.2, b=0.75) -> np.ndarray:
    """The BM25 formula of `bm25_weight` on stored values, each with its row's length."""
    norm = k1 * (1.0 - b + b * np.asarray(lengths, dtype=np.float32) / max(avg_length, 1e-9))
    x = np.abs(values)
    return (np.sign(values) * x * (k1 + 1.0) / (x + norm) * idf[columns]).astype(np.float32)


def weigh_values(
    values: np.ndarray,
    columns: np.ndarray,
    weighting: str,
    idf: np.ndarray | None = None,
    avg_length: float | None = None,
) -> np.ndarray:
    """`apply_weighting` for the stored values of one history row, without building a matrix.

    Args:
        values: Raw scores of the row's distinct products.
        columns: Their column indices.
        weighting: One of WEIGHTINGS.
        idf: For "bm25": fit-time per-product weights.
        avg_length: For "bm25": fit-time mean row length.

    Returns:
        float32 weights aligned with `values`.
    """
    if weighting == "none":
        return np.asarray(values, dtype=np.float32)
    if weighting == "binary":
        return binary_values(values)
    if weighting == "log":
        return log_values(values)
    if weighting == "bm25":
        return bm25_values(values, columns, len(values), idf, float(avg_length))
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")


def apply_weighting(
    matrix: sp.csr_matrix,
    weighting: str,
    idf: np.ndarray | None = None,
    avg_length: float | None = None,
) -> sp.csr_matrix:
    """Weight a users x products matrix by name: one of WEIGHTINGS.

    Args:
        matrix: CSR matrix of raw scores.
        weighting: "none" (unchanged), "binary", "log" or "bm25".
        idf: For "bm25": per-product weights of the fit-time matrix (default: this matrix's).
        avg_length: For "bm25": fit-time mean row length (default: this matrix's).

    Returns:
        The weighted matrix (the input itself for "none").

    Raises:
        ValueError: Unknown weighting.
    """
    if weighting == "none":
        return matrix
    if weighting == "binary":
        return binarize(matrix)
    if weighting == "log":
        return log_weight(matrix)
    if weighting == "bm25":
        idf = bm25_idf(matrix) if idf is None else idf
        avg_length = matrix.nnz / max(matrix.shape[0], 1) if avg_length is None else avg_length
        return bm25_weight(matrix, idf, float(avg_length))
    raise ValueError(f"weighting must be one of {WEIGHTINGS}, got {weighting!r}")
