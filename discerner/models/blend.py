"""Blend: PureSVD and item-kNN scores, each standardised per user, mixed by a weight."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from discerner.models.base import Recommender
from discerner.models.knn import ItemKNN
from discerner.models.svd import PureSVD

_SHARED = (*Recommender._base_state, *Recommender._bm25_state)


def standardize(scores: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """Per-row z-scores, (s - mean) / std over all products; a constant row becomes 0.

    Args:
        scores: 1-D or 2-D (rows are users) array.
        out: Where to write the result (may be `scores` itself, to save memory).

    Returns:
        float32 array of the same shape.
    """
    scores = np.asarray(scores, dtype=np.float32)
    mean = scores.mean(axis=-1, keepdims=True, dtype=np.float64).astype(np.float32)
    centred = np.subtract(scores, mean, out=out)
    # Sum of squares without a temporary array; centred first, so float32 is accurate enough.
    squares = np.einsum("...i,...i->...", centred, centred)[..., None]
    spread = np.sqrt(squares / scores.shape[-1])
    return np.divide(centred, np.where(spread > 0, spread, 1.0), out=centred)


class Blend(Recommender):
    """score = w z(PureSVD) + (1 - w) z(ItemKNN), z the per-user standardisation.

    The two families make different mistakes: the factors generalise over the whole history,
    the item graph (RP3beta by default) keeps the specific co-occurrences; standardising
    puts their scores on one scale before mixing. Both parts share one rating matrix and the
    `weighting` of the blend.

    Args:
        n_components: PureSVD rank.
        popularity_exponent: PureSVD column scaling exponent.
        k: ItemKNN neighbours per product.
        similarity: ItemKNN similarity, "rp3beta" or "cosine".
        alpha: ItemKNN alpha (RP3beta exponent or cosine asymmetry).
        beta: ItemKNN popularity penalty exponent.
        shrink: ItemKNN cosine shrinkage.
        svd_weight: w, the share of the PureSVD part in [0, 1].
        weighting: "none", "binary", "log" or "bm25" for both parts.
        random_state: Seed of the SVD.
        duplicates: Policy for repeated (user, product) pairs.
    """

    _state = ("item_factors_", "item_scale_", "similarity_")

    def __init__(
        self,
        n_components: int = 20,
        popularity_exponent: float = 0.0,
        k: int = 200,
        similarity: str = "rp3beta",
        alpha: float = 0.8,
        beta: float = 0.6,
        shrink: float = 10.0,
        svd_weight: float = 0.5,
        weighting: str = "binary",
        random_state: int | None = 42,
        duplicates: str = "last",
    ):
        self.n_components = n_components
        self.popularity_exponent = popularity_exponent
        self.k = k
        self.similarity = similarity
        self.alpha = alpha
        self.beta = beta
        self.shrink = shrink
        self.svd_weight = svd_weight
        self.weighting = weighting
        self.random_state = random_state
        self.duplicates = duplicates

    def _parts(self) -> tuple[PureSVD, ItemKNN]:
        svd = PureSVD(
            n_components=self.n_components,
            weighting=self.weighting,
            popularity_exponent=self.popularity_exponent,
            random_state=self.random_state,
            duplicates=self.duplicates,
        )
        knn = ItemKNN(
            k=self.k,
            similarity=self.similarity,
            shrink=self.shrink,
            alpha=self.alpha,
            beta=self.beta,
            weighting=self.weighting,
            duplicates=self.duplicates,
        )
        for part in (svd, knn):
            for name in _SHARED:
                setattr(part, name, getattr(self, name))
        return svd, knn

    def _fit(self, matrix: sp.csr_matrix) -> None:
        svd, knn = self._parts()
        svd._fit(matrix)
        knn._fit(matrix)
        self.item_factors_, self.item_scale_ = svd.item_factors_, svd.item_scale_
        self.similarity_ = knn.similarity_

    def _after_fit(self) -> None:
        super()._after_fit()
        self.svd_, self.knn_ = self._parts()
        self.svd_.item_factors_, self.svd_.item_scale_ = self.item_factors_, self.item_scale_
        self.svd_._derive_factors()
        self.knn_.similarity_ = self.similarity_

    def _mix(self, svd_scores: np.ndarray, knn_scores: np.ndarray) -> np.ndarray:
        """w z(svd) + (1 - w) z(knn), computed in the (fresh) arrays of the two parts."""
        mixed = standardize(svd_scores, out=svd_scores)
        mixed *= self.svd_weight
        knn = standardize(knn_scores, out=knn_scores)
        knn *= 1.0 - self.svd_weight
        mixed += knn
        return mixed

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        return self._mix(self.svd_._scores(rows), self.knn_._scores(rows))

    def _scores_one(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        return self._mix(
            self.svd_._scores_one(columns, values), self.knn_._scores_one(columns, values)
        )

    def _similarities(self, columns: np.ndarray) -> np.ndarray:
        knn = self.knn_._similarities(columns)
        knn[~np.isfinite(knn)] = 0.0
        return self._mix(self.svd_._similarities(columns), knn)

    def _affinities(self, columns: np.ndarray, targets: np.ndarray) -> np.ndarray:
        # Explained in the factor space of the PureSVD part (see `Recommender.explain`).
        return self.svd_._affinities(columns, targets)
