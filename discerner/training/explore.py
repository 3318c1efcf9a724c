"""What the notebooks call: load data from the store or a file, summarise it, and show one user.

Notebooks hold no logic of their own (they define no functions); every step they take beyond
printing and plotting is a call into this module, `discerner.training.plots`, `discerner.tracking`,
`discerner.tracking.registry` or `discerner.training`.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from discerner import config
from discerner.datasets import read_interactions
from discerner.schema import PRODUCT_ID, RANK, SCORE, TIMESTAMP, USER_ID
from discerner.store import open_store
from discerner.training import pipeline

logger = logging.getLogger(__name__)


def load_interactions(
    home: str | os.PathLike[str] | None = None,
    path: str | os.PathLike[str] | None = None,
    format: str = "csv",
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Interactions and their data version: from the file `path` when given, else the store.

    Args:
        home: The data folder whose store to read; default `$DISCERNER_HOME`.
        path: A csv, MovieLens or Parquet file to read instead of the store.
        format: The file's format (see `discerner.datasets.read_interactions`).

    Returns:
        The validated frame and its version (the store's, or a hash of the file's rows).
    """
    if path is None:
        return pipeline.load_store(home)
    frame = read_interactions(path, format=format)
    return frame, {**pipeline.frame_version(frame), "source": str(path)}


def load_products(
    home: str | os.PathLike[str] | None = None, path: str | os.PathLike[str] | None = None
) -> pd.DataFrame:
    """Products with whatever they are described by (`title`, `category`, ...), `id` first.

    Args:
        home: The data folder whose store to read when `path` is None.
        path: A MovieLens `u.item` file (`id|title|...`, Latin-1), or a CSV/Parquet file with
            an `id` column.

    Returns:
        The products; an empty frame with an `id` column when there is no store.
    """
    if path is None:
        location = config.store_url(config.home(home))
        if isinstance(location, Path) and not location.exists():
            return pd.DataFrame({"id": pd.Series([], dtype="int64")})
        with open_store(location, readonly=True) as store:
            return store.products_frame()
    path = Path(path)
    if path.name == "u.item":
        items = pd.read_csv(path, sep="|", header=None, encoding="latin-1", usecols=[0, 1])
        return items.set_axis(["id", "title"], axis=1)
    return pd.read_parquet(path) if path.suffix == ".parquet" else pd.read_csv(path)


def describe(interactions: pd.DataFrame) -> pd.Series:
    """Sizes and shape of an interactions frame: counts, density, history lengths, time span."""
    n_users = interactions[USER_ID].nunique()
    n_products = interactions[PRODUCT_ID].nunique()
    pairs = len(interactions.drop_duplicates([USER_ID, PRODUCT_ID]))
    per_user = interactions[USER_ID].value_counts()
    times = interactions[TIMESTAMP].dropna()
    return pd.Series(
        {
            "activities": len(interactions),
            "users": n_users,
            "products": n_products,
            "distinct (user, product) pairs": pairs,
            "density": pairs / max(n_users * n_products, 1),
            "median activities per user": float(per_user.median()) if n_users else 0.0,
            "max activities per user": int(per_user.max()) if n_users else 0,
            "first activity": times.min() if len(times) else pd.NaT,
            "last activity": times.max() if len(times) else pd.NaT,
        },
        dtype=object,
    )


def typical_user(interactions: pd.DataFrame) -> int:
    """A user with a median-length history (ties: the smallest id): a fair example to show."""
    counts = interactions[USER_ID].value_counts()
    distance = (counts - counts.median()).abs()
    return int(distance.sort_index().sort_values(kind="stable").index[0])


def user_report(
    model: Any,
    interactions: pd.DataFrame,
    user_id: int,
    products: pd.DataFrame | None = None,
    n: int = 10,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One user's history (newest first) and their top n, each joined with product details.

    Args:
        model: A fitted recommender.
        interactions: Where the user's history comes from; it is folded in, so the model need
            not have seen the user.
        user_id: The user.
        products: Product details keyed by `id` (titles, categories); optional.
        n: How many recommendations.

    Returns:
        (history, recommendations): `product_id`, `score` (and `timestamp` / `rank`) plus the
        product columns other than `id`.
    """
    history = interactions[interactions[USER_ID] == user_id]
    history = history.sort_values(TIMESTAMP, ascending=False, kind="stable")
    recommended = model.recommend([user_id], n=n, history=history)
    history = history[[PRODUCT_ID, SCORE, TIMESTAMP]].reset_index(drop=True)
    recommended = recommended[[RANK, PRODUCT_ID, SCORE]]
    return _described(history, products), _described(recommended, products)


def _described(frame: pd.DataFrame, products: pd.DataFrame | None) -> pd.DataFrame:
    if products is None or products.empty:
        return frame
    keep = [c for c in products.columns if c in ("id", "title", "category", "name")]
    details = products[keep].rename(columns={"id": PRODUCT_ID})
    return frame.merge(details, on=PRODUCT_ID, how="left")
