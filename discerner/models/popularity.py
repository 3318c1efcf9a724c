"""Popularity: every user gets the products the most users interacted with."""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from discerner.models.base import Recommender


class Popularity(Recommender):
    """Rank products by the number of distinct users who interacted with them.

    Its score is the product's share of the fitted users, in [0, 1] (0.25: a quarter of the
    users interacted with it), the same score every model gives its popularity fallback.

    The baseline every other model must beat, and the fallback they all use for users
    without history.

    Args:
        duplicates: Policy for repeated (user, product) pairs (see `discerner.matrix`); it does
            not change the ranking, which counts distinct users.
    """

    def __init__(self, duplicates: str = "last"):
        self.duplicates = duplicates

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        share = self.popular_share_
        return np.broadcast_to(share, (rows.shape[0], len(share))).copy()

    def _scores_one(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        return self.popular_share_

    def _affinities(self, columns: np.ndarray, targets: np.ndarray) -> np.ndarray:
        # No history product adds to a popularity score: nothing to explain.
        return np.zeros((len(columns), len(targets)))


class LivePopularity:
    """Products ranked by their number of live activities (ties: lower id first).

    Its score is the product's share of all live activities, in [0, 1].

    Built from `Store.product_counts` by the server, so it holds every product with an activity,
    including products created after the champion was trained. Same fast-path face as the library's
    models: `recommend_history`.

    Args:
        product_ids: Ids of products with live activities.
        counts: Their activity counts.
    """

    def __init__(self, product_ids: np.ndarray, counts: np.ndarray):
        order = np.lexsort((product_ids, -np.asarray(counts, dtype=np.float64)))
        self.ranked_ids = np.asarray(product_ids, dtype=np.int64)[order]
        counts = np.asarray(counts, dtype=np.float64)
        self.ranked_shares = counts[order] / max(counts.sum(), 1.0)

    def recommend_history(
        self,
        product_ids: np.ndarray,
        scores: np.ndarray,
        n: int = 10,
        exclude: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The top `n` by live popularity, never one in the history, `exclude` or not `allowed`."""
        banned = np.concatenate([product_ids, exclude if exclude is not None else []])
        ids, counts = self.ranked_ids, self.ranked_shares
        if allowed is not None:
            keep = np.isin(ids, allowed)
            ids, counts = ids[keep], counts[keep]
        head = slice(0, n + len(banned))  # the history can hide at most len(banned) of them
        ids, counts = ids[head], counts[head]
        keep = ~np.isin(ids, banned)
        return ids[keep][:n], counts[keep][:n]
