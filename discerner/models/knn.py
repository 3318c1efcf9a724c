"""Neighbourhood models: item kNN (cosine with shrinkage, or the RP3beta graph) and user kNN."""

from __future__ import annotations

import logging
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import scipy.sparse as sp
from tqdm.auto import tqdm

from discerner.models.base import Recommender

logger = logging.getLogger(__name__)

# Dense similarity blocks hold block_rows x n_products floats; this bounds them to ~128 MB
# (plus ~256 MB of partition indices) per thread.
BLOCK_FLOATS = 32_000_000
THREADS = min(4, os.cpu_count() or 1)
SIMILARITIES = ("cosine", "rp3beta")


def column_norms(matrix: sp.csr_matrix) -> np.ndarray:
    """Euclidean norm of each column of a sparse matrix."""
    squared = matrix.multiply(matrix).sum(axis=0)
    return np.sqrt(np.asarray(squared, dtype=np.float64).ravel())


def row_normalize(matrix: sp.csr_matrix, power: float = 1.0) -> sp.csr_matrix:
    """Divide each row by its sum (a transition matrix), then raise entries to `power`."""
    sums = np.asarray(matrix.sum(axis=1), dtype=np.float64).ravel()
    scaled = sp.diags(1.0 / np.where(sums > 0, sums, 1.0)) @ matrix
    scaled = scaled.tocsr().astype(np.float32)
    if power != 1.0:
        scaled.data = np.power(scaled.data, power)
    return scaled


