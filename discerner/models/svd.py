"""PureSVD: a truncated SVD of the (weighted, popularity-scaled) user x product matrix."""

from __future__ import annotations

import logging

import numpy as np
import scipy.sparse as sp
from sklearn.decomposition import TruncatedSVD

from discerner.models.base import Recommender

logger = logging.getLogger(__name__)


def popularity_scaling(popularity: np.ndarray, exponent: float) -> np.ndarray:
    """Per-product column scale s_j = max(c_j, 1)^-exponent (EigenRec-style debiasing).

    Args:
        popularity: Number of users per product.
        exponent: 0 leaves columns unchanged; larger values shrink popular products' columns.

    Returns:
        float32 array of scales, one per product.
    """
    return np.power(np.maximum(popularity, 1.0), -exponent).astype(np.float32)


class PureSVD(Recommender):
    """PureSVD (Cremonesi et al. 2010): score = x S V Vᵀ, a fold-in of the history row x.

    V holds the top right singular vectors of X S, where X is the weighted users x products
    matrix and S = diag(popularity^-popularity_exponent) scales columns before the SVD so that
    the factors describe more than the most popular products. A user's scores are their history
    row projected onto the factor space and back, so users unseen at fit time need no refit.

    Args:
        n_components: Rank of the factorisation.
        weighting: "none", "binary", "log" or "bm25" (see `discerner.matrix`).
        popularity_exponent: The exponent of the column scaling (0 = plain PureSVD).
        n_iter: Power iterations of the randomized SVD.
        random_state: Seed of the randomized SVD.
        duplicates: Policy for repeated (user, product) pairs.
    """

    _state = ("item_factors_", "item_scale_")

    def __init__(
        self,
        n_components: int = 64,
        weighting: str = "binary",
        popularity_exponent: float = 0.0,
        n_iter: int = 7,
        random_state: int | None = 42,
        duplicates: str = "last",
    ):
        self.n_components = n_components
        self.weighting = weighting
        self.popularity_exponent = popularity_exponent
        self.n_iter = n_iter
        self.random_state = random_state
        self.duplicates = duplicates

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self.item_scale_ = popularity_scaling(self.popularity_, self.popularity_exponent)
        scaled = (matrix @ sp.diags(self.item_scale_)).astype(np.float32)
        rank = max(1, min(self.n_components, min(scaled.shape) - 1))
        svd = TruncatedSVD(
            n_components=rank, n_iter=self.n_iter, random_state=self.random_state
        ).fit(scaled)
        self.item_factors_ = np.ascontiguousarray(svd.components_.T, dtype=np.float32)

    def _after_fit(self) -> None:
        super()._after_fit()
        self._derive_factors()

    def _derive_factors(self) -> None:
        """The factor-major copy (fold-in scoring) and unit-length rows (similarities)."""
        self.factors_by_rank_ = np.ascontiguousarray(self.item_factors_.T)
        norms = np.linalg.norm(self.item_factors_, axis=1)
        self.unit_factors_ = self.item_factors_ / np.maximum(norms, 1e-12)[:, None]

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        users = (self._weigh(rows) @ sp.diags(self.item_scale_)) @ self.item_factors_
        return np.asarray(users, dtype=np.float32) @ self.factors_by_rank_

    def _scores_one(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        weights = self._weigh_one(columns, values) * self.item_scale_[columns]
        user = weights.astype(np.float32) @ self.item_factors_[columns]
        # A gemv over the factor-major copy. The server limits BLAS to one thread per call
        # (`serving.runtime.wsgi`): threaded gemvs stall when request threads already keep
        # every core busy, and one thread is twice as fast as numpy's einsum loop.
        return user @ self.factors_by_rank_

    def _similarities(self, columns: np.ndarray) -> np.ndarray:
        return self.unit_factors_[columns] @ self.unit_factors_.T

    def _affinities(self, columns: np.ndarray, targets: np.ndarray) -> np.ndarray:
        # The cosine of the factors, of the history and the targets only (not every product).
        return (self.unit_factors_[columns] @ self.unit_factors_[targets].T).astype(np.float64)
