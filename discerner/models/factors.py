"""Implicit ALS: user and item factors from confidence-weighted preferences (Hu, Koren, Volinsky).

A user's vector x solves the normal equations

    (YᵀY + Yᵀ C1 Y + λ' I) x = Yᵀ P (1 + c1)

over the user's products with a non-zero weighted score w, c1 = alpha |w|, P the preference
(1 where w > 0, 0 where w < 0: a dislike is a confident "no", the extension of Hu et al. that
Spark's ALS and `implicit` make for negative values), Y the item factors; items solve the same
against the user factors. λ' is λ for the fit in one process (the `implicit` library's
objective, with confidence 1 + alpha |w|) and λ n with `scale_regularization` (ALS-WR, n the
row's positive scores), the equations of Spark's `pyspark.ml.recommendation.ALS(implicitPrefs=
True)`, so a model fitted on Spark is served by this class. A live history is folded in by
solving them once, as PureSVD projects one, with the λ' the factors were fitted with.

The fit reads magnitudes, as every family's does (`Recommender.fit`: a dislike still tells
which products go together), so a dislike's "no" acts where its user's history is folded in.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp
from threadpoolctl import threadpool_limits

from discerner.models.base import Recommender

logger = logging.getLogger(__name__)

# λ when none is given: plain λ for the library's fit (chosen on MovieLens 100k, see
# `ImplicitALS`), and Spark's `regParam` when scaled by the row's count (ALS-WR), chosen the
# same way: two validation splits (seeds 1, 2) of the protocol's training part, 64 factors,
# 10 sweeps, mean NDCG@10: λ 0.5 with alpha 3: 0.2735 (alpha 2: 0.2749; λ 0.7 alpha 4: 0.2729;
# λ 1 alpha 10: 0.2683), against 0.2164 for the former 0.05 (alpha 5) and 0.2796 for the
# plain-λ fit. λ and alpha move together: a larger alpha wants a larger λ.
REGULARIZATION = 40.0
SCALED_REGULARIZATION = 0.5
# The library fit's threads: every core this process may run on, one per this many stored
# scores. OpenMP starts and joins its threads twice a sweep, which costs more than the work of
# small data (a 300 x 120 fit: 0.1 s on one thread, 0.75 s on two on a busy 2-core machine).
CORES = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
SCORES_PER_THREAD = 100_000


def normal_equations(
    factors: np.ndarray,
    gram: np.ndarray,
    confidence: np.ndarray,
    regularization: float,
    scaled: bool = True,
    liked: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """The implicit-ALS system (A, b) of one row.

    Args:
        factors: The fixed side's factors of the row's products with a non-zero weight (n, k).
        gram: YᵀY of every fixed-side factor (k, k).
        confidence: c1 = alpha * |w| of those products (n,).
        regularization: λ.
        scaled: Scale λ by the number of liked products (ALS-WR, as Spark's ALS builds it).
        liked: The preference of each product (w > 0); None: all liked.

    Returns:
        A = gram + factorsᵀ diag(c1) factors + λ' I (λ' = λ n_liked when scaled, else λ), and
        b = factorsᵀ (liked (1 + c1)).
    """
    preference = np.ones(len(confidence)) if liked is None else liked.astype(np.float64)
    a = gram + (factors.T * confidence) @ factors
    a[np.diag_indices_from(a)] += regularization * (preference.sum() if scaled else 1)
    return a, factors.T @ (preference * (1.0 + confidence))


def solve_rows(
    matrix: sp.csr_matrix,
    fixed: np.ndarray,
    alpha: float,
    regularization: float,
    scaled: bool = True,
) -> np.ndarray:
    """Solve every row of `matrix` (weighted scores) for its vector against the fixed factors.

    The exact reference of one half-sweep (`normal_equations` row by row, in float64). Rows
    without a positive score get the zero vector (their b is zero).

    Returns:
        float32 (n_rows, k).
    """
    fixed64 = fixed.astype(np.float64)
    gram = fixed64.T @ fixed64
    out = np.zeros((matrix.shape[0], fixed.shape[1]), dtype=np.float32)
    for row in range(matrix.shape[0]):
        start, end = matrix.indptr[row], matrix.indptr[row + 1]
        values = matrix.data[start:end].astype(np.float64)
        if not (values > 0).any():
            continue
        a, b = normal_equations(
            fixed64[matrix.indices[start:end]],
            gram,
            alpha * np.abs(values),
            regularization,
            scaled,
            liked=values > 0,
        )
        out[row] = np.linalg.solve(a, b)
    return out


def confidences(matrix: sp.csr_matrix, alpha: float) -> sp.csr_matrix:
    """The `implicit` library's input: 1 + alpha w for each positive weight w, nothing else.

    implicit reads a stored value c > 0 as a preference with confidence c (A += (c - 1) y yᵀ,
    b += c y), so 1 + alpha w gives exactly `normal_equations`; other entries are dropped (the
    fit reads magnitudes, see `Recommender.fit`: nothing is negative there).
    """
    out = matrix.astype(np.float32, copy=True)
    out.data = np.where(out.data > 0, 1.0 + alpha * out.data, 0.0).astype(np.float32)
    out.eliminate_zeros()
    return out


def implicit_factors(
    matrix: sp.csr_matrix,
    n_factors: int,
    regularization: float,
    alpha: float,
    iterations: int,
    random_state: int | None,
) -> tuple[np.ndarray, np.ndarray]:
    """(user factors, item factors) from the `implicit` library's ALS, float32, in threads.

    Its objective is `normal_equations` with plain λ; its conjugate-gradient solver takes
    three steps per row and sweep from the previous solution.
    """
    from implicit.cpu.als import AlternatingLeastSquares

    # implicit runs its own threads over the rows: BLAS threads inside them only fight
    # (implicit warns, and pytest makes the warning an error), so BLAS gets one.
    with threadpool_limits(limits=1, user_api="blas"):
        als = AlternatingLeastSquares(
            factors=n_factors,
            regularization=regularization,
            alpha=1.0,  # the confidences already hold 1 + alpha w
            dtype=np.float32,
            iterations=iterations,
            num_threads=int(np.clip(matrix.nnz // SCORES_PER_THREAD, 1, CORES or 1)),
            random_state=random_state,
        )
        als.fit(confidences(matrix, alpha), show_progress=False)
    return np.asarray(als.user_factors), np.asarray(als.item_factors)


class ImplicitALS(Recommender):
    """Implicit ALS: score = x Yᵀ with x folded in from the history (see the module docstring).

    Fitted here by the `implicit` library (conjugate-gradient ALS over every core), or on
    Spark by `discerner train --engine spark`, which places Spark's factors into this class
    and sets `scale_regularization`. With `scale_regularization` a fit in this process runs
    the exact reference sweeps (`solve_rows`: slow, for checking Spark's equations).

    The defaults were chosen on MovieLens 100k by four validation splits of the protocol's
    training part (mean NDCG@10: 64 factors, λ 40, alpha 3: 0.2046; λ 30, alpha 2: 0.2043;
    λ 50, alpha 4: 0.2024; 32 factors 0.2037, 128 factors 0.2051); on its test part they
    score NDCG@10 0.452 in about 2 s. A larger λ (100) with a small alpha collapses the
    factors (0.27): search λ and alpha together on other data.

    Args:
        n_factors: Rank of the factors.
        regularization: λ; None: `REGULARIZATION`, or `SCALED_REGULARIZATION` when scaled
            (Spark's `regParam`).
        alpha: Confidence slope: c = 1 + alpha * w for a weighted score w.
        iterations: Alternating sweeps (Spark's `maxIter`).
        weighting: "none", "binary", "log" or "bm25" (see `discerner.matrix`).
        scale_regularization: Scale λ by each row's number of products (ALS-WR, Spark's
            equations) instead of the plain λ of the `implicit` library.
        random_state: Seed of the initial factors.
        duplicates: Policy for repeated (user, product) pairs; implicit events add up.
    """

    _state = ("item_factors_", "user_factors_")

    def __init__(
        self,
        n_factors: int = 64,
        regularization: float | None = None,
        alpha: float = 3.0,
        iterations: int = 10,
        weighting: str = "log",
        scale_regularization: bool = False,
        random_state: int | None = 42,
        duplicates: str = "sum",
    ):
        self.n_factors = n_factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting
        self.scale_regularization = scale_regularization
        self.random_state = random_state
        self.duplicates = duplicates

    def penalty(self) -> float:
        """λ of the equations: `regularization`, or the default of plain or scaled λ."""
        if self.regularization is not None:
            return float(self.regularization)
        return SCALED_REGULARIZATION if self.scale_regularization else REGULARIZATION

    def _fit(self, matrix: sp.csr_matrix) -> None:
        if self.scale_regularization:
            users, items = self._reference_factors(matrix)
        else:
            users, items = implicit_factors(
                matrix,
                self.n_factors,
                self.penalty(),
                self.alpha,
                self.iterations,
                self.random_state,
            )
        self.user_factors_ = np.ascontiguousarray(users, dtype=np.float32)
        self.item_factors_ = np.ascontiguousarray(items, dtype=np.float32)

    def _reference_factors(self, matrix: sp.csr_matrix) -> tuple[np.ndarray, np.ndarray]:
        """Alternating exact solves of `normal_equations`, users first, from random items."""
        rng = np.random.default_rng(self.random_state)
        items = rng.normal(0, 0.01, (matrix.shape[1], self.n_factors)).astype(np.float32)
        by_item = matrix.T.tocsr()
        users = np.zeros((matrix.shape[0], self.n_factors), dtype=np.float32)
        solve = (self.alpha, self.penalty(), self.scale_regularization)
        for _ in range(self.iterations):
            users = solve_rows(matrix, items, *solve)
            items = solve_rows(by_item, users, *solve)
        return users, items

    @classmethod
    def _from_saved(cls, folder: Path, meta: dict[str, Any]) -> Recommender:
        # Models saved before `scale_regularization` existed were all fitted with ALS-WR.
        meta = {**meta, "params": {"scale_regularization": True, **meta["params"]}}
        return super()._from_saved(folder, meta)

    def _after_fit(self) -> None:
        super()._after_fit()
        factors = self.item_factors_.astype(np.float64)
        self.gram_ = factors.T @ factors
        self.factors_by_rank_ = np.ascontiguousarray(self.item_factors_.T)
        norms = np.linalg.norm(self.item_factors_, axis=1)
        self.unit_factors_ = self.item_factors_ / np.maximum(norms, 1e-12)[:, None]

    def fold_in(self, columns: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """A user's vector from one weighted history (column indices, weighted scores).

        Solves the fit's own equations (plain or scaled λ) against the fitted item factors.

        Returns:
            float64 (n_factors,); zeros when no weight is positive.
        """
        weights = np.asarray(weights, dtype=np.float64)
        if not (weights > 0).any():
            return np.zeros(self.item_factors_.shape[1])
        nonzero = weights != 0
        columns, weights = columns[nonzero], weights[nonzero]
        a, b = normal_equations(
            self.item_factors_[columns].astype(np.float64),
            self.gram_,
            self.alpha * np.abs(weights),
            self.penalty(),
            self.scale_regularization,
            liked=weights > 0,
        )
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
