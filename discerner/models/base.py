"""The shared recommender base: id maps, histories, popularity fallback, top-n, saving."""

from __future__ import annotations

import inspect
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import scipy.sparse as sp

from discerner.errors import ModelTooLargeError, NotFittedError
from discerner.matrix import (
    apply_weighting,
    bm25_idf,
    build_matrix,
    index_of,
    magnitudes,
    weigh_values,
)
from discerner.models.persistence import load_array, save_array
from discerner.models.ranking import merge_history, top_n_indices
from discerner.schema import PRODUCT_ID, RANK, SCORE, USER_ID, validate_interactions

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_FILE = "model.json"
EXPLAIN_NOISE = 1e-6  # `explain` drops contributions below this share of the largest

_REGISTRY: dict[str, type[Recommender]] = {}


class Recommender:
    """Base of every recommender: subclasses implement `_fit` and the scoring hook `_scores`.

    A model scores products from a user's history row (the raw, de-duplicated scores of the
    products the user interacted with), so fitted users, users given as `history`, and the live
    history of the server's fast path all go through the same hook. Users with no usable history
    get the popularity ranking: the number of distinct users who interacted with each product.

    Fitted state (names end in `_`): `user_ids_`, `product_ids_` (int64, index -> external id,
    ascending), `user_items_` (CSR users x products, the fit-time history rows), `popularity_`,
    and for models weighting with BM25 the fit-time statistics `idf_` and `avg_length_`. Code
    outside the models asks `known_users`, `known_products` and `knows_any` instead of reading
    fitted attributes.
    """

    duplicates: str = "last"
    weighting: str = "none"
    # Users scored at once by `recommend`: bounds the dense (batch, n_products) score block.
    batch_users: ClassVar[int] = 1024
    # Names of the model's own fitted attributes that `save` writes (arrays or CSR matrices).
    _state: ClassVar[tuple[str, ...]] = ()
    _base_state: ClassVar[tuple[str, ...]] = (
        "user_ids_",
        "product_ids_",
        "user_items_",
        "popularity_",
    )
    _bm25_state: ClassVar[tuple[str, ...]] = ("idf_", "avg_length_")
    # The BM25 statistics stay None for models with another weighting (nothing to save).
    idf_: np.ndarray | None = None
    avg_length_: np.float32 | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        _REGISTRY[cls.__name__] = cls

    # ----------------------------------------------------------------- parameters and fitting
    def get_params(self) -> dict[str, Any]:
        """Return the constructor arguments, unchanged (scikit-learn style)."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def fit(self, interactions: pd.DataFrame) -> Recommender:
        """Fit the model on an interactions frame.

        Args:
            interactions: Frame with `user_id`, `product_id`, `score` and optionally `timestamp`;
                repeated (user, product) pairs are merged by the model's `duplicates` policy.

        Returns:
            self, fitted.

        Raises:
            ModelTooLargeError: The fit would not fit in memory (see `fits_in_memory`).
        """
        frame = validate_interactions(interactions)
        built = build_matrix(frame, self.duplicates)
        fits, reason = self.fits_in_memory(*built.matrix.shape)
        if not fits:
            raise ModelTooLargeError(f"{type(self).__name__} cannot be fitted here: {reason}")
        self.user_ids_ = built.user_ids
        self.product_ids_ = built.product_ids
        self.user_items_ = built.matrix
        self.popularity_ = np.bincount(
            built.matrix.indices, minlength=built.matrix.shape[1]
        ).astype(np.float32)
        if self.weighting == "bm25":
            self.idf_ = bm25_idf(built.matrix)
            self.avg_length_ = np.float32(built.matrix.nnz / max(built.matrix.shape[0], 1))
        logger.info(
            "fitting %s on %d users x %d products, %d interactions",
            type(self).__name__,
            *built.matrix.shape,
            built.matrix.nnz,
        )
        # Which products go together is learned from every interaction, dislikes included
        # (the user chose the product); a dislike's sign acts in its user's own scores only.
        self._fit(magnitudes(self._weigh(built.matrix)))
        self._after_fit()
        return self

    def _fit(self, matrix: sp.csr_matrix) -> None:
        """Learn the model's state from the weighted users x products matrix (magnitudes:
        a dislike's weight is given positive here, see `fit`)."""

    def fits_in_memory(self, n_users: int, n_products: int) -> tuple[bool, str]:
        """Whether a fit on this many users and products fits in memory, and if not, why.

        `fit` checks it before computing anything; a model search can ask it before fitting.
        Most models grow with the data's non-zeros and always fit; a model with a dense
        product x product state (EASE) says no past its size limit.

        Returns:
            (fits, reason): the reason is empty when it fits.
        """
        return True, ""

    def assign(self, **state: Any) -> Recommender:
        """Take fitted state computed elsewhere (an engine such as Spark) instead of `fit`.

        Args:
            **state: Every attribute `save` writes for this model: the base state
                (`user_ids_`, `product_ids_`, `user_items_`, `popularity_`, and `idf_`,
                `avg_length_` for BM25) and the model's own (`item_factors_`, ...).

        Returns:
            self, fitted.

        Raises:
            ValueError: A name is missing or unknown.
        """
        bm25 = self._bm25_state if self.weighting == "bm25" else ()
        names = {*self._base_state, *bm25, *self._state}
        if set(state) != names:
            missing, unknown = sorted(names - set(state)), sorted(set(state) - names)
            raise ValueError(f"{type(self).__name__} state: missing {missing}, unknown {unknown}")
        for name, value in state.items():
            setattr(self, name, value)
        self._after_fit()
        return self

    def _after_fit(self) -> None:
        """Derive non-saved helpers (also run after `load`)."""
        self.popular_order_ = np.argsort(-self.popularity_, kind="stable")
        # The popularity fallback's score: each product's share of the fitted users, in [0, 1].
        self.popular_share_ = self.popularity_ / np.float32(max(len(self.user_ids_), 1))
        self._item_users: sp.csr_matrix | None = None  # built by the first `_similarities`

    def _weigh(self, rows: sp.csr_matrix) -> sp.csr_matrix:
        """Apply the model's `weighting` to history rows, with the fit-time statistics."""
        return apply_weighting(rows, self.weighting, self.idf_, self._avg_length())

    def _scores(self, rows: sp.csr_matrix) -> np.ndarray:
        """Score every product for each history row (raw scores): dense (n_rows, n_products)."""
        raise NotImplementedError

    def _weigh_one(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        """`_weigh` for one history given as distinct column indices and raw scores."""
        return weigh_values(values, columns, self.weighting, self.idf_, self._avg_length())

    def _avg_length(self) -> float:
        return 0.0 if self.avg_length_ is None else float(self.avg_length_)

    def _scores_one(self, columns: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Score every product for one history given as distinct column indices and raw scores."""
        row = sp.csr_matrix(
            (values.astype(np.float32), columns, [0, len(columns)]),
            shape=(1, len(self.product_ids_)),
        )
        return self._scores(row)[0]

    def known_users(self) -> np.ndarray:
        """Ids of the users the model was fitted on (int64, ascending)."""
        self._check_fitted()
        return self.user_ids_

    def known_products(self) -> np.ndarray:
        """Ids of the products the model was fitted on (int64, ascending)."""
        self._check_fitted()
        return self.product_ids_

    def knows_any(self, product_ids: np.ndarray) -> bool:
        """Whether any of these products was seen at fit (else the model has no signal)."""
        self._check_fitted()
        return bool(len(product_ids)) and bool(
            (index_of(self.product_ids_, product_ids) >= 0).any()
        )

    def _check_fitted(self) -> None:
        if not hasattr(self, "product_ids_"):
            raise NotFittedError(f"{type(self).__name__} is not fitted; call fit first")

    # ------------------------------------------------------------------------ recommending
    def recommend(
        self,
        user_ids: Any,
        n: int = 10,
        exclude_seen: bool = True,
        history: pd.DataFrame | None = None,
    ) -> pd.DataFrame:
        """Recommend the top-n products for each user.

        Args:
            user_ids: One id or a sequence of ids; repeated ids are answered once.
            n: Products per user (at most; fewer when the catalogue runs out).
            exclude_seen: Leave out products in the user's history.
            history: Interactions that replace the fit-time history of the users they mention
                (a fold-in: users unseen at fit time, or live activities). Products unknown to
                the model are ignored.

        Returns:
            Frame with `user_id`, `product_id`, `score`, `rank` (1 = best), users in the order
            given. Users with no usable history get the popularity ranking.

        Raises:
            NotFittedError: The model is not fitted.
        """
        self._check_fitted()
        users = pd.unique(np.atleast_1d(np.asarray(user_ids, dtype=np.int64)))
        rows = self._history_rows(users, history)
        parts = []
        for start in range(0, len(users), self.batch_users):
            batch = rows[start : start + self.batch_users]
            columns, scores = self._top_rows(batch, n, exclude_seen)
            parts.append((users[start : start + self.batch_users], columns, scores))
        return self._frame(parts)

    def _history_rows(self, users: np.ndarray, history: pd.DataFrame | None) -> sp.csr_matrix:
        """History rows of `users`: fit-time rows, replaced by `history` where it has the user."""
        positions = index_of(self.user_ids_, users)
        known = np.where(positions >= 0, positions, 0)
        rows = (sp.diags((positions >= 0).astype(np.float32)) @ self.user_items_[known]).tocsr()
        rows.eliminate_zeros()  # the rows of unknown users, zeroed above, become empty
        if history is None or len(history) == 0:
            return rows
        frame = validate_interactions(history)
        given = build_matrix(
            frame[frame[USER_ID].isin(users)],
            self.duplicates,
            user_ids=np.sort(users),
            product_ids=self.product_ids_,
        )
        replaced = np.isin(users, frame[USER_ID].to_numpy())
        own = given.matrix[index_of(given.user_ids, users)]
        keep = sp.diags((~replaced).astype(np.float32))
        take = sp.diags(replaced.astype(np.float32))
        rows = (keep @ rows + take @ own).tocsr()
        rows.eliminate_zeros()
        return rows

    def _top_rows(self, rows: sp.csr_matrix, n: int, exclude_seen: bool):
        """Top-n column indices and scores per history row (a list per row)."""
        lengths = np.diff(rows.indptr)
        scores = np.empty((rows.shape[0], rows.shape[1]), dtype=np.float32)
        with_history = np.flatnonzero(lengths > 0)
        scores[lengths == 0] = self.popular_share_
        if len(with_history):
            scores[with_history] = self._scores(rows[with_history])
        if exclude_seen:
            row_of = np.repeat(np.arange(rows.shape[0]), lengths)
            scores[row_of, rows.indices] = -np.inf
        top = top_n_indices(scores, n)
        top_scores = np.take_along_axis(scores, top, axis=1)
        return top, top_scores

    def _frame(self, parts) -> pd.DataFrame:
        users, products, scores, ranks = [], [], [], []
        for batch_users, columns, values in parts:
            valid = np.isfinite(values)
            counts = valid.sum(axis=1)
            users.append(np.repeat(batch_users, counts))
            products.append(self.product_ids_[columns[valid]])
            scores.append(values[valid].astype(np.float64))
            ranks.append(np.concatenate([np.arange(1, c + 1) for c in counts] or [[]]))
        return pd.DataFrame(
            {
                USER_ID: np.concatenate(users or [[]]).astype(np.int64),
                PRODUCT_ID: np.concatenate(products or [[]]).astype(np.int64),
                SCORE: np.concatenate(scores or [[]]).astype(np.float64),
                RANK: np.concatenate(ranks or [[]]).astype(np.int64),
            }
        )

    def recommend_history(
        self,
        product_ids: np.ndarray,
        scores: np.ndarray,
        n: int = 10,
        exclude: np.ndarray | None = None,
        allowed: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The fast path: top-n for one live history, with numpy only.

        Args:
            product_ids: int64 ids of the products in the user's history (repeats are merged by
                the `duplicates` policy, in the order given); unknown products are ignored.
            scores: The history's scores, aligned with `product_ids`.
            n: Products to return (at most).
            exclude: Product ids never to return (besides the history).
            allowed: When given, only these product ids may be returned (a category filter).

        Returns:
            (product_ids, scores): int64 and float64 arrays, best first.
        """
        self._check_fitted()
        columns, values = self._known_history(product_ids, scores)
        if len(columns):
            ranking = self._scores_one(columns, values).astype(np.float32, copy=True)
        else:
            ranking = self.popular_share_.copy()
        ranking[columns] = -np.inf
        if exclude is not None and len(exclude):
            banned = index_of(self.product_ids_, exclude)
            ranking[banned[banned >= 0]] = -np.inf
        candidates = None
        if allowed is not None:
            candidates = index_of(self.product_ids_, allowed)
            candidates = np.unique(candidates[candidates >= 0])
            ranking = ranking[candidates]
        top = top_n_indices(ranking[None, :], n)[0]
        top = top[np.isfinite(ranking[top])]
        best = top if candidates is None else candidates[top]
        return self.product_ids_[best], ranking[top].astype(np.float64)

    def recommend_histories(
        self, histories: Sequence[tuple[np.ndarray, np.ndarray]], n: int = 10
    ) -> list[tuple[np.ndarray, np.ndarray]]:
        """`recommend_history` for many live histories at once, scored in batches.

        Args:
            histories: (product_ids, scores) pairs, each as `recommend_history` takes them.
            n: Products per history (at most).

        Returns:
            One (product_ids int64, scores float64) pair per history, best first: the answers
            of `recommend_history` without `exclude` or `allowed`, up to float rounding.
        """
        self._check_fitted()
        answers = []
        for start in range(0, len(histories), self.batch_users):
            rows = self._history_matrix(histories[start : start + self.batch_users])
            top, values = self._top_rows(rows, n, exclude_seen=True)
            for columns, scores in zip(top, values, strict=True):
                found = np.isfinite(scores)
                answers.append((self.product_ids_[columns[found]], scores[found].astype(float)))
        return answers

    def _known_history(self, product_ids: np.ndarray, scores: np.ndarray):
        """One history's distinct column indices of known products and their merged scores."""
        columns = index_of(self.product_ids_, product_ids)
        known = columns >= 0
        values = np.asarray(scores, dtype=np.float32)[known]
        return merge_history(columns[known], values, self.duplicates)

    def _history_matrix(self, histories) -> sp.csr_matrix:
        """History rows (raw scores, zeros kept: a zero score is still seen) of live histories."""
        merged = [self._known_history(ids, scores) for ids, scores in histories]
        lengths = [len(columns) for columns, _ in merged]
        indptr = np.concatenate([[0], np.cumsum(lengths, dtype=np.int64)])
        columns = np.concatenate([c for c, _ in merged] or [np.empty(0, np.int64)])
        values = np.concatenate([v for _, v in merged] or [np.empty(0, np.float32)])
        shape = (len(merged), len(self.product_ids_))
        return sp.csr_matrix((values.astype(np.float32), columns, indptr), shape=shape)

    def explain(
        self, product_ids: np.ndarray, scores: np.ndarray, recommended: Any, top: int = 3
    ) -> list[list[tuple[int, float]]]:
        """The history products that contributed most to each recommended product's score.

        The contribution of history product h to product i is w_h a(h, i): w_h the history's
        weighted score of h (the model's `weighting`) and a(h, i) the model's affinity
        (`_affinities`). For item kNN these are exactly the terms of the score, sum_h w_h W_hi;
        for factor models (PureSVD, ALS, the blend) a is the cosine of the two products'
        factors, which ranks the history as the factor space relates it to i; for the others
        the cosine of the products' fit-time user sets.

        Args:
            product_ids: int64 ids of the user's history, as `recommend_history` takes them.
            scores: The history's scores (a negative score is a dislike: it never explains).
            recommended: Ids of the products to explain.
            top: History products kept per product.

        Returns:
            Per recommended product, up to `top` (history product id, contribution) pairs with a
            positive contribution (above a millionth of the largest, which is float rounding),
            largest first (ties: the lower id); empty for products unknown to the model.
        """
        self._check_fitted()
        recommended = np.atleast_1d(np.asarray(recommended, dtype=np.int64))
        columns, values = self._known_history(product_ids, scores)
        targets = index_of(self.product_ids_, recommended)
        found = np.flatnonzero(targets >= 0)
        reasons: list[list[tuple[int, float]]] = [[] for _ in recommended]
        if not len(columns) or not len(found):
            return reasons
        weights = self._weigh_one(columns, values).astype(np.float64)
        terms = self._affinities(columns, targets[found]) * weights[:, None]
        for position, contributions in zip(found, terms.T, strict=True):
            order = np.lexsort((columns, -contributions))[:top]  # columns ascend with ids
            # Below a millionth of the largest term is float rounding (a cosine of 1e-12).
            floor = EXPLAIN_NOISE * np.abs(contributions).max()
            reasons[position] = [
                (int(self.product_ids_[columns[r]]), float(contributions[r]))
                for r in order
                if contributions[r] > floor
            ]
        return reasons

    def _affinities(self, columns: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """a(h, i) of `explain`: dense (len(columns), len(targets)), 0 where unrelated.

        The default reads `_similarities` of the targets, whose similarity is symmetric
        (cosines); models with an asymmetric one override this.
        """
        similar = self._similarities(targets)[:, columns].T.astype(np.float64)
        similar[~np.isfinite(similar)] = 0.0
        return similar

    def similar_products(self, product_ids: Any, n: int = 10) -> pd.DataFrame:
        """The n products most similar to each product.

        Models with an item-item notion of their own (item kNN, PureSVD, the blend) use it;
        the others (user kNN, popularity) use co-occurrence: the cosine of two products'
        fit-time user sets (see `_similarities`).

        Args:
            product_ids: One id or a sequence of ids; products unseen at fit get no rows.
            n: Similar products per product (at most).

        Returns:
            Frame with `product_id`, `similar_product_id`, `score`, `rank` (1 = most similar).
        """
        self._check_fitted()
        ids = pd.unique(np.atleast_1d(np.asarray(product_ids, dtype=np.int64)))
        columns = index_of(self.product_ids_, ids)
        ids, columns = ids[columns >= 0], columns[columns >= 0]
        if len(columns):
            scores = self._similarities(columns).astype(np.float32, copy=True)
            scores[np.arange(len(columns)), columns] = -np.inf
            top = top_n_indices(scores, n)
            values = np.take_along_axis(scores, top, axis=1)
        else:
            top = values = np.empty((0, 0))
        frame = self._frame([(ids, top.astype(np.int64), values)])
        return frame.rename(columns={USER_ID: PRODUCT_ID, PRODUCT_ID: "similar_product_id"})

    def _similarities(self, columns: np.ndarray) -> np.ndarray:
        """Similarity of each given product to every product: dense (len(columns), n_products).

        The default is item co-occurrence over the fit-time history: sim(i, j) = |U_i ∩ U_j| /
        sqrt(|U_i| |U_j|), U_i being the users who interacted with product i (any score).
        Products sharing no user get -inf: they are not similar, only unrelated.
        """
        if self._item_users is None:
            seen = self.user_items_.copy()
            seen.data = np.ones_like(seen.data, dtype=np.float32)
            self._item_users = seen.T.tocsr()
        item_users = self._item_users
        shared = (item_users[columns] @ item_users.T).toarray().astype(np.float32)
        users = self.popularity_  # |U_i|: distinct users per product
        scores = shared / np.sqrt(np.maximum(np.outer(users[columns], users), 1.0))
        scores[shared == 0] = -np.inf
        return scores

    # --------------------------------------------------------------------------- persistence
    def save(self, directory: str | Path) -> Path:
        """Write the fitted model as .npy arrays and a JSON of class name and parameters.

        Args:
            directory: Folder to write (created if missing).

        Returns:
            The folder.
        """
        self._check_fitted()
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        bm25 = self._bm25_state if self.weighting == "bm25" else ()
        names = [*self._base_state, *bm25, *self._state]
        for name in names:
            save_array(folder, name, getattr(self, name))
        meta = {
            "class": type(self).__name__,
            "params": self.get_params(),
            "state": names,
            "format": FORMAT_VERSION,
        }
        (folder / MODEL_FILE).write_text(json.dumps(meta, indent=2))
        return folder

    @classmethod
    def _from_saved(cls, folder: Path, meta: dict[str, Any]) -> Recommender:
        model = cls(**meta["params"])
        for name in meta["state"]:
            setattr(model, name, load_array(folder, name))
        model._after_fit()
        return model


def load(directory: str | Path) -> Recommender:
    """Load a model written by `save`: reads the JSON, rebuilds the class, reads the arrays.

    Args:
        directory: The folder `save` wrote.

    Returns:
        The fitted model.

    Raises:
        ValueError: The folder names an unknown class or format.
    """
    folder = Path(directory)
    meta = json.loads((folder / MODEL_FILE).read_text())
    if meta.get("format") != FORMAT_VERSION or meta.get("class") not in _REGISTRY:
        raise ValueError(f"{folder} holds no model this version can load")
    return _REGISTRY[meta["class"]]._from_saved(folder, meta)
