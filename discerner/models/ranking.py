"""Top-n selection over dense score rows, and merging repeats within one live history."""

from __future__ import annotations

import numpy as np

# Below this catalogue size a full stable sort is as fast as the bounded selection.
FULL_SORT_LIMIT = 4096


def top_n_indices(scores: np.ndarray, n: int) -> np.ndarray:
    """Column indices of the n largest values per row, best first; ties go to the lower index.

    Large rows avoid a full partition: the n-th largest of the row's chunk maxima is a lower
    bound of its n-th largest value, so only the few values above it are sorted.

    Args:
        scores: Dense (n_rows, n_columns) array without NaN.
        n: How many per row (capped at n_columns).

    Returns:
        int64 array (n_rows, min(n, n_columns)).
    """
    n_rows, n_columns = scores.shape
    n = min(n, n_columns)
    if n <= 0 or n_rows == 0:
        return np.empty((n_rows, max(n, 0)), dtype=np.int64)
    n_chunks = max(4 * n, 64)
    if n_columns <= FULL_SORT_LIMIT or n_chunks * 8 > n_columns:
        return np.argsort(-scores, axis=1, kind="stable")[:, :n]
    starts = np.linspace(0, n_columns, n_chunks, endpoint=False).astype(np.int64)
    maxima = np.maximum.reduceat(scores, starts, axis=1)
    bound = np.partition(maxima, n_chunks - n, axis=1)[:, n_chunks - n]
    rows, columns = np.nonzero(scores >= bound[:, None])
    order = np.lexsort((columns, -scores[rows, columns], rows))
    rows, columns = rows[order], columns[order]
    first = np.searchsorted(rows, np.arange(n_rows))
    take = first[:, None] + np.arange(n)
    return columns[take].astype(np.int64)


def merge_history(columns: np.ndarray, values: np.ndarray, duplicates: str):
    """Merge repeated columns of one history by the duplicates policy (rows in time order)."""
    if len(np.unique(columns)) == len(columns):
        return columns, values
    if duplicates == "last":
        unique, first = np.unique(columns[::-1], return_index=True)
        return unique, values[::-1][first]
    unique, inverse, counts = np.unique(columns, return_inverse=True, return_counts=True)
    if duplicates == "max":
        merged = np.full(len(unique), -np.inf, dtype=np.float32)
        np.maximum.at(merged, inverse, values)
        return unique, merged
    merged = np.bincount(inverse, weights=values, minlength=len(unique)).astype(np.float32)
    return unique, merged / counts if duplicates == "mean" else merged
