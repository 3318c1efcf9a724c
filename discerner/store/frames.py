"""Frames and summaries built from consistent pictures of the tables, outside the store's lock."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from discerner.store import snapshot as snap
from discerner.store.tables import EntityTable


def concat(views, names: tuple[str, ...]) -> dict[str, np.ndarray]:
    """The named columns of the live rows of activity views, each as one array."""
    out = {}
    for name in names:
        parts = [cols[name][alive] for cols, alive in views]
        dtype = np.float64 if name == "score" else np.int64
        out[name] = np.concatenate(parts) if parts else np.empty(0, dtype)
    return out


def product_totals(views) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(product ids, activity counts, score sums) over the live rows of activity views."""
    size = max((int(c["product"].max()) + 1 for c, _ in views if len(c["product"])), default=1)
    if size > 1 << 26:  # ids too sparse to count densely: count over the distinct ids
        cols = concat(views, ("product", "score"))
        ids, where = np.unique(cols["product"], return_inverse=True)
        counts = np.bincount(where, minlength=len(ids))
        return ids, counts, np.bincount(where, cols["score"], minlength=len(ids))
    counts, sums = np.zeros(size, np.int64), np.zeros(size)
    for cols, alive in views:
        products = cols["product"][alive]
        counts += np.bincount(products, minlength=size)
        sums += np.bincount(products, weights=cols["score"][alive], minlength=size)
    ids = np.flatnonzero(counts)
    return ids.astype(np.int64), counts[ids], sums[ids]


def times(micros: np.ndarray) -> pd.Series:
    """Microseconds since the epoch as a `datetime64[us, UTC]` series."""
    return pd.Series(micros.view("datetime64[us]")).dt.tz_localize("UTC")


def entity_frame(table: EntityTable) -> pd.DataFrame:
    """Live rows of an entity table: id, created_at, external_id, one column per attribute."""
    rows = table.live_rows()
    frame = pd.DataFrame(
        {
            "id": table.ids[rows],
            "created_at": times(table.created[rows]),
            "external_id": pd.Series([table.external[r] for r in rows.tolist()], dtype=object),
        }
    )
    attrs = [table.attrs[r] or {} for r in rows.tolist()]
    names = sorted({key for a in attrs for key in a})
    for name in names:
        frame[name] = pd.Series([a.get(name) for a in attrs], dtype=object)
    return frame


def entity_tables(state: dict) -> dict:
    """Arrow tables of the live users and products of a captured state."""
    return {
        "users": snap.entity_table(state["users"], state["users"].live_rows(), category=False),
        "products": snap.entity_table(
            state["products"], state["products"].live_rows(), category=True
        ),
    }


def version_of(state: dict) -> dict:
    """The data version of a captured state: sequence number, counts, content hash."""
    users = state["users"].ids[state["users"].live_rows()]
    products = state["products"].ids[state["products"].live_rows()]
    views = state["views"]
    return {
        "version": state["seq"],
        "users": len(users),
        "products": len(products),
        "activities": int(sum(int(alive.sum()) for _, alive in views)),
        "hash": snap.content_hash(users, products, views),
    }


def write_table(table: pa.Table, path: Path) -> None:
    """Write an Arrow table to one Parquet file."""
    pq.write_table(table, path)