def top_k_rows(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Keep the k largest positive values of each row of a dense block (the block is clobbered).

    Args:
        block: Dense (n_rows, n_columns) float array; negated in place to save a copy.
        k: Values kept per row.

    Returns:
        (rows, columns, values) of the kept entries.
    """
    k = min(k, block.shape[1])
    np.negative(block, out=block)
    columns = np.argpartition(block, k - 1, axis=1)[:, :k]
    values = -np.take_along_axis(block, columns, axis=1)
    rows = np.repeat(np.arange(block.shape[0]), k)
    keep = values.ravel() > 0
    return rows[keep], columns.ravel()[keep], values.ravel()[keep]


def blocked_top_k(
    left: sp.csr_matrix,
    right: sp.csr_matrix,
    k: int,
    finish,
    threads: int = THREADS,
    bar: bool = True,
) -> sp.csr_matrix:
    """Top-k per row of `finish(left @ right)`, computed a block of rows at a time.

    Blocks run on `threads` threads (scipy's sparse product and numpy's partition release the
    GIL); memory stays bounded by a few dense blocks of BLOCK_FLOATS values each.

    Args:
        left: (n, m) CSR matrix.
        right: (m, p) CSR matrix.
        k: Entries kept per row.
        finish: Called as finish(dense_block, row_indices) -> dense block; may work in place
            (normalise, penalise, mask the diagonal).
        threads: Blocks computed at once.
        bar: Show a progress bar when there are many blocks (off inside a Spark task).

    Returns:
        (n, p) CSR float32 with at most k entries per row.
    """
    n, p = left.shape[0], right.shape[1]
    size = max(1, min(n, BLOCK_FLOATS // max(p, 1)))

    def one_block(start: int):
        index = np.arange(start, min(start + size, n))
        block = finish((left[index] @ right).toarray(), index)
        rows, columns, values = top_k_rows(block, k)
        return rows + start, columns, values.astype(np.float32)

    starts = range(0, n, size)
    with ThreadPoolExecutor(threads) as pool:
        parts = list(
            tqdm(
                pool.map(one_block, starts),
                total=len(starts),
                desc="similarity",
                leave=False,
                disable=not bar or n < 5 * size,
            )
        )
    rows, columns, values = (np.concatenate(part) for part in zip(*parts, strict=True))
    return sp.csr_matrix((values, (rows, columns)), shape=(n, p), dtype=np.float32)


class ItemKNN(Recommender):
    """Item kNN: score_j = sum over history products i of w_i W_ij, W sparse with k per row.

    Similarities (each row keeps the k most similar products):
    `"cosine"`: W_ij = x_i·x_j / (|x_i|^(2 alpha) |x_j|^(2 (1 - alpha)) + shrink), alpha = 0.5
    being the cosine and other values its asymmetric form (Aiolli 2013); `"rp3beta"`: the
    3-step random walk user -> product -> user -> product with transition probabilities raised
    to alpha, W_ij = (P_iu P_uj) (Paudel et al. 2017). Both then divide column j by
    popularity_j^beta, which lowers the weight of popular products (beta = 0: no penalty).

    Args:
        k: Neighbours kept per product.
        similarity: "cosine" or "rp3beta".
        shrink: Added to the cosine denominator; damps similarities resting on few users.
        alpha: Cosine asymmetry, or the RP3beta transition exponent.
        beta: Popularity penalty exponent.
        weighting: "none", "binary", "log" or "bm25" (see `discerner.matrix`).
        duplicates: Policy for repeated (user, product) pairs.
    """

    _state = ("similarity_",)

    def __init__(
        self,
        k: int = 100,
        similarity: str = "cosine",
        shrink: float = 10.0,
        alpha: float = 0.5,
        beta: float = 0.0,
        weighting: str = "binary",
        duplicates: str = "last",
    ):
        self.k = k
        self.similarity = similarity
        self.shrink = shrink
        self.alpha = alpha
        self.beta = beta
        self.weighting = weighting
        self.duplicates = duplicates

    def _fit(self, matrix: sp.csr_matrix) -> None:
        if self.similarity not in SIMILARITIES:
            raise ValueError(f"similarity must be one of {SIMILARITIES}, got {self.similarity!r}")
        penalty = np.power(np.maximum(self.popularity_, 1.0), -self.beta).astype(np.float32)
        if self.similarity == "cosine":
            left, right, finish = self._cosine_parts(matrix, penalty)
        else:
            left = row_normalize(matrix.T.tocsr(), self.alpha)
            right = row_normalize(matrix, self.alpha)
            finish = without_diagonal(lambda block, index: np.multiply(block, penalty, out=block))
        self.similarity_ = blocked_top_k(left, right, self.k, finish)

    def _cosine_parts(self, matrix: sp.csr_matrix, penalty: np.ndarray):
        norms = column_norms(matrix)
        finish = cosine_finish(norms, norms, penalty, self.alpha, self.shrink)
        return matrix.T.tocsr(), matrix.tocsr(), without_diagonal(finish)

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        return (self._weigh(rows) @ self.similarity_).toarray()

    def _scores_one(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        weights = self._weigh_one(columns, values)
        indptr = self.similarity_.indptr
        starts, ends = indptr[columns], indptr[columns + 1]
        lengths = ends - starts
        # Positions of every neighbour entry of the history's products, without a Python loop.
        offsets = np.repeat(starts - np.r_[0, np.cumsum(lengths)[:-1]], lengths)
        entries = np.arange(lengths.sum()) + offsets
        return np.bincount(
            self.similarity_.indices[entries],
            weights=self.similarity_.data[entries] * np.repeat(weights, lengths),
            minlength=len(self.product_ids_),
        )

    def _affinities(self, columns: np.ndarray, targets: np.ndarray) -> np.ndarray:
        # W_hi itself: the terms w_h W_hi of the score, exactly.
        return self.similarity_[columns][:, targets].toarray().astype(np.float64)

    def _similarities(self, columns: np.ndarray) -> np.ndarray:
        rows = self.similarity_[columns]
        dense = np.full(rows.shape, -np.inf, dtype=np.float32)
        row_of = np.repeat(np.arange(rows.shape[0]), np.diff(rows.indptr))
        dense[row_of, rows.indices] = rows.data
        return dense


def cosine_finish(
    row_norms: np.ndarray,
    column_norms: np.ndarray,
    penalty: np.ndarray,
    alpha: float,
    shrink: float,
):
    """ItemKNN's cosine from dot products: block / (|x_i|^2a |x_j|^2(1-a) + shrink) * penalty_j.

    Args:
        row_norms: |x_i| of the block's rows (indexed by the row indices it is given).
        column_norms: |x_j| of the block's columns.
        penalty: popularity_j^-beta of the block's columns.
        alpha: Cosine asymmetry (0.5: the cosine).
        shrink: Added to the denominator.

    Returns:
        finish(dense_block, row_indices) for `blocked_top_k`, working in place.
    """
    rows_norm = np.power(row_norms, 2 * alpha)
    columns_norm = np.power(column_norms, 2 * (1 - alpha))

    def normalise(block, index):
        denominator = np.outer(rows_norm[index], columns_norm)  # the one temporary
        denominator += shrink + 1e-12
        denominator /= penalty
        return np.divide(block, denominator, out=block)

    return normalise


def without_diagonal(finish):
    """Wrap a block finisher so a product is never its own neighbour."""

    def masked(block, index):
        block = finish(block, index)
        block[np.arange(len(index)), index] = 0.0
        return block

    return masked


class UserKNN(Recommender):
    """User kNN: score_j = sum over the k most similar users v of sim(u, v) x_vj.

    sim(u, v) = x_u·x_v / (|x_u| |x_v| + shrink) on the weighted rows. A user known at fit time
    is their own nearest neighbour; that only adds to products they have seen (excluded by
    default), so `recommend` and the fast path agree for fitted and folded-in users.

    Args:
        k: Neighbours per user.
        shrink: Added to the cosine denominator.
        weighting: "none", "binary", "log" or "bm25" (see `discerner.matrix`).
        duplicates: Policy for repeated (user, product) pairs.
    """

    batch_users = 256

    def __init__(
        self, k: int = 50, shrink: float = 10.0, weighting: str = "binary", duplicates: str = "last"
    ):
        self.k = k
        self.shrink = shrink
        self.weighting = weighting
        self.duplicates = duplicates

    def _after_fit(self) -> None:
        super()._after_fit()
        self.neighbours_ = self._weigh(self.user_items_).tocsr()
        self.neighbour_norms_ = np.sqrt(
            np.asarray(self.neighbours_.multiply(self.neighbours_).sum(axis=1)).ravel()
        )
        self.neighbours_t_ = self.neighbours_.T.tocsr()

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        weighted = self._weigh(rows)
        norms = np.sqrt(np.asarray(weighted.multiply(weighted).sum(axis=1)).ravel())
        similar = (weighted @ self.neighbours_t_).toarray()
        similar /= np.outer(norms, self.neighbour_norms_) + self.shrink + 1e-12
        r, c, v = top_k_rows(similar, self.k)
        weights = sp.csr_matrix((v, (r, c)), shape=similar.shape, dtype=np.float32)
        return (weights @ self.neighbours_).toarray()
