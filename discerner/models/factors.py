"""Implicit ALS: user and item factors from confidence-weighted preferences (Hu, Koren, Volinsky).

The same equations as Spark's `pyspark.ml.recommendation.ALS(implicitPrefs=True)`, so a model
fitted on Spark is served by this class: a user's vector x solves the normal equations

    (YᵀY + Yᵀ C1 Y + λ n I) x = Yᵀ (1 + c1)

over the user's products with a positive weighted score w (n of them), c1 = alpha w, Y the
item factors. A live history is folded in by solving them once, as PureSVD projects one.
"""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp

from discerner.models.base import Recommender

logger = logging.getLogger(__name__)


def normal_equations(
    factors: np.ndarray, gram: np.ndarray, confidence: np.ndarray, regularization: float
) -> tuple[np.ndarray, np.ndarray]:
    """The implicit-ALS system (A, b) of one row, as Spark's ALS builds it (ALS-WR scaling).

    Args:
        factors: The fixed side's factors of the row's products with positive weight (n, k).
        gram: YᵀY of every fixed-side factor (k, k).
        confidence: c1 = alpha * w of those products (n,).
        regularization: λ; scaled by n, the number of products.

    Returns:
        A = gram + factorsᵀ diag(c1) factors + λ n I, and b = factorsᵀ (1 + c1).
    """
    a = gram + (factors.T * confidence) @ factors
    a[np.diag_indices_from(a)] += regularization * len(confidence)
    return a, factors.T @ (1.0 + confidence)


def solve_rows(
    matrix: sp.csr_matrix, fixed: np.ndarray, alpha: float, regularization: float
) -> np.ndarray:
    """Solve every row of `matrix` (weighted scores) for its vector against the fixed factors.

    Rows without a positive score get the zero vector.

    Returns:
        float32 (n_rows, k).
    """
    fixed64 = fixed.astype(np.float64)
    gram = fixed64.T @ fixed64
    out = np.zeros((matrix.shape[0], fixed.shape[1]), dtype=np.float32)
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        values = matrix.data[start:end]
        positive = values > 0
        if not positive.any():
            continue
        columns = matrix.indices[start:end][positive]
        a, b = normal_equations(
            fixed64[columns], gram, alpha * values[positive].astype(np.float64), regularization
        )
        out[row] = np.linalg.solve(a, b)
    return out


class ImplicitALS(Recommender):
    """Implicit ALS: score = x Yᵀ with x folded in from the history (see the module docstring).

    Fitted here in one process (alternating exact solves), or on Spark by
    `discerner train --engine spark`, which places Spark's factors into this class.

    Args:
        n_factors: Rank of the factors.
        regularization: λ (Spark's `regParam`), scaled by each row's number of products.
        alpha: Confidence slope: c = 1 + alpha * w for a weighted score w.
        iterations: Alternating sweeps (Spark's `maxIter`).
        weighting: "none", "binary", "log" or "bm25" (see `discerner.matrix`).
        random_state: Seed of the initial item factors.
        duplicates: Policy for repeated (user, product) pairs; implicit events add up.
    """

    _state = ("item_factors_", "user_factors_")

    def __init__(
        self,
        n_factors: int = 32,
        regularization: float = 0.05,
        alpha: float = 10.0,
        iterations: int = 10,
        weighting: str = "log",
        random_state: int | None = 42,
        duplicates: str = "sum",
    ):
        self.n_factors = n_factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.random_state = random_state
        self.duplicates = duplicates

    def _fit(self, matrix: sp.csr_matrix) -> None:
        rng = np.random.default_rng(self.random_state)
        items = rng.normal(0, 0.01, (matrix.shape[1], self.n_factors)).astype(np.float32)
        by_item = matrix.T.tocsr()
        users = np.zeros((matrix.shape[0], self.n_factors), dtype=np.float32)
        for _ in range(self.iterations):
            users = solve_rows(matrix, items, self.alpha, self.regularization)
            items = solve_rows(by_item, users, self.alpha, self.regularization)
        self.user_factors_ = users
        self.item_factors_ = items

    def _after_fit(self) -> None:
        super()._after_fit()
        factors = self.item_factors_.astype(np.float64)
        self.gram_ = factors.T @ factors
        self.factors_by_rank_ = np.ascontiguousarray(self.item_factors_.T)
        norms = np.linalg.norm(self.item_factors_, axis=1)
        self.unit_factors_ = self.item_factors_ / np.maximum(norms, 1e-12)[:, None]

    def fold_in(self, columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """A user's vector from one weighted history (column indices, weighted scores).

        Returns:
            float64 (n_factors,); zeros when no weight is positive.
        """
        positive = weights > 0
        if not positive.any():
            return np.zeros(self.item_factors_.shape[1])
        factors = self.item_factors_[columns[positive]].astype(np.float64)
        confidence = self.alpha * weights[positive].astype(np.float64)
        a, b = normal_equations(factors, self.gram_, confidence, self.regularization)
        return np.linalg.solve(a, b)

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        weighted = self._weigh(rows).tocsr()
        users = np.stack(
            [
                self.fold_in(
                    weighted.indices[weighted.indptr[r] : weighted.indptr[r + 1]],
                    weighted.data[weighted.indptr[r] : weighted.indptr[r + 1]],
                )
                for r in range(weighted.shape[0])
            ]
        )
        return users.astype(np.float32) @ self.factors_by_rank_

    def _scores_one(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        user = self.fold_in(columns, self._weigh_one(columns, values)).astype(np.float32)
        return user @ self.factors_by_rank_

    def _similarities(self, columns: np.ndarray) -> np.ndarray:
        return self.unit_factors_[columns] @ self.unit_factors_.T
