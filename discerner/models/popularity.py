"""Popularity: every user gets the products the most users interacted with."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from discerner.models.base import Recommender


class Popularity(Recommender):
    """Rank products by the number of distinct users who interacted with them.

    The baseline every other model must beat, and the fallback they all use for users
    without history.

    Args:
        duplicates: Policy for repeated (user, product) pairs (see `discerner.matrix`); it does
            not change the ranking, which counts distinct users.
    """

    def __init__(self, duplicates: str = "last"):
        self.duplicates = duplicates

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.popularity_, (rows.shape[0], len(self.popularity_))).copy()

    def _scores_one(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        return self.popularity_
