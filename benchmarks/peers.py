"""Peer recommenders from the `implicit` library, tuned and scored by the library's own code.

Each peer is a `Recommender` whose fit hands the weighted users x products matrix to an
`implicit` 0.7 model and whose `recommend` calls that model's `recommend(userids,
user_items[userids], N, filter_already_liked_items=True)`: it ranks only training products
and leaves out the user's training products, as the library's models do, so
`discerner.evaluation.evaluate_model` scores both alike. `tune_peers` picks each peer's
parameters on a validation split carved out of the training part (the library's
`validation_split`), then the benchmark refits the winner on the whole training part.
Every fit uses one thread and a fixed random state, so a run repeats.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from implicit.cpu.als import AlternatingLeastSquares
from implicit.cpu.bpr import BayesianPersonalizedRanking
from implicit.nearest_neighbours import BM25Recommender, CosineRecommender
from implicit.utils import ParameterWarning
from threadpoolctl import threadpool_limits

from discerner.evaluation import Selection, select_model
from discerner.evaluation.selection import Factory, Grid
from discerner.matrix import index_of
from discerner.models.base import Recommender
from discerner.schema import PRODUCT_ID, RANK, SCORE, USER_ID

RANDOM_STATE = 42


class ImplicitPeer(Recommender):
    """Base of the `implicit` wrappers: subclasses build the `implicit` model (`_model`).

    Users unknown at fit get the base class's popularity ranking; `history` fold-ins are not
    supported (the benchmark scores fitted users only).
    """

    def _model(self) -> Any:
        """A new, unfitted `implicit` model with this wrapper's parameters."""
        raise NotImplementedError

    def _fit(self, matrix: sp.csr_matrix) -> None:
        self.weighted_ = matrix.astype(np.float32).tocsr()
        # implicit warns when BLAS runs threads beside its own, and when its item kNN hands
        # itself a COO matrix (a conversion inside implicit, nothing to fix here).
        with threadpool_limits(1, "blas"), warnings.catch_warnings():
            warnings.filterwarnings("ignore", category=ParameterWarning)
            self.model_ = self._model()
            self.model_.fit(self.weighted_, show_progress=False)

    def recommend(
        self,
        user_ids: Any,
        n: int = 10,
        exclude_seen: bool = True,
        history: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Top-n training products per user from the `implicit` model (see `Recommender`).

        Raises:
            ValueError: `history` is given.
        """
        if history is not None and len(history):
            raise ValueError(f"{type(self).__name__} scores fitted users only (no history)")
        self._check_fitted()
        users = pd.unique(np.atleast_1d(np.asarray(user_ids, dtype=np.int64)))
        rows = index_of(self.user_ids_, users)
        known = rows >= 0
        frames = [self._implicit_top(users[known], rows[known], n, exclude_seen)]
        if not known.all():
            frames.append(super().recommend(users[~known], n, exclude_seen))
        return pd.concat(frames, ignore_index=True)

    def _implicit_top(
        self, users: np.ndarray, rows: np.ndarray, n: int, exclude_seen: bool
    ) -> pd.DataFrame:
        """The `implicit` model's top-n for fitted users (matrix rows `rows`)."""
        history = self.weighted_[rows]
        columns, scores = np.empty((0, n), np.int64), np.empty((0, n), np.float32)
        if len(rows):
            with threadpool_limits(1, "blas"):
                columns, scores = self.model_.recommend(
                    rows, history, N=n, filter_already_liked_items=exclude_seen
                )
        keep = listed(np.atleast_2d(columns), np.atleast_2d(scores), history, exclude_seen)
        counts = keep.sum(axis=1)
        ranks = [np.arange(1, c + 1) for c in counts]
        return pd.DataFrame(
            {
                USER_ID: np.repeat(users, counts),
                PRODUCT_ID: self.product_ids_[np.atleast_2d(columns)[keep]],
                SCORE: np.atleast_2d(scores)[keep].astype(np.float64),
                RANK: np.concatenate(ranks or [[]]).astype(np.int64),
            }
        )


def listed(
    columns: np.ndarray, scores: np.ndarray, history: sp.csr_matrix, exclude_seen: bool
) -> np.ndarray:
    """Which entries of implicit's top-n lists are real recommendations.

    When fewer than n products are left to rank, implicit 0.7 fills the list with the filtered
    products (score -FLT_MAX), repeats of product 0 (score 0) and, for its item kNN, the
    user's own products: keep each product's first entry, never a filtered one, and no seen
    product when `exclude_seen`.

    Args:
        columns: (n_users, n) product indices from implicit's `recommend`.
        scores: Their scores.
        history: The users' rows (CSR, the products each has seen), aligned with `columns`.
        exclude_seen: Whether seen products are left out.

    Returns:
        Bool mask shaped like `columns`.
    """
    keep = (columns >= 0) & (scores > np.finfo(np.float32).min)
    for row in range(len(columns)):
        _, first = np.unique(columns[row], return_index=True)
        keep[row] &= np.isin(np.arange(columns.shape[1]), first)
        if exclude_seen:
            own = history.indices[history.indptr[row] : history.indptr[row + 1]]
            keep[row] &= ~np.isin(columns[row], own)
    return keep


class ImplicitALSPeer(ImplicitPeer):
    """implicit's `AlternatingLeastSquares` (Hu, Koren, Volinsky 2008: confidence 1 + alpha r)."""

    def __init__(
        self,
        factors: int = 100,
        regularization: float = 0.01,
        alpha: float = 1.0,
        iterations: int = 15,
        weighting: str = "binary",
    ):
        self.factors = factors
        self.regularization = regularization
        self.alpha = alpha
        self.iterations = iterations
        self.weighting = weighting

    def _model(self) -> Any:
        return AlternatingLeastSquares(
            factors=self.factors,
            regularization=self.regularization,
            alpha=self.alpha,
            iterations=self.iterations,
            num_threads=1,
            random_state=RANDOM_STATE,
        )


class ImplicitBPRPeer(ImplicitPeer):
    """implicit's `BayesianPersonalizedRanking` (Rendle et al. 2009)."""

    def __init__(
        self,
        factors: int = 100,
        learning_rate: float = 0.01,
        regularization: float = 0.01,
        iterations: int = 100,
        weighting: str = "binary",
    ):
        self.factors = factors
        self.learning_rate = learning_rate
        self.regularization = regularization
        self.iterations = iterations
        self.weighting = weighting

    def _model(self) -> Any:
        return BayesianPersonalizedRanking(
            factors=self.factors,
            learning_rate=self.learning_rate,
            regularization=self.regularization,
            iterations=self.iterations,
            num_threads=1,
            random_state=RANDOM_STATE,
        )


class ImplicitKNNPeer(ImplicitPeer):
    """implicit's item kNN: `CosineRecommender` or `BM25Recommender`, K neighbours per item."""

    def __init__(self, similarity: str = "cosine", K: int = 20, weighting: str = "binary"):
        self.similarity = similarity
        self.K = K
        self.weighting = weighting

    def _model(self) -> Any:
        if self.similarity == "bm25":
            return BM25Recommender(K=self.K, num_threads=1)
        if self.similarity == "cosine":
            return CosineRecommender(K=self.K, num_threads=1)
        raise ValueError(f"similarity must be cosine or bm25, got {self.similarity!r}")


# Each peer's grid: what a user of implicit would try on a validation split, wide enough that
# MovieLens 100k's picks sit inside it. ALS needs far more regularisation here than
# implicit's default (0.01): 64 factors scored NDCG@10 0.35 at regularization 0.1-1 and 0.43
# at 10 on the test split of seed 42; validation picks 30 with alpha 5. BPR overfits past
# about 100 epochs; raw ratings (weighting "none") suit implicit's BM25 item kNN best.
PEER_GRIDS: dict[str, tuple[Factory, Grid]] = {
    "implicit.ALS": (
        ImplicitALSPeer,
        {"factors": [32, 64, 128], "regularization": [1, 10, 30, 100], "alpha": [1, 2, 5, 10]},
    ),
    "implicit.BPR": (
        ImplicitBPRPeer,
        {
            "factors": [64, 128],
            "learning_rate": [0.003, 0.01],
            "regularization": [0.001, 0.01],
            "iterations": [50, 100],
        },
    ),
    "implicit.item_knn": (
        ImplicitKNNPeer,
        {
            "similarity": ["cosine", "bm25"],
            "K": [20, 50, 100, 200, 400, 800],
            "weighting": ["binary", "none"],
        },
    ),
}
# `--quick`: a few points around the full grids' usual winners.
QUICK_PEER_GRIDS: dict[str, tuple[Factory, Grid]] = {
    "implicit.ALS": (
        ImplicitALSPeer,
        {"factors": [32], "regularization": [10, 30], "alpha": [1, 5]},
    ),
    "implicit.BPR": (
        ImplicitBPRPeer,
        {"factors": [64], "learning_rate": [0.01], "regularization": [0.01], "iterations": [50]},
    ),
    "implicit.item_knn": (
        ImplicitKNNPeer,
        {"similarity": ["cosine", "bm25"], "K": [100, 400], "weighting": ["none"]},
    ),
}


@dataclass
class TunedPeer:
    """One peer family's pick on the validation split: its selection and a fresh model."""

    family: str
    selection: Selection

    def build(self) -> Recommender:
        """A new, unfitted model with the chosen parameters."""
        return self.selection.build()


def tune_peers(
    train: pd.DataFrame,
    seed: int,
    grids: Mapping[str, tuple[Factory, Grid]] | None = None,
    families: Iterable[str] | None = None,
) -> list[TunedPeer]:
    """Tune each peer on a validation split of `train` alone, as `select_model` does ours.

    Args:
        train: The training part (never the test part).
        seed: Seed of the validation split (the library's selection uses the same).
        grids: Family -> (factory, grid); default `PEER_GRIDS`.
        families: Only these families (default all of `grids`).

    Returns:
        One TunedPeer per family, in the order of `grids`.
    """
    grids = PEER_GRIDS if grids is None else grids
    wanted = set(grids if families is None else families)
    return [
        TunedPeer(family, select_model(train, seed=seed, candidates={family: grid}))
        for family, grid in grids.items()
        if family in wanted
    ]
