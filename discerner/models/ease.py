"""EASE: a closed-form item-item model with a zero diagonal (Steck 2019)."""

from __future__ import annotations

import logging

import numpy as np
import psutil
import scipy.linalg
import scipy.sparse as sp

from discerner.models.base import Recommender

logger = logging.getLogger(__name__)

# The dense n x n float32 weights cost 4 n² bytes (3.6 GB at 30,000 products): EASE beyond
# this catalogue size is left to the other families.
MAX_PRODUCTS = 30_000
# Rows of the Gram matrix computed per sparse product: bounds its sparse temporary.
GRAM_BLOCK = 2048


def dense_gram(matrix: sp.csr_matrix, block: int = GRAM_BLOCK) -> np.ndarray:
    """XᵀX of a sparse users x products matrix as a dense float32 array, in blocks of rows."""
    by_product = matrix.T.tocsr().astype(np.float32)
    columns = matrix.astype(np.float32)
    n = matrix.shape[1]
    gram = np.empty((n, n), dtype=np.float32)
    for start in range(0, n, block):
        gram[start : start + block] = (by_product[start : start + block] @ columns).toarray()
    return gram


def ease_weights(gram: np.ndarray, l2: float) -> np.ndarray:
    """EASE's item-item weights B from the Gram matrix G = XᵀX, overwriting G.

    B = I - P diag(1 / diag(P)) with P = (G + l2 I)⁻¹: B_ij = -P_ij / P_jj off the diagonal
    and B_jj = 0, the closed-form minimiser of ||X - XB||² + l2 ||B||² under diag(B) = 0.

    Args:
        gram: Dense symmetric (n, n) XᵀX; it is overwritten (it becomes B: no second copy).
        l2: The ridge penalty λ (> 0 keeps G + λI positive definite).

    Returns:
        B, float32 (n, n), in the memory of `gram`.
    """
    gram[np.diag_indices_from(gram)] += l2
    # G is symmetric, so its transpose is the same matrix in Fortran order, which LAPACK
    # inverts in place (a C-ordered array would be copied twice).
    inverse = scipy.linalg.inv(gram.T, overwrite_a=True, check_finite=False).T
    diagonal = np.diag(inverse).copy()
    inverse /= -diagonal[None, :]
    inverse[np.diag_indices_from(inverse)] = 0.0
    return np.ascontiguousarray(inverse, dtype=np.float32)


class EASE(Recommender):
    """EASE (Steck 2019, "Embarrassingly Shallow Autoencoders"): score = x B.

    B is the item-item weight matrix of `ease_weights`, solved in closed form from the
    weighted users x products matrix X. A user's scores are their weighted history row x times
    B, so a live history or a user unseen at fit is scored exactly, with no refit. B_ij is how
    much having product i raises the score of product j; `similar_products(j)` ranks row j of
    B: the products that users who took j also take; `explain` gives the score's own terms
    w_h B_hi.

    The fit holds a dense n_products x n_products float32 matrix (inverted in place), so it
    refuses catalogues over `max_products` or beyond the machine's available memory
    (`fits_in_memory`), with ModelTooLargeError: the model search skips it and logs why.

    The defaults were chosen on MovieLens 100k by validation splits of the protocol's training
    part (mean NDCG@10 over four seeds: log 1000 0.201, log 500 0.198, binary 500 0.200);
    on its test part EASE(l2=1000, weighting="log") scores NDCG@10 0.447. The best λ grows
    with the number of users: search it on other data (100 to 3000).

    Args:
        l2: The ridge penalty λ on B (larger: smoother, more popular products).
        weighting: "none", "binary", "log" or "bm25" (see `discerner.matrix`).
        max_products: The largest catalogue the fit accepts.
        duplicates: Policy for repeated (user, product) pairs.
    """

    _state = ("item_weights_",)

    def __init__(
        self,
        l2: float = 1000.0,
        weighting: str = "log",
        max_products: int = MAX_PRODUCTS,
        duplicates: str = "last",
    ):
        self.l2 = l2
        self.weighting = weighting
        self.max_products = max_products
        self.duplicates = duplicates

    def fits_in_memory(self, n_users: int, n_products: int) -> tuple[bool, str]:
        """Whether the dense n_products² weights fit: under `max_products` and available memory.

        The inversion runs in place, so the fit's peak is one n² float32 array and a block of
        the Gram product; twice the array is asked for, so the process keeps room to work.
        """
        if n_products > self.max_products:
            return False, (
                f"{n_products:,} products exceed max_products={self.max_products:,} "
                f"(the dense item-item matrix would take {4 * n_products**2 / 2**30:.1f} GB)"
            )
        needed = 2 * 4 * n_products**2
        available = psutil.virtual_memory().available
        if needed > available:
            return False, (
                f"{n_products:,} products need about {needed / 2**30:.1f} GB for the dense "
                f"item-item matrix; {available / 2**30:.1f} GB is available"
            )
        return True, ""

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self.item_weights_ = ease_weights(dense_gram(matrix), self.l2)

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.asarray(self._weigh(rows) @ self.item_weights_, dtype=np.float32)

    def _scores_one(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        weights = self._weigh_one(columns, values).astype(np.float32)
        return weights @ self.item_weights_[columns]

    def _similarities(self, columns: np.ndarray) -> np.ndarray:
        return self.item_weights_[columns]

    def _affinities(self, columns: np.ndarray, targets: np.ndarray) -> np.ndarray:
        # B_hi itself: the terms w_h B_hi of the score, exactly (B is not symmetric).
        return self.item_weights_[np.ix_(columns, targets)].astype(np.float64)
